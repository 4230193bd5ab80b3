"""Cached, resumable stages with manifests (design.md, "Stages").

``stage(name, params, fn, profile=...)`` runs ``fn(ctx)`` in ``results/<profile>/artifacts/<name>/``
unless a complete manifest with the same key is already there. The key hashes the stage name, its
params and the source code of the module that defines ``fn`` and of any ``code=`` modules, together with
every srlib module those import (:func:`import_closure`), so editing the stage's code, anything it uses,
or a parameter recomputes it.

- The manifest (key, params, outputs, git commit, package versions, device, seed, start/end, wall time)
  is written atomically and *last*: a folder without one is an unfinished stage.
- An unfinished stage with the same key keeps its folder, so ``fn`` can resume from its checkpoint
  (``ctx.dir``); one with a different key is cleared first.
- ``SRLIB_FORCE=name[,name...]`` (or ``all``) recomputes the named stages, once per process: a later
  call of the same stage with the same key in that process reads what the forced run wrote.
- Stages hand each other :class:`StageResult` handles; never guess another stage's paths.
- Under ``torchrun`` (torch.distributed initialised) every rank runs ``fn`` (so DDP training works), but
  only rank 0 clears/prepares the folder and writes the manifest; the ranks meet at barriers around it.
"""
from __future__ import annotations

import hashlib
import inspect
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Iterable, Mapping

from . import config, io

MANIFEST = "manifest.json"
KEYFILE = ".stage_key"
_VERSIONED_PACKAGES = ("torch", "torchvision", "numpy", "scipy", "scikit-image", "lpips",
                       "bicubic-pytorch", "pandas", "thop", "ai-edge-litert", "onnxruntime")


@dataclass(frozen=True)
class StageContext:
    """What a stage function receives."""
    name: str
    key: str
    dir: Path
    params: Mapping[str, Any]
    profile: str
    seed: int | None

    def path(self, *parts: str) -> Path:
        return self.dir.joinpath(*parts)


@dataclass(frozen=True)
class StageResult:
    """Handle to a finished stage: its folder, manifest and the outputs ``fn`` returned."""
    name: str
    key: str
    dir: Path
    manifest: Mapping[str, Any]
    skipped: bool
    outputs: Mapping[str, Any] = field(default_factory=dict)

    def path(self, *parts: str) -> Path:
        p = self.dir.joinpath(*parts)
        if not p.exists():
            raise FileNotFoundError(f"stage {self.name!r} has no output {'/'.join(parts)!r} in {self.dir}")
        return p

    def __getitem__(self, k: str) -> Any:
        return self.outputs[k]


def code_version(*objs: Any) -> str:
    """sha256 over the source of the modules that define ``objs`` (functions, classes or modules) and of
    every ``srlib`` module they import, directly or not (:func:`import_closure`), so editing a leaf module a
    stage uses (a model file, srlib/data, a metric) makes the stage stale, and editing an unrelated one
    does not. Modules registered by name (``srlib.models.build``) are not imports: a stage that builds a
    model by name lists the defining module in ``code=`` (``srlib.training.runs`` does).
    """
    h = hashlib.sha256()
    names: list[str] = []
    fallbacks: list[str] = []
    for o in objs:
        mod = o if isinstance(o, ModuleType) else inspect.getmodule(o)
        if mod is None:
            continue
        try:
            inspect.getsource(mod)
        except (OSError, TypeError):  # e.g. defined in a notebook cell: fall back to the function
            fallbacks.append(inspect.getsource(o) if not isinstance(o, ModuleType) else mod.__name__)
            continue
        names.append(mod.__name__)
    for name in sorted(import_closure(names)):
        h.update(name.encode())
        h.update(_source(name).encode())
    for src in fallbacks:
        h.update(src.encode())
    return h.hexdigest()[:16]


_SOURCES: dict[str, tuple[float, str, tuple[str, ...]]] = {}  # module -> (mtime, source, srlib imports)
ROOTS: tuple[str, ...] = ("srlib",)  # the packages whose modules a stage key follows


def _module_file(name: str) -> Path | None:
    import importlib.util

    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    return Path(spec.origin) if spec is not None and spec.origin and spec.origin.endswith(".py") else None


def _parse(name: str) -> tuple[str, tuple[str, ...]]:
    """(source, the srlib modules it imports anywhere in the file -- functions included)."""
    import ast

    f = _module_file(name)
    if f is None:
        return name, ()
    mtime = f.stat().st_mtime_ns
    hit = _SOURCES.get(name)
    if hit and hit[0] == mtime and hit[1] == f.read_text():
        return hit[1], hit[2]
    src = f.read_text()
    pkg = name if f.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(src)):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = pkg.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            found.add(base)
            found.update(f"{base}.{a.name}" for a in node.names)
    deps = tuple(sorted(m for m in found if _ours(m) and _module_file(m)))
    _SOURCES[name] = (mtime, src, deps)
    return src, deps


