"""AGD's method layer (srlib/agd) and the shared differentiable-search pieces, on tiny tensors."""
from __future__ import annotations

import copy
import json

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from srlib import models as zoo
from srlib.agd.bilevel import BilevelStep, SupernetPretrainStep
from srlib.agd.flops import MacsTable, PenaltyWeight, penalty_macs
from srlib.agd.network import PLACEHOLDER_GENOTYPE, AGDGenerator, Genotype
from srlib.agd.operations import OPS, make_op, op_macs
from srlib.agd.proxy import DistillationProxy
from srlib.agd.pruning import esrgan_channel_groups, filter_importance, prune_esrgan
from srlib.agd.supernet import WIDTHS, AGDSupernet, inherit
from srlib.complexity import measure
from srlib.models.esrgan import RRDBNet
from srlib.search.differentiable import MixedOp, chosen_only, chosen_score, gumbel_softmax_st, sandwich
from srlib.training.losses import PerceptualLoss

NF, W = 8, (4, 6, 8)   # tiny supernet: trunk 8, widths 4/6/8


def _x(seed: int = 0, hw: int = 8) -> torch.Tensor:
    return torch.rand(1, 3, hw, hw, generator=torch.Generator().manual_seed(seed))


def _supernet(seed: int = 0, **kw) -> AGDSupernet:
    torch.manual_seed(seed)
    return AGDSupernet(num_cells=2, layers_per_cell=3, num_feat=NF, widths=W, **kw)


def _genotype(ops=(("residual", "dwsblock", "conv3x3"), ("skip", "residual", "dwsblock")),
              widths=((4, 8), (6, 6))) -> Genotype:
    return Genotype(ops, widths, NF)


# ------------------------------------------------------------------------------------ shared pieces
def test_mixed_op_with_one_hot_weights_is_that_op():
    torch.manual_seed(0)
    ops = [make_op(k, NF, NF, shortcut="conv", hidden=4 * NF) for k in OPS]
    mixed, x = MixedOp(ops), torch.rand(1, NF, 5, 5)
    for i, op in enumerate(ops):
        w = F.one_hot(torch.tensor(i), len(ops)).float()
        torch.testing.assert_close(mixed(x, w, 6), op(x, 6), rtol=0, atol=0)


def test_straight_through_gumbel_is_one_hot_with_gradient():
    logits = torch.zeros(4, 5, requires_grad=True)
    y = gumbel_softmax_st(logits, generator=torch.Generator().manual_seed(1))
    assert torch.equal(y.detach().sum(-1), torch.ones(4)) and set(y.detach().unique().tolist()) <= {0.0, 1.0}
    i, score = chosen_score(y[0])
    assert score.item() == 1.0 and y[0, i].item() == 1.0
    (y * torch.arange(5.0)).sum().backward()
    assert logits.grad.abs().sum() > 0
    again = gumbel_softmax_st(logits.detach(), generator=torch.Generator().manual_seed(1))
    assert torch.equal(again, y.detach())
    logits.grad = None
    y = gumbel_softmax_st(logits, generator=torch.Generator().manual_seed(1))
    (chosen_only(y[0]) * torch.arange(5.0)).sum().backward()   # only the chosen entry carries gradient
    assert torch.equal(chosen_only(y[0]).detach(), y[0].detach()) and logits.grad[1:].abs().sum() == 0


def test_sandwich_largest_smallest_and_reproducible_random():
    space = [(4, 8), (2, 3, 5)]
    a = sandwich(space, 3, torch.Generator().manual_seed(0))
    assert a[:2] == [(8, 5), (4, 2)] and len(a) == 5
    assert all(v in opts for d in a[2:] for v, opts in zip(d, space))
    assert a == sandwich(space, 3, torch.Generator().manual_seed(0))


# ------------------------------------------------------------------------------------ ops and MACs
class _At(nn.Module):
    def __init__(self, op: nn.Module, c_out: int):
        super().__init__()
        self.op, self.c_out = op, c_out

    def forward(self, x):
        return self.op(x, self.c_out)


