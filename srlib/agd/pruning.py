"""AGD's "ESRGAN pruned" baseline: L1-norm filter pruning of an ESRGAN to a MAC budget.

How the authors made their pruned ESRGAN (113.07 GFLOPs, 6.40 MB in their README; AdaSR Table 1 repeats
the row) is not in any text we have (shared/notes/agd.md): we choose a standard structured pruning and
say so. Li, Kadav, Durdanovic, Samet, Graf, "Pruning Filters for Efficient ConvNets", ICLR 2017: a
filter's importance is the sum of its absolute kernel weights; the least important filters of a layer are
removed with their output channels and the next layer's matching input channels; then fine-tune.

What we build (:func:`prune_esrgan`):

* :func:`esrgan_channel_groups` describes ESRGAN's tied channels once, as
  :class:`srlib.search.elastic.ChannelGroup` s: the trunk (``conv_first``, every dense block's ``conv5``
  and ``conv_body`` write it; residual adds tie them; every dense-block conv at input offset 0,
  ``conv_body`` and ``conv_up1`` read it), each dense-block conv 1-4's growth channels (read by the
  later convs of its block at their concatenation offsets), and the outputs of ``conv_up1``,
  ``conv_up2`` and ``conv_hr``.
* Importance per channel = the summed L1 norm of the filters that *produce* it (Li et al.'s criterion;
  for the trunk, the sum over its producers -- assumption: Li et al. leave a ResNet's residual channels
  unpruned, which cannot reach a ~10x budget on ESRGAN). The kept channels are the most important,
  in their original order; the copies are :func:`srlib.search.elastic.slice_conv` slices.
* assumption: a uniform width ratio: trunk and upsampler width ``nf'`` and growth ``gc' = round(nf' gc /
  nf)``, so the result is an ``RRDBNet(num_feat=nf', num_grow_ch=gc')`` -- ESRGAN-shaped, loadable by
  name. ``nf'`` is the largest on this ladder whose MACs (``srlib.complexity.measure`` at ``lr_hw``, AGD's
  convention: 256 x 256 LR, bias adds) do not exceed the target; one channel step wider exceeds it.
  At the README's 113.07 G this is ``nf' = 19, gc' = 10`` (``nf' = 20`` gives 115.47 G and 1.63 M
  parameters, against their 1.60 M).

Fine-tuning the pruned net is a stage's job (not here).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from srlib.complexity import measure
from srlib.models.esrgan import RRDBNet
from srlib.search.elastic import ChannelGroup, l1_importance, slice_conv

__all__ = ["esrgan_channel_groups", "filter_importance", "ladder", "PrunedESRGAN", "prune_esrgan"]


def _dims(net: RRDBNet) -> tuple[int, int, int]:
    return net.conv_first.out_channels, len(net.body), net.body[0].rdb1.conv1.out_channels


def esrgan_channel_groups(net: RRDBNet) -> list[ChannelGroup]:
    """Every set of tied channels of ``net`` (module docstring); names ``trunk``, ``body.B.rdbR.growK``,
    ``up1``, ``up2``, ``hr``."""
    nf, _, gc = _dims(net)
    rdbs = [(f"body.{b}.rdb{r}", getattr(block, f"rdb{r}")) for b, block in enumerate(net.body) for r in (1, 2, 3)]
    trunk = ChannelGroup("trunk", nf, [(net.conv_first, 0), (net.conv_body, 0)],
                         [(net.conv_body, 0), (net.conv_up1, 0)])
    groups = [trunk]
    for name, rdb in rdbs:
        convs = [getattr(rdb, f"conv{k}") for k in range(1, 6)]
        trunk.producers.append((convs[4], 0))
        trunk.consumers.extend((c, 0) for c in convs)
        for k in range(4):
            groups.append(ChannelGroup(f"{name}.grow{k + 1}", gc, [(convs[k], 0)],
                                       [(c, nf + k * gc) for c in convs[k + 1:]]))
    groups += [ChannelGroup("up1", nf, [(net.conv_up1, 0)], [(net.conv_up2, 0)]),
               ChannelGroup("up2", nf, [(net.conv_up2, 0)], [(net.conv_hr, 0)]),
               ChannelGroup("hr", nf, [(net.conv_hr, 0)], [(net.conv_last, 0)])]
    return groups


def filter_importance(group: ChannelGroup) -> torch.Tensor:
    """Li et al.'s score per channel: the summed L1 norm of the filters producing it (float64, CPU)."""
    score = torch.zeros(group.size, dtype=torch.float64)
    for mod, off in group.producers:
        score += l1_importance(mod.weight[off:off + group.size], 0).double().cpu()
    return score