def _ours(m: str) -> bool:
    return any(m == r or m.startswith(r + ".") for r in ROOTS)


def _source(name: str) -> str:
    return _parse(name)[0]


def import_closure(names: Iterable[str]) -> set[str]:
    """Every srlib module reachable from ``names`` through import statements (at any depth, in function
    bodies too), ``names`` included, with the packages whose ``__init__`` runs on the way."""
    seen: set[str] = set()
    todo = [n for n in names]
    while todo:
        n = todo.pop()
        if n in seen:
            continue
        seen.add(n)
        parts = n.split(".")
        todo += [".".join(parts[:i]) for i in range(1, len(parts)) if _ours(".".join(parts[:i]))]
        todo += list(_parse(n)[1])
    return {n for n in seen if _module_file(n) is not None}


def stage_key(name: str, params: Mapping[str, Any], code: str) -> str:
    blob = json.dumps({"name": name, "params": params, "code": code}, sort_keys=True,
                      default=io._json_default)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def forced(name: str) -> bool:
    spec = os.environ.get("SRLIB_FORCE", "")
    names = {s.strip() for s in spec.split(",") if s.strip()}
    return "all" in names or name in names


#: (stage folder, key) of the forced stages this process has recomputed (SRLIB_FORCE acts once per process).
_FORCED_DONE: set[tuple[str, str]] = set()


def _force_now(d: Path, name: str, key: str) -> bool:
    return forced(name) and (str(d), key) not in _FORCED_DONE


def _keyed(name: str, params: Mapping[str, Any], fn: Callable[..., Any], code: Iterable[Any]
           ) -> tuple[dict[str, Any], str]:
    """(params as the manifest stores them, the stage key)."""
    params = json.loads(json.dumps(dict(params), sort_keys=True, default=io._json_default))
    return params, stage_key(name, params, code_version(fn, *code))


def _complete(d: Path, name: str, key: str) -> Mapping[str, Any] | None:
    """The manifest of a complete run of ``key`` in ``d`` that this call may reuse (not to be forced)."""
    mpath = d / MANIFEST
    if not mpath.is_file() or _force_now(d, name, key):
        return None
    manifest = io.read_json(mpath)
    return manifest if manifest.get("key") == key and manifest.get("complete") else None


def is_complete(name: str, params: Mapping[str, Any], fn: Callable[..., Any], *, profile: str,
                code: Iterable[Any] = ()) -> bool:
    """Whether :func:`stage` with these arguments would skip (a complete run with the same key is there
    and the stage is not to be forced): for callers that hand pending stages to worker processes."""
    _, key = _keyed(name, params, fn, code)
    return _complete(stage_dir(profile, name), name, key) is not None


def stage_dir(profile: str, name: str) -> Path:
    return config.results_dir(profile) / "artifacts" / name


def stage(name: str, params: Mapping[str, Any], fn: Callable[[StageContext], Mapping[str, Any] | None], *,
          profile: str, seed: int | None = None, code: Iterable[Any] = (),
          log: Callable[[str], None] = print, all_ranks: bool = False) -> StageResult:
    """Run ``fn`` as a cached stage (see module docstring) and return its handle.

    Under ``torchrun``: a stage that is not data-parallel training (a lookup table, a search, an
    evaluation, an export: the default) runs on rank 0 alone while the other ranks wait, then every rank
    reads its manifest, so N ranks never time kernels at once or write one folder; a failure on rank 0 is
    raised on every rank. ``all_ranks=True`` (the DDP training stages) runs ``fn`` on every rank.
    """
    if not all_ranks and _world() > 1:
        return _rank0_stage(name, params, fn, profile=profile, seed=seed, code=code, log=log)
    if not name or "/" in name or name.startswith("."):
        raise ValueError(f"bad stage name {name!r}: use a plain folder name")
    params, key = _keyed(name, params, fn, code)
    d = stage_dir(profile, name)
    mpath = d / MANIFEST
    done = _complete(d, name, key)
    if done is not None:
        log(f"[stage] {name}: skipped, complete (key {key}, {done.get('wall_s', 0):.1f}s "
            f"when it ran) -> {d}")
        return StageResult(name, key, d, done, True, done.get("outputs", {}))
    force = _force_now(d, name, key)
    if _rank() == 0:
        _prepare(d, key, name, log, force)
    _barrier()
    ctx = StageContext(name=name, key=key, dir=d, params=params, profile=profile, seed=seed)
    start = time.time()
    outputs = fn(ctx) or {}
    end = time.time()
    manifest = {
        "name": name, "key": key, "complete": True, "params": params, "profile": profile,
        "seed": seed, "outputs": outputs, "start": _iso(start), "end": _iso(end),
        "wall_s": round(end - start, 3), **environment(),
    }
    if _rank() == 0:
        io.write_json(mpath, manifest)  # last, atomically: its presence means "complete"
        log(f"[stage] {name}: done in {end - start:.1f}s -> {d}")
    if force:
        _FORCED_DONE.add((str(d), key))
    _barrier()
    return StageResult(name, key, d, manifest, False, outputs)