@pytest.mark.parametrize("kind", OPS)
def test_op_macs_match_the_counter(kind):
    for c_in, c_out in ((8, 8), (8, 4), (6, 8)):
        op = make_op(kind, c_in, c_out)                       # derived form
        assert op_macs(kind, c_in, c_out, (5, 7)) == op.macs(hw=(5, 7)) == measure(op, (5, 7), in_channels=c_in).macs
    sup = make_op(kind, NF, NF, shortcut="conv", hidden=4 * NF)   # supernet form, run narrow
    assert sup.macs(6, 4, (5, 7)) == measure(_At(sup, 4), (5, 7), in_channels=6).macs


@pytest.mark.parametrize("bias", [True, False])
def test_derived_macs_equal_lookup_and_counter(bias):
    g = _genotype()
    table = MacsTable((6, 5), widths=W, num_feat=NF, bias=bias)
    assert table.genotype_macs(g) == measure(AGDGenerator(g), (6, 5), bias=bias).macs
    onehot_ops = torch.stack([F.one_hot(torch.tensor([OPS.index(k) for k in c]), len(OPS)) for c in g.ops]).double()
    onehot_w = torch.stack([F.one_hot(torch.tensor([W.index(w) for w in c]), len(W)) for c in g.widths]).double()
    assert table.expected(onehot_ops, onehot_w).item() == table.genotype_macs(g)


def test_placeholder_default_builds_by_name_and_widths_are_the_notes():
    assert WIDTHS == (24, 32, 40, 56, 64)
    net = zoo.build("agd")
    assert net.genotype == PLACEHOLDER_GENOTYPE


# ------------------------------------------------------------------------------------ derived net
def test_genotype_json_round_trip_and_validation():
    g = _genotype()
    assert Genotype.from_dict(json.loads(json.dumps(g.to_dict()))) == g
    assert isinstance(zoo.build("agd", genotype=g.to_dict()), AGDGenerator)
    with pytest.raises(KeyError):
        Genotype((("nope", "skip"),), ((8,),), NF)
    with pytest.raises(ValueError):
        Genotype((("skip", "skip"),), ((8, 8),), NF)


def test_derived_net_trains_one_step_and_is_deterministic():
    torch.manual_seed(0)
    net, x = AGDGenerator(_genotype()), _x()
    net.eval()
    y = net(x)
    assert y.shape == (1, 3, 32, 32) and torch.equal(y, net(x)) and 0 < y.min() and y.max() < 1
    target = torch.rand_like(y)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    loss = F.l1_loss(net(x), target)
    loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in net.parameters())
    opt.step()
    assert F.l1_loss(net(x), target) < loss


# ------------------------------------------------------------------------------------ supernet
def test_arch_and_weight_parameters_are_disjoint_and_complete():
    net = _supernet()
    arch, weights = {id(p) for p in net.arch_parameters()}, {id(p) for p in net.weight_parameters()}
    assert not arch & weights and arch | weights == {id(p) for p in net.parameters()}
    assert net.alpha.shape == (2, 3, 4) and net.width_logits.shape == (2, 2, 3)
    assert torch.all(net.alpha == 1e-3)


def test_gumbel_widths_reach_the_width_logits_fixed_widths_do_not():
    net = _supernet()
    sample = net.sample_widths(torch.Generator().manual_seed(0))
    net(_x(), sample).mean().backward()
    assert net.width_logits.grad.abs().sum() > 0 and net.alpha.grad.abs().sum() > 0
    net.zero_grad(set_to_none=True)
    net(_x(), net.min_widths()).mean().backward()
    assert net.width_logits.grad is None
    with pytest.raises(ValueError):
        net(_x(), ((5, 5), (5, 5)))


def _identity_shortcuts(net: AGDSupernet) -> None:
    with torch.no_grad():
        for cell in net.body:
            for mixed in cell:
                for op in mixed.candidates:
                    if getattr(op, "skip", None) is not None:
                        op.skip.weight.copy_(torch.eye(NF).view(NF, NF, 1, 1))


