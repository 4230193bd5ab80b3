"""Latency lookup tables: per-kernel latencies measured on the target runtime, summed over a network.

MFAGAN Sec. 3.6 predicts a SubGenerator's latency from a lookup table, as FBNet (Wu et al., CVPR 2019)
and once-for-all (Cai et al., ICLR 2020) do: latency(network) = sum of the latencies of the operators it
runs, each measured once in isolation on the target device. Here:

* **Key** = the fused kernel the runtime executes (:mod:`srlib.latency.trace`): op, input H x W,
  C_in, C_out, kernel, stride, padding, dilation, groups, activation for convolutions (conv+ReLU/ReLU6 is
  one ``CONV_2D`` in LiteRT, conv + LeakyReLU two kernels; scalar multiplies next to a conv are folded),
  and shapes for add / mul / concat / pixel shuffle / resize / pooling / mean / PReLU / sigmoid...
* **Entries** are measured by converting a one-kernel PyTorch model with litert-torch (the same path
  as a network's export, NHWC I/O) and timing ``Interpreter.invoke`` on the target runtime -- by default
  LiteRT with XNNPACK, 1 thread. Each entry is the kernel model's steady-state time *minus* the
  runtime's per-invoke overhead, which is itself an entry (:data:`~srlib.latency.trace.OVERHEAD`,
  measured on a one-element add) counted once per network. So ``predict`` is exactly the sum of the
  entries of a network's kernel list.
* A kernel missing from the table raises ``KeyError`` naming it -- never 0 ms.
* Validation (:func:`validate`) compares predictions with whole-network measurements on *held-out*
  networks (none of their whole-network timings is used to build or calibrate the table) and reports
  nn-Meter's accuracy metric (Zhang et al., MobiSys 2021): the share of networks predicted within
  +-10 %, and the RMSPE.

Measured (2 shared AMD EPYC cores, ai-edge-litert 2.3.0 + XNNPACK, 1 thread, 5 timing passes): on 17
held-out networks (shrunk TPSR, CARN, CARN-M, IMDN, FMEN, RFDN, ESRGAN; MFANet at widths 8/16/24 and two
mixed-width SubGenerators; 191 kernels), 100 % within +-10 % at LR 16x16 (RMSPE 1.9-2.4 %), 32x32
(1.1-1.9 %) and 64x64 (4.0-5.0 %); at 64x64 predictions run 1-7 % low (larger working sets in a whole
network). A validation pass timed during a long slow spell of the shared machine can show outliers
(seen: -40 % on two networks once): check ``disturbed`` / ``canary_ratio`` and re-run.

Scoring is fast once a network's kernels are known: kernel lists are cached per architecture
(:func:`srlib.latency.trace.zoo_kernels`), compiled to (key, count) pairs (:meth:`LUT.compile`), and
:meth:`LUT.scorer` turns any ``config -> kernels`` function (elastic-width supernets) into a memoised
``config -> ms`` function.
"""
from __future__ import annotations

import csv
import hashlib
import io as _io
import json
import math
import os
import statistics
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Hashable, Iterable, Mapping, Sequence

import numpy as np
import torch.nn as nn

from srlib import io, pipeline

from . import bench
from . import export as ex
from .trace import OVERHEAD, Kernel, kernel_module, trace_kernels

__all__ = ["LUT", "NetworkSpec", "Compiled", "measure_kernels", "convert_kernels", "build_lut", "lut_stage", "measure_network",
           "measure_networks", "extend_lut", "zoo_config_kernels", "network_kernels", "kernel_file",
           "network_file", "load_lut", "time_files", "Timed", "CANARY", "CANARY_MEM",
           "validate", "validation_stage", "summary", "steady_ms", "WITHIN"]

#: nn-Meter's accuracy band: a prediction within +-10 % of the measurement counts as accurate.
WITHIN = 10.0


