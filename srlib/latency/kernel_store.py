"""The machine's store of measured kernels: every lookup table built on one machine and runtime reads the
kernels already timed there and times only the missing ones, so a table is built once and shared by every
notebook, profile and stage of the machine (the MFAGAN search table and the validated table of the
latency notebook share their MFANet kernels; a killed build resumes from what it stored).

Layout under :func:`store_root` (``$SRLIB_LATENCY_STORE``, else ``<results>/_latency_store``, beside the
profiles' folders, so ``make clean-results`` clears it and a fresh clone starts empty):

- ``models/<converter key>/kernels/*.tflite`` -- one-kernel models; the key covers the converter's
  versions and the code that writes them (a model file does not depend on the machine);
- ``timings/<machine key>/<runtime key>/batch-*.json`` -- one file per timing call (atomic): raw ms per
  kernel (invoke overhead included), the call's canary time and when. The machine key covers the CPU
  model, its flags and the logical CPU count; the runtime key covers the runtime version, delegate,
  threads, samples, rounds and the timing code. A kernel's value is its newest measurement.

A stored value is reused only while the machine still times the compute canary
(:data:`~srlib.latency.lut_timing.CANARY`) within :data:`TOLERANCE` of the canary of the call that
stored it (same CPU model, other state: a thermal or frequency regime, a noisy neighbour); otherwise the
kernel is timed again. Our assumption, not the papers': FBNet, once-for-all and MFAGAN time each table
once, in one sitting.
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from srlib import config, io, pipeline

__all__ = ["TOLERANCE", "store_root", "machine_key", "KernelStore", "Stored"]

#: A stored kernel time is reused while the current canary time is within this ratio of its call's canary.
TOLERANCE = 1.10


def store_root() -> Path:
    env = os.environ.get("SRLIB_LATENCY_STORE")
    return Path(env) if env else config.results_dir("_latency_store")


def _cpu_flags() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, val = line.partition(":")
                if key.strip() in ("flags", "Features"):
                    return " ".join(sorted(val.split()))
    except OSError:
        pass
    return platform.processor()


def _digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:12]


def machine_key() -> str:
    """A folder name for this machine: readable CPU model + a hash of model, flags and CPU count."""
    from .bench import machine

    m = machine()
    slug = "".join(c if c.isalnum() else "-" for c in m.split(" (")[0]).strip("-")[:40] or "cpu"
    return f"{slug}-{_digest([m, _cpu_flags()])}"


@dataclass
class Stored:
    """A stored kernel time: raw ms, every round's value, clean flags and the storing call's canary ms."""
    ms: float
    rounds_ms: list
    clean: list
    canary_ms: float
    at: float


class KernelStore:
    """The kernels stored for one runtime configuration on this machine (see module doc)."""

    def __init__(self, root: str | os.PathLike, runtime: Mapping[str, Any]):
        from . import convert, convert_worker, export, lut_timing, tflite_split, trace

        self.root = Path(root)
        self.runtime = dict(runtime)
        conv = {"converter": export._tool_version("litert-torch"), "torch": _torch_version(),
                "code": pipeline.code_version(convert, convert_worker, export, tflite_split, trace)}
        self.models = self.root / "models" / _digest(conv)
        run = {**self.runtime, "code": pipeline.code_version(lut_timing)}
        self.timings = self.root / "timings" / machine_key() / _digest(run)

    @classmethod
    def for_runtime(cls, *, threads: int, xnnpack: bool, samples: int, rounds: int,
                    root: str | os.PathLike | None = None) -> "KernelStore":
        from . import bench

        rt = {"runtime": "litert", "runtime_version": bench.runtime_version("litert"), "threads": int(threads),
              "xnnpack": bool(xnnpack), "samples": int(samples), "rounds": int(rounds)}
        return cls(store_root() if root is None else root, rt)

    def entries(self) -> dict[str, Stored]:
        """Every stored kernel's newest measurement."""
        out: dict[str, Stored] = {}
        files = sorted(self.timings.glob("batch-*.json")) if self.timings.is_dir() else []
        batches = []
        for p in files:
            try:
                batches.append(io.read_json(p))
            except (OSError, ValueError) as e:
                raise ValueError(f"unreadable kernel-store batch {p}: {e}; delete the file to re-time its kernels") from None
        for b in sorted(batches, key=lambda b: b["at"]):
            for k, ms in b["ms"].items():
                out[k] = Stored(float(ms), b["rounds_ms"][k], b["clean"][k], float(b["canary_ms"]), float(b["at"]))
        return out

    def reusable(self, keys, canary_ms: float) -> dict[str, Stored]:
        """The stored measurements of ``keys`` whose call's canary is within :data:`TOLERANCE` of ``canary_ms``."""
        have = self.entries()
        lo, hi = 1.0 / TOLERANCE, TOLERANCE
        return {k: have[k] for k in keys if k in have and lo <= canary_ms / have[k].canary_ms <= hi}

    def add(self, timed: Any) -> Path | None:
        """Store a :class:`~srlib.latency.lut_timing.Timed` (only its clean measurements)."""
        keep = [k for k in timed.ms if k not in timed.disturbed]
        if not keep:
            return None
        at = time.time()
        path = self.timings / f"batch-{time.strftime('%Y%m%dT%H%M%S', time.gmtime(at))}-{os.getpid()}-{at % 1:.6f}.json"
        io.write_json(path, {"at": at, "runtime": self.runtime, "canary_ms": timed.canary_ms,
                             "ms": {k: timed.ms[k] for k in keep},
                             "rounds_ms": {k: timed.rounds_ms[k] for k in keep},
                             "clean": {k: timed.clean[k] for k in keep}})
        return path


def _torch_version() -> str:
    import torch

    return torch.__version__
