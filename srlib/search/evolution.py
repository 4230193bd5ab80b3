"""Evolutionary architecture search (once-for-all / GAN Compression), generic over discrete spaces.

A search space is a list of per-gene choice tuples, e.g. ``[(48, 32, 24)] * 8`` for MFAGAN's SubGenerator
widths; a candidate is a tuple holding one choice per gene. :func:`evolve` maximises (or minimises)
``fitness(candidate)`` subject to ``constraint(candidate)`` (a latency / MACs budget):

1. the initial population: ``population`` random candidates;
2. each generation keeps the best ``parent_ratio`` of the population as parents and fills the rest with
   ``mutation_ratio`` mutants (a random parent, each gene resampled with probability ``mutate_prob``) and
   crossovers (two random parents, each gene from either with probability 1/2);
3. every candidate (random, mutant, crossover) is rejection-sampled until ``constraint`` holds; after
   ``max_tries`` failures a :class:`ConstraintError` says so.

Fitness values are cached by candidate (``cache``: a dict the caller may pre-fill and persist with
:func:`save_cache` / :func:`load_cache`), so a candidate is never evaluated twice. All randomness comes
from ``numpy.random.default_rng(seed)``: the same seed gives the same search. Bookkeeping per generation is
O(population) plus one sort of the population.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Hashable, Sequence

import numpy as np

from .. import io

__all__ = ["SearchResult", "ConstraintError", "evolve", "random_candidate", "mutate", "crossover",
           "save_cache", "load_cache"]

Candidate = tuple


class ConstraintError(RuntimeError):
    """No candidate meeting the constraint was found within ``max_tries`` draws."""


@dataclass
class SearchResult:
    best: Candidate
    best_fitness: float
    history: list[dict] = field(default_factory=list)   # per generation: gen, best, best_fitness, mean, ...
    evaluated: dict = field(default_factory=dict)       # candidate -> fitness, every one this search used


def _space(space: Sequence[Sequence[Hashable]]) -> list[tuple]:
    out = [tuple(opts) for opts in space]
    if not out or any(len(opts) == 0 for opts in out):
        raise ValueError("the search space needs at least one gene and one choice per gene")
    return out


def _draw(rng: np.random.Generator, space: list[tuple]) -> Candidate:
    idx = rng.integers(0, [len(o) for o in space])
    return tuple(opts[i] for opts, i in zip(space, idx.tolist()))


def random_candidate(space: Sequence[Sequence[Hashable]], rng: np.random.Generator) -> Candidate:
    """One uniformly random candidate (no constraint)."""
    return _draw(rng, _space(space))


def mutate(parent: Candidate, space: Sequence[Sequence[Hashable]], rng: np.random.Generator,
           prob: float) -> Candidate:
    """Resample each gene of ``parent`` uniformly from its choices with probability ``prob``."""
    space = _space(space)
    hit = rng.random(len(space)) < prob
    fresh = _draw(rng, space)
    return tuple(f if h else p for p, f, h in zip(parent, fresh, hit.tolist()))


def crossover(a: Candidate, b: Candidate, rng: np.random.Generator) -> Candidate:
    """Each gene from ``a`` or ``b`` with probability 1/2."""
    pick = rng.random(len(a)) < 0.5
    return tuple(x if p else y for x, y, p in zip(a, b, pick.tolist()))


def _sample_valid(make: Callable[[], Candidate], constraint: Callable[[Candidate], bool], max_tries: int,
                  what: str) -> Candidate:
    for _ in range(max_tries):
        c = make()
        if constraint(c):
            return c
    raise ConstraintError(f"no {what} candidate met the constraint in {max_tries} tries; the budget may "
                          "be infeasible or too tight for this space (loosen it or raise max_tries)")


def evolve(space: Sequence[Sequence[Hashable]], fitness: Callable[[Candidate], float],
           constraint: Callable[[Candidate], bool] | None = None, *, population: int = 100,
           generations: int = 500, parent_ratio: float = 0.25, mutate_prob: float = 0.1,
           mutation_ratio: float = 0.5, seed: int = 0, cache: dict | None = None, max_tries: int = 10_000,
           maximize: bool = True, callback: Callable[[dict], None] | None = None) -> SearchResult:
    """Evolutionary search (module docstring). Returns the best candidate seen over all generations.

    ``generations``: breeding rounds after the initial population (history has ``generations + 1`` rows,
    gen 0 = the initial population). ``cache``: candidate (tuple) -> fitness; read and *updated* in place.
    ``callback(row)`` is called after each generation with its history row (e.g. to persist the cache).
    History rows: ``gen``, ``best`` / ``best_fitness`` (this generation's), ``mean`` (its population's mean
    fitness), ``n_evaluated`` (new fitness calls), ``n_cached`` (new candidates -- the initial population,
    then the children -- whose fitness came from the cache; parents carry theirs over),
    ``best_so_far_fitness``.
    """
    space = _space(space)
    if population < 2:
        raise ValueError(f"population must be >= 2, got {population}")
    if generations < 0:
        raise ValueError(f"generations must be >= 0, got {generations}")
    if not 0 < parent_ratio <= 1 or not 0 <= mutation_ratio <= 1 or not 0 <= mutate_prob <= 1:
        raise ValueError("need 0 < parent_ratio <= 1, 0 <= mutation_ratio <= 1 and 0 <= mutate_prob <= 1")
    if max_tries < 1:
        raise ValueError(f"max_tries must be >= 1, got {max_tries}")
    ok = constraint if constraint is not None else (lambda c: True)
    rng = np.random.default_rng(seed)
    cache = {} if cache is None else cache
    evaluated: dict = {}
    sign = 1.0 if maximize else -1.0
    n_parents = max(1, int(round(parent_ratio * population)))
    n_children = population - n_parents
    n_mutants = int(round(mutation_ratio * n_children))
    n_cross = n_children - n_mutants

    def score(pop: list[Candidate]) -> tuple[list[float], int, int]:
        fits, new, hit = [], 0, 0
        for c in pop:
            if c in cache:
                f = cache[c]
                hit += 1
            else:
                f = float(fitness(c))
                if math.isnan(f):
                    raise ValueError(f"fitness({c}) returned NaN")
                cache[c] = f
                new += 1
            evaluated[c] = f
            fits.append(f)
        return fits, new, hit

    history: list[dict] = []
    best, best_fit = None, -math.inf

    def record(gen: int, pop: list[Candidate], fits: list[float], new: int, hit: int) -> list[int]:
        nonlocal best, best_fit
        order = sorted(range(len(pop)), key=lambda i: sign * fits[i], reverse=True)  # stable: ties by index
        top = order[0]
        if best is None or sign * fits[top] > sign * best_fit:
            best, best_fit = pop[top], fits[top]
        row = {"gen": gen, "best": list(pop[top]), "best_fitness": fits[top], "mean": float(np.mean(fits)),
               "n_evaluated": new, "n_cached": hit, "best_so_far_fitness": best_fit}
        history.append(row)
        if callback is not None:
            callback(row)
        return order

    pop = [_sample_valid(lambda: _draw(rng, space), ok, max_tries, "random") for _ in range(population)]
    fits, new, hit = score(pop)
    order = record(0, pop, fits, new, hit)
    for gen in range(1, generations + 1):
        parents = [pop[i] for i in order[:n_parents]]
        children = []
        for _ in range(n_mutants):
            p = parents[int(rng.integers(n_parents))]
            children.append(_sample_valid(lambda: mutate(p, space, rng, mutate_prob), ok, max_tries, "mutated"))
        for _ in range(n_cross):
            a, b = parents[int(rng.integers(n_parents))], parents[int(rng.integers(n_parents))]
            children.append(_sample_valid(lambda: crossover(a, b, rng), ok, max_tries, "crossover"))
        parent_fits = [fits[i] for i in order[:n_parents]]
        child_fits, new, hit = score(children)
        pop, fits = parents + children, parent_fits + child_fits
        order = record(gen, pop, fits, new, hit)
    return SearchResult(best=best, best_fitness=best_fit, history=history, evaluated=evaluated)


# ------------------------------------------------------------------------------------------------------
# Cache persistence
# ------------------------------------------------------------------------------------------------------
def save_cache(path: str | os.PathLike, cache: dict) -> Path:
    """Write ``cache`` (candidate tuple -> fitness) as JSON ``{"entries": [[candidate list, fitness], ...]}``
    (atomically). Genes must be JSON scalars (ints, floats, strings)."""
    entries = [[list(c), float(f)] for c, f in cache.items()]
    return io.write_json(path, {"entries": entries})


def load_cache(path: str | os.PathLike) -> dict:
    """Read a cache written by :func:`save_cache` ({} when the file does not exist)."""
    path = Path(path)
    if not path.exists():
        return {}
    data: Any = io.read_json(path)
    try:
        return {tuple(c): float(f) for c, f in data["entries"]}
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"{path}: not an evolution cache written by save_cache ({e}); delete it") from e
