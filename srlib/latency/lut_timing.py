"""Timing ``.tflite`` files on LiteRT for latency tables: the steady-state statistic (:func:`steady_ms`)
shared by table entries and whole networks -- the same statistic on both sides of the sum -- and robust
interleaved timing on a shared machine (:func:`time_files`, with two canary kernels that flag slow spells).
"""
from __future__ import annotations

import os
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from . import export as ex
from .convert import kernel_file
from .trace import Kernel, kernel_module

__all__ = ["steady_ms", "CANARY", "CANARY_MEM", "Timed", "time_files", "canary_ms"]


def steady_ms(invoke: Callable[[], Any], *, samples: int = 15, min_sample_s: float = 2e-3,
              warmup_s: float = 0.02, stat: str = "min", max_s: float | None = None) -> float:
    """Steady-state ms per call: ``stat`` ("min" or "median") over ``samples`` of the mean time of
    ``inner`` back-to-back calls (``inner`` chosen so that a sample lasts >= ``min_sample_s``, which
    resolves microsecond kernels), after ``warmup_s`` of warm-up. ``max_s``: the warm-up stops once it has
    taken ``max_s / 2`` (after one call) and the sampling once the samples have taken ``max_s`` (after three):
    a whole network of 100s of ms gets a few samples; a kernel of a few ms never reaches it.

    The default "min" is the estimator least disturbed by other processes on a shared machine (each
    sample can only be slowed down by them); table entries and whole networks use the same one."""
    clock = time.perf_counter
    t0, n = clock(), 0
    while n < 3 or clock() - t0 < warmup_s:
        invoke()
        n += 1
        if max_s is not None and clock() - t0 >= max_s / 2:   # a long call: one or two warm-up calls do
            break
    per = (clock() - t0) / n
    inner = max(1, int(min_sample_s / max(per, 1e-9)))
    vals, t_start = [], clock()
    for _ in range(samples):
        t = clock()
        for _ in range(inner):
            invoke()
        vals.append((clock() - t) / inner)
        if max_s is not None and len(vals) >= 3 and clock() - t_start >= max_s:
            break
    if stat not in ("min", "median"):
        raise ValueError(f"stat must be 'min' or 'median', got {stat!r}")
    return (min(vals) if stat == "min" else statistics.median(vals)) * 1e3


#: A file's time budget in one pass of :func:`time_files` (``steady_ms``'s ``max_s``): a whole network of a
#: few hundred ms (AdaSR's sub-models at 128x128) costs well under a second a pass, not seconds. Every
#: one-kernel model takes its full ``samples`` (a few ms at most); so do the latency notebook's held-out
#: networks up to 25 ms (10 samples; the largest, MFANet-24 at ~26 ms, may stop at 9).
PASS_BUDGET_S = 0.25


def _time_tflite(path: Path, threads: int, xnnpack: bool, samples: int) -> float:
    it = ex.litert_interpreter(path, threads=threads, xnnpack=xnnpack)
    rng = np.random.default_rng(0)
    for d in it.get_input_details():
        it.set_tensor(d["index"], rng.random(tuple(d["shape"]), dtype=np.float32))
    return steady_ms(it.invoke, samples=samples, max_s=PASS_BUDGET_S)


#: The reference kernel timed between measurements to spot slow spells of a shared machine.
CANARY = Kernel.make("conv2d", h=32, w=32, cin=16, cout=16, k=3, stride=1, pad=1, dil=1, groups=1, act="none")
#: A memory-bound one (a 4 MiB add): slow spells hit memory-bound kernels harder than the conv canary.
CANARY_MEM = Kernel.make("add", a=(16, 128, 128), b=(16, 128, 128), act="none")


@dataclass
class Timed:
    """Result of :func:`time_files`: ``ms[key]`` = min over all measurements of ``key``."""
    ms: dict[str, float]
    rounds_ms: dict[str, list[float]]
    clean: dict[str, list[bool]]
    canary_ms: float                 # best time of the conv canary in this call
    canary_all: list[float]          # every conv canary time
    canary_mem_all: list[float]      # every memory-bound canary time
    disturbed: list[str]             # keys that never got a clean measurement
    from_store: list[str] = field(default_factory=list)  # keys taken from a kernel store, not timed here

    def subset(self, keys) -> "Timed":
        """The measurements of ``keys`` only (the canaries of the whole call kept)."""
        keys = [k for k in keys if k in self.ms]
        return Timed({k: self.ms[k] for k in keys}, {k: self.rounds_ms[k] for k in keys},
                     {k: self.clean[k] for k in keys}, self.canary_ms, self.canary_all, self.canary_mem_all,
                     [k for k in self.disturbed if k in keys], [k for k in self.from_store if k in keys])


