"""MFAGAN SuperGenerator: importance sorting keeps the function, elastic SubGenerators equal narrow MFANets,
the sandwich step trains the shared weights; srlib.search.elastic's generic helpers."""
from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn as nn

from srlib.mfagan.mfanet import MFANet
from srlib.mfagan.supernet import (SupernetStep, channel_groups, extract_subgenerator, sort_channels_by_importance,
                                   subnet_forward, supernet_step, width_space)
from srlib.search import elastic
from srlib.training import loop

CHOICES = (16, 12, 8)
W = (12, 8, 16, 12, 8, 16, 12, 8)


@pytest.fixture
def net() -> MFANet:
    torch.manual_seed(0)
    return MFANet(num_feat=16).eval()


# ---- generic helpers --------------------------------------------------------------------------------
def test_permute_out_in_keep_function():
    torch.manual_seed(0)
    a, b = nn.Conv2d(3, 6, 3, padding=1), nn.Conv2d(10, 4, 1)
    x, extra = torch.randn(2, 3, 5, 5), torch.randn(2, 4, 5, 5)
    f = lambda: b(torch.cat([extra, torch.relu(a(x))], 1))  # noqa: E731 (a's outputs sit at offset 4)
    y0 = f()
    perm = torch.tensor([3, 0, 5, 1, 4, 2])
    w = a.weight.clone()
    elastic.permute_out(a, perm)
    elastic.permute_in(b, perm, offset=4)
    assert torch.equal(a.weight, w[perm])
    torch.testing.assert_close(f(), y0)
    with pytest.raises(ValueError):
        elastic.permute_out(a, [0, 0, 1, 2, 3, 4])


def test_permute_grouped_and_depthwise():
    torch.manual_seed(0)
    g = nn.Conv2d(4, 6, 3, padding=1, groups=2)
    x = torch.randn(1, 4, 5, 5)
    y0 = g(x)
    perm = torch.tensor([1, 0, 3, 2])                  # within the two groups
    elastic.permute_in(g, perm)
    torch.testing.assert_close(g(x[:, perm]), y0)
    with pytest.raises(ValueError):
        elastic.permute_in(g, [2, 3, 0, 1])            # across groups
    dw = nn.Conv2d(4, 4, 3, padding=1, groups=4)
    y0 = dw(x)
    p = torch.tensor([2, 0, 3, 1])
    elastic.permute_depthwise(dw, p)
    torch.testing.assert_close(dw(x[:, p]), y0[:, p])


def test_l1_importance_and_slice_conv():
    c = nn.Conv2d(3, 5, 3, padding=1)
    with torch.no_grad():
        c.weight.copy_(torch.arange(5 * 3 * 9, dtype=torch.float).view(5, 3, 3, 3) - 60)
    imp = elastic.l1_importance(c.weight, 1)
    assert imp.shape == (3,) and torch.allclose(imp, c.weight.abs().sum(dim=(0, 2, 3)))
    s = elastic.slice_conv(c, out_idx=[4, 1], in_idx=[0, 2])
    assert (s.in_channels, s.out_channels, s.padding) == (2, 2, (1, 1))
    x = torch.randn(1, 3, 4, 4)
    torch.testing.assert_close(s(x[:, [0, 2]]), nn.functional.conv2d(x[:, [0, 2]], c.weight[[4, 1]][:, [0, 2]],
                                                                     c.bias[[4, 1]], padding=1))
    s.weight.data.zero_()
    assert c.weight.abs().sum() > 0                    # a copy, not a view


# ---- importance sorting ------------------------------------------------------------------------------
def test_sorting_keeps_function_and_orders_channels(net):
    x = torch.rand(2, 3, 16, 17)
    with torch.no_grad():
        y0, f0 = net(x, return_features=True)
    perms = sort_channels_by_importance(net)
    with torch.no_grad():
        y1, f1 = net(x, return_features=True)
    torch.testing.assert_close(y1, y0, rtol=0, atol=1e-5)
    assert sum(not torch.equal(p, torch.arange(len(p))) for p in perms.values()) > 40   # it did permute
    for g in channel_groups(net):
        s = elastic.group_importance(g)
        assert torch.all(s[:-1] >= s[1:]), g.name
    # the MFAM outputs are permuted copies of the old ones
    p = perms["t1"]
    torch.testing.assert_close(f1[0], f0[0][:, p], rtol=0, atol=1e-5)


def test_sorting_helps_narrow_subnets():
    """Sorting moves the heavy channels to the front: a SubGenerator keeps more of the total importance."""
    torch.manual_seed(3)
    net = MFANet(num_feat=16)
    with torch.no_grad():                              # make the last channels of the trunk the important ones
        for cf in net.mfams[0].cfabs:
            cf.convs[0].weight[:, 8:] *= 10
    g = channel_groups(net)[0]
    before = elastic.group_importance(g)[:8].sum()
    sort_channels_by_importance(net)
    after = elastic.group_importance(channel_groups(net)[0])[:8].sum()
    assert after > 2 * before


def test_groups_cover_every_conv(net):
    convs = {m for m in net.modules() if isinstance(m, nn.Conv2d)}
    seen = set()
    for g in channel_groups(net):
        seen |= {m for m, _ in g.producers} | {m for m, _ in g.consumers}
    assert convs == seen


