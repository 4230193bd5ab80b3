"""Time exported generators on a desktop runtime: LiteRT (XNNPACK on / off) and onnxruntime (CPU EP).

Every number here is a **desktop CPU proxy** (shared/notes/latency.md): it is labelled with the runtime
and its version, the delegate, the thread count, the input size and the machine's CPU model, and is never
called mobile latency (the phone path is :mod:`srlib.latency.phone`).

* LiteRT: ``ai_edge_litert.interpreter.Interpreter(model_path, num_threads=N)`` applies its default
  XNNPACK delegate; ``experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES``
  turns it off (every op then runs on LiteRT's built-in kernels). Grouped convolutions are much slower
  without XNNPACK, so the delegate can flip which model looks faster: always record it.
* onnxruntime: ``CPUExecutionProvider`` with ``intra_op_num_threads=N`` (inter-op 1, sequential,
  all graph optimisations).

A run = warm-up invocations, then ``repeats`` timed single invocations (``time.perf_counter``; the input
is set once, outside the timed region); we report the median and the inter-quartile range in ms.
:func:`benchmark_stage` wraps export + timing in a cached :func:`srlib.pipeline.stage`, so a re-run reads
the timings instead of measuring again; :func:`rows` turns results into tidy result rows.
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from srlib import io, pipeline, results

from . import export as ex

__all__ = ["LABEL", "BenchResult", "machine", "time_calls", "bench_tflite", "bench_onnx", "benchmark",
           "export_stage", "export_done", "export_in_worker", "benchmark_stage", "rows", "runtime_version"]

LABEL = "desktop CPU proxy"
RUNTIMES = ("litert", "onnxruntime")


def machine() -> str:
    """CPU model (from /proc/cpuinfo where there is one) and the logical CPU count."""
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, val = line.partition(":")
                if key.strip() in ("model name", "Hardware", "Model", "cpu model") and val.strip():
                    model = val.strip()
                    break
    except OSError:
        pass
    model = model or platform.processor() or platform.machine() or "unknown CPU"
    return f"{model} ({os.cpu_count()} logical CPUs, {platform.machine()})"


def runtime_version(runtime: str) -> str:
    from importlib import metadata

    dist = {"litert": "ai-edge-litert", "onnxruntime": "onnxruntime"}[runtime]
    try:
        return f"{dist} {metadata.version(dist)}"
    except metadata.PackageNotFoundError:
        return dist


@dataclass
class BenchResult:
    """One timed configuration. Times in ms."""
    runtime: str                   # "litert" | "onnxruntime"
    runtime_version: str           # e.g. "ai-edge-litert 2.3.0"
    threads: int
    delegate: str                  # "xnnpack" | "none (built-in kernels)" | "CPUExecutionProvider"
    input_hw: tuple[int, int]      # LR height, width
    input_shape: tuple[int, ...]   # as fed to the runtime (NHWC for LiteRT, NCHW for ONNX)
    median_ms: float
    iqr_ms: float
    q1_ms: float
    q3_ms: float
    mean_ms: float
    min_ms: float
    repeats: int
    warmup: int
    machine: str
    label: str = LABEL
    model: str = ""
    times_ms: list[float] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "BenchResult":
        names = {f.name for f in fields(cls)}
        kw = {k: v for k, v in d.items() if k in names}
        kw["input_hw"] = tuple(kw["input_hw"])
        kw["input_shape"] = tuple(kw["input_shape"])
        return cls(**kw)

    def describe(self) -> str:
        h, w = self.input_hw
        return (f"{self.runtime_version}, delegate {self.delegate}, {self.threads} thread(s), LR {h}x{w}, "
                f"median of {self.repeats} runs after {self.warmup} warm-up (IQR {self.iqr_ms:.3f} ms), "
                f"{self.machine}; {self.label}, not mobile latency")


#: Fewest timed runs when ``max_s`` cuts a timing short.
MIN_RUNS = 3


def time_calls(fn: Callable[[], Any], repeats: int, warmup: int, max_s: float | None = None) -> np.ndarray:
    """``warmup`` untimed calls, then ``repeats`` timed ones; ms per call. ``max_s``: stop once the timed
    calls have taken that many seconds, after at least :data:`MIN_RUNS` (as LiteRT's ``benchmark_model``
    caps a run with ``--max_secs``): a model that takes seconds a call gets fewer repeats, and the
    result says how many (``repeats``)."""
    if repeats < 1 or warmup < 0:
        raise ValueError(f"repeats must be >= 1 and warmup >= 0, got {repeats}, {warmup}")
    if max_s is not None and max_s <= 0:
        raise ValueError(f"max_s must be > 0, got {max_s}")
    for _ in range(warmup):
        fn()
    out = []
    clock = time.perf_counter
    for i in range(repeats):
        t = clock()
        fn()
        out.append(clock() - t)
        if max_s is not None and i + 1 >= MIN_RUNS and sum(out) >= max_s:
            break
    return np.asarray(out) * 1e3


def _result(runtime: str, threads: int, delegate: str, hw: tuple[int, int], shape: Sequence[int],
            t: np.ndarray, repeats: int, warmup: int, model: str) -> BenchResult:
    q1, med, q3 = (float(v) for v in np.percentile(t, [25, 50, 75]))
    return BenchResult(runtime, runtime_version(runtime), int(threads), delegate, tuple(int(v) for v in hw),
                       tuple(int(v) for v in shape), med, q3 - q1, q1, q3, float(t.mean()), float(t.min()),
                       int(repeats), int(warmup), machine(), LABEL, model, [float(v) for v in t])


def bench_tflite(path: str | os.PathLike, *, threads: int = 1, xnnpack: bool = True, repeats: int = 50,
                 warmup: int = 10, seed: int = 0, max_s: float | None = None) -> BenchResult:
    """Time a ``.tflite`` file on the LiteRT interpreter (XNNPACK on or off)."""
    it = ex.litert_interpreter(path, threads=threads, xnnpack=xnnpack)
    inp = it.get_input_details()
    rng = np.random.default_rng(seed)
    for d in inp:
        it.set_tensor(d["index"], rng.random(tuple(d["shape"]), dtype=np.float32))
    shape = tuple(int(v) for v in inp[0]["shape"])
    hw = (shape[1], shape[2]) if len(shape) == 4 else (0, 0)
    t = time_calls(it.invoke, repeats, warmup, max_s)
    return _result("litert", threads, "xnnpack" if xnnpack else "none (built-in kernels)", hw, shape, t, len(t),
                   warmup, str(path))


def bench_onnx(path: str | os.PathLike, *, threads: int = 1, repeats: int = 50, warmup: int = 10,
               seed: int = 0, max_s: float | None = None) -> BenchResult:
    """Time an ONNX file on onnxruntime's CPUExecutionProvider."""
    sess = ex.onnx_session(path, threads=threads)
    rng = np.random.default_rng(seed)
    feeds = {i.name: rng.random(tuple(i.shape), dtype=np.float32) for i in sess.get_inputs()}
    shape = tuple(int(v) for v in sess.get_inputs()[0].shape)
    t = time_calls(lambda: sess.run(None, feeds), repeats, warmup, max_s)
    return _result("onnxruntime", threads, "CPUExecutionProvider", (shape[2], shape[3]), shape, t, len(t), warmup,
                   str(path))


