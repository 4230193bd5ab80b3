"""Algorithm 1's ``search(S, T, E)`` (Lee et al., ECCV 2020, lines 1-14), resumable after every candidate.

The paper: s* <- NONE; theta ~ N; for t = 0..T: sample s_t ~ pi_theta (line 5); m_t <- E(s_t) (line 6); if
m_t = NONE go back to line 5 (lines 7-8: a candidate over the Mult-Adds limit is resampled, it costs no
step); update s* with m_t (line 10; Eq. 2: s* = argmax over the explored tau(T)); update theta with
grad log pi(s_t) R(m_t) (line 11, Eq. 3).

Symbols -> names: pi_theta = ``state.reinforce.controller`` (:class:`srlib.search.reinforce.Controller`);
T = ``steps``; E = ``evaluate(architecture, index)``; s_t = ``decode(actions)``; NONE =
:class:`srlib.tpsr.proxy_task.Rejected`; tau(t) = the trained rows of ``state.history``; s* =
``state.best``. The loop is the same for S_G (``decode`` = :func:`srlib.tpsr.cell.genotype`, E = E_G with
the weight cache) and S_D (E_D, no cache); it knows neither.

Assumptions: theta is updated every ``update_every`` = k trained candidates with the mean of their
REINFORCE terms (ENAS aggregates k = 10; Alg. 1 line 11 reads as k = 1, which ``update_every=1`` gives);
a run of ``max_rejections`` consecutive rejections is an error (the limit is then unreachable for the
policy, not a search result). Candidate ``index`` (its position in the history, rejected ones included)
is what ``evaluate`` seeds its training with.

Resuming: :class:`SearchState` holds everything the loop changes -- controller and Adam state, baseline,
weight cache, history, the k pending (actions, reward) pairs, the sampling generator and the global torch
RNG -- and ``checkpoint(state)`` is called after every candidate (rejected ones too); a search killed at any
point and restarted from the last checkpoint produces the same history as one never interrupted.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import torch

from ..search.reinforce import Controller, Reinforce
from .proxy_task import Rejected
from .weight_cache import WeightCache

__all__ = ["SearchState", "search", "RejectionError"]


class RejectionError(RuntimeError):
    """``max_rejections`` candidates in a row were over the limit."""


@dataclass
class SearchState:
    """Everything Algorithm 1's loop changes; ``state_dict()`` is weights-only loadable."""
    reinforce: Reinforce
    generator: torch.Generator
    cache: WeightCache | None = None
    history: list[dict] = field(default_factory=list)
    pending: list[tuple[tuple[int, ...], float]] = field(default_factory=list)
    updates: list[dict] = field(default_factory=list)

    @classmethod
    def new(cls, decision_sizes: Sequence[int], *, seed: int, cache: WeightCache | None = None,
            controller: dict[str, Any] | None = None, reinforce: dict[str, Any] | None = None) -> "SearchState":
        """A fresh state: theta ~ U(-0.1, 0.1) from ``seed`` (Alg. 1 line 3), sampling generator seeded
        with ``seed``; ``controller`` / ``reinforce`` are the keyword arguments of :class:`Controller` /
        :class:`Reinforce`."""
        ctrl = Controller(decision_sizes, init_seed=seed, **(controller or {}))
        return cls(Reinforce(ctrl, **(reinforce or {})), torch.Generator().manual_seed(seed), cache)

    @property
    def controller(self) -> Controller:
        return self.reinforce.controller

    @property
    def trained(self) -> list[dict]:
        return [r for r in self.history if r["status"] == "trained"]

    @property
    def steps_done(self) -> int:
        return len(self.trained)

    @property
    def best(self) -> dict | None:
        """s* (Eq. 2): the trained row with the highest metric; the first one on ties."""
        rows = [r for r in self.trained if math.isfinite(r["metric"])]
        return max(rows, key=lambda r: r["metric"]) if rows else None

    def state_dict(self) -> dict:
        return {"reinforce": self.reinforce.state_dict(), "generator": self.generator.get_state(),
                "torch_rng": torch.get_rng_state(),
                "cache": self.cache.state_dict() if self.cache is not None else None,
                "history": list(self.history), "pending": [[list(a), float(r)] for a, r in self.pending],
                "updates": list(self.updates)}

    def load_state_dict(self, state: dict) -> None:
        self.reinforce.load_state_dict(state["reinforce"])
        self.generator.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        if (state["cache"] is None) != (self.cache is None):
            raise ValueError("checkpoint and search disagree on whether a weight cache is used")
        if self.cache is not None:
            self.cache.load_state_dict(state["cache"])
        self.history = list(state["history"])
        self.pending = [(tuple(int(x) for x in a), float(r)) for a, r in state["pending"]]
        self.updates = list(state["updates"])


def search(state: SearchState, *, steps: int, decode: Callable[[Sequence[int]], Any],
           evaluate: Callable[[Any, int], Any], update_every: int = 10, max_rejections: int = 10_000,
           checkpoint: Callable[[SearchState], None] | None = None,
           log: Callable[[str], None] | None = None, name: str = "tpsr search",
           metric_name: str = "metric") -> SearchState:
    """Run Algorithm 1's loop until ``steps`` candidates are trained (from wherever ``state`` stands).

    ``evaluate(architecture, index)`` returns :class:`Rejected` or an object with ``row()`` (a dict for
    the history), ``reward`` (R(m)) and ``psnr`` or ``metric`` (m, higher is better). ``name`` and
    ``metric_name`` label the progress lines given to ``log``.
    """
    if update_every < 1:
        raise ValueError(f"update_every must be >= 1, got {update_every}")
    rejected_in_row = 0
    while state.steps_done < steps:
        actions, _, _ = state.controller.sample(state.generator)  # line 5
        arch = decode(actions)
        index = len(state.history)
        result = evaluate(arch, index)                            # line 6
        row = {"index": index, "actions": list(actions), **result.row()}
        if isinstance(result, Rejected):                          # lines 7-8: resample, no step
            rejected_in_row += 1
            state.history.append(row)
            if checkpoint is not None:
                checkpoint(state)
            if rejected_in_row >= max_rejections:
                raise RejectionError(f"{max_rejections} candidates in a row exceeded the limit "
                                     f"({result.limit}); raise the limit or check the cost model")
            continue
        rejected_in_row = 0
        metric = float(getattr(result, "metric", getattr(result, "psnr", math.nan)))
        row.update(step=state.steps_done, metric=metric)
        state.history.append(row)                                 # line 10: s* is argmax of the history
        state.pending.append((tuple(actions), float(result.reward)))
        if len(state.pending) >= update_every:                    # line 11, every k candidates
            info = state.reinforce.update(state.pending)
            state.updates.append({"after_step": state.steps_done, **info})
            state.pending = []
        if log is not None:
            best = state.best
            log(f"[{name}] step {state.steps_done}/{steps}: {metric_name} {metric:.4g}, reward {result.reward:.4f}"
                + (f", best {best['metric']:.3f} (step {best['step']})" if best else ""))
        if checkpoint is not None:
            checkpoint(state)
    return state
