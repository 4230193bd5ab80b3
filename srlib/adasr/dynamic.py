"""AdaSR in a dynamic runtime (Sec. 3.3, Sec. 4.2, Fig. 4d-e): one adaptable model vs an ensemble.

Paper says: shared weights let the model "change the channel and block sizes in real time with no extra
memory overhead", "bypassing channels and blocks ... on-the-fly to avoid the overhead of reloading models"
(Sec. 3.3). Fig. 4d: the adaptable CARN has "around 20%" of the parameters of the assembled SOTA models.
Fig. 4e: distributions of the time to swap between the assembled models (loading from disk) vs AdaSR's
change of size: "magnitudes larger" for the ensemble. No trace, policy or trial count is given.

We build (tensors, modules, numbers and paths passed in; rows are dicts ``system, metric, value, unit,
note`` plus detail keys): :func:`parameter_memory` (one weight set vs the sum over an ensemble, by default
one ``extract(D, W)`` per option; a notebook may pass the paper's SOTA models); :func:`save_models` +
:func:`resident_memory` (RSS increase of a fresh ``python -c`` child holding each group's state dicts:
``/proc/self/statm``, else ``ru_maxrss``, a peak); :func:`switch_allocation_check` (every option's forward
leaves every parameter/buffer in place; single-segment narrowings are views); :func:`switch_times` vs
:func:`reload_times` (per-trial rows, warm and cold file cache); :func:`synthetic_budget_trace` +
:func:`simulate` (a budget per frame under co-running load, the best option that meets it, both systems).

Assumptions: (1) a *switch* is what changing the ``(depth, width)`` argument costs before compute, i.e.
building the new size's narrowed tensors (``sliced_parameters``); ``include_forward=True`` times the first
forward at the new size instead (then give ``reload_times`` the same ``x``). Our adaptable slices on every
call, so this cost is paid every frame anyway. (2) A *reload* is ``torch.load(weights_only=True)`` +
``load_state_dict(strict=True)`` into a built module (or a zero-argument builder, timed too). Warm: each
file read once before the trials. Cold: ``posix_fadvise(DONTNEED)`` before each trial, eviction checked with
``mincore``; where that cannot be done, one NaN row with the reason. (3) The memory child loads a tiny
tensor before its baseline (torch.load's first-use cost); with ``separate_processes=False`` the groups
load in turn in one child, each delta over the previous level. (4) The simulation's model: :func:`simulate`.
"""
from __future__ import annotations

import ctypes
import json
import math
import mmap
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch
import torch.nn as nn

from srlib import io

from .adaptable import Adaptable

__all__ = ["model_memory", "parameter_memory", "save_models", "resident_memory", "switch_allocation_check",
           "switch_times", "reload_times", "cached_fraction", "synthetic_budget_trace", "choose", "simulate"]

Option = tuple[int, int]


def _row(system: str, metric: str, value: float, unit: str, note: str = "", **detail: Any) -> dict[str, Any]:
    return {"system": system, "metric": metric, "value": float(value), "unit": unit, "note": note, **detail}


def _name(o: Any) -> str:
    return f"{o[0]}x{o[1]}" if isinstance(o, tuple) and len(o) == 2 else str(o)


# -- Fig. 4d: parameters ---------------------------------------------------------------------------------
def model_memory(model: nn.Module) -> dict[str, int]:
    """``params`` (every parameter, frozen ones such as CARN's mean shifts included), ``param_bytes``,
    ``buffer_bytes``; a tensor shared by two modules counts once (``parameters()`` deduplicates)."""
    ps, bs = list(model.parameters()), list(model.buffers())
    return {"params": sum(p.numel() for p in ps), "param_bytes": sum(p.numel() * p.element_size() for p in ps),
            "buffer_bytes": sum(b.numel() * b.element_size() for b in bs)}