def benchmark(model, lr_hw: int | Sequence[int], *, runtime: str = "litert", threads: int = 1,
              xnnpack: bool = True, repeats: int = 50, warmup: int = 10, workdir: str | os.PathLike,
              tol: float = ex.TOL) -> tuple[BenchResult, ex.ExportResult]:
    """Export ``model`` (verified against PyTorch) into ``workdir`` and time it."""
    if runtime not in RUNTIMES:
        raise ValueError(f"unknown runtime {runtime!r}; valid: {', '.join(RUNTIMES)}")
    workdir = Path(workdir)
    if runtime == "litert":
        exp = ex.export_tflite(model, workdir / "model.tflite", lr_hw, tol=tol)
        res = bench_tflite(exp.path, threads=threads, xnnpack=xnnpack, repeats=repeats, warmup=warmup)
    else:
        exp = ex.export_onnx(model, workdir / "model.onnx", lr_hw, tol=tol)
        res = bench_onnx(exp.path, threads=threads, repeats=repeats, warmup=warmup)
    return res, exp


def _digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:8]


def stage_name(model_name: str, build_kw: Mapping[str, Any], lr_hw: tuple[int, int], runtime: str, threads: int,
               xnnpack: bool) -> str:
    rt = runtime if runtime != "litert" else ("litert-xnnpack" if xnnpack else "litert-builtin")
    kw = f"_{_digest(dict(build_kw))}" if build_kw else ""
    return f"latency_{model_name}{kw}_{rt}_t{threads}_{lr_hw[0]}x{lr_hw[1]}"


FORMATS = {"litert": "tflite", "onnxruntime": "onnx"}


