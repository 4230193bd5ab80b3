"""Algorithm 1's ``search(S, T, E)`` (Lee et al., ECCV 2020, lines 1-14), resumable.

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

Two rules for the weight cache (Eq. 5) within one policy update:

* serial (the default): candidate j starts from the cache as candidates < j left it (Alg. 1 line 16 reads
  the cache line 22 of the previous step wrote); one candidate at a time.
* batch-synchronous (``sync_cache_per_update=True``; assumption, ours): the k candidates of one policy
  update are sampled first (lines 5-8; the Mult-Adds check of lines 17-20 is ``screen``, decided before
  any training as Sec. 3.2 says, so the sampling sequence, rejections included, is the serial loop's),
  every one of them starts from the cache as it stood at the start of the batch (line 16, on a private
  copy), and their Eq. 5 updates (line 22) are applied afterwards in candidate order with each candidate's
  trained weights. Candidate j then no longer sees the updates of candidates < j of its batch; the
  history, the REINFORCE updates (line 11, one per batch as before) and s* are otherwise computed as in
  the serial rule. This is what makes the k candidates independent, so under ``torch.distributed`` with
  R ranks candidate i of the batch trains on rank i mod R (Sec. 3.2: the paper trains several candidates
  at once, "dynamically assign[ing] multiple models to be trained on each GPU"; how it shared the cache
  between them is not printed). The controller, the sampling generator and the cache live on rank 0, which
  samples, applies and checkpoints; the ranks receive the batch's actions and the batch-start cache and
  send back each candidate's result and the cache entries its training wrote. One process with the flag
  gives exactly the history of R ranks (tests/test_tpsr_parallel_search.py). Without a cache (S_D) the
  two rules give the same history; only the execution differs.

Resuming: :class:`SearchState` holds everything the loop changes -- controller and Adam state, baseline,
weight cache, history, the k pending (actions, reward) pairs, the sampling generator and the global torch
RNG -- and ``checkpoint(state)`` is called after every candidate (rejected ones too) by the serial rule,
after every batch by the batch-synchronous one (on rank 0); a search killed at any point and restarted
from the last checkpoint produces the same history as one never interrupted.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import torch

from ..search.reinforce import Controller, Reinforce
from ..training import distributed
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
           evaluate: Callable[..., Any], update_every: int = 10, max_rejections: int = 10_000,
           checkpoint: Callable[[SearchState], None] | None = None,
           log: Callable[[str], None] | None = None, name: str = "tpsr search",
           metric_name: str = "metric", sync_cache_per_update: bool = False,
           screen: Callable[[Any, int], Rejected | None] | None = None) -> SearchState:
    """Run Algorithm 1's loop until ``steps`` candidates are trained (from wherever ``state`` stands).

    ``evaluate(architecture, index)`` returns :class:`Rejected` or an object with ``row()`` (a dict for
    the history), ``reward`` (R(m)) and ``psnr`` or ``metric`` (m, higher is better). ``name`` and
    ``metric_name`` label the progress lines given to ``log``.

    ``sync_cache_per_update=True``: the batch-synchronous rule (module docstring). Then ``evaluate`` is
    called as ``evaluate(architecture, index, cache)`` with a private copy of the batch-start cache (None
    without one), which it may update (Eq. 5) as it would the shared one; it must not reject: rejection
    (Alg. 1 lines 17-20) is ``screen(architecture, index)`` -> :class:`Rejected` or None, called on rank 0
    while the batch is sampled (None: nothing is rejected). Results must pickle when several ranks run.
    Under ``torch.distributed`` every rank calls :func:`search`; rank 0's ``state`` is the search's (read,
    checkpointed, logged), and on return every rank's ``state`` is rank 0's.
    """
    if update_every < 1:
        raise ValueError(f"update_every must be >= 1, got {update_every}")
    if sync_cache_per_update:
        return _search_sync(state, steps=steps, decode=decode, evaluate=evaluate, update_every=update_every,
                            max_rejections=max_rejections, checkpoint=checkpoint, log=log, name=name,
                            metric_name=metric_name, screen=screen)
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
                raise _too_many(max_rejections, result)
            continue
        rejected_in_row = 0
        _record(state, actions, row, result, steps=steps, update_every=update_every, log=log, name=name,
                metric_name=metric_name)
        if checkpoint is not None:
            checkpoint(state)
    return state


def _too_many(max_rejections: int, rejected: Rejected) -> RejectionError:
    return RejectionError(f"{max_rejections} candidates in a row exceeded the limit "
                          f"({rejected.limit}); raise the limit or check the cost model")


def _record(state: SearchState, actions: Sequence[int], row: dict, result: Any, *, steps: int,
            update_every: int, log, name: str, metric_name: str) -> None:
    """Alg. 1 lines 10-11 for one trained candidate: its history row (s* is the argmax of the history),
    its (actions, reward) pending, and the REINFORCE update (Eq. 3) once k are pending."""
    metric = float(getattr(result, "metric", getattr(result, "psnr", math.nan)))
    row.update(step=state.steps_done, metric=metric)
    state.history.append(row)                                     # line 10
    state.pending.append((tuple(actions), float(result.reward)))
    if len(state.pending) >= update_every:                        # line 11, every k candidates
        info = state.reinforce.update(state.pending)
        state.updates.append({"after_step": state.steps_done, **info})
        state.pending = []
    if log is not None:
        best = state.best
        log(f"[{name}] step {state.steps_done}/{steps}: {metric_name} {metric:.4g}, reward {result.reward:.4f}"
            + (f", best {best['metric']:.3f} (step {best['step']})" if best else ""))


# ---- the batch-synchronous rule (module docstring) ---------------------------------------------------------
def _from_rank0(obj: Any) -> Any:
    """Rank 0's ``obj`` on every rank (collective); ``obj`` itself in one process."""
    if not distributed.is_distributed():
        return obj
    box = [obj]
    torch.distributed.broadcast_object_list(box, src=0)
    return box[0]


