"""Differentiable-search building blocks: DARTS mixed ops, straight-through hard Gumbel-softmax choices and
the sandwich rule, generic over networks (no operation names, widths, costs or losses of any paper).

* :class:`MixedOp` (DARTS, Liu et al. 2019, Eq. 2): ``o_bar(x) = sum_k w_k o_k(x)`` over candidate modules,
  with the weights ``w`` passed in by the caller (``softmax(alpha)`` of architecture parameters the
  caller registers and owns; a one-hot ``w`` reproduces one candidate). All candidates are evaluated.
* :func:`gumbel_softmax_st`: a straight-through *hard* Gumbel-softmax sample (Jang et al. 2017): forward
  a one-hot vector, backward the gradient of the soft sample ``softmax((logits + g) / tau)``. Noise comes
  from a CPU ``torch.Generator`` (the same draw on any device; reproducible from a seed).
  :func:`chosen_score` gives the sampled index and the one-hot's value there (1.0 forward, the soft
  sample's gradient backward): multiplying an output that was computed *at the chosen option* by this
  score is how a discrete choice (a channel width, say) reaches its logits.
  :func:`chosen_only` keeps the gradient of the chosen entry only (``y * y.detach()``): 1.0 there
  forward, zeros elsewhere; with it a bilinear form ``y_in^T T y_out`` reduces to ``T[i*, o*]`` times the
  two chosen scores, i.e. the straight-through estimator that scales a looked-up cost by the scores.
* :func:`sandwich` (the sandwich rule, Yu & Huang 2019, slimmable networks): the largest and smallest
  choice of every entry of a search space, plus ``n_random`` uniform draws.

assumption: the Gumbel noise is ``-log(-log(u + eps) + eps)``, ``eps = 1e-20`` (the common
implementation). Sampling from ``logits`` or from ``log_softmax(logits)`` is the same distribution (a
constant shift per row) and gives the same soft sample up to rounding.
"""
from __future__ import annotations

from typing import Any, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["MixedOp", "gumbel_softmax_st", "chosen_score", "chosen_only", "sandwich"]


class MixedOp(nn.Module):
    """``forward(x, weights, *args, **kw) = sum_k weights[k] * candidates[k](x, *args, **kw)``.

    ``weights``: a 1-d tensor with one entry per candidate (e.g. a row of ``softmax(alpha)``); extra
    arguments are passed to every candidate (e.g. an output width of elastic candidates).
    """

    def __init__(self, candidates: Sequence[nn.Module]):
        super().__init__()
        if not candidates:
            raise ValueError("MixedOp needs at least one candidate module")
        self.candidates = nn.ModuleList(candidates)

    def forward(self, x: torch.Tensor, weights: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        if weights.dim() != 1 or weights.numel() != len(self.candidates):
            raise ValueError(f"MixedOp: expected {len(self.candidates)} weights, got shape {tuple(weights.shape)}")
        out = None
        for w, op in zip(weights, self.candidates):
            y = op(x, *args, **kwargs) * w
            out = y if out is None else out + y
        return out


def gumbel_softmax_st(logits: torch.Tensor, *, tau: float = 1.0, generator: torch.Generator | None = None,
                      dim: int = -1, eps: float = 1e-20) -> torch.Tensor:
    """A straight-through hard Gumbel-softmax sample along ``dim``: one-hot forward, soft gradient backward.

    ``generator``: a CPU generator for the uniform noise (None: the global CPU generator). The noise is
    drawn in float32 on the CPU and moved to ``logits``' device and dtype.
    """
    if tau <= 0:
        raise ValueError(f"tau must be > 0, got {tau}")
    u = torch.rand(logits.shape, generator=generator, dtype=torch.float32)
    g = (-torch.log(-torch.log(u + eps) + eps)).to(device=logits.device, dtype=logits.dtype)
    soft = F.softmax((logits + g) / tau, dim=dim)
    hard = torch.zeros_like(soft).scatter_(dim, soft.argmax(dim, keepdim=True), 1.0)
    return hard - soft.detach() + soft


def chosen_score(onehot: torch.Tensor) -> tuple[int, torch.Tensor]:
    """``(index, score)`` of a 1-d straight-through one-hot: its argmax and the (differentiable) entry there."""
    if onehot.dim() != 1:
        raise ValueError(f"chosen_score expects a 1-d one-hot, got shape {tuple(onehot.shape)}")
    i = int(onehot.detach().argmax())
    return i, onehot[i]


def chosen_only(onehot: torch.Tensor) -> torch.Tensor:
    """``onehot * onehot.detach()``: the same values (a one-hot), gradient only through the chosen entry."""
    return onehot * onehot.detach()


def sandwich(space: Sequence[Sequence[Any]], n_random: int, generator: torch.Generator) -> list[tuple]:
    """The sandwich rule over a per-entry choice space: ``[largest, smallest, random_1 .. random_n]``.

    ``space``: one sequence of comparable choices per entry (e.g. widths). Largest / smallest take every
    entry's ``max`` / ``min``; each random draw picks every entry uniformly with ``generator``.
    """
    space = [tuple(opts) for opts in space]
    if not space or any(not opts for opts in space):
        raise ValueError("sandwich: the space needs at least one entry and one choice per entry")
    if n_random < 0:
        raise ValueError(f"n_random must be >= 0, got {n_random}")
    draws = [tuple(max(o) for o in space), tuple(min(o) for o in space)]
    for _ in range(n_random):
        idx = torch.randint(0, 1 << 30, (len(space),), generator=generator).tolist()
        draws.append(tuple(opts[i % len(opts)] for opts, i in zip(space, idx)))
    return draws