def _export_spec(model_name: str, build_kw: Mapping[str, Any] | None, lr_hw: int | Sequence[int], fmt: str,
                 seed: int) -> tuple[str, dict[str, Any], Callable[[pipeline.StageContext], dict[str, Any]]]:
    """(stage name, params, function) of :func:`export_stage`."""
    from importlib import metadata

    from srlib import models

    if fmt not in ("tflite", "onnx"):
        raise ValueError(f"unknown export format {fmt!r}; valid: tflite, onnx")
    build_kw = dict(build_kw or {})
    hw = ex.hw_pair(lr_hw)
    tool = "litert-torch" if fmt == "tflite" else "onnx"
    try:
        tool = f"{tool} {metadata.version(tool)}, torch {metadata.version('torch')}"
    except metadata.PackageNotFoundError:
        pass
    params = {"model": model_name, "build_kw": build_kw, "lr_hw": list(hw), "format": fmt, "seed": seed,
              "tool": tool}

    def fn(ctx: pipeline.StageContext) -> dict[str, Any]:
        import torch

        torch.manual_seed(seed)
        model = models.build(model_name, **build_kw)
        export = ex.export_tflite if fmt == "tflite" else ex.export_onnx
        res = export(model, ctx.path(f"model.{fmt}"), hw)
        return json.loads(json.dumps({"file": f"model.{fmt}", "export": res.to_dict()}, default=io._json_default))

    kw = f"_{_digest(build_kw)}" if build_kw else ""
    return f"export_{model_name}{kw}_{fmt}_{hw[0]}x{hw[1]}", params, fn


def export_stage(model_name: str, build_kw: Mapping[str, Any] | None, lr_hw: int | Sequence[int], fmt: str, *,
                 seed: int = 0, profile: str | None = None, log: Callable[[str], None] = print) -> pipeline.StageResult:
    """Cached stage: ``srlib.models.build(model_name, **build_kw)`` (weights seeded with ``seed``) exported to
    ``fmt`` (``tflite`` | ``onnx``) and verified against PyTorch (:mod:`srlib.latency.export`). The benchmarks
    of one file -- LiteRT with and without XNNPACK, 1 and 2 threads -- share it: threads and delegate are
    interpreter options, so the model is converted once (a LiteRT conversion takes seconds to minutes).
    Outputs: ``file`` (``model.<fmt>`` in the stage folder) and ``export`` (:class:`ExportResult` fields).
    :func:`export_done` says whether it is made; :func:`export_in_worker` makes it in a worker process."""
    from srlib import config

    name, params, fn = _export_spec(model_name, build_kw, lr_hw, fmt, seed)
    return pipeline.stage(name, params, fn, profile=config.profile_name(profile), seed=seed, code=[ex], log=log)


def export_done(model_name: str, build_kw: Mapping[str, Any] | None, lr_hw: int | Sequence[int], fmt: str, *,
                seed: int = 0, profile: str | None = None) -> bool:
    """Whether :func:`export_stage` with these arguments is complete (a call would convert nothing)."""
    from srlib import config

    name, params, fn = _export_spec(model_name, build_kw, lr_hw, fmt, seed)
    return pipeline.is_complete(name, params, fn, profile=config.profile_name(profile), code=[ex])


def export_in_worker(model_name: str, build_kw: Mapping[str, Any] | None, lr_hw: Sequence[int], fmt: str,
                     seed: int, profile: str) -> dict[str, Any]:
    """:func:`export_stage` as a "call" task of :func:`srlib.latency.convert.run_tasks` (JSON in and out)."""
    st = export_stage(model_name, build_kw, lr_hw, fmt, seed=seed, profile=profile, log=lambda _: None)
    return {"stage": st.name, "file": st["file"]}


def export_tasks(exports: Sequence[tuple[str, Mapping[str, Any] | None, Sequence[int], str]], workdir: str | os.PathLike,
                 *, seed: int = 0, profile: str | None = None) -> list[tuple[int, dict[str, Any]]]:
    """``(parameters, task)`` for each ``(model, build kw, lr_hw, fmt)`` whose :func:`export_stage` is not made
    yet (a duplicate once): "call" tasks of :func:`srlib.latency.convert.run_tasks` writing into ``workdir``,
    sized so that a pool can take the largest first."""
    from srlib import config

    from .networks import NetworkSpec

    prof = config.profile_name(profile)
    todo = [(m, dict(kw or {}), [int(v) for v in ex.hw_pair(hw)], fmt) for m, kw, hw, fmt in exports]
    todo = [t for t in dict((json.dumps(t, sort_keys=True, default=str), t) for t in todo).values()
            if not export_done(t[0], t[1], t[2], t[3], seed=seed, profile=prof)]
    return [(NetworkSpec(m, kw).n_params(), {"kind": "call", "fn": "srlib.latency.bench:export_in_worker",
                                             "args": [m, kw, hw, fmt, seed, prof], "out": str(Path(workdir) / f"{i}.json")})
            for i, (m, kw, hw, fmt) in enumerate(todo)]