def _plan(state: SearchState, n: int, decode, screen, max_rejections: int) -> list[tuple]:
    """Alg. 1 lines 5-8 for one batch on rank 0: sample under the current theta until ``n`` candidates pass
    ``screen`` (the Mult-Adds check of lines 17-20). Returns [(index, actions, rejected row or None)] in
    sampling order; ``state.history`` is not touched (the rows are appended once the batch is trained; a
    :class:`RejectionError` leaves the state at the batch start, where the serial loop keeps the rejected rows)."""
    slots: list[tuple] = []
    accepted = rejected_in_row = 0
    while accepted < n:
        actions, _, _ = state.controller.sample(state.generator)              # line 5
        index = len(state.history) + len(slots)
        rejected = screen(decode(actions), index) if screen is not None else None
        if rejected is not None:                                                # lines 7-8 (and 17-20)
            slots.append((index, tuple(actions), {"index": index, "actions": list(actions), **rejected.row()}))
            rejected_in_row += 1
            if rejected_in_row >= max_rejections:
                raise _too_many(max_rejections, rejected)
            continue
        rejected_in_row = 0
        slots.append((index, tuple(actions), None))
        accepted += 1
    return slots


def _private(snapshot: dict | None) -> WeightCache | None:
    """A candidate's own copy of the batch-start cache (weights shared, never modified in place)."""
    if snapshot is None:
        return None
    cache = WeightCache()
    cache.load_state_dict(snapshot)
    return cache


def _written(snapshot: dict | None, private: WeightCache | None) -> dict[str, tuple[float, dict]]:
    """The entries a candidate's Eq. 5 update wrote into its private copy: {key: (score, weights)}."""
    if private is None:
        return {}
    before = snapshot["scores"]
    return {k: (s, private.weights[k]) for k, s in private.scores.items() if before.get(k) != s}


def _merge(cache: WeightCache, written: dict[str, tuple[float, dict]], order: Sequence[str] | None) -> list[str]:
    """Alg. 1 line 22 / Eq. 5 on the shared cache for one candidate trained from the batch-start copy.

    Eq. 5 writes theta_{o,i} where E(s_t) beats the best score of (i, o) so far. Scores only grow, so the
    shared cache's score of every key is >= the batch-start one: a key the candidate did not write into its
    copy (E(s_t) <= the batch-start score) cannot beat the shared one either, and the keys it wrote carry its
    trained weights. Applying the same strict rule to ``written`` is therefore
    :meth:`WeightCache.offer` with the candidate's trained model. Returns the keys replaced (in ``order``,
    the copy's own ``replaced`` list, when given)."""
    keys = list(written)
    if order is not None:
        place = {k: i for i, k in enumerate(order)}
        keys.sort(key=lambda k: place.get(k, len(place)))
    out = []
    for k in keys:
        score, weights = written[k]
        if k not in cache.scores or score > cache.scores[k]:
            cache.scores[k], cache.weights[k] = float(score), dict(weights)
            out.append(k)
    return out