# ------------------------------------------------------------------------------------------------------
# Timing shared by table entries and whole networks (the same statistic on both sides of the sum)
# ------------------------------------------------------------------------------------------------------
def steady_ms(invoke: Callable[[], Any], *, samples: int = 15, min_sample_s: float = 2e-3,
              warmup_s: float = 0.02, stat: str = "min") -> float:
    """Steady-state ms per call: ``stat`` ("min" or "median") over ``samples`` of the mean time of
    ``inner`` back-to-back calls (``inner`` chosen so that a sample lasts >= ``min_sample_s``, which
    resolves microsecond kernels), after ``warmup_s`` of warm-up.

    The default "min" is the estimator least disturbed by other processes on a shared machine (each
    sample can only be slowed down by them); table entries and whole networks use the same one."""
    clock = time.perf_counter
    t0, n = clock(), 0
    while n < 3 or clock() - t0 < warmup_s:
        invoke()
        n += 1
    per = (clock() - t0) / n
    inner = max(1, int(min_sample_s / max(per, 1e-9)))
    vals = []
    for _ in range(samples):
        t = clock()
        for _ in range(inner):
            invoke()
        vals.append((clock() - t) / inner)
    if stat not in ("min", "median"):
        raise ValueError(f"stat must be 'min' or 'median', got {stat!r}")
    return (min(vals) if stat == "min" else statistics.median(vals)) * 1e3


def _time_tflite(path: Path, threads: int, xnnpack: bool, samples: int) -> float:
    it = ex.litert_interpreter(path, threads=threads, xnnpack=xnnpack)
    rng = np.random.default_rng(0)
    for d in it.get_input_details():
        it.set_tensor(d["index"], rng.random(tuple(d["shape"]), dtype=np.float32))
    return steady_ms(it.invoke, samples=samples)


# ------------------------------------------------------------------------------------------------------
# Networks
# ------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class NetworkSpec:
    """A zoo network: ``srlib.models.build(name, **build_kw)``, shown as ``label``."""
    name: str
    build_kw: Mapping[str, Any] = field(default_factory=dict)
    label: str = ""

    def build(self, meta: bool = False) -> nn.Module:
        import torch

        from srlib import models

        if meta:
            with torch.device("meta"):
                return models.build(self.name, **dict(self.build_kw))
        torch.manual_seed(0)
        return models.build(self.name, **dict(self.build_kw))

    @property
    def title(self) -> str:
        if self.label:
            return self.label
        kw = ",".join(f"{k}={v}" for k, v in sorted(self.build_kw.items()))
        return f"{self.name}({kw})"

    def kernels(self, lr_hw: int | Sequence[int]) -> list[Kernel]:
        from .trace import zoo_kernels

        return list(zoo_kernels(self.name, lr_hw, **dict(self.build_kw)))


def _as_spec(net: Any) -> tuple[str, Any]:
    """(title, NetworkSpec | nn.Module) for the accepted network forms."""
    if isinstance(net, NetworkSpec):
        return net.title, net
    if isinstance(net, nn.Module):
        return type(net).__name__, net
    if isinstance(net, tuple) and len(net) == 2 and isinstance(net[0], str):
        if isinstance(net[1], (nn.Module, NetworkSpec)):
            return net[0], net[1]
        if isinstance(net[1], Mapping):
            s = NetworkSpec(net[0], dict(net[1]))
            return s.title, s
    if isinstance(net, str):
        s = NetworkSpec(net)
        return s.title, s
    raise TypeError(f"not a network: {net!r}; pass an nn.Module, a NetworkSpec, a (name, build_kw) pair or "
                    f"a (label, module) pair")


def zoo_config_kernels(name: str, lr_hw: int | Sequence[int], param: str = "widths",
                       **fixed: Any) -> Callable[[Any], tuple[Kernel, ...]]:
    """``config -> kernels`` for an elastic zoo network, e.g. MFANet's SubGenerators::

        score = lut.scorer(zoo_config_kernels("mfanet", 64))   # score([32, 24, ...]) -> ms

    Each new config is built on the meta device and traced once (~0.1-0.5 s on 2 cores); the scorer
    memoises it, so repeated candidates cost a dictionary lookup and a short sum."""
    from .trace import zoo_kernels

    def kernels(cfg: Any) -> tuple[Kernel, ...]:
        value = tuple(cfg) if isinstance(cfg, (list, tuple)) else cfg
        return zoo_kernels(name, lr_hw, **{param: value}, **fixed)

    return kernels


