"""AGD's SR supernet: the ESRGAN skeleton around 5 cells x 5 searchable layers (shared/notes/agd.md).

Per layer a DARTS mixed op (:class:`srlib.search.differentiable.MixedOp`) over the operators of
:mod:`srlib.agd.operations` in their *supernet form* (residual/dwsblock always with a 1x1-conv shortcut,
dwsblock's expanded width fixed at ``4 x num_feat``), all built at ``num_feat`` in and out and run at the
chosen widths on the first channels of their weights. Cell ``c``, layer ``l`` maps width
``chans[l] -> chans[l + 1]`` with ``chans = (num_feat, w_c0, .., w_c3, num_feat)``; ``out * 0.2 + x``.

Architecture parameters (registered, initialised to 1e-3 as the authors do; :meth:`arch_parameters`,
disjoint from :meth:`weight_parameters`):

* ``alpha`` (cells, layers, ops): op weights, mixed as ``softmax(alpha)`` (the authors' ``alpha``);
* ``width_logits`` (cells, layers - 1, len(widths)): one categorical per inner junction (their ``ratio``).

The sub-network is an argument, never layer state: ``forward(x, widths=None, *, op_weights=None)``.
``widths``: None (every junction at its widest), fixed widths (``max_widths()``, ``min_widths()``,
``random_widths(g)``: tuples of channel counts per cell), or a :class:`WidthSample` from
:meth:`sample_widths` -- a straight-through hard Gumbel-softmax (T = 1) per junction; each layer's mixed
output is then multiplied by the one-hot values at its input and output junctions (1.0 forward; the
gradient reaches ``width_logits``), exactly where the authors multiply ``r_score0 * r_score1``. Fixed
widths carry no such factor (their ``max``/``min``/``random`` modes). ``op_weights`` replaces
``softmax(alpha)`` (a one-hot reproduces one op; the weight step passes it detached).

Widths: ``make_divisible(64 r, 8)`` for ``r`` in {4, 6, 8, 10, 12}/12 -> :data:`WIDTHS` = (24, 32, 40, 56,
64) (the notes). The public SR config comments 4/12 out (:data:`RELEASED_CODE_WIDTHS`), and its
``PRIMITIVES`` comment ``skip`` out (:data:`~srlib.agd.operations.RELEASED_CODE_OPS`): both are keyword
choices here, the notes' sets the defaults.

:meth:`derive` -> :class:`~srlib.agd.network.Genotype` (argmax of alpha and of the width logits, first
index on ties). :func:`inherit` copies the supernet's weights into the derived net of a genotype (the
equality check; AGD itself retrains the derived net from scratch).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from srlib.search.differentiable import MixedOp, gumbel_softmax_st, sandwich

from .network import RES_SCALE, AGDGenerator, Genotype, add_skeleton, skeleton_forward
from .operations import OPS, make_divisible, make_op

__all__ = ["WIDTH_RATIOS", "WIDTHS", "RELEASED_CODE_WIDTHS", "WidthSample", "AGDSupernet", "inherit"]

WIDTH_RATIOS: tuple[float, ...] = (4 / 12, 6 / 12, 8 / 12, 10 / 12, 1.0)
WIDTHS: tuple[int, ...] = tuple(make_divisible(64 * r) for r in WIDTH_RATIOS)
RELEASED_CODE_WIDTHS: tuple[int, ...] = WIDTHS[1:]

Widths = tuple[tuple[int, ...], ...]


@dataclass(frozen=True)
class WidthSample:
    """A straight-through width sample: ``indices[c][j]`` into the supernet's ``widths``; ``onehot``
    (cells, junctions, len(widths)) the straight-through one-hots (1.0 at the chosen entries)."""

    indices: tuple[tuple[int, ...], ...]
    onehot: torch.Tensor


class AGDSupernet(nn.Module):
    """The searchable generator (module docstring). Keywords default to the notes' search space."""

    scale = 4

    def __init__(self, *, num_cells: int = 5, layers_per_cell: int = 5, num_feat: int = 64,
                 widths: Sequence[int] = WIDTHS, ops: Sequence[str] = OPS, expansion: int = 4,
                 arch_init: float = 1e-3):
        super().__init__()
        widths = tuple(sorted({int(w) for w in widths}))
        if not widths or widths[0] < 1 or widths[-1] > num_feat:
            raise ValueError(f"widths {widths} must lie in 1..num_feat={num_feat}")
        if num_cells < 1 or layers_per_cell < 2:
            raise ValueError("need at least one cell of at least two layers")
        bad = [o for o in ops if o not in OPS]
        if bad or not ops:
            raise KeyError(f"unknown ops {bad}; valid: {', '.join(OPS)}")
        self.num_cells, self.layers_per_cell, self.num_feat = int(num_cells), int(layers_per_cell), int(num_feat)
        self.widths, self.ops = widths, tuple(ops)
        hidden = expansion * num_feat
        add_skeleton(self, num_feat)
        self.body = nn.ModuleList(
            nn.ModuleList(MixedOp([make_op(k, num_feat, num_feat, shortcut="conv", hidden=hidden) for k in self.ops])
                          for _ in range(layers_per_cell))
            for _ in range(num_cells))
        self.alpha = nn.Parameter(torch.full((num_cells, layers_per_cell, len(self.ops)), float(arch_init)))
        self.width_logits = nn.Parameter(torch.full((num_cells, layers_per_cell - 1, len(widths)), float(arch_init)))

    # -------------------------------------------------------------------------------------- parameters
    def arch_parameters(self) -> list[nn.Parameter]:
        """``[alpha, width_logits]``: what the architecture optimizer steps."""
        return [self.alpha, self.width_logits]

    def weight_parameters(self) -> list[nn.Parameter]:
        """Every other parameter (skeleton and candidate ops), in registration order."""
        arch = {id(p) for p in self.arch_parameters()}
        return [p for p in self.parameters() if id(p) not in arch]

    # -------------------------------------------------------------------------------------- widths
    @property
    def junctions(self) -> int:
        return self.layers_per_cell - 1

    def max_widths(self) -> Widths:
        return ((self.widths[-1],) * self.junctions,) * self.num_cells

    def min_widths(self) -> Widths:
        return ((self.widths[0],) * self.junctions,) * self.num_cells

    def random_widths(self, generator: torch.Generator) -> Widths:
        """Every junction uniform over ``widths`` (the authors' ``random`` mode)."""
        return self.sandwich_widths(1, generator)[2]

    def sandwich_widths(self, n_random: int, generator: torch.Generator) -> list[Widths]:
        """``[max, min, random_1 .. random_n]`` (:func:`srlib.search.differentiable.sandwich`)."""
        flat = sandwich([self.widths] * (self.num_cells * self.junctions), n_random, generator)
        j = self.junctions
        return [tuple(tuple(f[c * j:(c + 1) * j]) for c in range(self.num_cells)) for f in flat]

    def sample_widths(self, generator: torch.Generator | None = None, *, tau: float = 1.0,
                      detach: bool = False) -> WidthSample:
        """A straight-through hard Gumbel-softmax sample of every junction (``detach``: no gradient path to
        ``width_logits``, for the weight step)."""
        logits = self.width_logits.detach() if detach else self.width_logits
        onehot = gumbel_softmax_st(logits, tau=tau, generator=generator)
        idx = onehot.detach().argmax(-1).tolist()
        return WidthSample(tuple(tuple(r) for r in idx), onehot)

    def _resolve(self, widths) -> tuple[Widths, torch.Tensor | None]:
        if widths is None:
            return self.max_widths(), None
        if isinstance(widths, WidthSample):
            chans = tuple(tuple(self.widths[i] for i in cell) for cell in widths.indices)
            scores = widths.onehot.gather(-1, torch.tensor(widths.indices, device=widths.onehot.device)
                                          .unsqueeze(-1)).squeeze(-1)
            return chans, scores
        chans = tuple(tuple(int(w) for w in cell) for cell in widths)
        if len(chans) != self.num_cells or any(len(c) != self.junctions for c in chans):
            raise ValueError(f"widths: expected {self.num_cells} cells x {self.junctions} junctions, got {chans}")
        bad = sorted({w for c in chans for w in c} - set(self.widths))
        if bad:
            raise ValueError(f"widths {bad} are not among the choices {self.widths}")
        return chans, None

    # -------------------------------------------------------------------------------------- forward
    def forward(self, x: torch.Tensor, widths: Widths | WidthSample | None = None, *,
                op_weights: torch.Tensor | None = None) -> torch.Tensor:
        weights = F.softmax(self.alpha, dim=-1) if op_weights is None else op_weights
        if weights.shape != self.alpha.shape:
            raise ValueError(f"op_weights must have shape {tuple(self.alpha.shape)}, got {tuple(weights.shape)}")
        chans, scores = self._resolve(widths)
        last = self.layers_per_cell - 1

        def body(feat: torch.Tensor) -> torch.Tensor:
            for c, layers in enumerate(self.body):
                out = feat
                for l, mixed in enumerate(layers):
                    c_out = self.num_feat if l == last else chans[c][l]
                    out = mixed(out, weights[c, l], c_out)
                    if scores is not None:
                        if l > 0:
                            out = out * scores[c, l - 1]
                        if l < last:
                            out = out * scores[c, l]
                feat = out * RES_SCALE + feat
            return feat

        return skeleton_forward(self, x, body)

    # -------------------------------------------------------------------------------------- derivation
    @torch.no_grad()
    def derive(self) -> Genotype:
        """The argmax architecture: per layer ``ops[argmax alpha]``, per junction ``widths[argmax logits]``."""
        ops = tuple(tuple(self.ops[i] for i in row) for row in self.alpha.argmax(-1).tolist())
        widths = tuple(tuple(self.widths[i] for i in row) for row in self.width_logits.argmax(-1).tolist())
        return Genotype(ops, widths, self.num_feat)


