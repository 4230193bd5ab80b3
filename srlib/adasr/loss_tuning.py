"""Bayesian-tuned loss (Sec. 3.2.4): Eq. 6's lambda per anchor by Bayesian optimisation.

Paper says: "we run BO to derive the best lambda value for that anchor point"; acquisition Expected
Improvement (Vazquez & Bect 2010) -- "it does not require hyperparameter tuning"; "lambda values range
between 0.0 - 1.0 with a 0.01 granularity"; "The stopping condition is when the last 20 trials do not
improve PSNR value"; then the found lambda is used to train the adaptable weights.

We build, with the ``bayesian-optimization`` package (``bayes_opt`` 3.x, ask/tell):

* :func:`tune_lambda`: one anchor. The grid is an integer parameter ``k`` in ``[0, 1/grid]`` (lambda =
  k * grid), EI with ``xi`` = 0 (plain EI: no exploration bonus to tune), ``n_init`` seeded random trials
  first (assumption: 3; the paper does not say how BO starts). A trial improves when its score is strictly
  above the best so far; the search stops after ``patience`` (20) trials in a row without improvement,
  when every grid point has been evaluated, or at ``max_trials``. A repeated suggestion is a trial
  without improvement and is neither re-evaluated nor registered again: on a 101-point grid EI repeats
  itself once it has converged, and this is how the stop rule then fires.
* :func:`tune_lambdas`: anchor after anchor, each with the lambdas found so far fixed.
* :func:`restoring`: snapshot and restore modules/optimizers around a trial.

**What one trial evaluates** is the caller's ``trial(lam) -> score`` (higher is better); the paper only
says the score is PSNR. The stage's trial (our choice, documented there): from the *current* student,
mapping layers and optimizer state, ``k`` progressive-KD steps with this anchor's lambda set to ``lam``
(the others fixed), then the mean validation PSNR of the sub-models distilled through this anchor; then
every state is restored (:func:`restoring`), so trials are independent and the search leaves the
weights as it found them. ``cache`` makes a killed search resumable: pass the (lambda, score) pairs
already measured and the same seed -- the replay asks the same questions and reuses their answers.
"""
from __future__ import annotations

import contextlib
import copy
import math
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping, Sequence

__all__ = ["LambdaSearch", "tune_lambda", "tune_lambdas", "restoring"]


@dataclass
class LambdaSearch:
    """One anchor's search: the best lambda and score, every trial ``(lam, score, evaluated)`` in order,
    and why it stopped (``"patience"``, ``"grid"`` or ``"max_trials"``)."""

    best: float
    best_score: float
    trials: list[tuple[float, float, bool]] = field(default_factory=list)
    stopped: str = ""

    @property
    def evaluations(self) -> int:
        return sum(1 for *_, new in self.trials if new)

    def state_dict(self) -> dict:
        return {"best": self.best, "best_score": self.best_score, "trials": [list(t) for t in self.trials],
                "stopped": self.stopped}


def tune_lambda(trial: Callable[[float], float], *, grid: float = 0.01, patience: int = 20, n_init: int = 3,
                max_trials: int = 500, xi: float = 0.0, seed: int = 0,
                cache: Mapping[float, float] | None = None) -> LambdaSearch:
    """Maximise ``trial(lam)`` over lam in {0, grid, 2 grid, ..., 1} with EI (see the module docstring)."""
    from bayes_opt import BayesianOptimization, acquisition

    steps = round(1.0 / grid)
    if steps < 1 or not math.isclose(steps * grid, 1.0, rel_tol=1e-9):
        raise ValueError(f"grid {grid} must divide [0, 1] into whole steps")
    if patience < 1 or n_init < 1 or max_trials < 1:
        raise ValueError("patience, n_init and max_trials must be >= 1")
    with warnings.catch_warnings():   # typed (int) parameters are "experimental" in bayes_opt 3.x; the
        warnings.filterwarnings("ignore", message="Non-float parameters")  # lattice is the paper's grid
        opt = BayesianOptimization(f=None, pbounds={"k": (0, steps, int)},
                                   acquisition_function=acquisition.ExpectedImprovement(xi=xi),
                                   random_state=seed, verbose=0)
    known = {round(float(lam) * steps): float(v) for lam, v in (cache or {}).items()}
    seen: dict[int, float] = {}
    init = opt.random_sample(n_init)
    res = LambdaSearch(best=float("nan"), best_score=-math.inf)
    since = 0
    for n in range(max_trials):
        p = init[n] if n < len(init) else opt.suggest()
        k = int(round(float(p["k"])))
        new = k not in seen
        if new:
            score = known[k] if k in known else float(trial(k / steps))
            if not math.isfinite(score):
                raise ValueError(f"trial(lambda={k / steps}) returned {score}; a score must be finite")
            seen[k] = score
            opt.register(params={"k": k}, target=score)   # a repeat adds nothing to the GP
        score = seen[k]
        res.trials.append((k / steps, score, new))
        if score > res.best_score:
            res.best, res.best_score, since = k / steps, score, 0
        else:
            since += 1
        if since >= patience:
            res.stopped = "patience"
            break
        if len(seen) == steps + 1:
            res.stopped = "grid"
            break
    else:
        res.stopped = "max_trials"
    return res


def tune_lambdas(anchors: Sequence[int], make_trial: Callable[[int, list[float]], Callable[[float], float]],
                 initial: Sequence[float], **kwargs: Any) -> tuple[list[float], dict[int, LambdaSearch]]:
    """Eq. 6's lambda for each anchor in ``anchors`` in turn: ``make_trial(t, lambdas)`` returns anchor t's
    trial function, the other anchors held at ``lambdas`` (the values found so far, ``initial`` elsewhere).
    ``kwargs`` go to :func:`tune_lambda`. Returns the final lambdas and each anchor's search."""
    lambdas = [float(x) for x in initial]
    found: dict[int, LambdaSearch] = {}
    for t in anchors:
        found[t] = tune_lambda(make_trial(t, list(lambdas)), **kwargs)
        lambdas[t] = found[t].best
    return lambdas, found


@contextlib.contextmanager
def restoring(*objs: Any) -> Iterator[None]:
    """Snapshot the ``state_dict`` of every object (modules, optimizers, schedulers) and load it back on
    exit, error or not: a BO trial trains from the current state and leaves nothing behind."""
    saved = [copy.deepcopy(o.state_dict()) for o in objs]
    try:
        yield
    finally:
        for o, s in zip(objs, saved):
            o.load_state_dict(s)