def network_kernels(net: Any, lr_hw: int | Sequence[int]) -> list[Kernel]:
    """Kernel list of a network in any accepted form (module, NetworkSpec, (name, kw))."""
    _, obj = _as_spec(net)
    if isinstance(obj, NetworkSpec):
        return obj.kernels(lr_hw)
    return trace_kernels(obj, lr_hw)


# ------------------------------------------------------------------------------------------------------
# The table
# ------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Compiled:
    """A network's kernels as (unique key, count) pairs: scoring is a short weighted sum."""
    keys: tuple[str, ...]
    counts: tuple[int, ...]

    @classmethod
    def of(cls, kernels: Iterable[Kernel | str]) -> "Compiled":
        c = Counter(str(k) for k in kernels)
        return cls(tuple(c), tuple(c.values()))


class LUT:
    """Kernel key -> ms on one runtime configuration (``meta``: runtime, version, threads, delegate,
    machine, label). ``lut[kernel]`` raises ``KeyError`` naming a missing kernel."""

    def __init__(self, entries: Mapping[str, float], meta: Mapping[str, Any] | None = None) -> None:
        self.entries = {str(k): float(v) for k, v in entries.items()}
        self.meta = dict(meta or {})

    def __len__(self) -> int:
        return len(self.entries)

    def __contains__(self, k: Kernel | str) -> bool:
        return str(k) in self.entries

    def __getitem__(self, k: Kernel | str) -> float:
        key = str(k)
        try:
            return self.entries[key]
        except KeyError:
            raise KeyError(f"kernel {key} is not in the latency table ({self.describe()}); measure it with "
                           f"srlib.latency.lut.build_lut / lut_stage") from None

    def describe(self) -> str:
        m = self.meta
        return (f"{len(self)} entries, {m.get('runtime_version', m.get('runtime', '?'))}, delegate "
                f"{m.get('delegate', '?')}, {m.get('threads', '?')} thread(s), {m.get('machine', '?')}")

    def missing(self, kernels: Iterable[Kernel | str]) -> list[str]:
        return [k for k in dict.fromkeys(str(k) for k in kernels) if k not in self.entries]

    # ---- prediction ------------------------------------------------------------------------------
    def compile(self, kernels: Iterable[Kernel | str]) -> Compiled:
        return Compiled.of(kernels)

    def predict_compiled(self, c: Compiled) -> float:
        e = self.entries
        total = 0.0
        for k, n in zip(c.keys, c.counts):
            try:
                total += e[k] * n
            except KeyError:
                self[k]  # raises the named KeyError
        return total

    def predict(self, model_or_kernels: Any, lr_hw: int | Sequence[int] | None = None) -> float:
        """Predicted ms: the sum of the entries of the network's kernels (each occurrence counted).

        ``model_or_kernels``: a kernel list (from :func:`~srlib.latency.trace.trace_kernels`), a
        :class:`Compiled`, or a network (``nn.Module``, :class:`NetworkSpec`, ``(name, build_kw)``) with
        ``lr_hw`` (default: the table's ``lr_hw`` when it was built for one size)."""
        if isinstance(model_or_kernels, Compiled):
            return self.predict_compiled(model_or_kernels)
        if isinstance(model_or_kernels, (list, tuple)) and all(isinstance(k, (Kernel, str)) for k in model_or_kernels) \
                and not (len(model_or_kernels) == 2 and isinstance(model_or_kernels[1], Mapping)):
            return self.predict_compiled(Compiled.of(model_or_kernels))
        hw = lr_hw or self.meta.get("lr_hw")
        if hw is None:
            raise ValueError("predict(network) needs lr_hw (the table has none recorded)")
        return self.predict_compiled(Compiled.of(network_kernels(model_or_kernels, hw)))

    def scorer(self, config_to_kernels: Callable[[Any], Iterable[Kernel | str]],
               key: Callable[[Any], Hashable] = lambda c: tuple(c) if isinstance(c, list) else c
               ) -> Callable[[Any], float]:
        """``config -> ms`` for elastic networks; kernel lists are memoised per config."""
        cache: dict[Hashable, Compiled] = {}

        def score(cfg: Any) -> float:
            k = key(cfg)
            c = cache.get(k)
            if c is None:
                c = cache[k] = Compiled.of(config_to_kernels(cfg))
            return self.predict_compiled(c)

        score.cache = cache  # type: ignore[attr-defined]
        return score

    def breakdown(self, kernels: Iterable[Kernel | str]) -> "Any":
        """DataFrame: kernel, op, count, ms each, ms total (largest first)."""
        import pandas as pd

        c = Compiled.of(kernels)
        rows = [{"kernel": k, "op": k.split("(")[0], "count": n, "ms_each": self[k], "ms_total": self[k] * n}
                for k, n in zip(c.keys, c.counts)]
        return pd.DataFrame(rows).sort_values("ms_total", ascending=False, ignore_index=True)

    # ---- files --------------------------------------------------------------------------------------
    def to_frame(self) -> "Any":
        import pandas as pd

        return pd.DataFrame([{"kernel": k, "op": k.split("(")[0], "ms": v} for k, v in self.entries.items()])

    def save(self, path: str | os.PathLike) -> Path:
        """``.json``: meta + entries; ``.csv``: kernel, op, ms rows with the meta in ``#`` header lines.
        Atomic."""
        path = Path(path)
        if path.suffix == ".json":
            return io.write_json(path, {"meta": self.meta, "entries": self.entries})
        if path.suffix == ".csv":
            buf = _io.StringIO()
            buf.write(f"# meta: {json.dumps(self.meta, sort_keys=True, default=str)}\n")
            w = csv.writer(buf)
            w.writerow(["kernel", "op", "ms"])
            for k, v in self.entries.items():
                w.writerow([k, k.split("(")[0], repr(v)])
            return io.write_text(path, buf.getvalue())
        raise ValueError(f"{path}: a LUT is saved as .json or .csv")

    @classmethod
    def load(cls, path: str | os.PathLike) -> "LUT":
        path = Path(path)
        if path.suffix == ".json":
            d = io.read_json(path)
            return cls(d["entries"], d.get("meta", {}))
        if path.suffix == ".csv":
            lines = path.read_text().splitlines()
            meta = {}
            if lines and lines[0].startswith("# meta: "):
                meta = json.loads(lines[0][len("# meta: "):])
                lines = lines[1:]
            rows = list(csv.DictReader(lines))
            return cls({r["kernel"]: float(r["ms"]) for r in rows}, meta)
        raise ValueError(f"{path}: a LUT is read from .json or .csv")