def ladder(num_feat: int, num_grow_ch: int, nf: int) -> tuple[int, int]:
    """The uniform-ratio configuration with trunk width ``nf``: ``(nf, round-half-up(nf gc / num_feat))``."""
    return nf, max(1, int(nf * num_grow_ch / num_feat + 0.5))


@dataclass(frozen=True)
class PrunedESRGAN:
    """The pruned net and how it was chosen: ``macs`` <= ``target_macs`` < ``next_macs`` (the MACs one
    channel step wider; None at full width); ``kept``: group name -> kept channel indices."""

    net: RRDBNet
    num_feat: int
    num_grow_ch: int
    macs: int
    target_macs: float
    next_macs: int | None
    kept: dict[str, list[int]]


def _macs(num_feat: int, num_block: int, num_grow_ch: int, lr_hw: tuple[int, int], bias: bool) -> int:
    with torch.device("meta"):
        skeleton = RRDBNet(num_feat=num_feat, num_block=num_block, num_grow_ch=num_grow_ch)
    return measure(skeleton, lr_hw, bias=bias).macs


@torch.no_grad()
def prune_esrgan(net: RRDBNet, target_macs: float, *, lr_hw: tuple[int, int] = (256, 256),
                 bias: bool = True) -> PrunedESRGAN:
    """L1 filter pruning of ``net`` to at most ``target_macs`` (module docstring); ``net`` is unchanged."""
    if not isinstance(net, RRDBNet):
        raise TypeError(f"prune_esrgan expects srlib's RRDBNet (ESRGAN), got {type(net).__name__}")
    nf, nb, gc = _dims(net)
    cost = {}

    def macs_at(f: int) -> int:
        if f not in cost:
            f2, g2 = ladder(nf, gc, f)
            cost[f] = _macs(f2, nb, g2, lr_hw, bias)
        return cost[f]

    if macs_at(1) > target_macs:
        raise ValueError(f"target {target_macs:.4g} MACs is below the narrowest ESRGAN-shaped net "
                         f"({macs_at(1):.4g} MACs at num_feat=1)")
    lo, hi = 1, nf                        # invariant: macs_at(lo) <= target
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if macs_at(mid) <= target_macs else (lo, mid - 1)
    new_nf, new_gc = ladder(nf, gc, lo)

    groups = esrgan_channel_groups(net)
    kept: dict[str, list[int]] = {}
    out_idx: dict[nn.Module, torch.Tensor] = {}
    in_parts: dict[nn.Module, list[tuple[int, torch.Tensor]]] = {}
    for gr in groups:
        k = new_gc if ".grow" in gr.name else new_nf
        idx = torch.sort(torch.topk(filter_importance(gr), k, sorted=True).indices).values
        kept[gr.name] = idx.tolist()
        for mod, off in gr.producers:
            out_idx[mod] = idx + off
        for mod, off in gr.consumers:
            in_parts.setdefault(mod, []).append((off, idx + off))

    p = next(net.parameters())
    pruned = RRDBNet(num_in_ch=net.conv_first.in_channels, num_out_ch=net.conv_last.out_channels,
                     num_feat=new_nf, num_block=nb, num_grow_ch=new_gc).to(device=p.device, dtype=p.dtype)
    for name, mod in net.named_modules():
        if not isinstance(mod, nn.Conv2d):
            continue
        parts = sorted(in_parts.get(mod, []), key=lambda t: t[0])
        in_idx = torch.cat([i for _, i in parts]) if parts else None
        sliced = slice_conv(mod, out_idx.get(mod), in_idx)
        target = pruned.get_submodule(name)
        if target.weight.shape != sliced.weight.shape:
            raise RuntimeError(f"{name}: sliced {tuple(sliced.weight.shape)} != pruned {tuple(target.weight.shape)}")
        target.weight.copy_(sliced.weight)
        if target.bias is not None:
            target.bias.copy_(sliced.bias)
    pruned.train(net.training)
    nxt = macs_at(lo + 1) if lo < nf else None
    return PrunedESRGAN(pruned, new_nf, new_gc, macs_at(lo), float(target_macs), nxt, kept)
