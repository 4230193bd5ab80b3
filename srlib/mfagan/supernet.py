"""MFAGAN's SuperGenerator (Sec. 3.6): importance sorting, sandwich-rule training, SubGenerator extraction.

The SuperGenerator is a full-width :class:`~srlib.mfagan.mfanet.MFANet` (G48 after distillation in
Table 1); a SubGenerator with ``widths`` runs on the *first* channels of every layer (the first channels of
each part of a concatenated input), as :meth:`MFANet.sliced_parameters` slices them ("All SubGenerators
share the front portion of corresponding layer weights").

1. :func:`sort_channels_by_importance` (once, before supernet training): "we use the most important
   channels of the SuperGenerator to initialize the SubGenerators" -- once-for-all's channel sorting.
   Every set of tied channels is sorted by the L1 norm of the weights that consume it, and the
   permutation is applied to its producers and consumers, so the network computes the same function.
   Tied sets are finer than ``widths``' entries: the backbone width ``widths[0]`` covers seven
   independent sets (the trunk ``fea`` with MFAM 1's residual stream and the global skip; each MFAM's
   c4 output; each MFAM's output ``t_m`` with the next MFAM's residual stream), each of the five
   chained conv outputs of a CFAB is its own set (``widths[1:7]``), plus the fusion width ``widths[7]``
   and the slices that follow a width implicitly (CCA's hidden ``5g // 16``, ESA's five ``C // 4`` sets).
   All of them are sorted: the SubGenerator takes the first channels of each.
2. :class:`SupernetStep` / :func:`supernet_step`: a step function for :func:`srlib.training.loop.train`
   with the sandwich rule (largest + smallest + ``n_random`` random SubGenerators per step, gradients
   accumulated -- summed, as once-for-all does -- then one optimizer step). SubGenerators run as
   ``torch.func.functional_call`` of a meta-device MFANet skeleton on ``sliced_parameters`` (differentiable
   index-selects of the SuperGenerator's own parameters), so every SubGenerator trains the shared weights.
   Loss: ``lambda1 L1 + lambda4 L_percep`` (Sec. 4.1 stage 3: lambda1 = lambda4 = 1), the perceptual term
   only where the VGG19 weights are available.
3. :func:`extract_subgenerator`: a standalone narrow MFANet with copied weights.
"""
from __future__ import annotations

import warnings
from typing import Any, Mapping, Sequence

import torch
import torch.nn as nn

from srlib.mfagan.mfanet import WIDTH_CHOICES, MFANet
from srlib.search.elastic import ChannelGroup, sort_group
from srlib.training import distributed as dist
from srlib.training.losses import PerceptualLoss, WeightsUnavailable, l1_loss
from srlib.training.loop import step_generator

__all__ = ["channel_groups", "sort_channels_by_importance", "width_space", "subnet_forward",
           "SupernetStep", "supernet_step", "extract_subgenerator"]


def _unwrap(net: nn.Module) -> MFANet:
    net = dist.unwrap(net)
    if not isinstance(net, MFANet):
        raise TypeError(f"expected an MFANet SuperGenerator, got {type(net).__name__}")
    return net


# ------------------------------------------------------------------------------------------------------
# Importance sorting
# ------------------------------------------------------------------------------------------------------
def channel_groups(net: MFANet) -> list[ChannelGroup]:
    """Every set of tied channels of ``net`` with its producers and consumers (see the module docstring)."""
    net = _unwrap(net)
    C, n_cfab = net.widths[0], net.n_cfab
    M = len(net.mfams)
    groups: list[ChannelGroup] = []

    def residual_stream(name: str, m: int, producers: list, consumers: list) -> ChannelGroup:
        """The C channels entering MFAM m: its input, every CFAB output (residuals), parts 0..n_cfab-1
        of its c5 input; plus the given extra producers/consumers."""
        mf = net.mfams[m]
        prod = list(producers) + [(cf.c_out, 0) for cf in mf.cfabs]
        cons = list(consumers) + [(cf.convs[0], 0) for cf in mf.cfabs] + [(mf.c4, 0)]
        cons += [(mf.c5, j * C) for j in range(n_cfab)]
        return ChannelGroup(name, C, prod, cons)

    # trunk: fea = MFAM 1's input, its residual stream, lr_conv's output (global skip), the upsampler's input
    groups.append(residual_stream("fea", 0, [(net.fea_conv, 0), (net.lr_conv, 0)], [(net.upsampler[0], 0)]))
    for m, mf in enumerate(net.mfams):
        groups.append(ChannelGroup(f"mfams.{m}.c4", C, [(mf.c4, 0)], [(mf.c5, n_cfab * C)]))
        # t_m = ESA(c5 out) = c5 out * sigmoid(esa.conv4(...)): c5 and esa.conv4 produce, esa.conv1 reads
        prod = [(mf.c5, 0), (mf.esa.conv4, 0)]
        cons = [(mf.esa.conv1, 0), (net.fuse[0], m * C)]
        if m + 1 < M:
            groups.append(residual_stream(f"t{m + 1}", m + 1, prod, cons))
        else:
            groups.append(ChannelGroup(f"t{m + 1}", C, prod, cons))
        e, f = mf.esa, mf.esa.conv1.out_channels
        groups += [ChannelGroup(f"mfams.{m}.esa.c1_", f, [(e.conv1, 0)], [(e.conv_f, 0), (e.conv2, 0)]),
                   ChannelGroup(f"mfams.{m}.esa.c1", f, [(e.conv2, 0)], [(e.conv_max, 0)]),
                   ChannelGroup(f"mfams.{m}.esa.v", f, [(e.conv_max, 0)], [(e.conv3, 0)]),
                   ChannelGroup(f"mfams.{m}.esa.c3", f, [(e.conv3, 0)], [(e.conv3_, 0)]),
                   ChannelGroup(f"mfams.{m}.esa.sum", f, [(e.conv3_, 0), (e.conv_f, 0)], [(e.conv4, 0)])]
        for j, cf in enumerate(mf.cfabs):
            q, G = f"mfams.{m}.cfabs.{j}", cf.convs[0].out_channels
            du0, du2 = cf.cca.conv_du[0], cf.cca.conv_du[2]
            for k in range(5):
                cons = [(du0, k * G), (cf.c_out, k * G)] + ([(cf.convs[k + 1], 0)] if k < 4 else [])
                # CCA's attention (conv_du.2) multiplies the concatenation channel by channel: a producer
                groups.append(ChannelGroup(f"{q}.o{k + 1}", G, [(cf.convs[k], 0), (du2, k * G)], cons))
            groups.append(ChannelGroup(f"{q}.cca.hidden", du0.out_channels, [(du0, 0)], [(du2, 0)]))
    groups.append(ChannelGroup("fuse", net.fuse[0].out_channels, [(net.fuse[0], 0)], [(net.lr_conv, 0)]))
    return groups