def parameter_memory(adaptable: Adaptable, options: Sequence[Option] | None = None,
                     ensemble: Mapping[str, nn.Module] | None = None) -> list[dict[str, Any]]:
    """Fig. 4d: the one weight set vs the ensemble (``ensemble`` or one ``extract(D, W)`` per option), one
    row per member and metric, the totals, and ``adaptable_over_ensemble`` (the paper: about 0.2)."""
    if ensemble is None:
        opts = adaptable.options() if options is None else list(options)
        ensemble = {_name(o): adaptable.extract(*o) for o in opts}
    if not ensemble:
        raise ValueError("parameter_memory: an empty ensemble")
    ada, rows = model_memory(adaptable.model), []
    members = {k: model_memory(m) for k, m in ensemble.items()}
    total = {k: sum(m[k] for m in members.values()) for k in ada}
    for metric, unit in (("params", "count"), ("param_bytes", "bytes")):
        rows.append(_row("adaptable", metric, ada[metric], unit, "one weight set, every (D, W) a view", member=""))
        rows += [_row("ensemble", metric, m[metric], unit, "separately stored model", member=k)
                 for k, m in members.items()]
        rows.append(_row("ensemble", metric, total[metric], unit, f"sum over {len(members)} models", member=""))
        rows.append(_row("ratio", "adaptable_over_ensemble_" + metric, ada[metric] / total[metric], "ratio",
                         "paper Fig. 4d: about 0.2 of the assembled SOTA models", member=""))
    return rows


# -- Fig. 4d: resident memory, measured in a child process ----------------------------------------------
def save_models(models: Mapping[str, nn.Module], folder: str | os.PathLike) -> dict[str, Path]:
    """Each model's state dict to ``folder/<name>.pt`` (atomic, fsynced); ``{name: path}``."""
    return {k: io.torch_save(m.state_dict(), Path(folder) / f"{k}.pt") for k, m in models.items()}


_CHILD = r"""
import gc, io, json, os, sys
def rss():
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE"), "/proc/self/statm resident"
    except (OSError, ValueError):
        import resource
        r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return r * (1 if sys.platform == "darwin" else 1024), "ru_maxrss (a peak)"
import torch
b = io.BytesIO(); torch.save({"w": torch.zeros(4)}, b); b.seek(0); torch.load(b, weights_only=True)
gc.collect(); base, src = rss(); prev, keep, out = base, [], []
for name, paths in json.loads(sys.argv[1]):
    keep.append([torch.load(p, map_location="cpu", weights_only=True) for p in paths]); gc.collect()
    n = sum(t.numel() * t.element_size() for sd in keep[-1] for t in sd.values() if torch.is_tensor(t))
    now = rss()[0]; out.append({"name": name, "delta": now - prev, "tensor_bytes": n, "files": len(paths)}); prev = now
print("RESULT " + json.dumps({"baseline": base, "source": src, "groups": out}))
"""


def resident_memory(groups: Mapping[str, Sequence[str | os.PathLike]], *, separate_processes: bool = True,
                    timeout_s: float = 300.0) -> list[dict[str, Any]]:
    """Fig. 4d measured: per group (e.g. ``{"adaptable": [one file], "ensemble": [its files]}``) the RSS
    increase of a fresh Python child after ``import torch`` while it holds the group's state dicts.
    A child that fails gives NaN rows with its error. RSS is noisy at small sizes (allocator arenas)."""
    batches = [[(k, [str(p) for p in v])] for k, v in groups.items()] if separate_processes else \
        [[(k, [str(p) for p in v]) for k, v in groups.items()]]
    rows = []
    for batch in batches:
        try:
            r = subprocess.run([sys.executable, "-c", _CHILD, json.dumps(batch)], capture_output=True,
                               text=True, timeout=timeout_s, env={**os.environ, "OMP_NUM_THREADS": "1"})
            line = [s for s in r.stdout.splitlines() if s.startswith("RESULT ")]
            if r.returncode or not line:
                raise RuntimeError(f"child exit {r.returncode}: {r.stderr.strip()[-300:]}")
            res = json.loads(line[-1][7:])
        except (OSError, RuntimeError, subprocess.TimeoutExpired, ValueError) as e:
            rows += [_row(k, "rss_delta", math.nan, "bytes", f"not measured: {e}") for k, _ in batch]
            continue
        how = "own fresh child" if separate_processes else "one child, groups loaded in turn"
        for g in res["groups"]:
            note = (f"{how}; {res['source']}; baseline {res['baseline'] / 2**20:.1f} MiB after import torch; "
                    f"{g['files']} file(s), {g['tensor_bytes']} tensor bytes loaded")
            rows.append(_row(g["name"], "rss_delta", g["delta"], "bytes", note, tensor_bytes=g["tensor_bytes"]))
    return rows