# ---- SubGenerators -----------------------------------------------------------------------------------
def test_extract_subgenerator_equals_supernet_at_widths(net):
    sort_channels_by_importance(net)
    x = torch.rand(1, 3, 16, 16)
    sub = extract_subgenerator(net, W)
    assert isinstance(sub, MFANet) and sub.widths == W and not sub.training
    with torch.no_grad():
        torch.testing.assert_close(sub(x), subnet_forward(net, W, x), rtol=0, atol=1e-6)
        assert torch.equal(subnet_forward(net, net.widths, x), net(x))
    sub.fea_conv.weight.data.zero_()                    # copies, not views
    assert net.fea_conv.weight.abs().sum() > 0


def test_elastic_subnet_equals_fresh_narrow_mfanet(net):
    """Build MFANet(widths) independently and copy the SuperGenerator's front channels into it conv by conv
    with elastic.slice_conv: it must compute what the weight-shared SubGenerator computes."""
    sort_channels_by_importance(net)
    torch.manual_seed(5)
    fresh = MFANet(widths=W).eval()
    plan = net._channel_plan(W)
    sup = dict(net.named_modules())
    with torch.no_grad():
        for name, mod in fresh.named_modules():
            if isinstance(mod, nn.Conv2d):
                o, i = plan[name]
                s = elastic.slice_conv(sup[name], o, i)
                assert s.weight.shape == mod.weight.shape, name
                mod.weight.copy_(s.weight)
                mod.bias.copy_(s.bias)
    x = torch.rand(2, 3, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(subnet_forward(net, W, x), fresh(x), rtol=0, atol=1e-6)


def test_width_space(net):
    assert width_space(net, CHOICES) == [CHOICES] * 8
    big = MFANet(num_feat=48)
    assert width_space(big) == [(48, 32, 24)] * 8
    assert width_space(net, (48, 32, 24)) == [(16,)] * 8


# ---- sandwich step -----------------------------------------------------------------------------------
def _batch(step: int):
    g = loop.step_generator(0, step)
    hr = torch.rand(2, 3, 64, 64, generator=g)
    return nn.functional.avg_pool2d(hr, 4), hr


def test_sample_sandwich_deterministic(net):
    st = SupernetStep(width_space(net, CHOICES), n_random=3, perceptual=None, seed=1)
    s = st.sample(7)
    assert s[0] == (16,) * 8 and s[1] == (8,) * 8 and len(s) == 5
    assert s == st.sample(7) and s != st.sample(8)
    assert all(set(w) <= set(CHOICES) for w in s)


def test_step_trains_the_shared_weights(net):
    net.train()
    st = supernet_step(width_space(net, CHOICES), n_random=1, perceptual=None, seed=0)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    # the smallest SubGenerator's gradient lands on the SuperGenerator's front channels only
    opt.zero_grad()
    lr, hr = _batch(0)
    nn.functional.l1_loss(subnet_forward(net, st.smallest, lr), hr).backward()
    g = net.fea_conv.weight.grad
    assert g[:8].abs().sum() > 0 and torch.all(g[8:] == 0)
    gi = net.mfams[1].cfabs[0].c_out.weight.grad          # concatenated input: the front 8 of each 16-part
    assert torch.all(gi[:8].view(8, 5, 16)[:, :, 8:] == 0) and gi[:8].view(8, 5, 16)[:, :, :8].abs().sum() > 0
    out = st(0, _batch(0), {"G": net}, {"G": opt})
    assert {"loss", "l1_largest", "l1_smallest", "l1_random"} <= set(out)
    assert all(torch.isfinite(torch.as_tensor(v)) for v in out.values())
    changed = {k for k, v in net.state_dict().items() if not torch.equal(v, before[k])}
    # every weight with a gradient moved (the largest SubGenerator is the whole net; at 16x16 a few ESA
    # units of the tiny net are dead ReLUs and get none)
    with_grad = {k for k, p in net.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0}
    assert changed == with_grad and len(changed) > 0.9 * len(before)


def test_step_in_training_loop(net, tmp_path):
    """A few sandwich steps through srlib.training.loop.train lower the loss of the smallest SubGenerator."""
    torch.manual_seed(0)
    sort_channels_by_importance(net)
    net.train()
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    st = supernet_step(width_space(net, CHOICES), n_random=1, perceptual=None, seed=0)
    fixed = _batch(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = loop.train(tmp_path / "run", models={"G": net}, optimizers={"G": opt}, step_fn=st,
                         batches=lambda s: fixed, total_steps=12, seed=0, log_every=1, ckpt_every=100,
                         progress=False)
    rows = loop.read_metrics(tmp_path / "run")
    assert res.step == 12 and len(rows) == 12
    assert rows["l1_smallest"].iloc[-1] < rows["l1_smallest"].iloc[0]


def test_auto_perceptual_without_weights(net, tmp_path, monkeypatch):
    monkeypatch.setenv("SRLIB_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    st = supernet_step(width_space(net, CHOICES), n_random=0)
    opt = torch.optim.Adam(net.parameters(), lr=1e-4)
    with pytest.warns(UserWarning, match="perceptual"):
        out = st(0, _batch(0), {"G": net}, {"G": opt})
    assert "percep" not in out and st.perceptual_status.startswith("unavailable")


def test_given_perceptual_is_used(net):
    calls = []

    def fake_percep(sr, hr):
        calls.append(sr.shape)
        return (sr - hr).pow(2).mean()

    class P(nn.Module):
        def forward(self, sr, hr):
            return fake_percep(sr, hr)

    st = supernet_step(width_space(net, CHOICES), n_random=1, perceptual=P(), lambda_percep=0.5)
    out = st(0, _batch(0), {"G": net}, {"G": torch.optim.SGD(net.parameters(), lr=0.0)})
    assert len(calls) == 3 and "percep" in out