def _canary_interpreter(workdir: Path, k: Kernel, threads: int, xnnpack: bool):
    path = kernel_file(workdir, k)
    if not path.is_file():
        module, inputs, layout = kernel_module(k)
        ex.convert_tflite(module, inputs, path, channel_last=(layout == "nchw"))
    it = ex.litert_interpreter(path, threads=threads, xnnpack=xnnpack)
    for d in it.get_input_details():
        it.set_tensor(d["index"], np.random.default_rng(1).random(tuple(d["shape"]), dtype=np.float32))
    return it


def canary_ms(workdir: str | os.PathLike, *, threads: int = 1, xnnpack: bool = True, checks: int = 3) -> float:
    """The compute canary's best time over ``checks`` checks, as :func:`time_files` times it between files."""
    it = _canary_interpreter(Path(workdir), CANARY, threads, xnnpack)
    return min(steady_ms(it.invoke, samples=5) for _ in range(checks))


def time_files(paths: Mapping[str, Path], workdir: str | os.PathLike, *, threads: int = 1, xnnpack: bool = True,
               samples: int = 10, rounds: int = 5, max_rounds: int | None = None, tol: float = 1.10,
               every: int = 8, log: Callable[[str], None] | None = None, what: str = "kernels") -> Timed:
    """Time ``.tflite`` files robustly on a shared machine.

    ``rounds`` interleaved passes, each timing every file once (:func:`steady_ms`), so that a slow spell
    (another process on the same core, frequency changes) hits one pass of a file, not all. Two reference
    kernels (:data:`CANARY`, compute-bound, and :data:`CANARY_MEM`, memory-bound) are timed before the
    first file and after every ``every`` files; a file's measurement is *clean* when the canary times
    around it are within ``tol`` of the best ones of the call. Files without a clean measurement get extra passes (up to ``max_rounds``, default
    2 x ``rounds``); those that never get one are listed in ``disturbed``. A file's value is the minimum
    of all its measurements (another process can only slow a measurement down); nothing is rescaled."""
    workdir = Path(workdir)
    canary_it = _canary_interpreter(workdir, CANARY, threads, xnnpack)
    mem_it = _canary_interpreter(workdir, CANARY_MEM, threads, xnnpack)
    canary: list[float] = []
    canary_mem: list[float] = []

    def check() -> int:
        canary.append(steady_ms(canary_it.invoke, samples=5))
        canary_mem.append(steady_ms(mem_it.invoke, samples=5))
        return len(canary) - 1

    vals: dict[str, list[float]] = {k: [] for k in paths}
    brackets: dict[str, list[tuple[int, int]]] = {k: [] for k in paths}
    max_rounds = max_rounds or 2 * rounds

    def clean_flags(k: str) -> list[bool]:
        best, best_mem = min(canary), min(canary_mem)
        return [max(canary[a], canary[b]) <= tol * best and max(canary_mem[a], canary_mem[b]) <= tol * best_mem
                for a, b in brackets[k]]

    todo, r = list(paths), 0
    while todo and r < max_rounds:
        t0 = time.time()
        before, since = check(), []
        for i, k in enumerate(todo):
            vals[k].append(_time_tflite(paths[k], threads, xnnpack, samples))
            since.append(k)
            if (i + 1) % every == 0 or i == len(todo) - 1:
                after = check()
                for kk in since:
                    brackets[kk].append((before, after))
                before, since = after, []
        r += 1
        if log:
            log(f"[lut] timing pass {r} over {len(todo)} {what} ({time.time() - t0:.0f}s)")
        todo = list(paths) if r < rounds else [k for k in paths if not any(clean_flags(k))]
    clean = {k: clean_flags(k) for k in paths}
    ms = {k: min(vals[k]) for k in paths}
    return Timed(ms, vals, clean, min(canary), canary, canary_mem, [k for k in paths if not any(clean[k])])