# ------------------------------------------------------------------------------------------------------
# Measuring
# ------------------------------------------------------------------------------------------------------
def _runtime_meta(runtime: str, threads: int, xnnpack: bool) -> dict[str, Any]:
    if runtime != "litert":
        raise ValueError(f"LUT entries are measured on LiteRT only (runtime='litert'), got {runtime!r}")
    return {"runtime": runtime, "runtime_version": bench.runtime_version(runtime), "threads": int(threads),
            "delegate": "xnnpack" if xnnpack else "none (built-in kernels)", "machine": bench.machine(),
            "label": bench.LABEL, "converter": ex._tool_version("litert-torch"),
            "timing": "back-to-back Interpreter.invoke(), min over samples and rounds (steady_ms)"}


def kernel_file(workdir: str | os.PathLike, key: Kernel | str) -> Path:
    """Where :func:`measure_kernels` puts the one-kernel model of ``key``."""
    return Path(workdir) / "kernels" / _file_name(str(key))


def _file_name(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:16] + ".tflite"


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


def _canary_interpreter(workdir: Path, k: Kernel, threads: int, xnnpack: bool):
    path = kernel_file(workdir, k)
    if not path.is_file():
        module, inputs, layout = kernel_module(k)
        ex.convert_tflite(module, inputs, path, channel_last=(layout == "nchw"))
    it = ex.litert_interpreter(path, threads=threads, xnnpack=xnnpack)
    for d in it.get_input_details():
        it.set_tensor(d["index"], np.random.default_rng(1).random(tuple(d["shape"]), dtype=np.float32))
    return it


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


def _convert_one(key: str, path: str | os.PathLike) -> None:
    module, inputs, layout = kernel_module(key)
    ex.convert_tflite(module, inputs, path, channel_last=(layout == "nchw"))


def default_workers() -> int:
    """Conversion processes: one per core, at most 4 (each holds torch + litert-torch, ~1 GB)."""
    return max(1, min(4, os.cpu_count() or 1))


