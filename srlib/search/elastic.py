"""Elastic-width helpers (once-for-all / GAN Compression), generic over convolutional networks.

A super-layer keeps its full-width weights; a sub-network runs on a slice of the channels. Before slicing,
once-for-all sorts every channel group so that the *most important channels come first*: importance is the
L1 norm of the weights that consume a channel, and the same permutation is applied to the producers'
outputs (weights and biases) and to every consumer's inputs, which leaves the network's function unchanged.

Nothing here knows a particular architecture. A :class:`ChannelGroup` lists the modules that produce one
set of tied channels (every conv whose output is added to, multiplied with or concatenated as that tensor)
and the modules that consume it, each with the channel offset at which the group sits in that module's
output or input (a concatenated input holds several groups at different offsets).

Modules: ``nn.Conv2d`` and ``nn.Linear`` (weight ``(out, in, ...)``); grouped convs accept permutations that
keep every channel inside its group, depthwise convs are passed through with :func:`permute_depthwise`;
per-channel modules (BatchNorm, per-channel PReLU, ...) go into ``ChannelGroup.channelwise``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import torch
import torch.nn as nn

__all__ = ["permute_out", "permute_in", "permute_depthwise", "permute_channelwise", "l1_importance",
           "slice_conv", "narrow_segments", "ChannelGroup", "group_importance", "apply_group_permutation",
           "sort_group"]


def _as_perm(perm: Sequence[int] | torch.Tensor, n: int, offset: int, total: int, what: str) -> torch.Tensor:
    """The full-length permutation of ``total`` channels that applies ``perm`` to ``[offset, offset + n)``."""
    p = torch.as_tensor(perm, dtype=torch.long).flatten().cpu()
    if p.numel() != n or not torch.equal(torch.sort(p).values, torch.arange(n)):
        raise ValueError(f"{what}: {p.tolist()[:16]}... is not a permutation of range({n})")
    if offset < 0 or offset + n > total:
        raise ValueError(f"{what}: channels [{offset}, {offset + n}) lie outside the module's {total} channels")
    full = torch.arange(total)
    full[offset:offset + n] = p + offset
    return full


def _check_within_groups(full: torch.Tensor, groups: int, what: str) -> None:
    per = full.numel() // groups
    if groups > 1 and not torch.equal(full // per, torch.arange(full.numel()) // per):
        raise ValueError(f"{what}: a grouped conv (groups={groups}) only accepts permutations that keep "
                         "every channel inside its group (use permute_depthwise for a depthwise conv)")


def _groups(module: nn.Module) -> int:
    return getattr(module, "groups", 1)


@torch.no_grad()
def permute_out(conv: nn.Module, perm: Sequence[int] | torch.Tensor, *, offset: int = 0) -> None:
    """Reorder output channels ``[offset, offset + len(perm))`` in place: new channel i = old ``perm[i]``.

    Moves the weight rows and the bias entries (the gradient is dropped if any).
    """
    w = conv.weight
    full = _as_perm(perm, len(perm), offset, w.shape[0], f"permute_out({type(conv).__name__})")
    _check_within_groups(full, _groups(conv), "permute_out")
    full = full.to(w.device)
    conv.weight.copy_(w.index_select(0, full))
    if getattr(conv, "bias", None) is not None:
        conv.bias.copy_(conv.bias.index_select(0, full))
    _drop_grads(conv)


@torch.no_grad()
def permute_in(conv: nn.Module, perm: Sequence[int] | torch.Tensor, groups: int | None = None, *,
               offset: int = 0) -> None:
    """Reorder the input channels ``[offset, offset + len(perm))`` the module expects, in place: after the
    call the module computes the same output from an input whose channel i is the old channel ``perm[i]``.

    ``groups`` defaults to ``conv.groups`` (a given value must agree with it). For a grouped conv the
    permutation must keep each channel inside its group; a depthwise conv needs :func:`permute_depthwise`.
    """
    g = _groups(conv)
    if groups is not None and groups != g:
        raise ValueError(f"permute_in: groups={groups} but the module has groups={g}")
    w = conv.weight
    in_total = w.shape[1] * g
    full = _as_perm(perm, len(perm), offset, in_total, f"permute_in({type(conv).__name__})")
    _check_within_groups(full, g, "permute_in")
    if g == 1:
        conv.weight.copy_(w.index_select(1, full.to(w.device)))
    else:
        per_in, per_out = w.shape[1], w.shape[0] // g
        local = (full - (torch.arange(in_total) // per_in) * per_in).view(g, per_in)  # per-group positions
        idx = local.repeat_interleave(per_out, dim=0).to(w.device)                      # (out, per_in)
        idx = idx.view(*idx.shape, *([1] * (w.dim() - 2))).expand_as(w)
        conv.weight.copy_(torch.gather(w, 1, idx))
    _drop_grads(conv)


@torch.no_grad()
def permute_depthwise(conv: nn.Conv2d, perm: Sequence[int] | torch.Tensor, *, offset: int = 0) -> None:
    """A depthwise conv (``groups == in == out``) carries channel i to channel i: permute both sides."""
    if not (conv.groups == conv.in_channels == conv.out_channels):
        raise ValueError("permute_depthwise needs a depthwise conv (groups == in_channels == out_channels)")
    permute_channelwise(conv, perm, offset=offset)


@torch.no_grad()
def permute_channelwise(module: nn.Module, perm: Sequence[int] | torch.Tensor, *, offset: int = 0) -> None:
    """Permute every parameter and buffer whose first dimension is the channel count (BatchNorm's affine
    and running statistics, a per-channel PReLU, a depthwise conv); scalars are left alone."""
    tensors = [t for t in list(module.parameters(recurse=False)) + list(module.buffers(recurse=False))
               if t is not None and t.dim() >= 1 and t.numel() > 1]
    if not tensors:
        return
    n = tensors[0].shape[0]
    full = _as_perm(perm, len(perm), offset, n, f"permute_channelwise({type(module).__name__})")
    for t in tensors:
        if t.shape[0] != n:
            raise ValueError(f"permute_channelwise: {type(module).__name__} holds tensors of different "
                             f"leading sizes ({n} and {t.shape[0]})")
        t.copy_(t.index_select(0, full.to(t.device)))
    _drop_grads(module)


def _drop_grads(module: nn.Module) -> None:
    for p in module.parameters(recurse=False):
        p.grad = None


def l1_importance(weight: torch.Tensor, dim: int) -> torch.Tensor:
    """L1 norm of ``weight`` over every dimension but ``dim``: one score per index of ``dim``
    (``dim=1`` of a consumer's weight: how much it uses each input channel; ``dim=0``: each output)."""
    dims = [d for d in range(weight.dim()) if d != dim % weight.dim()]
    return weight.detach().abs().sum(dim=dims) if dims else weight.detach().abs()


@torch.no_grad()
def slice_conv(conv: nn.Conv2d, out_idx: Sequence[int] | torch.Tensor | None = None,
               in_idx: Sequence[int] | torch.Tensor | None = None) -> nn.Conv2d:
    """A new ``nn.Conv2d`` holding copies of the selected output rows / input columns of ``conv``'s weight
    (and bias); same kernel, stride, padding, dilation and padding mode. ``None`` keeps all.

    Dense convs only, plus depthwise convs (``groups == in == out``), where ``out_idx`` selects the
    channels on both sides (``in_idx`` must then be None or equal).
    """
    g = conv.groups
    dev = conv.weight.device
    o = None if out_idx is None else torch.as_tensor(out_idx, dtype=torch.long, device=dev)
    i = None if in_idx is None else torch.as_tensor(in_idx, dtype=torch.long, device=dev)
    if g == 1:
        w = conv.weight if o is None else conv.weight.index_select(0, o)
        w = w if i is None else w.index_select(1, i)
        b = None if conv.bias is None else (conv.bias if o is None else conv.bias.index_select(0, o))
        c_in, c_out, groups = w.shape[1], w.shape[0], 1
    elif g == conv.in_channels == conv.out_channels:
        if i is not None and (o is None or not torch.equal(i, o)):
            raise ValueError("slice_conv: a depthwise conv keeps the same channels on both sides; pass out_idx")
        w = conv.weight if o is None else conv.weight.index_select(0, o)
        b = None if conv.bias is None else (conv.bias if o is None else conv.bias.index_select(0, o))
        c_in = c_out = groups = w.shape[0]
    else:
        raise ValueError(f"slice_conv supports dense and depthwise convs, not groups={g}")
    new = nn.Conv2d(c_in, c_out, conv.kernel_size, stride=conv.stride, padding=conv.padding,
                    dilation=conv.dilation, groups=groups, bias=b is not None, padding_mode=conv.padding_mode,
                    device=dev, dtype=conv.weight.dtype)
    new.weight.copy_(w)
    if b is not None:
        new.bias.copy_(b)
    new.train(conv.training)
    return new


def narrow_segments(t: torch.Tensor, dim: int, segments: Sequence[tuple[int, int]]) -> torch.Tensor:
    """Keep the first ``kept`` channels of each ``(size, kept)`` segment laid end to end along ``dim`` (a
    concatenation's consumer keeps channels ``off .. off + kept - 1`` of every part, not the first
    ``sum(kept)``). Differentiable. One segment -- or nothing dropped -- gives a ``narrow`` *view* (same
    storage); several are gathered with ``torch.cat`` of views (a temporary, e.g. inside an autograd graph)."""
    segments = [(int(n), int(k)) for n, k in segments]
    if sum(n for n, _ in segments) != t.shape[dim] or any(not 0 < k <= n for n, k in segments):
        raise ValueError(f"narrow_segments: segments {segments} do not tile dim {dim} of size {t.shape[dim]} "
                         "with 0 < kept <= size")
    if all(k == n for n, k in segments):
        return t
    if len(segments) == 1:
        return t.narrow(dim, 0, segments[0][1])
    parts, off = [], 0
    for n, k in segments:
        parts.append(t.narrow(dim, off, k))
        off += n
    return torch.cat(parts, dim)


# ------------------------------------------------------------------------------------------------------
# Channel groups
# ------------------------------------------------------------------------------------------------------
@dataclass
class ChannelGroup:
    """``size`` tied channels: ``producers`` write them (output offset), ``consumers`` read them (input
    offset), ``channelwise`` modules carry them one to one (BatchNorm, ...). ``name`` is for messages."""

    name: str
    size: int
    producers: list[tuple[nn.Module, int]] = field(default_factory=list)
    consumers: list[tuple[nn.Module, int]] = field(default_factory=list)
    channelwise: list[tuple[nn.Module, int]] = field(default_factory=list)


def group_importance(group: ChannelGroup) -> torch.Tensor:
    """Sum over the consumers of the L1 norm of the weights that read each channel (float64, CPU)."""
    if not group.consumers:
        raise ValueError(f"channel group {group.name!r} has no consumers to measure importance with")
    score = torch.zeros(group.size, dtype=torch.float64)
    for mod, off in group.consumers:
        w = mod.weight
        g = _groups(mod)
        if g != 1:
            raise ValueError(f"group {group.name!r}: importance from a grouped consumer is not supported")
        if off + group.size > w.shape[1]:
            raise ValueError(f"group {group.name!r}: channels [{off}, {off + group.size}) exceed the "
                             f"consumer's {w.shape[1]} inputs")
        score += l1_importance(w[:, off:off + group.size], 1).double().cpu()
    return score


def apply_group_permutation(group: ChannelGroup, perm: Sequence[int] | torch.Tensor) -> None:
    """Permute the group's channels everywhere (new channel i = old ``perm[i]``): function unchanged."""
    for mod, off in group.producers:
        permute_out(mod, perm, offset=off)
    for mod, off in group.channelwise:
        permute_channelwise(mod, perm, offset=off)
    for mod, off in group.consumers:
        permute_in(mod, perm, offset=off)


def sort_group(group: ChannelGroup) -> torch.Tensor:
    """Sort the group's channels by decreasing :func:`group_importance` (stable); returns the permutation."""
    perm = torch.sort(group_importance(group), descending=True, stable=True).indices
    apply_group_permutation(group, perm)
    return perm