@torch.no_grad()
def sort_channels_by_importance(net: nn.Module) -> dict[str, torch.Tensor]:
    """Sort every channel set of the SuperGenerator (in place) so the most important channels come first.

    Importance of a channel = sum over the convs that read it of the L1 norm of their weights on that
    channel (once-for-all). The network's function is unchanged (up to float reassociation); gradients are
    dropped. Run it *before* building the optimizer (Adam's moments would not follow the permutation).
    Returns ``{group name: permutation}`` (new channel i = old channel ``perm[i]``).
    """
    return {g.name: sort_group(g) for g in channel_groups(_unwrap(net))}


# ------------------------------------------------------------------------------------------------------
# SubGenerators
# ------------------------------------------------------------------------------------------------------
def width_space(supernet: nn.Module, choices: Sequence[int] = WIDTH_CHOICES) -> list[tuple[int, ...]]:
    """Per-entry width choices of ``supernet``'s SubGenerators (one tuple per ``widths`` entry, widest
    first): the ``choices`` not wider than that entry (its own width if none is), at least 4 for the
    backbone. With G48 and the default (48, 32, 24) this is Sec. 3.6's 3^8 space."""
    net = _unwrap(supernet)
    space = []
    for i, w in enumerate(net.widths):
        lo = 4 if i == 0 else 1
        opts = sorted({int(c) for c in choices if lo <= c <= w}, reverse=True)
        space.append(tuple(opts) if opts else (w,))
    return space


_SKELETONS: dict[tuple, MFANet] = {}


def _skeleton(widths: tuple[int, ...], n_cfab: int) -> MFANet:
    key = (widths, n_cfab)
    net = _SKELETONS.get(key)
    if net is None:
        if len(_SKELETONS) > 4096:
            _SKELETONS.clear()
        with torch.device("meta"):               # no memory, no init cost: parameters come from the call
            net = MFANet(widths=widths, n_cfab=n_cfab)
        _SKELETONS[key] = net
    return net


def subnet_forward(supernet: nn.Module, widths: Sequence[int], x: torch.Tensor, **kwargs: Any):
    """The SubGenerator ``widths`` of ``supernet`` applied to ``x``, differentiable w.r.t. the
    SuperGenerator's parameters (weight sharing). ``kwargs`` go to ``MFANet.forward``."""
    net = _unwrap(supernet)
    widths = tuple(int(w) for w in widths)
    if widths == net.widths:
        return net(x, **kwargs)
    skel = _skeleton(widths, net.n_cfab)
    skel.train(net.training)
    return torch.func.functional_call(skel, net.sliced_parameters(widths), (x,), kwargs)


@torch.no_grad()
def extract_subgenerator(supernet: nn.Module, widths: Sequence[int]) -> MFANet:
    """A standalone SubGenerator (an :class:`MFANet` with ``widths``) holding copies of the
    SuperGenerator's shared weights, on its device, in its train/eval mode."""
    net = _unwrap(supernet)
    p = next(net.parameters())
    sub = net.subnet(widths).to(device=p.device, dtype=p.dtype)
    return sub.train(net.training)