def convert_kernels(keys: Sequence[str], workdir: str | os.PathLike, *, workers: int | None = None,
                    log: Callable[[str], None] | None = print) -> None:
    """Write the one-kernel ``.tflite`` model of every key to :func:`kernel_file` (skipping existing ones).

    litert-torch conversion (torch.export + lowering, ~1-2 s a kernel, single-threaded Python) dominates a
    table's build time, so with ``workers > 1`` the keys are split over that many worker processes
    (``python -m srlib.latency.convert_worker``; separate interpreters, so no fork of a process that holds
    OpenMP threads and no re-import of the caller's script). Kernel models are seeded and every file is
    written atomically, so the files -- and the table timed from them afterwards, one kernel at a time --
    do not depend on ``workers``; a killed build resumes with the files already there."""
    workdir = Path(workdir)
    todo = [k for k in dict.fromkeys(keys) if not kernel_file(workdir, k).is_file()]
    if not todo:
        return
    workers = min(workers or default_workers(), len(todo))
    t_start, reported = time.time(), 0

    def progress(done: int) -> None:
        nonlocal reported
        if log and done > reported and (done // 20 > reported // 20 or done == len(todo)):
            log(f"[lut] converted {done}/{len(todo)} kernel models ({time.time() - t_start:.0f}s, "
                f"{workers} process{'es' if workers > 1 else ''})")
        reported = max(reported, done)

    if workers <= 1:
        for i, key in enumerate(todo, 1):
            _convert_one(key, kernel_file(workdir, key))
            progress(i)
        return
    import subprocess
    import sys

    (workdir / "kernels").mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, OMP_NUM_THREADS="1", LITERT_TORCH_SHOW_PROGRESS="n")
    procs = []
    try:
        for i in range(workers):
            job, errlog = workdir / f".convert-{i}.json", workdir / f".convert-{i}.log"
            io.write_json(job, {"keys": todo[i::workers]})
            with open(errlog, "wb") as err:
                procs.append((subprocess.Popen([sys.executable, "-m", "srlib.latency.convert_worker", str(workdir),
                                                str(job)], stdout=subprocess.DEVNULL, stderr=err, env=env), errlog))
        while any(p.poll() is None for p, _ in procs):
            time.sleep(1.0)
            progress(sum(kernel_file(workdir, k).is_file() for k in todo))
    finally:
        for p, _ in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    failed = [(p.returncode, errlog) for p, errlog in procs if p.returncode != 0]
    if failed:
        rc, errlog = failed[0]
        tail = errlog.read_text(errors="replace").strip().splitlines()[-15:]
        raise RuntimeError(f"kernel model conversion failed in a worker process (exit {rc}); its log "
                           f"{errlog} ends with:\n" + "\n".join(tail))
    for i in range(workers):
        (workdir / f".convert-{i}.json").unlink(missing_ok=True)
        (workdir / f".convert-{i}.log").unlink(missing_ok=True)
    progress(len(todo))


def measure_kernels(kernels: Iterable[Kernel | str], workdir: str | os.PathLike, *, threads: int = 1,
                    xnnpack: bool = True, samples: int = 10, rounds: int = 5, keep_files: bool = False,
                    workers: int | None = None, log: Callable[[str], None] = print) -> Timed:
    """Raw steady-state ms of a one-kernel model per unique kernel (invoke overhead included), on LiteRT,
    timed by :func:`time_files` (``.ms[key]``).

    Phase 1 converts every kernel model into ``workdir/kernels/`` (:func:`convert_kernels`: atomic files,
    so a killed run resumes there; ``workers`` processes); phase 2 times them one at a time; ``workdir/raw.json`` keeps every round's value."""
    workdir = Path(workdir)
    keys = list(dict.fromkeys(str(k) for k in kernels))
    paths = {key: kernel_file(workdir, key) for key in keys}
    convert_kernels([k for k in keys if not paths[k].is_file()], workdir, workers=workers, log=log)
    timed = time_files(paths, workdir, threads=threads, xnnpack=xnnpack, samples=samples, rounds=rounds, log=log)
    io.write_json(workdir / "raw.json", {"ms": timed.ms, "rounds_ms": timed.rounds_ms, "clean": timed.clean,
                                         "canary_ms": timed.canary_ms, "canary_all_ms": timed.canary_all,
                                         "canary_mem_all_ms": timed.canary_mem_all,
                                         "disturbed": timed.disturbed})
    if not keep_files:
        for p in paths.values():
            p.unlink(missing_ok=True)
    return timed