def _train(slots: list[tuple], positions: Sequence[int], decode, evaluate, snapshot: dict | None) -> list[tuple]:
    """Alg. 1 lines 6 / 15-24 for this rank's candidates of the batch, each from the batch-start cache."""
    out = []
    for pos in positions:
        index, actions, _ = slots[pos]
        private = _private(snapshot)
        result = evaluate(decode(actions), index, private)
        if isinstance(result, Rejected):
            raise ValueError("with sync_cache_per_update, rejection must be decided by `screen` before "
                             f"training (candidate {index} was rejected by `evaluate`)")
        out.append((pos, result, _written(snapshot, private)))
    return out


def _search_sync(state: SearchState, *, steps, decode, evaluate, update_every, max_rejections, checkpoint, log,
                 name, metric_name, screen) -> SearchState:
    """The batch-synchronous loop: one policy update's candidates per batch, on every rank (module docstring)."""
    world, me = distributed.world_size(), distributed.rank()
    while True:
        msg: dict = {}
        if me == 0:
            try:
                n = min(update_every - len(state.pending), steps - state.steps_done)
                if n <= 0:
                    msg = {"done": state.state_dict() if world > 1 else None}
                else:
                    slots = _plan(state, n, decode, screen, max_rejections)
                    msg = {"slots": slots, "cache": state.cache.state_dict() if state.cache is not None else None}
            except BaseException as e:
                _fail_others(e, world)
                raise
        msg = _from_rank0(msg)
        if "error" in msg:
            raise RuntimeError(f"[{name}] rank 0 failed: {msg['error']}")
        if "done" in msg:
            if me != 0:
                state.load_state_dict(msg["done"])
            return state
        slots, snapshot = msg["slots"], msg["cache"]
        trained = [pos for pos, slot in enumerate(slots) if slot[2] is None]
        mine = trained[me::world]                       # candidate i of the batch on rank i mod R
        if world == 1:
            results = _train(slots, mine, decode, evaluate, snapshot)
        else:
            try:
                results, error = _train(slots, mine, decode, evaluate, snapshot), None
            except Exception as e:  # noqa: BLE001 - gathered, then raised on every rank
                results, error = [], f"rank {me}: {type(e).__name__}: {e}"
            gathered = distributed.all_gather_object((results, error))
            errors = [err for _, err in gathered if err is not None]
            if errors:
                raise RuntimeError(f"[{name}] candidate training failed: {'; '.join(errors)}")
            results = [r for rs, _ in gathered for r in rs]
        if me != 0:
            continue
        try:
            _apply(state, slots, results, steps=steps, update_every=update_every, log=log, name=name,
                   metric_name=metric_name)
            if checkpoint is not None:
                checkpoint(state)
        except BaseException as e:
            _fail_others(e, world)
            raise


def _fail_others(error: BaseException, world: int) -> None:
    """Rank 0 failed: tell the other ranks (waiting for its next message), or they wait for ever."""
    if world > 1:
        _from_rank0({"error": f"{type(error).__name__}: {error}"})


def _apply(state: SearchState, slots: list[tuple], results: list[tuple], **record) -> None:
    """Rank 0, after a batch: its history rows in candidate order, each trained candidate's Eq. 5 update
    (Alg. 1 line 22) onto the shared cache in that order, lines 10-11 (the REINFORCE update once k are in)."""
    by_pos = {pos: (result, written) for pos, result, written in results}
    for pos, (index, actions, rejected_row) in enumerate(slots):
        if rejected_row is not None:
            state.history.append(rejected_row)
            continue
        result, written = by_pos[pos]
        row = {"index": index, "actions": list(actions), **result.row()}
        if state.cache is not None:
            replaced = _merge(state.cache, written, row.get("replaced"))
            if "replaced" in row:
                row["replaced"] = replaced
        _record(state, actions, row, result, **record)