def _world() -> int:
    if _single_process.depth:
        return 1
    try:
        import torch.distributed as td
        return td.get_world_size() if td.is_available() and td.is_initialized() else 1
    except ImportError:  # pragma: no cover
        return 1


def _rank0_stage(name, params, fn, *, profile, seed, code, log) -> StageResult:
    import torch.distributed as td

    result, error = None, None
    if _rank() == 0:
        try:
            with _single_process():
                result = stage(name, params, fn, profile=profile, seed=seed, code=code, log=log, all_ranks=True)
        except BaseException as e:  # every rank must learn of it, or they wait for ever
            error = f"{type(e).__name__}: {e}"
            raise_later = e
    box = [error]
    td.broadcast_object_list(box, src=0)
    if _rank() == 0:
        if error is not None:
            raise raise_later
        return result
    if box[0] is not None:
        raise RuntimeError(f"stage {name!r} failed on rank 0: {box[0]}")
    d = stage_dir(profile, name)
    manifest = io.read_json(d / MANIFEST)
    return StageResult(name, manifest["key"], d, manifest, True, manifest.get("outputs", {}))


def rank0_only() -> bool:
    """True while a rank-0-only stage runs (its code must not wait for the other ranks)."""
    return _single_process.depth > 0


class _single_process:
    """Inside a rank-0-only stage, nested stages and barriers act as in one process."""
    depth = 0

    def __enter__(self):
        _single_process.depth += 1

    def __exit__(self, *exc):
        _single_process.depth -= 1


def _rank() -> int:
    if _single_process.depth:
        return 0
    try:
        import torch.distributed as td
        return td.get_rank() if td.is_available() and td.is_initialized() else 0
    except ImportError:  # pragma: no cover
        return 0


def _barrier() -> None:
    if _single_process.depth:
        return
    try:
        import torch.distributed as td
        if td.is_available() and td.is_initialized():
            td.barrier()
    except ImportError:  # pragma: no cover
        pass


def _prepare(d: Path, key: str, name: str, log: Callable[[str], None], force: bool = False) -> None:
    keyfile = d / KEYFILE
    if d.exists():
        old = keyfile.read_text().strip() if keyfile.is_file() else None
        if force or old != key or (d / MANIFEST).exists():
            reason = "forced" if force else "stale (params or code changed)"
            log(f"[stage] {name}: {reason}, clearing {d}")
            shutil.rmtree(d)
        else:
            log(f"[stage] {name}: resuming unfinished run (key {key}) in {d}")
    if not d.exists():
        log(f"[stage] {name}: running (key {key}) -> {d}")
    d.mkdir(parents=True, exist_ok=True)
    io.write_text(keyfile, key + "\n")


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, tz=timezone.utc).isoformat(timespec="seconds")


def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=config.root(), capture_output=True,
                             text=True, timeout=5)
        if out.returncode:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=config.root(), capture_output=True, text=True, timeout=5).stdout
        return out.stdout.strip() + ("-dirty" if dirty.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def package_versions() -> dict[str, str]:
    from importlib import metadata

    out = {"python": sys.version.split()[0]}
    for p in _VERSIONED_PACKAGES:
        try:
            out[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            pass
    return out


def device_description() -> str:
    desc = f"{platform.machine()} {platform.processor() or ''} ({os.cpu_count()} CPUs)".replace("  ", " ")
    try:
        import torch
        if torch.cuda.is_available():
            desc += f"; cuda: {torch.cuda.get_device_name(0)} x{torch.cuda.device_count()}"
    except Exception:
        pass
    return desc


def environment() -> dict[str, Any]:
    return {"git_commit": git_commit(), "packages": package_versions(), "device": device_description(),
            "host": platform.node()}