def build_lut(kernels: Iterable[Kernel | str], workdir: str | os.PathLike, *, runtime: str = "litert",
              threads: int = 1, xnnpack: bool = True, samples: int = 10, rounds: int = 5,
              lr_hw: Sequence[int] | None = None, keep_files: bool = False, workers: int | None = None,
              log: Callable[[str], None] = print) -> LUT:
    """Measure every unique kernel (plus the invoke overhead) and return the table (see module doc).
    ``keep_files`` keeps the one-kernel models in ``workdir/kernels/`` (for inspection); ``workers``:
    conversion processes (:func:`convert_kernels`)."""
    meta = _runtime_meta(runtime, threads, xnnpack)
    keys = [str(OVERHEAD)] + [k for k in dict.fromkeys(str(k) for k in kernels) if k != str(OVERHEAD)]
    timed = measure_kernels(keys, workdir, threads=threads, xnnpack=xnnpack, samples=samples, rounds=rounds,
                            keep_files=keep_files, workers=workers, log=log)
    raw = timed.ms
    overhead = raw[str(OVERHEAD)]
    entries = {k: (overhead if k == str(OVERHEAD) else raw[k] - overhead) for k in keys}
    meta.update(overhead_ms=overhead, n_kernels=len(keys), samples=samples, rounds=rounds,
                statistic="min over passes of min over samples (time_files / steady_ms)",
                canary=str(CANARY), canary_ms=timed.canary_ms, disturbed=len(timed.disturbed))
    if lr_hw is not None:
        meta["lr_hw"] = [int(v) for v in lr_hw]
    return LUT(entries, meta)


def extend_lut(lut: LUT, kernels: Iterable[Kernel | str], workdir: str | os.PathLike, *, samples: int | None = None,
               rounds: int | None = None, log: Callable[[str], None] = print) -> LUT:
    """A copy of ``lut`` with the missing ``kernels`` measured on its runtime configuration (the invoke
    overhead is re-measured alongside and subtracted from the new entries only)."""
    missing = lut.missing(kernels)
    if not missing:
        return LUT(lut.entries, lut.meta)
    if lut.meta.get("runtime", "litert") != "litert" or lut.meta.get("machine") not in (None, bench.machine()):
        raise ValueError(f"cannot extend a table measured on {lut.meta.get('machine')} "
                         f"({lut.meta.get('runtime')}) from {bench.machine()}")
    new = build_lut(missing, workdir, threads=int(lut.meta.get("threads", 1)),
                    xnnpack=lut.meta.get("delegate", "xnnpack") == "xnnpack",
                    samples=samples or int(lut.meta.get("samples", 10)),
                    rounds=rounds or int(lut.meta.get("rounds", 5)), log=log)
    entries = dict(lut.entries)
    entries.update({k: new.entries[k] for k in missing})
    meta = dict(lut.meta, n_kernels=len(entries), extended=int(lut.meta.get("extended", 0)) + 1)
    return LUT(entries, meta)


