"""srlib.search.evolution: budget respected, toy optimum found, deterministic, cached, fast."""
from __future__ import annotations

import time

import numpy as np
import pytest

from srlib.search.evolution import (ConstraintError, crossover, evolve, load_cache, mutate, random_candidate,
                                    save_cache)

SPACE = [(48, 32, 24)] * 8


def cost(c) -> int:
    return sum(c)


def fitness(c) -> float:
    """Separable: wider is better, with a per-gene weight, so the budget forces a trade-off."""
    return float(sum((i + 1) * w for i, w in enumerate(c)))


def budget(c) -> bool:
    return cost(c) <= 280


def best_under_budget() -> float:
    import itertools

    return max(fitness(c) for c in itertools.product(*SPACE) if budget(c))


def test_respects_budget_and_finds_optimum():
    seen = []

    def f(c):
        seen.append(c)
        return fitness(c)

    res = evolve(SPACE, f, budget, population=100, generations=50, mutate_prob=0.1, seed=0)
    assert all(budget(c) for c in seen) and all(budget(c) for c in res.evaluated)
    assert budget(res.best)
    assert res.best_fitness == fitness(res.best) == best_under_budget()
    assert len(res.history) == 51 and res.history[0]["gen"] == 0
    assert res.history[-1]["best_so_far_fitness"] == res.best_fitness
    assert res.history[-1]["mean"] > res.history[0]["mean"]
    assert len(seen) == len(set(seen)) == len(res.evaluated)      # no candidate evaluated twice


def test_minimize():
    res = evolve(SPACE, fitness, lambda c: cost(c) >= 300, population=30, generations=30, seed=1,
                 maximize=False, mutate_prob=0.3)
    import itertools

    want = min(fitness(c) for c in itertools.product(*SPACE) if cost(c) >= 300)
    assert res.best_fitness == want


def test_deterministic_under_seed():
    kw = dict(population=20, generations=10, seed=3)
    a, b = evolve(SPACE, fitness, budget, **kw), evolve(SPACE, fitness, budget, **kw)
    assert a.history == b.history and a.best == b.best and list(a.evaluated) == list(b.evaluated)
    c = evolve(SPACE, fitness, budget, **{**kw, "seed": 4})
    assert list(c.evaluated) != list(a.evaluated)


def test_cache_avoids_reevaluation(tmp_path):
    calls = []

    def f(c):
        calls.append(c)
        return fitness(c)

    cache: dict = {}
    evolve(SPACE, f, budget, population=20, generations=5, seed=0, cache=cache)
    n = len(calls)
    assert n == len(cache) > 0
    save_cache(tmp_path / "cache.json", cache)
    loaded = load_cache(tmp_path / "cache.json")
    assert loaded == cache
    res = evolve(SPACE, f, budget, population=20, generations=5, seed=0, cache=loaded)
    assert len(calls) == n                                   # same seed: everything came from the cache
    assert all(row["n_evaluated"] == 0 for row in res.history)
    assert res.history[0]["n_cached"] == 20
    assert load_cache(tmp_path / "missing.json") == {}


def test_infeasible_budget_raises():
    with pytest.raises(ConstraintError, match="constraint"):
        evolve(SPACE, fitness, lambda c: False, population=4, generations=1, max_tries=50)


def test_operators():
    rng = np.random.default_rng(0)
    p = random_candidate(SPACE, rng)
    assert len(p) == 8 and all(g in o for g, o in zip(p, SPACE))
    assert mutate(p, SPACE, rng, 0.0) == p
    q = random_candidate(SPACE, rng)
    x = crossover(p, q, rng)
    assert all(g in (a, b) for g, a, b in zip(x, p, q))
    # genes of any hashable type
    r = random_candidate([("conv3", "sep5"), (1, 2, 3)], rng)
    assert r[0] in ("conv3", "sep5")


def test_speed():
    t = time.perf_counter()
    res = evolve(SPACE, fitness, budget, population=100, generations=50, seed=0)
    dt = time.perf_counter() - t
    n = 100 * 51
    assert dt < 60 * n / 1000 / 10, f"{n} candidates took {dt:.2f}s"   # >= 10x the 1,000/min target
    assert len(res.history) == 51