def export_pool(exports: Sequence[tuple[str, Mapping[str, Any] | None, Sequence[int], str]], *, seed: int = 0,
                profile: str | None = None, workers: int | None = None, log: Callable[[str], None] | None = print,
                workdir: str | os.PathLike | None = None) -> None:
    """Make the :func:`export_stage` of every ``(model, build kw, lr_hw, fmt)`` not made yet, in worker
    processes (:func:`srlib.latency.convert.run_tasks`, largest model first): a benchmark loop afterwards finds
    its files and only times, instead of converting one model after another on one core. Same stages, same
    files as converting them in turn. The task records go to a temporary folder in ``workdir`` (default: the
    profile's results)."""
    import tempfile

    from srlib import config

    from . import convert

    root = Path(workdir) if workdir is not None else config.results_dir(config.profile_name(profile))
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".exports-", dir=root) as d:
        tasks = export_tasks(exports, d, seed=seed, profile=profile)
        if tasks:
            convert.run_tasks([t for _, t in sorted(tasks, key=lambda t: -t[0])], d, workers=workers, log=log,
                              what="exports")


def benchmark_stage(model_name: str, build_kw: Mapping[str, Any] | None = None, lr_hw: int | Sequence[int] = 64,
                    runtime: str = "litert", threads: int = 1, xnnpack: bool = True, repeats: int = 50,
                    warmup: int = 10, profile: str | None = None, *, seed: int = 0, max_s: float | None = None,
                    log: Callable[[str], None] = print) -> pipeline.StageResult:
    """Cached stage: build ``srlib.models.build(model_name, **build_kw)`` (seeded random weights: latency
    does not depend on the values), export, verify (the file from :func:`export_stage`, shared by every
    thread count and delegate), time. ``stage["result"]`` is the :class:`BenchResult` as a dict
    (``BenchResult.from_dict``); files: ``model.tflite`` / ``model.onnx`` (a copy), ``latency.json``. A second
    call with the same arguments reads the manifest and measures nothing. ``max_s``: see :func:`time_calls`."""
    from srlib import config

    build_kw = dict(build_kw or {})
    hw = ex.hw_pair(lr_hw)
    profile = config.profile_name(profile)
    params = {"model": model_name, "build_kw": build_kw, "lr_hw": list(hw), "runtime": runtime,
              "threads": int(threads), "xnnpack": bool(xnnpack) if runtime == "litert" else None,
              "repeats": int(repeats), "warmup": int(warmup), "seed": seed, "machine": machine(),
              "runtime_version": runtime_version(runtime)}
    if max_s is not None:   # absent from the key otherwise, so timings made before it stay valid
        params["max_s"] = float(max_s)

    def fn(ctx: pipeline.StageContext) -> dict[str, Any]:
        import shutil

        # the file is the same for every thread count and delegate: converted once (export_stage), copied here
        made = export_stage(model_name, build_kw, hw, FORMATS[runtime], seed=seed, profile=profile, log=log)
        exp = ex.ExportResult(**{**made["export"], "path": str(ctx.path(made["file"]))})
        shutil.copyfile(made.path(made["file"]), exp.path)
        timer = bench_tflite if runtime == "litert" else bench_onnx
        res = timer(exp.path, threads=threads, repeats=repeats, warmup=warmup, max_s=max_s,
                    **({"xnnpack": xnnpack} if runtime == "litert" else {}))
        res.model = model_name
        io.write_json(ctx.path("latency.json"), {"result": res.to_dict(), "export": exp.to_dict()})
        out = {"result": res.to_dict(), "export": {k: v for k, v in exp.to_dict().items() if k != "ops"}}
        return json.loads(json.dumps(out, default=io._json_default))  # as a re-run reads it back

    return pipeline.stage(stage_name(model_name, build_kw, hw, runtime, threads, xnnpack), params, fn,
                          profile=profile, seed=seed, code=[ex], log=log)


def rows(res: Iterable[BenchResult | Mapping[str, Any]], *, paper: str, table: str, profile: str,
         model: str | None = None, stage: str = "", dataset: str = "") -> list[dict[str, Any]]:
    """Tidy rows (metric ``latency``, unit ``ms``, value = median); the note names the runtime, delegate,
    threads, input size, spread, machine and says "desktop CPU proxy"."""
    out = []
    for r in res:
        r = r if isinstance(r, BenchResult) else BenchResult.from_dict(r)
        out.append(results.row(paper=paper, table=table, model=model or r.model, dataset=dataset,
                               metric="latency", value=r.median_ms, unit="ms", profile=profile, stage=stage,
                               note=r.describe()))
    return out