def lut_stage(networks: Sequence[Any], lr_hw: int | Sequence[int], *, name: str = "latency_lut",
              threads: int = 1, xnnpack: bool = True, samples: int = 10, rounds: int = 5,
              extra_kernels: Sequence[Kernel | str] = (),
              profile: str | None = None, log: Callable[[str], None] = print) -> pipeline.StageResult:
    """Cached stage: measure the kernels of ``networks`` (zoo specs: ``NetworkSpec`` or ``(name, build_kw)``)
    at ``lr_hw`` plus ``extra_kernels``; writes ``lut.csv`` and ``lut.json``. Load with :func:`load_lut`.
    Resumes a killed run from ``raw.jsonl``."""
    from srlib import config

    hw = ex.hw_pair(lr_hw)
    specs = [_as_spec(n)[1] for n in networks]
    if any(not isinstance(s, NetworkSpec) for s in specs):
        raise TypeError("lut_stage takes zoo specs (NetworkSpec or (name, build_kw)) so that its key is stable")
    params = {"networks": [[s.name, dict(s.build_kw)] for s in specs], "lr_hw": list(hw), "threads": threads,
              "xnnpack": xnnpack, "samples": samples, "rounds": rounds, "extra_kernels": sorted(str(k) for k in extra_kernels),
              **{k: v for k, v in _runtime_meta("litert", threads, xnnpack).items() if k != "timing"}}

    def fn(ctx: pipeline.StageContext) -> dict[str, Any]:
        kernels = [k for s in specs for k in s.kernels(hw)] + [str(k) for k in extra_kernels]
        lut = build_lut(kernels, ctx.dir, threads=threads, xnnpack=xnnpack, samples=samples, rounds=rounds,
                        lr_hw=hw, log=log)
        lut.meta["networks"] = [s.title for s in specs]
        lut.save(ctx.path("lut.json"))
        lut.save(ctx.path("lut.csv"))
        return {"lut_json": "lut.json", "lut_csv": "lut.csv", "n_entries": len(lut),
                "overhead_ms": lut.meta["overhead_ms"]}

    return pipeline.stage(name, params, fn, profile=config.profile_name(profile), code=[ex, bench,
                          __import__("srlib.latency.trace", fromlist=["x"])], log=log)


def load_lut(stage: pipeline.StageResult) -> LUT:
    return LUT.load(stage.path(stage["lut_json"]))


# ------------------------------------------------------------------------------------------------------
# Validation
# ------------------------------------------------------------------------------------------------------
def network_file(net: Any, lr_hw: int | Sequence[int], workdir: str | os.PathLike) -> Path:
    """The network's ``.tflite`` in ``workdir`` as :func:`measure_networks` writes it (converted if absent)."""
    return _convert_network(net, ex.hw_pair(lr_hw), Path(workdir))


def _convert_network(net: Any, lr_hw: tuple[int, int], workdir: Path) -> Path:
    title, obj = _as_spec(net)
    model = obj.build() if isinstance(obj, NetworkSpec) else obj
    path = workdir / (hashlib.sha256(f"{title}@{lr_hw}".encode()).hexdigest()[:12] + ".tflite")
    if not path.is_file():
        ex.convert_tflite(model, ex.random_input(lr_hw), path)
    return path


def measure_networks(nets: Sequence[Any], lr_hw: int | Sequence[int], workdir: str | os.PathLike, *,
                     threads: int = 1, xnnpack: bool = True, samples: int = 10, rounds: int = 5,
                     log: Callable[[str], None] | None = None) -> Timed:
    """Whole-network steady-state ms on LiteRT (``.ms[title]``), timed exactly as the table's entries."""
    hw = ex.hw_pair(lr_hw)
    paths = {_as_spec(n)[0]: _convert_network(n, hw, Path(workdir)) for n in nets}
    return time_files(paths, workdir, threads=threads, xnnpack=xnnpack, samples=samples, rounds=rounds, log=log,
                      what="networks")


def measure_network(net: Any, lr_hw: int | Sequence[int], workdir: str | os.PathLike, **kw: Any) -> float:
    """One network's steady-state ms (see :func:`measure_networks`)."""
    return next(iter(measure_networks([net], lr_hw, workdir, **kw).ms.values()))


def summary(df: "Any") -> dict[str, float]:
    """nn-Meter's metrics over a validation frame: share (%) within +-10 %, RMSPE (%), n."""
    err = df["error_pct"].astype(float).to_numpy()
    if len(err) == 0:
        return {"within_10pct": math.nan, "rmspe_pct": math.nan, "n": 0}
    return {"within_10pct": float(np.mean(np.abs(err) <= WITHIN) * 100.0),
            "rmspe_pct": float(np.sqrt(np.mean(err ** 2))), "n": int(len(err))}