# -- "switching sizes allocates no new parameter memory" -------------------------------------------------
@torch.no_grad()
def switch_allocation_check(adaptable: Adaptable, x: torch.Tensor,
                            options: Sequence[Option] | None = None) -> dict[str, Any]:
    """Run every option's forward; compare the parameters/buffers before and after (names, ``data_ptr``,
    storage bytes) and check that each single-segment narrowed tensor of ``sliced_parameters(D, W)`` shares
    the full tensor's storage. Several segments (a concatenation's consumer) are gathered per call: counted
    in ``gathered`` (temporaries, not parameters). ``ok`` is True when nothing moved, appeared or copied."""
    opts = adaptable.options() if options is None else list(options)
    snap = lambda: {n: (t.data_ptr(), t.untyped_storage().nbytes())  # noqa: E731
                    for n, t in list(adaptable.named_parameters()) + list(adaptable.named_buffers())}
    before, full = snap(), dict(adaptable.model.named_parameters()) | dict(adaptable.model.named_buffers())
    convs, not_views, views, gathered = adaptable.description.convs, [], 0, 0
    for D, W in opts:
        adaptable(x, D, W)
        for n, t in adaptable.sliced_parameters(D, W).items():
            rule = convs[n.rsplit(".", 1)[0] if "." in n else ""]
            shared = t.untyped_storage().data_ptr() == full[n].untyped_storage().data_ptr()
            if len(rule.out) <= 1 and len(rule.inp) <= 1:
                views += 1
                if not shared:
                    not_views.append(f"{_name((D, W))}:{n}")
            elif not shared:
                gathered += 1
    after = snap()
    moved = sorted(n for n in before if n in after and before[n] != after[n])
    new, gone = sorted(set(after) - set(before)), sorted(set(before) - set(after))
    nb = lambda s: sum(v[1] for v in s.values())  # noqa: E731
    return {"ok": not (moved or new or gone or not_views), "options": len(opts), "tensors_before": len(before),
            "tensors_after": len(after), "storage_bytes_before": nb(before), "storage_bytes_after": nb(after),
            "moved": moved, "new": new, "gone": gone, "views": views, "not_views": not_views,
            "gathered": gathered}


# -- Fig. 4e: switch in memory vs reload from disk -------------------------------------------------------
def switch_times(adaptable: Adaptable, options: Sequence[Option], x: torch.Tensor | None = None,
                 trials: int = 100, *, include_forward: bool = False, seed: int = 0) -> list[dict[str, Any]]:
    """``trials`` switches, each to an option drawn (seeded) among the others than the current one; one row
    per trial (ms). The timed region: ``sliced_parameters(D, W)``, or the first forward at the new size
    (``include_forward=True``, needs ``x``; run under ``no_grad``)."""
    opts = [tuple(o) for o in options]
    if len(opts) < 2 or trials < 1 or (include_forward and x is None):
        raise ValueError("switch_times: >= 2 options, trials >= 1, and x when include_forward")
    rng, cur, rows = np.random.default_rng(seed), opts[0], []
    what = "first forward at the new size" if include_forward else "sliced_parameters(D, W) of the new size"
    step = (lambda o: adaptable(x, *o)) if include_forward else (lambda o: adaptable.sliced_parameters(*o))
    with torch.no_grad():
        step(cur)                                                                    # untimed warm-up
        for k in range(trials):
            nxt = opts[[i for i, o in enumerate(opts) if o != cur][rng.integers(len(opts) - 1)]]
            t0 = time.perf_counter()
            step(nxt)
            dt = time.perf_counter() - t0
            rows.append(_row("adaptable", "switch_time", dt * 1e3, "ms", what, trial=k, source=_name(cur),
                             target=_name(nxt)))
            cur = nxt
    return rows