@torch.no_grad()
def inherit(supernet: AGDSupernet, genotype: Genotype) -> tuple[AGDGenerator, list[str]]:
    """The derived generator of ``genotype`` holding copies of ``supernet``'s weights (first-channel slices).

    Returns ``(net, not_inherited)``: the names of derived-net parts with no supernet counterpart, i.e. an
    identity shortcut where the supernet has a 1x1 conv (every residual/dwsblock with equal widths). The
    nets compute the same function at those widths when those supernet shortcut convs are the identity
    and (dwsblock) the input width is ``num_feat`` (the supernet's expansion stays ``4 x num_feat``).
    """
    if genotype.num_feat != supernet.num_feat or len(genotype.ops) != supernet.num_cells:
        raise ValueError("genotype and supernet differ in num_feat or number of cells")
    p = next(supernet.parameters())
    net = AGDGenerator(genotype).to(device=p.device, dtype=p.dtype)
    for name in ("conv_first", "conv_body", "conv_up1", "conv_up2", "conv_hr", "conv_last"):
        getattr(net, name).load_state_dict(getattr(supernet, name).state_dict())
    missing = []
    for c, cell in enumerate(net.body):
        for l, op in enumerate(cell.layers):
            src = supernet.body[c][l].candidates[supernet.ops.index(genotype.ops[c][l])]
            for sub_name, sub in op.named_children():
                if not isinstance(sub, nn.Conv2d):
                    continue
                w = getattr(src, sub_name).weight
                sub.weight.copy_(w[:sub.weight.shape[0], :sub.weight.shape[1]] if sub.groups == 1
                                 else w[:sub.weight.shape[0]])
            if getattr(src, "skip", None) is not None and getattr(op, "skip", 1) is None:
                missing.append(f"body.{c}.layers.{l}.skip")
    net.train(supernet.training)
    return net, missing
