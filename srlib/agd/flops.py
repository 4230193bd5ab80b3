"""AGD's FLOPs penalty: the per-op MAC lookup, expected MACs of the supernet, and the adaptive weight.

What the authors' SR code does (shared/notes/agd.md, corrections; ``architect.py``, ``model_search.py``):

* Lookup: per op type and ``(C_in, C_out, H, W)`` the MAC count of the *derived-form* op (thop on the
  non-slimmable op; bias adds included for the skeleton convs, which have biases; cell convs have none).
  :class:`MacsTable` holds that for one LR size as an object built from
  :func:`srlib.agd.operations.op_macs` -- nothing at import time, nothing written to disk -- plus the
  skeleton's MACs (:func:`srlib.agd.network.skeleton_macs`).
* Mixed-op MACs = ``sum_k softmax(alpha)_k x MACs_k(c_in, c_out) x r_in x r_out`` where ``r`` are the
  straight-through one-hot values of the sampled input/output widths. :meth:`MacsTable.expected` computes
  the bilinear form ``sum_k p_k v_in^T T_k v_out`` for any width weights ``v`` (one-hots, straight-through
  samples, or probabilities: then it is the exact expectation under independent junctions); the
  authors' estimator is the bilinear form on :func:`~srlib.search.differentiable.chosen_only` samples
  (the gradient reaches the chosen entries only), which is what :func:`penalty_macs` passes.
* Penalty (their ``_backward_step``): ``2/7 x MACs(softmax alpha, max widths) + 5/7 x MACs(uniform alpha,
  a fresh Gumbel width sample)``, skeleton included in both, at a 510 x 350 LR input (:data:`PENALTY_HW`),
  times ``flops_weight``: :class:`PenaltyWeight`. After each evaluation, if the weight is > 0, the
  derived net's MACs (at the same size) below ``lower`` = 100e9 halve it, above ``upper`` = 400e9 double it.
  The public SR config sets the weight to 0 (issue #23); the authors suggest 1e-11 .. 1e-17 (MACs are
  raw counts, ~1e11): the stage picks one and reports it.

assumption: the authors' ``forward_flops`` takes ``size = (3, 510, 350)`` as (C, H, W): ``PENALTY_HW =
(510, 350)``; only H x W matters for MACs. The bounds are MACs at that size (x 2.72 the 256 x 256 count).
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import torch
import torch.nn.functional as F

from srlib.search.differentiable import chosen_only

from .network import Genotype, skeleton_macs
from .operations import OPS, op_macs
from .supernet import WIDTHS

__all__ = ["PENALTY_HW", "FLOPS_LOWER", "FLOPS_UPPER", "MacsTable", "penalty_macs", "PenaltyWeight"]

PENALTY_HW: tuple[int, int] = (510, 350)
FLOPS_LOWER, FLOPS_UPPER = 100e9, 400e9


class MacsTable:
    """MACs of every derived-form op at every ``(c_in, c_out)`` among ``widths`` and ``num_feat``, at LR
    size ``lr_hw``; ``skeleton`` = the six skeleton convs (bias adds included iff ``bias``; AGD's
    "GFLOPs" include them). ``table`` is (ops, channels, channels), float64, rows = input width."""

    def __init__(self, lr_hw: tuple[int, int], *, widths: Sequence[int] = WIDTHS, num_feat: int = 64,
                 ops: Sequence[str] = OPS, bias: bool = True):
        if len(lr_hw) != 2 or min(lr_hw) < 1:
            raise ValueError(f"lr_hw must be (height, width) with positive sizes, got {lr_hw!r}")
        self.lr_hw, self.num_feat, self.bias = (int(lr_hw[0]), int(lr_hw[1])), int(num_feat), bool(bias)
        self.widths, self.ops = tuple(sorted({int(w) for w in widths})), tuple(ops)
        self.channels = tuple(sorted(set(self.widths) | {self.num_feat}))
        self._index = {c: i for i, c in enumerate(self.channels)}
        self.entries = {(k, a, b): op_macs(k, a, b, self.lr_hw)
                        for k in self.ops for a in self.channels for b in self.channels}
        self.table = torch.tensor([[[self.entries[k, a, b] for b in self.channels] for a in self.channels]
                                   for k in self.ops], dtype=torch.float64)
        self.skeleton = skeleton_macs(self.num_feat, self.lr_hw, bias=self.bias)
        # width choice k -> one-hot over channels; the trunk width as a one-hot
        self._w2c = torch.zeros(len(self.widths), len(self.channels), dtype=torch.float64)
        for i, w in enumerate(self.widths):
            self._w2c[i, self._index[w]] = 1.0
        self._trunk = torch.zeros(len(self.channels), dtype=torch.float64)
        self._trunk[self._index[self.num_feat]] = 1.0

    def op(self, kind: str, c_in: int, c_out: int) -> int:
        """One entry (exact integer)."""
        try:
            return self.entries[kind, int(c_in), int(c_out)]
        except KeyError:
            raise KeyError(f"no entry for {kind} {c_in}->{c_out}: ops {self.ops}, channels {self.channels}") from None

    def genotype_macs(self, genotype: Genotype) -> int:
        """MACs of the derived net of ``genotype`` at ``lr_hw`` (exact integer)."""
        if genotype.num_feat != self.num_feat:
            raise ValueError(f"genotype num_feat {genotype.num_feat} != table num_feat {self.num_feat}")
        total = self.skeleton
        for c, ops in enumerate(genotype.ops):
            ch = genotype.channels(c)
            total += sum(self.op(k, ch[l], ch[l + 1]) for l, k in enumerate(ops))
        return total

    def expected(self, op_weights: torch.Tensor, width_weights: torch.Tensor) -> torch.Tensor:
        """Differentiable MACs: skeleton + ``sum_{c,l,k} op_weights[c,l,k] v_{c,l}^T T_k v_{c,l+1}``.

        ``op_weights`` (cells, layers, ops); ``width_weights`` (cells, layers - 1, len(widths)) over the
        table's ``widths``; ``v_{c,0}`` and ``v_{c,L}`` are the trunk width. Computed in float64 outside
        autocast; returns a float64 scalar on ``op_weights``' device.
        """
        dev = op_weights.device
        cells, layers, n_ops = op_weights.shape
        if n_ops != len(self.ops) or width_weights.shape != (cells, layers - 1, len(self.widths)):
            raise ValueError(f"expected op_weights (C, L, {len(self.ops)}) and width_weights (C, L-1, "
                             f"{len(self.widths)}); got {tuple(op_weights.shape)} and {tuple(width_weights.shape)}")
        with torch.autocast(dev.type, enabled=False):
            p = op_weights.to(torch.float64)
            inner = width_weights.to(torch.float64) @ self._w2c.to(dev)            # (C, L-1, channels)
            trunk = self._trunk.to(dev).expand(cells, 1, -1)
            v = torch.cat([trunk, inner, trunk], dim=1)                            # (C, L+1, channels)
            cells_macs = torch.einsum("clk,kab,cla,clb->", p, self.table.to(dev), v[:, :-1], v[:, 1:])
        return cells_macs + self.skeleton

    def max_width_weights(self, cells: int, junctions: int, device: torch.device | None = None) -> torch.Tensor:
        """One-hots at the widest choice for every junction (no gradient)."""
        w = torch.zeros(cells, junctions, len(self.widths), dtype=torch.float64, device=device)
        w[..., -1] = 1.0
        return w


def penalty_macs(table: MacsTable, alpha: torch.Tensor, width_sample: torch.Tensor, *,
                 alpha_weight: float = 2 / 7, ratio_weight: float = 5 / 7) -> torch.Tensor:
    """The authors' FLOPs term (before ``flops_weight``): ``alpha_weight x MACs(softmax alpha, max widths)
    + ratio_weight x MACs(uniform alpha, width_sample)``, ``width_sample`` a fresh straight-through
    Gumbel sample (cells, junctions, widths); its gradient reaches the chosen entries only."""
    cells, layers, n_ops = alpha.shape
    by_alpha = table.expected(F.softmax(alpha, dim=-1), table.max_width_weights(cells, layers - 1, alpha.device))
    uniform = torch.full_like(alpha, 1.0 / n_ops).detach()
    by_width = table.expected(uniform, chosen_only(width_sample))
    return alpha_weight * by_alpha + ratio_weight * by_width


class PenaltyWeight:
    """``flops_weight`` and its schedule: :meth:`update` with the derived net's MACs after an evaluation
    halves the weight below ``lower``, doubles it above ``upper``; a weight of 0 stays 0 (the authors
    adapt only when it is > 0). ``state_dict``: ``{"weight", "lower", "upper", "updates"}``."""

    def __init__(self, weight: float = 0.0, *, lower: float = FLOPS_LOWER, upper: float = FLOPS_UPPER):
        if weight < 0 or not 0 <= lower <= upper:
            raise ValueError(f"need weight >= 0 and 0 <= lower <= upper; got {weight}, {lower}, {upper}")
        self.weight, self.lower, self.upper, self.updates = float(weight), float(lower), float(upper), 0

    def update(self, derived_macs: float) -> float:
        """Adapt to the derived net's MACs; returns the new weight."""
        if self.weight > 0:
            if derived_macs < self.lower:
                self.weight /= 2
            elif derived_macs > self.upper:
                self.weight *= 2
        self.updates += 1
        return self.weight

    def state_dict(self) -> dict[str, Any]:
        return {"weight": self.weight, "lower": self.lower, "upper": self.upper, "updates": self.updates}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.weight, self.lower, self.upper = float(state["weight"]), float(state["lower"]), float(state["upper"])
        self.updates = int(state["updates"])

    def __repr__(self) -> str:
        return f"PenaltyWeight(weight={self.weight:g}, lower={self.lower:g}, upper={self.upper:g})"
