"""AdaSR's adaptable model (Sec. 3.1, 3.2.1, 3.3): one weight set, any (depth, width) sub-model.

Paper says: a block-based SR network B^T (stem, M blocks, upsampler) is adapted "by bypassing channels and
blocks to get the final output on-the-fly" (Sec. 3.3): depth D keeps the first D of the M blocks, width W
keeps W of the C feature channels in every block (Eq. 5: cost / (c m)); options grow "block size by 1 and
channel size by 8 for every step" from the smallest, 1 block x 8 channels (Sec. 3.2.1). The weights are
shared: a size change is an argument, not a reload.

We build:

* :class:`Seg` / :class:`Narrow` / :class:`BlockDescription`: the topology described once. A description
  names the stem, the blocks (each block's modules, its connector included: CARN's cascading fusion
  ``fuse.i`` belongs to block i) and the tail, says for every module with parameters how its output (dim 0)
  and input (dim 1) narrow -- as a list of segments, so a concatenation's consumer is sliced per segment
  (CARN's fusion conv over ``[x | b1 | b2]`` keeps channels ``k*C ... k*C + W - 1`` of each segment k) --
  and wires the top level in three small functions (stem, one block, tail) over the model's own modules.
* :class:`Adaptable` (an ``nn.Module`` holding the model): ``forward(x, depth, width)`` runs the wiring
  under ``torch.func.functional_call`` with *narrowed* tensors of the model's own parameters -- the pattern
  of :func:`srlib.mfagan.supernet.subnet_forward` (the chosen size is an argument, never layer state).
  A dimension of one segment is a ``narrow`` view (same storage, no copy); a dimension of several segments
  is gathered per call with ``torch.cat`` of views (:func:`srlib.search.elastic.narrow_segments`; a
  temporary of the autograd graph, e.g. the ``(i+2) W x W`` weights of a 1x1 fusion, freed with it; never
  a stored parameter). Gradients flow to the one weight set.
* ``options()``: the (D, W) grid; ``extract(D, W)``: a standalone :class:`SubModel` with *copied* weights
  (blocks >= D removed, convs' channel attributes updated) that computes the same function.

Assumptions: the kept channels are always the first ones of each segment (no importance sorting: the
paper trains the shared weights for this order from the start); the stem's and tail's feature convs
narrow with the width (the upsampler's "C_out" is the feature width in the CARN code), the RGB input and
output never; a width list always includes the full width C (FMEN's C = 50 is not a multiple of 8).
Grouped convolutions cannot be narrowed by slicing alone (the module's ``groups`` would have to change
with the width): a description that scales one is refused.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import torch
import torch.nn as nn

from srlib.search.elastic import narrow_segments

__all__ = ["Seg", "fixed", "scaled", "Narrow", "BlockDescription", "Adaptable", "SubModel", "width_options"]


@dataclass(frozen=True)
class Seg:
    """``size`` contiguous channels of a conv's output or input at full width; ``scales``: they narrow with
    the width (``kept = max(1, size * W // C)``, so the full width keeps all), else they are kept whole."""

    size: int
    scales: bool = True

    def kept(self, width: int, full: int) -> int:
        return max(1, self.size * width // full) if self.scales else self.size


def fixed(n: int) -> Seg:
    """``n`` channels that never narrow (RGB input/output, a pixel-shuffle's 3 x r^2 rows)."""
    return Seg(n, False)


def scaled(n: int) -> Seg:
    """``n`` channels at full width that narrow in proportion to the width."""
    return Seg(n, True)


@dataclass(frozen=True)
class Narrow:
    """How one module's parameters narrow: ``out`` segments along dim 0 (weights, biases), ``inp`` along
    dim 1 of weights with at least 2 dims. ``Narrow()`` (no segments) keeps the module whole."""

    out: tuple[Seg, ...] = ()
    inp: tuple[Seg, ...] = ()


@dataclass(frozen=True)
class BlockDescription:
    """A block-based generator described once (Sec. 3.1: stem, M blocks, upsampler).

    ``width``: C, the full feature width. ``stem`` / ``tail``: module names run before / after the blocks;
    ``blocks[i]``: the module names of block i (its connector included). ``convs``: module name -> how it
    narrows; every module that owns parameters must appear (a missing one is an error naming it).
    ``run_stem(model, x) -> state``, ``run_block(model, i, state) -> state``, ``run_tail(model, state) -> y``
    wire the top level with the model's own modules; ``anchor(state)`` is block i's output (the
    distillation anchor; default: the state itself, or its last item when it is a tuple).
    """

    width: int
    stem: tuple[str, ...]
    blocks: tuple[tuple[str, ...], ...]
    tail: tuple[str, ...]
    convs: Mapping[str, Narrow]
    run_stem: Callable[[nn.Module, torch.Tensor], Any]
    run_block: Callable[[nn.Module, int, Any], Any]
    run_tail: Callable[[nn.Module, Any], torch.Tensor]
    anchor: Callable[[Any], torch.Tensor] | None = None
    min_width: int = 8               # Sec. 3.2.1: "in CARN the smallest channel size is 8"
    width_step: int = 8              # Sec. 3.2.1: "channel size by 8 for every step"
    name: str = "model"
    notes: tuple[str, ...] = field(default=())

    @property
    def depth(self) -> int:
        """M, the number of blocks."""
        return len(self.blocks)

    def anchor_of(self, state: Any) -> torch.Tensor:
        if self.anchor is not None:
            return self.anchor(state)
        return state[-1] if isinstance(state, (tuple, list)) else state


def width_options(full: int, min_width: int = 8, step: int = 8) -> list[int]:
    """``min_width, min_width + step, ... <= full``, plus ``full`` itself (Sec. 3.2.1)."""
    return sorted(set(range(min_width, full + 1, step)) | {full})


def _split(name: str) -> tuple[str, str]:
    return tuple(name.rsplit(".", 1)) if "." in name else ("", name)  # type: ignore[return-value]


def _narrow_dim(t: torch.Tensor, dim: int, segs: Sequence[Seg], width: int, full: int) -> torch.Tensor:
    if not segs or t.dim() <= dim:
        return t
    return narrow_segments(t, dim, [(s.size, s.kept(width, full)) for s in segs])


class _Wiring(nn.Module):
    """The top-level forward for one or several depths (trunk shared); called through ``functional_call``
    (not a registered submodule). Returns ``{depth: (y, [anchor 1, ..., anchor depth])}``."""

    def __init__(self, model: nn.Module, desc: BlockDescription):
        super().__init__()
        self.model = model
        self.description = desc

    def forward(self, x: torch.Tensor, depths: tuple[int, ...]):
        return _run(self.description, self.model, x, depths)


def _run(d: BlockDescription, m: nn.Module, x: torch.Tensor, depths: Sequence[int]) -> dict:
    state = d.run_stem(m, x)
    outs, res = [], {}
    for i in range(max(depths)):
        state = d.run_block(m, i, state)
        outs.append(d.anchor_of(state))
        if i + 1 in depths:
            res[i + 1] = (d.run_tail(m, state), list(outs))
    return res


class Adaptable(nn.Module):
    """``model`` (full size, its weights *the* shared weights) seen as every (depth, width) sub-model.

    ``forward(x, depth=None, width=None, anchors=False)``: None = full; with ``anchors=True`` returns
    ``(y, [block 1 output, ..., block depth output])`` (each at the sub-model's width).
    """

    def __init__(self, model: nn.Module, description: BlockDescription):
        super().__init__()
        self.model = model
        self.description = description
        object.__setattr__(self, "_wiring", _Wiring(model, description))  # not a submodule: no duplicate keys
        self._check()

    # -- validation ------------------------------------------------------------------------------------
    def _check(self) -> None:
        d = self.description
        mods = dict(self.model.named_modules())
        named = set(d.stem) | set(d.tail) | {n for b in d.blocks for n in b}
        for n in list(d.convs) + sorted(named):
            if n not in mods:
                raise ValueError(f"{d.name}: the description names module {n!r}, which the model lacks")
        for n, mod in mods.items():
            own = list(mod.parameters(recurse=False))
            if own and n not in d.convs:
                raise ValueError(f"{d.name}: module {n!r} owns parameters but the description does not say "
                                 "how it narrows (add it to `convs`, Narrow() to keep it whole)")
        for n, rule in d.convs.items():
            if not any(n == p or n.startswith(p + ".") or p == "" for p in named):
                raise ValueError(f"{d.name}: module {n!r} lies outside the stem, the blocks and the tail")
            mod = mods[n]
            if getattr(mod, "groups", 1) != 1 and any(s.scales for s in rule.out + rule.inp):
                raise ValueError(f"{d.name}: {n!r} is a grouped conv; slicing cannot narrow it")
            for p in mod.parameters(recurse=False):
                for dim, segs in ((0, rule.out), (1, rule.inp)):
                    if segs and p.dim() > dim and sum(s.size for s in segs) != p.shape[dim]:
                        raise ValueError(f"{d.name}: {n!r} has {p.shape[dim]} channels on dim {dim}, its "
                                         f"segments sum to {sum(s.size for s in segs)}")
        if not d.blocks:
            raise ValueError(f"{d.name}: a description needs at least one block")

    def _size(self, depth: int | None, width: int | None) -> tuple[int, int]:
        d = self.description
        depth = d.depth if depth is None else int(depth)
        width = d.width if width is None else int(width)
        if not 1 <= depth <= d.depth:
            raise ValueError(f"{d.name}: depth {depth} outside 1..{d.depth}")
        if not 1 <= width <= d.width:
            raise ValueError(f"{d.name}: width {width} outside 1..{d.width}")
        return depth, width

    # -- the grid --------------------------------------------------------------------------------------
    def options(self, depths: Sequence[int] | None = None,
                widths: Sequence[int] | None = None) -> list[tuple[int, int]]:
        """The (D, W) grid, smallest first, depth outer (Alg. 1 lines 6-8): D = 1..M, W = 8, 16, ..., C
        (Sec. 3.2.1) unless a subset is given (each checked)."""
        d = self.description
        ds = list(range(1, d.depth + 1)) if depths is None else sorted({int(x) for x in depths})
        ws = width_options(d.width, d.min_width, d.width_step) if widths is None else sorted({int(x) for x in widths})
        for D in ds:
            self._size(D, None)
        for W in ws:
            self._size(None, W)
        return [(D, W) for D in ds for W in ws]

    # -- shared-weight forward -------------------------------------------------------------------------
    def used_modules(self, depth: int) -> list[str]:
        d = self.description
        return list(d.stem) + [n for b in d.blocks[:depth] for n in b] + list(d.tail)

    def sliced_parameters(self, depth: int | None = None, width: int | None = None) -> dict[str, torch.Tensor]:
        """Every parameter/buffer of the modules the sub-model uses, narrowed (views where one segment)."""
        depth, width = self._size(depth, width)
        d, out = self.description, {}
        prefixes = tuple(self.used_modules(depth))
        for mod_name, rule in d.convs.items():
            if not any(mod_name == p or mod_name.startswith(p + ".") for p in prefixes):
                continue
            mod = self.model.get_submodule(mod_name)
            for pn, t in list(mod.named_parameters(recurse=False)) + list(mod.named_buffers(recurse=False)):
                if t is None:
                    continue
                t = _narrow_dim(t, 0, rule.out, width, d.width)
                out[f"{mod_name}.{pn}" if mod_name else pn] = _narrow_dim(t, 1, rule.inp, width, d.width)
        return out

    def forward(self, x: torch.Tensor, depth: int | None = None, width: int | None = None,
                anchors: bool = False):
        depth, width = self._size(depth, width)
        y, outs = self.forward_depths(x, (depth,), width)[depth]
        return (y, outs) if anchors else y

    def forward_depths(self, x: torch.Tensor, depths: Sequence[int], width: int | None = None) -> dict:
        """``{D: (y_D, [anchor 1 .. anchor D])}`` for several depths at one width, the stem and blocks run
        once (block j's output does not depend on the depth): the sum of the sub-models' losses has the
        same gradient as separate passes."""
        depths = tuple(sorted({self._size(D, width)[0] for D in depths}))
        width = self._size(None, width)[1]
        if width == self.description.width:
            return self._wiring(x, depths)
        params = {f"model.{k}": v for k, v in self.sliced_parameters(max(depths), width).items()}
        return torch.func.functional_call(self._wiring, params, (x, depths), strict=False)

    # -- a standalone copy -----------------------------------------------------------------------------
    @torch.no_grad()
    def extract(self, depth: int | None = None, width: int | None = None) -> "SubModel":
        """A standalone narrow model with *copied* weights (on the same device, in the same mode)."""
        depth, width = self._size(depth, width)
        d = self.description
        net = copy.deepcopy(self.model)
        for b in d.blocks[depth:]:
            for n in b:
                parent, child = _split(n)
                setattr(net.get_submodule(parent) if parent else net, child, nn.Identity())
        for n, t in self.sliced_parameters(depth, width).items():
            mod_name, pn = _split(n)
            mod = net.get_submodule(mod_name) if mod_name else net
            old = getattr(mod, pn)
            if isinstance(old, nn.Parameter):
                setattr(mod, pn, nn.Parameter(t.detach().clone(), requires_grad=old.requires_grad))
            else:
                mod.register_buffer(pn, t.detach().clone())
        for mod in net.modules():
            if isinstance(mod, nn.Conv2d):
                mod.out_channels, mod.in_channels = mod.weight.shape[0], mod.weight.shape[1] * mod.groups
            elif isinstance(mod, nn.Linear):
                mod.out_features, mod.in_features = mod.weight.shape[0], mod.weight.shape[1]
        return SubModel(net, d, depth, width).train(self.training)


class SubModel(nn.Module):
    """One extracted (depth, width) sub-model: the narrowed copy and the description's wiring."""

    def __init__(self, model: nn.Module, description: BlockDescription, depth: int, width: int):
        super().__init__()
        self.model = model
        self.description = description
        self.depth, self.width = int(depth), int(width)
        if hasattr(model, "scale"):
            self.scale = model.scale

    def forward(self, x: torch.Tensor, anchors: bool = False):
        y, outs = _run(self.description, self.model, x, (self.depth,))[self.depth]  # same wiring, own weights
        return (y, outs) if anchors else y