# ------------------------------------------------------------------------------------------------------
# Sandwich-rule training step
# ------------------------------------------------------------------------------------------------------
class SupernetStep:
    """``step_fn(step, batch, models, optimizers)`` for :func:`srlib.training.loop.train` (see the module
    docstring). ``batch`` = ``(lr, hr)``; ``models[model_key]`` is the SuperGenerator (DDP-wrapped or not),
    ``optimizers[optimizer_key]`` its optimizer.

    ``space``: per-entry width choices (:func:`width_space`); the largest SubGenerator takes every entry's
    maximum, the smallest every minimum, the ``n_random`` others are uniform draws from a generator seeded
    by ``(seed, step)`` only (the same on every rank; a resumed run draws the same SubGenerators).
    ``perceptual``: a module ``(sr, hr) -> loss``, None (L1 only), or "auto": a
    :class:`~srlib.training.losses.PerceptualLoss` ("mse", MFAGAN Eq. 5) when the VGG19 weights are
    available, else L1 only with a warning (``perceptual_status`` says why). Under DDP the accumulated
    gradients are averaged over ranks here (the SubGenerators do not run through the DDP wrapper).
    Logged: ``loss`` (mean over the SubGenerators), ``l1_largest``, ``l1_smallest``, ``l1_random`` and
    ``percep`` (mean) when used.
    """

    _SALT = 0x5A4D  # separates these draws from the data's

    def __init__(self, space: Sequence[Sequence[int]], *, n_random: int = 2, lambda_recon: float = 1.0,
                 lambda_percep: float = 1.0, perceptual: nn.Module | str | None = "auto", seed: int = 0,
                 model_key: str = "G", optimizer_key: str = "G"):
        self.space = [tuple(int(c) for c in opts) for opts in space]
        if not self.space or any(not opts for opts in self.space):
            raise ValueError("space needs at least one choice per width entry")
        if n_random < 0:
            raise ValueError(f"n_random must be >= 0, got {n_random}")
        self.n_random, self.seed = int(n_random), int(seed)
        self.lambda_recon, self.lambda_percep = float(lambda_recon), float(lambda_percep)
        self.model_key, self.optimizer_key = model_key, optimizer_key
        self.largest = tuple(max(o) for o in self.space)
        self.smallest = tuple(min(o) for o in self.space)
        self._perceptual_arg = perceptual
        self.perceptual: nn.Module | None = None
        self.perceptual_status = "not built yet"
        if perceptual is not None and not isinstance(perceptual, str):
            self.perceptual, self.perceptual_status = perceptual, "given"
        elif perceptual is None:
            self.perceptual_status = "disabled"
        elif perceptual != "auto":
            raise ValueError(f"perceptual must be a module, None or 'auto', got {perceptual!r}")

    def sample(self, step: int) -> list[tuple[int, ...]]:
        """The SubGenerators of ``step``: [largest, smallest, random_1, ..., random_n]."""
        g = step_generator(self.seed, step, self._SALT, rank=0)
        draws = []
        for _ in range(self.n_random):
            idx = torch.randint(0, 1 << 30, (len(self.space),), generator=g).tolist()
            draws.append(tuple(opts[i % len(opts)] for opts, i in zip(self.space, idx)))
        return [self.largest, self.smallest] + draws

    def _percep(self, device: torch.device) -> nn.Module | None:
        if self._perceptual_arg == "auto" and self.perceptual_status == "not built yet":
            try:
                self.perceptual = PerceptualLoss("mse")
                self.perceptual_status = "VGG19 conv5_4 (MSE)"
            except WeightsUnavailable as e:
                self.perceptual_status = f"unavailable: {e.reason}"
                warnings.warn(f"SuperGenerator training without the perceptual term: {e}", stacklevel=3)
        if self.perceptual is not None:
            self.perceptual = self.perceptual.to(device)
        return self.perceptual

    def __call__(self, step: int, batch: Any, models: Mapping[str, nn.Module],
                 optimizers: Mapping[str, Any]) -> dict[str, float]:
        net = _unwrap(models[self.model_key])
        opt = optimizers[self.optimizer_key]
        device = next(net.parameters()).device
        lr, hr = (t.to(device, non_blocking=True) for t in batch)
        percep = self._percep(device) if self.lambda_percep else None
        subnets = self.sample(step)
        opt.zero_grad(set_to_none=True)
        l1s, ps, total = [], [], 0.0
        for widths in subnets:
            sr = subnet_forward(net, widths, lr)
            l1 = l1_loss(sr, hr)
            loss = self.lambda_recon * l1
            if percep is not None:
                p = percep(sr, hr)
                loss = loss + self.lambda_percep * p
                ps.append(p.detach())
            loss.backward()
            l1s.append(l1.detach())
            total = total + loss.detach()
        dist.average_gradients([p for p in net.parameters() if p.requires_grad])
        opt.step()
        out = {"loss": total / len(subnets), "l1_largest": l1s[0], "l1_smallest": l1s[1]}
        if len(l1s) > 2:
            out["l1_random"] = torch.stack(l1s[2:]).mean()
        if ps:
            out["percep"] = torch.stack(ps).mean()
        return out


def supernet_step(space: Sequence[Sequence[int]], **kwargs: Any) -> SupernetStep:
    """Build the SuperGenerator's step function (:class:`SupernetStep`)."""
    return SupernetStep(space, **kwargs)