def test_supernet_equals_inherited_derived_net():
    net, x = _supernet(), _x()
    _identity_shortcuts(net)
    # max widths, all four ops: exact once the supernet's always-present shortcuts are the identity
    g = _genotype(widths=((8, 8), (8, 8)))
    onehot = torch.stack([F.one_hot(torch.tensor([OPS.index(k) for k in c]), len(OPS)) for c in g.ops]).float()
    derived, missing = inherit(net, g)
    assert missing  # identity shortcuts in the derived net have no supernet counterpart
    torch.testing.assert_close(derived(x), net(x, g.widths, op_weights=onehot), rtol=1e-5, atol=1e-6)
    # narrow widths: exact without dwsblock (whose supernet expansion stays 4 x num_feat)
    g = _genotype(ops=(("residual", "skip", "conv3x3"), ("conv3x3", "residual", "residual")), widths=((4, 6), (6, 6)))
    onehot = torch.stack([F.one_hot(torch.tensor([OPS.index(k) for k in c]), len(OPS)) for c in g.ops]).float()
    torch.testing.assert_close(inherit(net, g)[0](x), net(x, g.widths, op_weights=onehot), rtol=1e-5, atol=1e-6)


def test_derive_takes_the_argmax():
    net = _supernet()
    with torch.no_grad():
        net.alpha[0, 1, OPS.index("dwsblock")] = 1.0
        net.width_logits[1, 0, 0] = 1.0
    g = net.derive()
    assert g.ops[0][1] == "dwsblock" and g.ops[0][0] == "skip" and g.widths[1] == (4, 4) and g.widths[0] == (4, 4)


# ------------------------------------------------------------------------------------ penalty
def test_penalty_macs_value_and_gradients():
    net = _supernet()
    table = MacsTable((8, 8), widths=W, num_feat=NF)
    sample = net.sample_widths(torch.Generator().manual_seed(3))
    m = penalty_macs(table, net.alpha, sample.onehot)
    a = table.expected(F.softmax(net.alpha, -1), table.max_width_weights(2, 2))
    b = table.expected(torch.full_like(net.alpha, 0.25), sample.onehot)
    torch.testing.assert_close(m, 2 / 7 * a + 5 / 7 * b)
    m.backward()
    assert net.alpha.grad.abs().sum() > 0 and net.width_logits.grad.abs().sum() > 0


def test_penalty_weight_moves_toward_the_budget():
    p = PenaltyWeight(1e-11, lower=100e9, upper=400e9)
    assert p.update(500e9) == 2e-11 and p.update(50e9) == 1e-11 and p.update(200e9) == 1e-11
    q = PenaltyWeight(0.0)
    assert q.update(1e15) == 0.0
    r = PenaltyWeight()
    r.load_state_dict(p.state_dict())
    assert r.state_dict() == p.state_dict() == {"weight": 1e-11, "lower": 100e9, "upper": 400e9, "updates": 3}


# ------------------------------------------------------------------------------------ proxy and steps
def test_proxy_is_pixel_plus_content_with_the_labelled_stand_in():
    sr, t = torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8)
    proxy = DistillationProxy()
    if not PerceptualLoss.status()[0]:
        assert proxy.content_description.startswith("stand-in")
        loss, parts = proxy(sr, t)
        torch.testing.assert_close(loss, 1.01 * F.l1_loss(sr, t))
    pix = DistillationProxy(w_pix=1.0, w_content=0.0)
    assert pix.content is None and torch.equal(pix(sr, t)[0], F.l1_loss(sr, t))


def _teacher() -> nn.Module:
    torch.manual_seed(99)
    return RRDBNet(num_feat=4, num_block=1, num_grow_ch=2).eval()


def _batch(step: int) -> dict:
    return {"weight": _x(2 * step), "arch": _x(2 * step + 1)}


def _search(seed: int):
    net = _supernet(seed)
    opts = {"G": torch.optim.Adam(net.weight_parameters(), lr=1e-3),
            "arch": torch.optim.Adam(net.arch_parameters(), lr=3e-4, betas=(0.5, 0.999))}
    step = BilevelStep(MacsTable((8, 8), widths=W, num_feat=NF), penalty=PenaltyWeight(1e-7, lower=1, upper=1),
                       proxy=DistillationProxy(w_pix=1.0, w_content=0.0), adapt_every=1, seed=5)
    return net, opts, step