def validate(lut: LUT, networks: Sequence[Any], lr_hw: int | Sequence[int] | None = None, *,
             workdir: str | os.PathLike | None = None, samples: int | None = None, rounds: int | None = None,
             measured: Mapping[str, float] | None = None) -> "Any":
    """Predicted vs measured latency of held-out ``networks`` on the table's runtime configuration.

    Returns a DataFrame with one row per network: ``network, predicted_ms, measured_ms, error_pct``
    (100 * (predicted - measured) / measured), ``within_10pct`` (bool), and the summary columns
    ``share_within_10pct`` and ``rmspe_pct`` (nn-Meter's metrics, the same on every row; also in
    ``df.attrs``). ``canary_ratio`` = the reference kernel's time now / when the table was built: far
    from 1, the machine ran at another speed (load, frequency) and the comparison is not like for like.
    Missing kernels raise ``KeyError`` before anything is measured. ``measured`` (title -> ms) skips
    measuring those networks."""
    import tempfile

    import pandas as pd

    if lr_hw is None and not lut.meta.get("lr_hw"):
        raise ValueError("validate needs lr_hw (the table records none)")
    hw = ex.hw_pair(lr_hw or lut.meta["lr_hw"])
    threads = int(lut.meta.get("threads", 1))
    xnnpack = lut.meta.get("delegate", "xnnpack") == "xnnpack"
    samples = samples or int(lut.meta.get("samples", 10))
    rounds = rounds or int(lut.meta.get("rounds", 5))
    items: list[tuple[str, Any]] = []
    for i, net in enumerate(networks):
        title, obj = _as_spec(net)
        if any(t == title for t, _ in items):
            title = f"{title}#{i}"
        items.append((title, obj))
    preds = {t: lut.predict(network_kernels(obj, hw)) for t, obj in items}  # missing kernels raise first
    measured = dict(measured or {})
    todo = [(t, obj) for t, obj in items if t not in measured]
    ratio = math.nan
    disturbed: set[str] = set()
    with tempfile.TemporaryDirectory() as tmp:
        if todo:
            timed = measure_networks(todo, hw, Path(workdir or tmp), threads=threads, xnnpack=xnnpack,
                                     samples=samples, rounds=rounds)
            measured.update(timed.ms)
            disturbed = set(timed.disturbed)
            if lut.meta.get("canary_ms"):
                ratio = timed.canary_ms / float(lut.meta["canary_ms"])
    rows = [{"network": t, "lr_hw": f"{hw[0]}x{hw[1]}", "predicted_ms": p, "measured_ms": measured[t],
             "error_pct": 100.0 * (p - measured[t]) / measured[t]} for t, p in preds.items()]
    df = pd.DataFrame(rows, columns=["network", "lr_hw", "predicted_ms", "measured_ms", "error_pct"])
    df["within_10pct"] = df["error_pct"].abs() <= WITHIN
    s = summary(df)
    df["share_within_10pct"] = s["within_10pct"]
    df["rmspe_pct"] = s["rmspe_pct"]
    df["canary_ratio"] = ratio
    df["disturbed"] = df["network"].isin(disturbed)  # never timed while both canaries were at their best
    df.attrs.update(s)
    df.attrs["runtime"] = lut.describe()
    df.attrs["canary_ratio"] = ratio
    return df


def validation_stage(lut_result: pipeline.StageResult, networks: Sequence[Any], lr_hw: int | Sequence[int], *,
                     name: str = "latency_lut_validation", profile: str | None = None,
                     log: Callable[[str], None] = print) -> pipeline.StageResult:
    """Cached :func:`validate` of held-out zoo networks against a :func:`lut_stage` table; writes
    ``validation.csv`` and returns the summary in ``stage.outputs``."""
    from srlib import config

    hw = ex.hw_pair(lr_hw)
    specs = [_as_spec(n)[1] for n in networks]
    if any(not isinstance(s, NetworkSpec) for s in specs):
        raise TypeError("validation_stage takes zoo specs (NetworkSpec or (name, build_kw)) so that its key is "
                        "stable; call validate() directly for other modules")
    params = {"lut_key": lut_result.key, "networks": [[s.name, dict(s.build_kw)] for s in specs],
              "lr_hw": list(hw)}

    def fn(ctx: pipeline.StageContext) -> dict[str, Any]:
        lut = load_lut(lut_result)
        df = validate(lut, specs, hw, workdir=ctx.dir)
        with io.atomic_write(ctx.path("validation.csv"), "w") as f:
            df.to_csv(f, index=False)
        return {"validation_csv": "validation.csv", **summary(df)}

    return pipeline.stage(name, params, fn, profile=config.profile_name(profile), code=[ex, bench], log=log)
