"""Converting what a latency table times into ``.tflite`` files: one-kernel models (serially or in worker
processes) and whole networks, with litert-torch -- the same path as a network's export (NHWC I/O).

Where the files go: :func:`kernel_file` (``workdir/kernels/<hash of the key>.tflite``) and
:func:`network_file` (``workdir/<hash of title and size>.tflite``). Every file is written atomically, so a
killed build resumes with the files already there. The worker process entry is
:mod:`srlib.latency.convert_worker`.
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import torch
import torch.nn as nn

from srlib import io

from . import export as ex
from .networks import NetworkSpec, as_spec
from .trace import Kernel, kernel_module

__all__ = ["kernel_file", "convert_one", "convert_batch", "default_workers", "convert_kernels", "convert_networks",
           "network_file", "adopt_network_file", "network_paths", "run_tasks", "run_task", "task_output", "task_done", "BATCH"]

#: Kernels converted together in one litert-torch conversion (:func:`convert_batch`): ~5 s a batch here.
BATCH = 32


def kernel_file(workdir: str | os.PathLike, key: Kernel | str) -> Path:
    """Where :func:`~srlib.latency.lut.measure_kernels` puts the one-kernel model of ``key``."""
    return Path(workdir) / "kernels" / _file_name(str(key))


def _file_name(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:16] + ".tflite"


def convert_one(key: str, path: str | os.PathLike) -> None:
    """Convert the one-kernel model of ``key`` (:func:`~srlib.latency.trace.kernel_module`) to ``path``."""
    module, inputs, layout = kernel_module(key)
    ex.convert_tflite(module, inputs, path, channel_last=(layout == "nchw"))


class _Batch(nn.Module):
    """Independent one-kernel modules side by side: ``forward(*inputs)`` feeds each its own inputs and
    returns all their outputs, flattened in order."""

    def __init__(self, mods: Sequence[nn.Module], n_inputs: Sequence[int]) -> None:
        super().__init__()
        self.mods = nn.ModuleList(mods)
        self.n_inputs = list(n_inputs)

    def forward(self, *xs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out: list[torch.Tensor] = []
        i = 0
        for m, n in zip(self.mods, self.n_inputs):
            y = m(*xs[i:i + n])
            out.extend(y if isinstance(y, (tuple, list)) else [y])
            i += n
        return tuple(out)


def convert_batch(keys: Sequence[str], workdir: str | os.PathLike) -> int:
    """Write the one-kernel models of ``keys`` to :func:`kernel_file` from ONE litert-torch conversion of
    all of them side by side, split afterwards into one model per kernel (:mod:`.tflite_split`; the parts
    equal the kernels converted alone, op for op, tensor for tensor, constant byte for constant byte --
    tests/test_latency_split.py). Every kernel keeps the channel-last wrapping :func:`convert_one` gives it.
    Each part's input and output shapes are checked against its kernel's before anything is written; a
    batch that fails to convert, to split or that check is converted one kernel at a time, so an error
    names its kernel. Files already there are skipped; each is written atomically. Returns how many were
    written from a batch."""
    from . import tflite_split

    workdir = Path(workdir)
    todo = [k for k in dict.fromkeys(str(k) for k in keys) if not kernel_file(workdir, k).is_file()]
    if len(todo) < 2:
        for k in todo:
            convert_one(k, kernel_file(workdir, k))
        return 0
    os.environ.setdefault("LITERT_TORCH_SHOW_PROGRESS", "n")
    mods, args, n_in, groups, shapes = [], [], [], [], []
    for k in todo:
        module, inputs, layout = kernel_module(k)
        if layout == "nchw":   # as convert_one: NHWC inputs and output
            module, inputs = ex.channel_last_io(module, inputs)
        with torch.no_grad():
            y = module.eval()(*inputs)
        ys = list(y) if isinstance(y, (tuple, list)) else [y]
        n_out = len(ys)
        shapes.append(([list(t.shape) for t in inputs], [list(o.shape) for o in ys]))
        start = sum(len(g) for g in groups)
        groups.append(list(range(start, start + n_out)))
        mods.append(module)
        args.extend(inputs)
        n_in.append(len(inputs))
    first = kernel_file(workdir, todo[0])
    try:
        with ex._temp_beside(first, ".batch.tflite") as tmp:
            ex.convert_tflite(_Batch(mods, n_in), args, tmp, channel_last=False)
            parts = tflite_split.split_outputs(tflite_split.read(tmp), groups)
        if [tflite_split.io_shapes(p) for p in parts] != shapes:
            parts = None
    except Exception:   # converted one by one below, where an error names its kernel
        parts = None
    if parts is None:
        for k in todo:
            convert_one(k, kernel_file(workdir, k))
        return 0
    for k, part in zip(todo, parts):
        path = kernel_file(workdir, k)
        with ex._temp_beside(path, ".tflite") as tmp:
            tflite_split.write(part, tmp)
            ex._commit(tmp, path)
    return len(todo)


def default_workers() -> int:
    """Conversion processes: one per core, at most 4 (each holds torch + litert-torch, ~1 GB)."""
    return max(1, min(4, os.cpu_count() or 1))


def convert_kernels(keys: Sequence[str], workdir: str | os.PathLike, *, workers: int | None = None,
                    log: Callable[[str], None] | None = print,
                    networks: Sequence[tuple[Any, Sequence[int], str | os.PathLike]] = ()) -> None:
    """Write the one-kernel ``.tflite`` model of every key to :func:`kernel_file` (skipping existing ones).

    litert-torch conversion (torch.export + lowering, single-threaded Python) dominates a table's build
    time: ~0.7 s a kernel converted alone, ~0.13 s in batches of :data:`BATCH` (:func:`convert_batch`).
    With ``workers > 1`` the batches are converted by that many worker processes (:func:`run_tasks`).
    Kernel models are seeded and every file is written atomically, so the files -- and the table timed
    from them afterwards, one kernel at a time -- do not depend on ``workers`` or the batching; a killed
    build resumes with the files already there.

    ``networks``: (zoo spec, input size, folder) of whole networks a later timing needs (a table's
    calibration networks, a validation's held-out ones), converted in the same pool -- largest first,
    then the kernel batches -- so that both cores stay busy to the end (:func:`network_file` finds them)."""
    workdir = Path(workdir)
    todo = [str(k) for k in dict.fromkeys(keys) if not kernel_file(workdir, k).is_file()]
    workers = workers or default_workers()
    size = max(1, min(BATCH, -(-len(todo) // workers)))   # at least one batch a worker
    tasks = _network_tasks(networks) + [{"kind": "kernels", "keys": todo[i:i + size]}
                                        for i in range(0, len(todo), size)]
    run_tasks(tasks, workdir, workers=workers, log=log,
              what="kernel batches" + (" and networks" if networks else ""))


def _network_tasks(networks: Sequence[tuple[Any, Sequence[int], str | os.PathLike]]) -> list[dict[str, Any]]:
    """Conversion tasks of the zoo networks among (net, input size, folder) not converted yet, largest first."""
    todo = []
    for net, lr_hw, folder in networks:
        t, o = as_spec(net)
        hw = ex.hw_pair(lr_hw)
        if isinstance(o, NetworkSpec) and not _network_path(t, hw, Path(folder), o).is_file():
            todo.append((o.n_params(),
                         {"kind": "network", "name": o.name, "build_kw": dict(o.build_kw), "lr_hw": list(hw),
                          "title": t, "dir": str(folder)}))
    return [task for _, task in sorted(todo, key=lambda it: -it[0])]


def convert_networks(nets: Sequence[Any], lr_hw: int | Sequence[int], workdir: str | os.PathLike, *,
                     workers: int | None = None, log: Callable[[str], None] | None = None) -> dict[str, Path]:
    """title -> :func:`network_file` of each network; the missing zoo networks are converted by ``workers``
    processes (:func:`run_tasks`, largest first), modules in this process."""
    hw, workdir = ex.hw_pair(lr_hw), Path(workdir)
    items = [as_spec(n) for n in nets]
    out = {t: _network_path(t, hw, workdir, o) for t, o in items}
    run_tasks(_network_tasks([((t, o), hw, workdir) for t, o in items]), workdir, workers=workers, log=log,
              what="networks")
    for t, o in items:
        _convert_network(o, hw, workdir, t)   # modules (and nothing else: the workers wrote the rest)
    return out


def task_output(task: Mapping[str, Any], workdir: str | os.PathLike) -> Path:
    """The file a task of :func:`run_tasks` writes (atomically); it exists once the task is done (a
    "kernels" batch: the last of its files)."""
    workdir = Path(workdir)
    if task["kind"] == "kernels":
        return kernel_file(workdir, task["keys"][-1])
    if task["kind"] == "kernel":
        return kernel_file(workdir, task["key"])
    if task["kind"] == "network":
        return _network_path(task["title"], ex.hw_pair(task["lr_hw"]), Path(task.get("dir") or workdir),
                             NetworkSpec(task["name"], dict(task["build_kw"])))
    if task["kind"] == "call":
        return Path(task["out"])
    raise ValueError(f"unknown conversion task kind {task['kind']!r}")


def task_done(task: Mapping[str, Any], workdir: str | os.PathLike) -> bool:
    """Whether every file of a task of :func:`run_tasks` is there."""
    if task["kind"] == "kernels":
        return all(kernel_file(workdir, k).is_file() for k in task["keys"])
    return task_output(task, workdir).is_file()


def run_task(task: Mapping[str, Any], workdir: str | os.PathLike) -> None:
    """Do one task of :func:`run_tasks` in this process (nothing if its outputs exist)."""
    if task_done(task, workdir):
        return
    out = task_output(task, workdir)
    if task["kind"] == "kernels":
        convert_batch(task["keys"], workdir)
    elif task["kind"] == "kernel":
        convert_one(task["key"], out)
    elif task["kind"] == "network":
        _convert_network(NetworkSpec(task["name"], dict(task["build_kw"])), ex.hw_pair(task["lr_hw"]),
                         Path(task.get("dir") or workdir), task["title"])
    elif task["kind"] == "call":   # "module:function", its JSON-able result written to ``out``
        import importlib

        mod, fn = task["fn"].split(":")
        io.write_json(out, getattr(importlib.import_module(mod), fn)(*task.get("args", ())))
    else:
        raise ValueError(f"unknown conversion task kind {task['kind']!r}")


def run_tasks(tasks: Sequence[Mapping[str, Any]], workdir: str | os.PathLike, *, workers: int | None = None,
              log: Callable[[str], None] | None = print, what: str = "files") -> dict[str, float]:
    """Run conversion tasks (dicts: ``kind`` "kernels" | "kernel" | "network" | "call", see :func:`run_task`), in
    this process or, with ``workers > 1`` (default :func:`default_workers`), in that many worker processes
    (``python -m srlib.latency.convert_worker``: separate interpreters, so no fork of a process that holds
    OpenMP threads and no re-import of the caller's script). Workers take the next unclaimed task in the
    given order (put the largest first), so they stay busy to the end. Every output is written atomically:
    a killed run resumes with the outputs already there.

    Returns the seconds each task run here took (:func:`task_label` -> s; tasks done before are absent) and
    logs the slowest, so a slow pool says where its time went."""
    workdir = Path(workdir)
    todo = [t for t in tasks if not task_done(t, workdir)]
    if not todo:
        return {}
    workers = min(workers or default_workers(), len(todo))
    t_start, reported = time.time(), 0

    def progress(done: int) -> None:
        nonlocal reported
        if log and done > reported and (done // 20 > reported // 20 or done == len(todo)):
            log(f"[lut] converted {done}/{len(todo)} {what} ({time.time() - t_start:.0f}s, "
                f"{workers} process{'es' if workers > 1 else ''})")
        reported = max(reported, done)

    seconds: dict[str, float] = {}
    if workers <= 1:
        for i, task in enumerate(todo, 1):
            t0 = time.perf_counter()
            run_task(task, workdir)
            seconds[task_label(task)] = time.perf_counter() - t0
            progress(i)
        _log_slowest(seconds, time.time() - t_start, log)
        return seconds
    import shutil
    import subprocess
    import sys
    import uuid

    for t in todo:
        task_output(t, workdir).parent.mkdir(parents=True, exist_ok=True)
    claims = workdir / f".claims-{uuid.uuid4().hex[:8]}"
    claims.mkdir()
    job = workdir / f"{claims.name}.json"
    io.write_json(job, {"tasks": list(todo), "claims": str(claims)})
    env = dict(os.environ, OMP_NUM_THREADS="1", LITERT_TORCH_SHOW_PROGRESS="n")
    procs = []
    try:
        for i in range(workers):
            errlog = workdir / f".convert-{claims.name[len('.claims-'):]}-{i}.log"   # per pool: pools can share a folder
            with open(errlog, "wb") as err:
                procs.append((subprocess.Popen([sys.executable, "-m", "srlib.latency.convert_worker", str(workdir),
                                                str(job)], stdout=subprocess.DEVNULL, stderr=err, env=env), errlog))
        while any(p.poll() is None for p, _ in procs):
            time.sleep(0.5)
            progress(sum(task_done(t, workdir) for t in todo))
        for i, t in enumerate(todo):   # each claim file holds its task's seconds (convert_worker)
            try:
                seconds[task_label(t)] = float((claims / str(i)).read_text() or "nan")
            except (OSError, ValueError):
                pass
    finally:
        for p, _ in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        shutil.rmtree(claims, ignore_errors=True)
        job.unlink(missing_ok=True)
    failed = [(p.returncode, errlog) for p, errlog in procs if p.returncode != 0]
    if failed:
        rc, errlog = failed[0]
        tail = errlog.read_text(errors="replace").strip().splitlines()[-15:]
        raise RuntimeError(f"conversion failed in a worker process (exit {rc}); its log {errlog} ends "
                           f"with:\n" + "\n".join(tail))
    for _, errlog in procs:
        errlog.unlink(missing_ok=True)
    progress(len(todo))
    _log_slowest(seconds, time.time() - t_start, log)
    return seconds


def task_label(task: Mapping[str, Any]) -> str:
    """A short name of a :func:`run_tasks` task for its log: the network's title, the call with its first
    arguments, or the first kernel of a batch and how many."""
    if task["kind"] == "kernels":
        return f"{len(task['keys'])} kernels from {task['keys'][0]}"
    if task["kind"] == "kernel":
        return str(task["key"])
    if task["kind"] == "network":
        return f"{task['title']} @ {tuple(task['lr_hw'])}"
    args = ", ".join(json.dumps(a, default=str) for a in task.get("args", ())[:4] if not isinstance(a, str) or "/" not in a)
    return f"{task['fn'].rsplit(':', 1)[-1]}({args})"


def _log_slowest(seconds: Mapping[str, float], wall_s: float, log: Callable[[str], None] | None, n: int = 4) -> None:
    if log and seconds:
        top = sorted(seconds.items(), key=lambda kv: -kv[1])[:n]
        log(f"[lut] {len(seconds)} tasks, {sum(seconds.values()):.0f} task-s in {wall_s:.0f} s; slowest: "
            + ", ".join(f"{k[:60]} {v:.0f} s" for k, v in top))


def network_paths(networks: Sequence[tuple[Any, Sequence[int], str | os.PathLike]]) -> dict[str, Path]:
    """title -> ``.tflite`` of each (network, input size, folder) as :func:`convert_kernels` takes them (those
    its pool did not convert, e.g. modules, are converted here)."""
    out: dict[str, Path] = {}
    for net, lr_hw, folder in networks:
        title = as_spec(net)[0]
        out[title] = _convert_network(net, ex.hw_pair(lr_hw), Path(folder))
    return out


def adopt_network_file(net: Any, lr_hw: int | Sequence[int], workdir: str | os.PathLike,
                       source: str | os.PathLike) -> Path:
    """Put ``source`` (a ``.tflite`` of ``net`` at ``lr_hw`` converted elsewhere the same way, e.g. an export
    stage's file) where :func:`network_file` looks for it, unless a file is there already; atomic. Checks its
    input and output shapes against the network's (NHWC) first, so a wrong file is refused by name."""
    from . import tflite_split

    t, obj = as_spec(net)
    hw = ex.hw_pair(lr_hw)
    path = _network_path(t, hw, Path(workdir), obj)
    if path.is_file():
        return path
    model = obj.build() if isinstance(obj, NetworkSpec) else obj
    x = ex.random_input(hw)
    with torch.no_grad():
        y = model.eval()(x)
    want = ([[1, *hw, x.shape[1]]], [[1, *y.shape[2:], y.shape[1]]])
    got = tflite_split.io_shapes(tflite_split.read(source))
    if tuple(got) != want:
        raise ValueError(f"{source}: input/output shapes {got} are not {t}'s at {hw} (NHWC {want}); "
                         "pass the network's own LiteRT file")
    path.parent.mkdir(parents=True, exist_ok=True)
    with ex._temp_beside(path, ".tflite") as tmp:
        import shutil

        shutil.copyfile(source, tmp)
        ex._commit(tmp, path)
    return path


def network_file(net: Any, lr_hw: int | Sequence[int], workdir: str | os.PathLike) -> Path:
    """The network's ``.tflite`` in ``workdir`` as :func:`~srlib.latency.lut_validation.measure_networks`
    writes it (converted if absent)."""
    return _convert_network(net, ex.hw_pair(lr_hw), Path(workdir))


def _network_path(title: str, lr_hw: tuple[int, int], workdir: Path, obj: Any = None) -> Path:
    """A zoo network's file name also hashes its model module's code: a folder shared across runs (the
    machine's store) never serves a network converted from older code."""
    code = _model_code(obj.name) if isinstance(obj, NetworkSpec) else ""
    return workdir / (hashlib.sha256(f"{title}@{lr_hw}{code}".encode()).hexdigest()[:12] + ".tflite")


@functools.lru_cache(maxsize=None)
def _model_code(name: str) -> str:
    from srlib import models, pipeline

    return pipeline.code_version(models.module_of(name))


def _convert_network(net: Any, lr_hw: tuple[int, int], workdir: Path, title: str | None = None) -> Path:
    t, obj = as_spec(net)
    path = _network_path(title or t, lr_hw, workdir, obj)
    if not path.is_file():
        model = obj.build() if isinstance(obj, NetworkSpec) else obj
        ex.convert_tflite(model, ex.random_input(lr_hw), path)
    return path