def test_bilevel_search_resumes_exactly():
    teacher = _teacher()
    net, opts, fn = _search(0)
    for s in range(4):
        out = fn(s, _batch(s), {"G": net, "T": teacher}, opts)
    assert out["flops_weight"] == 1e-7 * 16 and torch.isfinite(out["loss_arch"])
    assert not torch.all(net.alpha == 1e-3)

    first, opts1, fn1 = _search(0)
    for s in range(2):
        fn1(s, _batch(s), {"G": first, "T": teacher}, opts1)
    saved = copy.deepcopy((first.state_dict(), {k: o.state_dict() for k, o in opts1.items()}, fn1.state_dict()))
    resumed, opts2, fn2 = _search(1)           # different init: everything must come from the state
    resumed.load_state_dict(saved[0])
    for k, o in opts2.items():
        o.load_state_dict(saved[1][k])
    fn2.load_state_dict(saved[2])
    for s in range(2, 4):
        fn2(s, _batch(s), {"G": resumed, "T": teacher}, opts2)
    assert torch.equal(resumed.alpha, net.alpha) and torch.equal(resumed.width_logits, net.width_logits)
    assert torch.equal(resumed.conv_last.weight, net.conv_last.weight)
    assert fn2.state_dict() == fn.state_dict()


def test_pretrain_step_trains_weights_only():
    net, teacher = _supernet(), _teacher()
    opt = torch.optim.Adam(net.weight_parameters(), lr=1e-3)
    before = net.conv_first.weight.clone()
    out = SupernetPretrainStep(seed=1)(0, (_x(), None), {"G": net, "T": teacher}, {"G": opt})
    assert set(out) == {"loss", "loss_max", "loss_min", "grad_norm"} and torch.isfinite(out["loss"])
    assert net.alpha.grad is None and net.width_logits.grad is None
    assert not torch.equal(before, net.conv_first.weight)


# ------------------------------------------------------------------------------------ pruning
def test_pruning_hits_the_target_and_is_a_slice_of_the_original():
    torch.manual_seed(0)
    net = RRDBNet(num_feat=16, num_block=2, num_grow_ch=8).eval()
    m9 = measure(RRDBNet(num_feat=9, num_block=2, num_grow_ch=5), (4, 4), bias=True).macs
    m10 = measure(RRDBNet(num_feat=10, num_block=2, num_grow_ch=5), (4, 4), bias=True).macs
    res = prune_esrgan(net, (m9 + m10) / 2, lr_hw=(4, 4))
    assert (res.num_feat, res.num_grow_ch, res.macs, res.next_macs) == (9, 5, m9, m10)
    assert res.macs <= res.target_macs < res.next_macs
    k = res.kept
    p = res.net
    torch.testing.assert_close(p.conv_first.weight, net.conv_first.weight[k["trunk"]])
    torch.testing.assert_close(p.conv_up2.weight, net.conv_up2.weight[k["up2"]][:, k["up1"]])
    rdb, prdb = net.body[1].rdb2, p.body[1].rdb2
    cols = k["trunk"] + [16 + i for i in k["body.1.rdb2.grow1"]] + [24 + i for i in k["body.1.rdb2.grow2"]]
    torch.testing.assert_close(prdb.conv3.weight, rdb.conv3.weight[k["body.1.rdb2.grow3"]][:, cols])
    up1 = next(g for g in esrgan_channel_groups(net) if g.name == "up1")
    assert k["up1"] == sorted(torch.topk(filter_importance(up1), 9).indices.tolist())
    # functionally: the original with the removed filters zeroed computes the pruned net's output
    masked = copy.deepcopy(net)
    with torch.no_grad():
        for g in esrgan_channel_groups(masked):
            drop = sorted(set(range(g.size)) - set(k[g.name]))
            for mod, _ in g.producers:
                mod.weight[drop] = 0
                mod.bias[drop] = 0
    x = _x(hw=4)
    torch.testing.assert_close(p(x), masked(x), rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError):
        prune_esrgan(net, 1, lr_hw=(4, 4))