def cached_fraction(path: str | os.PathLike) -> float | None:
    """Share of ``path``'s pages in the page cache (``mincore`` through libc); None where unavailable."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.mmap.restype, libc.mmap.argtypes = ctypes.c_void_p, [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int,
                                                                 ctypes.c_int, ctypes.c_int, ctypes.c_long]
        libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.POINTER(ctypes.c_ubyte)]
        libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
        size, page = os.path.getsize(path), mmap.PAGESIZE
        if size == 0:
            return 0.0
        fd = os.open(path, os.O_RDONLY)
    except (OSError, AttributeError):
        return None
    try:
        addr = libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, fd, 0)
        if addr is None or addr == ctypes.c_void_p(-1).value:
            return None
        try:
            vec = (ctypes.c_ubyte * ((size + page - 1) // page))()
            return None if libc.mincore(addr, size, vec) else sum(v & 1 for v in vec) / len(vec)
        finally:
            libc.munmap(addr, size)
    finally:
        os.close(fd)


def _evict(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def _cannot_evict(paths: Sequence[str]) -> str | None:
    """Why the page cache cannot be dropped and checked for these files (None: it can)."""
    if not hasattr(os, "posix_fadvise"):
        return "os.posix_fadvise is not available on this platform"
    for p in paths:
        try:
            _evict(p)
        except OSError as e:
            return f"posix_fadvise(DONTNEED) failed on {p}: {e}"
        frac = cached_fraction(p)
        if frac is None:
            return "mincore unavailable: eviction by posix_fadvise(DONTNEED) cannot be verified"
        if frac > 0.05:
            return f"posix_fadvise(DONTNEED) left {frac:.0%} of {p} cached (tmpfs, overlay or mapped pages?)"
    return None


def reload_times(targets: Mapping[str | os.PathLike, nn.Module | Callable[[], nn.Module]], trials: int = 100,
                 *, cold: bool = False, x: torch.Tensor | None = None) -> list[dict[str, Any]]:
    """``trials`` reloads cycling through the files (each a state dict of its target); per trial the timed
    region is ``torch.load(weights_only=True)`` + ``load_state_dict(strict=True)`` into the target (a built
    module, or a zero-argument builder called inside the timed region), plus its first forward if ``x``.
    ``cold``: the file's pages are dropped before each trial; if that is impossible or unverifiable as done,
    one NaN row says why (never a warm number labelled cold)."""
    items = [(str(p), m) for p, m in targets.items()]
    if not items or trials < 1:
        raise ValueError("reload_times: at least one file and trials >= 1")
    cache = "cold" if cold else "warm"
    why = _cannot_evict([p for p, _ in items]) if cold else None
    if why:
        return [_row("ensemble", "reload_time", math.nan, "ms", f"cold cache not measured: {why}", trial=-1,
                     cache=cache)]
    for p, _ in items if not cold else ():
        Path(p).read_bytes()                                          # into the page cache, untimed
    rows = []
    for k in range(trials):
        p, target = items[k % len(items)]
        frac = None
        if cold:
            _evict(p)
            frac = cached_fraction(p)
        t0 = time.perf_counter()
        model = target if isinstance(target, nn.Module) else target()
        model.load_state_dict(io.torch_load(p), strict=True)
        if x is not None:
            with torch.no_grad():
                model(x)
        dt = time.perf_counter() - t0
        note = "torch.load(weights_only) + load_state_dict" + (" + first forward" if x is not None else "")
        rows.append(_row("ensemble", "reload_time", dt * 1e3, "ms", f"{note}; {cache} file cache", trial=k,
                         target=Path(p).stem, cache=cache, file_bytes=os.path.getsize(p), cached_before=frac))
    return rows


# -- the simulated dynamic runtime -----------------------------------------------------------------------
def synthetic_budget_trace(n_frames: int, seed: int = 0, *, frame_period_s: float = 1 / 30,
                           loads: Sequence[float] = (0.0, 0.25, 0.5, 0.75), mean_dwell: float = 30.0) -> np.ndarray:
    """A per-frame latency budget (s) under co-running load: ``budget_t = frame_period_s * (1 - load_t)``
    (the SR model gets the share of the processor the other apps leave it). ``load_t`` is piecewise
    constant: it starts at a seeded draw from ``loads`` and, at each frame with probability
    ``1 / mean_dwell`` (geometric dwell times, mean ``mean_dwell`` frames), jumps to another level drawn
    uniformly among the others. Deterministic for a seed."""
    if n_frames < 1 or len(loads) < 2 or mean_dwell < 1 or not all(0 <= v < 1 for v in loads):
        raise ValueError("synthetic_budget_trace: n_frames >= 1, >= 2 loads in [0, 1), mean_dwell >= 1")
    rng, out = np.random.default_rng(seed), np.empty(n_frames)
    level = int(rng.integers(len(loads)))
    for t in range(n_frames):
        if t and rng.random() < 1.0 / mean_dwell:
            level = [i for i in range(len(loads)) if i != level][rng.integers(len(loads) - 1)]
        out[t] = frame_period_s * (1.0 - loads[level])
    return out


def choose(budget: float, latency_of: Mapping[Any, float], psnr_of: Mapping[Any, float]) -> Any:
    """The policy: the highest-PSNR option whose latency <= budget (ties: the faster one); the fastest
    option when none fits."""
    fits = [o for o in latency_of if latency_of[o] <= budget]
    if fits:
        return max(fits, key=lambda o: (psnr_of[o], -latency_of[o]))
    return min(latency_of, key=lambda o: (latency_of[o], -psnr_of[o]))


def _costs(c: float | Sequence[float]) -> Callable[[int], float]:
    seq = [float(c)] if np.isscalar(c) else [float(v) for v in c]
    if not seq:
        raise ValueError("simulate: an empty sequence of change costs")
    return lambda k: seq[k % len(seq)]


def simulate(trace: Sequence[float], latency_of: Mapping[Any, float], psnr_of: Mapping[Any, float],
             switch_cost_s: float | Sequence[float], reload_cost_s: float | Sequence[float], *,
             ensemble_latency_of: Mapping[Any, float] | None = None,
             ensemble_psnr_of: Mapping[Any, float] | None = None) -> tuple[list[dict], list[dict]]:
    """Both systems over one budget ``trace`` (s per frame), with :func:`choose` as the policy.

    Model: frame 0 starts on the option chosen for it at no cost. When the chosen option changes, that
    frame pays the change: ``switch_cost_s`` (adaptable) or ``reload_cost_s`` (ensemble; the new model is
    loaded before the frame and serves it) is added to its latency; no queueing, so a reload longer than a
    frame period costs one missed frame, not several (favours the ensemble). A frame meets its budget when
    ``latency <= budget``; its PSNR is the serving option's. A cost may be a sequence (e.g. measured
    trials): the k-th change pays item ``k % len``. The ensemble's tables default to the adaptable's.

    Returns ``(summary, frames)``: per system ``met_share``, ``missed_frames``, ``switches``, ``mean_psnr``,
    ``frames``; per frame ``system, frame, budget_s, option, latency_s, switched, met, psnr_db``.
    """
    budgets = [float(b) for b in trace]
    if not budgets or not latency_of or set(latency_of) != set(psnr_of):
        raise ValueError("simulate: a non-empty trace and latency/PSNR tables over the same options")
    systems = {"adaptable": (latency_of, psnr_of, _costs(switch_cost_s)),
               "ensemble": (ensemble_latency_of or latency_of, ensemble_psnr_of or psnr_of, _costs(reload_cost_s))}
    summary, frames = [], []
    for system, (lat, psnr, cost) in systems.items():
        cur, changes, met, psnrs = None, 0, 0, []
        for t, b in enumerate(budgets):
            o = choose(b, lat, psnr)
            switched = cur is not None and o != cur
            latency = lat[o] + (cost(changes) if switched else 0.0)
            changes += switched
            met += latency <= b
            psnrs.append(psnr[o])
            frames.append({"system": system, "frame": t, "budget_s": b, "option": _name(o), "latency_s": latency,
                           "switched": bool(switched), "met": bool(latency <= b), "psnr_db": float(psnr[o])})
            cur = o
        n, what = len(budgets), "reload" if system == "ensemble" else "in-memory switch"
        summary += [_row(system, "met_share", met / n, "share", f"frames with latency <= budget; {what} per change"),
                    _row(system, "missed_frames", n - met, "count"),
                    _row(system, "switches", changes, "count", f"changes of option ({what})"),
                    _row(system, "mean_psnr", float(np.mean(psnrs)), "dB", "PSNR of the serving option, per frame"),
                    _row(system, "frames", n, "count")]
    return summary, frames
