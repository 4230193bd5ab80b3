"""Converting what a latency table times into ``.tflite`` files: one-kernel models (serially or in worker
processes) and whole networks, with litert-torch -- the same path as a network's export (NHWC I/O).

Where the files go: :func:`kernel_file` (``workdir/kernels/<hash of the key>.tflite``) and
:func:`network_file` (``workdir/<hash of title and size>.tflite``). Every file is written atomically, so a
killed build resumes with the files already there. The worker process entry is
:mod:`srlib.latency.convert_worker`.
"""
from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path
from typing import Any, Callable, Sequence

from srlib import io

from . import export as ex
from .networks import NetworkSpec, as_spec
from .trace import Kernel, kernel_module

__all__ = ["kernel_file", "convert_one", "default_workers", "convert_kernels", "network_file"]


def kernel_file(workdir: str | os.PathLike, key: Kernel | str) -> Path:
    """Where :func:`~srlib.latency.lut.measure_kernels` puts the one-kernel model of ``key``."""
    return Path(workdir) / "kernels" / _file_name(str(key))


def _file_name(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:16] + ".tflite"


def convert_one(key: str, path: str | os.PathLike) -> None:
    """Convert the one-kernel model of ``key`` (:func:`~srlib.latency.trace.kernel_module`) to ``path``."""
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
            convert_one(key, kernel_file(workdir, key))
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


def network_file(net: Any, lr_hw: int | Sequence[int], workdir: str | os.PathLike) -> Path:
    """The network's ``.tflite`` in ``workdir`` as :func:`~srlib.latency.lut_validation.measure_networks`
    writes it (converted if absent)."""
    return _convert_network(net, ex.hw_pair(lr_hw), Path(workdir))


def _convert_network(net: Any, lr_hw: tuple[int, int], workdir: Path) -> Path:
    title, obj = as_spec(net)
    model = obj.build() if isinstance(obj, NetworkSpec) else obj
    path = workdir / (hashlib.sha256(f"{title}@{lr_hw}".encode()).hexdigest()[:12] + ".tflite")
    if not path.is_file():
        ex.convert_tflite(model, ex.random_input(lr_hw), path)
    return path
