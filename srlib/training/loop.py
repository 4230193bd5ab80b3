"""The one training loop every paper uses: exact resume, checkpoints, signals, DDP, metrics, progress.

``train(run_dir, models=..., optimizers=..., schedulers=..., step_fn=..., batches=..., total_steps=...,
seed=...)`` calls ``step_fn(step, batches(step), models, optimizers)`` for ``step`` in
``[start, total_steps)`` and then each scheduler's ``step()``. The step function does its own
forward/backward/optimizer steps, so GAN (G then D), distillation, supernet (sandwich) and bi-level
steps all plug in; it returns a dict of scalars to log. The loop never changes train/eval modes.

Exact resume rests on three things:
- ``batches(step)`` is a pure function of (seed, step, rank): use :func:`dataset_batches` for a
  map-style Dataset, or :func:`step_generator` for random crops/noise drawn per step;
- the checkpoint holds every model, optimizer, scheduler and ``stateful`` object, the step, the
  running metric sums and every rank's RNG states (python, numpy, torch, cuda);
- ``io.seed_everything(seed + rank, deterministic)`` at the start.

Files in ``run_dir``: ``checkpoint.pt`` (atomic, weights-only; every ``ckpt_every`` steps, at the end,
and on SIGTERM/SIGINT) and ``metrics.jsonl`` (one line per logged step: ``step`` = steps completed,
``time`` = unix time, then the mean of each scalar since the previous line), with the same lines as
TensorBoard scalars in ``tb/`` (:mod:`srlib.training.tensorboard`; none without the package). An existing
checkpoint resumes; log lines past it are dropped and ``tb/`` is rebuilt from the lines kept. Under DDP only
rank 0 writes and shows progress, every rank loads the checkpoint, and the logged scalars are rank 0's.

Precision and layout (``train.precision`` / ``train.channels_last`` of a profile, resolved by
:mod:`srlib.training.precision`): ``autocast=torch.bfloat16`` enters ``torch.autocast(device, bfloat16)``
around each ``step_fn`` call (the batch is drawn outside it). The step function's forwards and losses
run under it; weights, gradients and optimizer states stay fp32 and the losses PyTorch keeps in fp32 under
autocast (l1, mse, BCE with logits) are reduced in fp32; no GradScaler is needed for bfloat16. The weight
cast cache is off (``cache_enabled=False``) because step functions update weights inside the region (a
cached bf16 copy of an updated weight would be stale). A validation hook called from the step function
must leave autocast itself (``torch.autocast(..., enabled=False)``, as :func:`srlib.training.runs.val_psnr`
does). ``channels_last=True`` converts the models' 4-d parameters in place (before the checkpoint is
loaded; optimizers keep referring to the same parameters; under DDP convert before wrapping, as
:func:`srlib.training.runs.train_stage` does) and every 4-d tensor of each batch to the channels_last
memory format. A resumed run is bit-identical to an uninterrupted one *within* one
precision and layout; the checkpoint records both and a resume under other settings warns.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import signal
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import torch
import torch.nn as nn
from torch.nn.parallel import DistributedDataParallel

from .. import io
from . import distributed as dist
from . import tensorboard

__all__ = ["train", "TrainResult", "load_checkpoint", "checkpoint_path", "read_metrics",
           "dataset_batches", "DatasetBatches", "step_generator", "to_channels_last", "CHECKPOINT", "METRICS"]

CHECKPOINT = "checkpoint.pt"
METRICS = "metrics.jsonl"
FORMAT = 1

StepFn = Callable[[int, Any, Mapping[str, nn.Module], Mapping[str, Any]], Mapping[str, Any] | None]


# --------------------------------------------------------------------------------------------------
# Data as a pure function of the step
# --------------------------------------------------------------------------------------------------
def _mix(*parts: int) -> int:
    """A 63-bit seed from integers (stable across processes and Python versions)."""
    blob = ":".join(str(int(p)) for p in parts).encode()
    return int.from_bytes(hashlib.sha256(blob).digest()[:8], "little") >> 1


def step_generator(seed: int, step: int, *salt: int, rank: int | None = None) -> torch.Generator:
    """A CPU ``torch.Generator`` seeded from (seed, step, rank, *salt): draw a step's crops/noise with it.

    ``rank`` defaults to this process's rank, so DDP ranks draw different samples.
    """
    r = dist.rank() if rank is None else rank
    return torch.Generator().manual_seed(_mix(seed, step, r, *salt))


class DatasetBatches:
    """``batches(step)`` over a map-style Dataset; see :func:`dataset_batches`."""

    def __init__(self, dataset: Any, batch_size: int, seed: int, *, collate: Callable | None = None,
                 rank: int | None = None, world_size: int | None = None):
        if batch_size <= 0:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        self.dataset, self.batch_size, self.seed = dataset, batch_size, seed
        self.collate = collate or torch.utils.data.default_collate
        self._rank, self._world = rank, world_size
        self._cache: tuple[int, torch.Tensor] | None = None

    @property
    def rank(self) -> int:
        return dist.rank() if self._rank is None else self._rank

    @property
    def world_size(self) -> int:
        return dist.world_size() if self._world is None else self._world

    @property
    def batches_per_epoch(self) -> int:
        n = len(self.dataset) // self.world_size // self.batch_size
        if n == 0:
            raise ValueError(f"dataset of {len(self.dataset)} items is too small for batch_size="
                             f"{self.batch_size} x {self.world_size} rank(s); lower the batch size")
        return n

    def _shard(self, epoch: int) -> torch.Tensor:
        if self._cache is None or self._cache[0] != epoch:
            g = torch.Generator().manual_seed(_mix(self.seed, epoch))
            perm = torch.randperm(len(self.dataset), generator=g)
            w = self.world_size
            perm = perm[: len(perm) // w * w]           # equal shards, like DistributedSampler(drop_last)
            self._cache = (epoch, perm[self.rank::w])
        return self._cache[1]

    def indices(self, step: int) -> list[int]:
        """Dataset indices of this rank's batch at ``step`` (no replay of earlier steps)."""
        nb = self.batches_per_epoch
        epoch, i = divmod(step, nb)
        return self._shard(epoch)[i * self.batch_size:(i + 1) * self.batch_size].tolist()

    def __call__(self, step: int) -> Any:
        return self.collate([self.dataset[i] for i in self.indices(step)])


def dataset_batches(dataset: Any, batch_size: int, seed: int, *, collate: Callable | None = None,
                    rank: int | None = None, world_size: int | None = None) -> DatasetBatches:
    """Wrap a map-style Dataset as ``batches(step)``: a per-epoch permutation from (seed, epoch), batch
    ``step % n`` of epoch ``step // n`` (full batches only). Under DDP each rank takes its own
    interleaved shard of the permutation (rank/world default to the process group's, read per call).
    """
    return DatasetBatches(dataset, batch_size, seed, collate=collate, rank=rank, world_size=world_size)


# --------------------------------------------------------------------------------------------------
# Checkpoints
# --------------------------------------------------------------------------------------------------
def checkpoint_path(run_dir: str | os.PathLike) -> Path:
    return Path(run_dir) / CHECKPOINT


def _fix(path: Path) -> str:
    return f"delete {path} to train from scratch (or pass a fresh run folder)"


def _read_checkpoint(path: Path) -> dict:
    ck = io.torch_load(path)  # ValueError naming the file if corrupted / not weights-only
    if not isinstance(ck, dict) or ck.get("format") != FORMAT or "step" not in ck:
        raise ValueError(f"{path}: not a training checkpoint of srlib.training.loop (format {FORMAT}); "
                         + _fix(path))
    return ck


def _load_into(path: Path, kind: str, saved: Mapping[str, Any], objs: Mapping[str, Any] | None,
               exact: bool) -> None:
    objs = objs or {}
    missing = sorted(set(objs) - set(saved))
    extra = sorted(set(saved) - set(objs)) if exact else []
    if missing or extra:
        raise ValueError(f"{path}: the checkpoint holds {kind} {sorted(saved)} but the run has "
                         f"{sorted(objs)}; " + _fix(path))
    for name, obj in objs.items():
        target = dist.unwrap(obj) if isinstance(obj, nn.Module) else obj
        try:
            target.load_state_dict(saved[name])
        except Exception as e:
            raise ValueError(f"{path}: cannot load {kind[:-1]} {name!r} ({type(e).__name__}: {e}); "
                             "the model or its settings changed since it was written; " + _fix(path)) from e


def load_checkpoint(path: str | os.PathLike, *, models: Mapping[str, nn.Module] | None = None,
                    optimizers: Mapping[str, Any] | None = None, schedulers: Mapping[str, Any] | None = None,
                    stateful: Mapping[str, Any] | None = None, exact: bool = False) -> dict:
    """Load a checkpoint (a file, or a run folder holding ``checkpoint.pt``) into the given objects.

    With ``exact=False`` the given names may be a subset (e.g. only ``{"G": g}`` for evaluation).
    Returns the raw dict (``step``, ``seed``, ``models``, ...). RNG states are not touched.
    """
    path = Path(path)
    if path.is_dir():
        path = path / CHECKPOINT
    ck = _read_checkpoint(path)
    _load_into(path, "models", ck["models"], models, exact)
    _load_into(path, "optimizers", ck["optimizers"], optimizers, exact)
    _load_into(path, "schedulers", ck["schedulers"], schedulers, exact)
    _load_into(path, "stateful", ck.get("stateful", {}), stateful, exact)
    return ck


def _state(objs: Mapping[str, Any]) -> dict:
    return {k: (dist.unwrap(v) if isinstance(v, nn.Module) else v).state_dict() for k, v in objs.items()}


# --------------------------------------------------------------------------------------------------
# Metrics
# --------------------------------------------------------------------------------------------------
class _Meter:
    """Running sums of the step function's scalars since the last log line (checkpointed)."""

    def __init__(self) -> None:
        self.sums: dict[str, float] = {}
        self.counts: dict[str, int] = {}

    def add(self, out: Mapping[str, Any] | None) -> None:
        for k, v in (out or {}).items():
            try:
                x = float(v.detach().item() if isinstance(v, torch.Tensor) else v)
            except (TypeError, ValueError, RuntimeError) as e:
                raise TypeError(f"step_fn returned {k!r}={v!r}: metrics must be scalars") from e
            self.sums[k] = self.sums.get(k, 0.0) + x
            self.counts[k] = self.counts.get(k, 0) + 1

    def flush(self) -> dict[str, float]:
        out = {k: self.sums[k] / self.counts[k] for k in self.sums}
        self.sums, self.counts = {}, {}
        return out

    def state_dict(self) -> dict:
        return {"sums": dict(self.sums), "counts": dict(self.counts)}

    def load_state_dict(self, s: Mapping[str, Any]) -> None:
        self.sums, self.counts = dict(s["sums"]), dict(s["counts"])


def _truncate_log(path: Path, step: int) -> list[dict]:
    """Keep only log lines up to ``step`` (the resumed checkpoint), rewriting the file atomically; returns
    the lines kept."""
    if not path.exists():
        return []
    text = path.read_text()
    keep = [r for r in io.jsonl_rows(text) if r["step"] <= step]
    new = "".join(json.dumps(r) + "\n" for r in keep)
    if new != text:
        io.write_text(path, new)
    return keep


def read_metrics(run_dir: str | os.PathLike):
    """The metrics log of a run (folder or ``metrics.jsonl``) as a pandas DataFrame, one row per line."""
    import pandas as pd

    path = Path(run_dir)
    if path.is_dir() or path.suffix != ".jsonl":
        path = path / METRICS
    if not path.is_file():
        raise FileNotFoundError(f"no metrics log at {path}: has this training run started?")
    return pd.DataFrame(io.jsonl_rows(path.read_text()))


def _json_float(x: float) -> float | None:
    return x if math.isfinite(x) else None  # JSON has no NaN/inf


# --------------------------------------------------------------------------------------------------
# Signals
# --------------------------------------------------------------------------------------------------
class _StopFlag:
    """SIGTERM/SIGINT set a flag; the loop checkpoints at the end of the step. A second Ctrl-C aborts."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._old: dict[int, Any] = {}

    def install(self) -> "_StopFlag":
        if threading.current_thread() is threading.main_thread():
            for s in (signal.SIGTERM, signal.SIGINT):
                self._old[s] = signal.signal(s, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if signum == signal.SIGINT and self.signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.signum = signum

    def restore(self) -> None:
        for s, h in self._old.items():
            signal.signal(s, h if h is not None else signal.SIG_DFL)
        self._old = {}


# --------------------------------------------------------------------------------------------------
# The loop
# --------------------------------------------------------------------------------------------------
def _autocast(dtype: torch.dtype | None, models: Mapping[str, nn.Module]) -> Callable[[], Any] | None:
    """A factory of the step's autocast context, or None for plain fp32."""
    if dtype is None or dtype == torch.float32:
        return None
    if dtype != torch.bfloat16:
        raise ValueError(f"autocast={dtype}: only torch.bfloat16 is supported (float16 would need a "
                         "GradScaler, which this loop does not run)")
    dev = next((p.device.type for m in models.values() for p in m.parameters()), "cpu")
    return lambda: torch.autocast(dev, dtype=dtype, cache_enabled=False)


def to_channels_last(obj: Any) -> Any:
    """``obj`` with every 4-d tensor (nested in tuples, lists, dicts) in channels_last memory format."""
    if isinstance(obj, torch.Tensor):
        return obj.contiguous(memory_format=torch.channels_last) if obj.dim() == 4 else obj
    if isinstance(obj, tuple) and not hasattr(obj, "_fields"):
        return tuple(to_channels_last(x) for x in obj)
    if isinstance(obj, list):
        return [to_channels_last(x) for x in obj]
    if isinstance(obj, dict):
        return {k: to_channels_last(v) for k, v in obj.items()}
    return obj


class _ChannelsLastBatches:
    def __init__(self, batches: Callable[[int], Any]):
        self.batches = batches

    def __call__(self, step: int) -> Any:
        return to_channels_last(self.batches(step))


@dataclass(frozen=True)
class TrainResult:
    step: int                      # steps completed (== total_steps)
    start_step: int                # step resumed from (0: fresh run)
    checkpoint: Path
    metrics: dict = field(default_factory=dict)   # the last logged line's scalars

    @property
    def resumed(self) -> bool:
        return self.start_step > 0


def train(run_dir: str | os.PathLike, *, models: Mapping[str, nn.Module], optimizers: Mapping[str, Any],
          schedulers: Mapping[str, Any] | None = None, step_fn: StepFn, batches: Callable[[int], Any],
          total_steps: int, seed: int, log_every: int = 10, ckpt_every: int = 100, progress: bool = True,
          deterministic: bool = True, desc: str = "", stateful: Mapping[str, Any] | None = None,
          autocast: torch.dtype | None = None, channels_last: bool = False) -> TrainResult:
    """Train to ``total_steps``, resuming from ``run_dir/checkpoint.pt`` if present (module docstring).

    ``stateful``: other objects with ``state_dict()``/``load_state_dict()`` to checkpoint (an EMA, a
    GradScaler, a controller's baseline). Under DDP pass models wrapped with ``distributed.wrap``.
    ``autocast``: ``torch.bfloat16`` runs each step under bfloat16 autocast (None / ``torch.float32``:
    plain fp32); ``channels_last``: models and batches in channels_last memory format (module docstring).
    On SIGINT raises KeyboardInterrupt, on SIGTERM exits with ``128 + signum``, after checkpointing.
    """
    for name, v in (("total_steps", total_steps), ("log_every", log_every), ("ckpt_every", ckpt_every)):
        if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
            raise ValueError(f"{name} must be a positive integer, got {v!r}")
    amp = _autocast(autocast, models)
    tag = {"precision": "fp32" if amp is None else "bf16", "channels_last": bool(channels_last)}
    if channels_last:
        for m in models.values():
            dist.unwrap(m).to(memory_format=torch.channels_last)
        batches = _ChannelsLastBatches(batches)
    schedulers = dict(schedulers or {})
    stateful = dict(stateful or {})
    run_dir = Path(run_dir)
    ckpt = run_dir / CHECKPOINT
    log_path = run_dir / METRICS
    main, rank, world = dist.is_main(), dist.rank(), dist.world_size()
    if main:
        run_dir.mkdir(parents=True, exist_ok=True)
    if world > 1:
        plain = [k for k, m in models.items() if not isinstance(m, DistributedDataParallel)
                 and any(p.requires_grad for p in m.parameters())]
        if plain:
            warnings.warn(f"training with {world} ranks but models {plain} are not wrapped with "
                          "srlib.training.distributed.wrap: their replicas will drift apart", stacklevel=2)

    io.seed_everything(seed + rank, deterministic)
    meter, start = _Meter(), 0
    if ckpt.exists():
        ck = load_checkpoint(ckpt, models=models, optimizers=optimizers, schedulers=schedulers,
                             stateful=stateful, exact=True)
        if ck.get("seed") != seed:
            raise ValueError(f"{ckpt}: written with seed {ck.get('seed')} but this run has seed {seed}; "
                             + _fix(ckpt))
        start = int(ck["step"])
        was = {"precision": ck.get("precision", "fp32"), "channels_last": ck.get("channels_last", False)}
        if was != tag:
            warnings.warn(f"{ckpt}: written with {was} but resumed with {tag}: the resumed run will not be "
                          "bit-identical to an uninterrupted one", stacklevel=2)
        meter.load_state_dict(ck["meter"])
        rngs = ck["rng"]
        if len(rngs) != world:
            warnings.warn(f"{ckpt}: written by {len(rngs)} rank(s), resumed with {world}: the resumed run "
                          "will not be bit-identical to an uninterrupted one", stacklevel=2)
        io.set_rng_state(rngs[rank % len(rngs)])
        del ck
    kept: list[dict] = []
    if main:
        kept = _truncate_log(log_path, start)
    dist.barrier()

    if start >= total_steps:
        if start > total_steps:
            warnings.warn(f"{ckpt} is at step {start}, past total_steps={total_steps}", stacklevel=2)
        last = io.jsonl_rows(log_path.read_text())[-1:] if main and log_path.exists() else []
        metrics = {k: v for k, v in (last[0] if last else {}).items() if k not in ("step", "time")}
        return TrainResult(start, start, ckpt, metrics)

    def save(step: int) -> None:
        rngs = dist.all_gather_object(io.rng_state())   # collective: every rank's RNG state
        if main:
            io.torch_save({"format": FORMAT, "step": step, "seed": seed, "world_size": world,
                           "models": _state(models), "optimizers": _state(optimizers),
                           "schedulers": _state(schedulers), "stateful": _state(stateful),
                           "meter": meter.state_dict(), "rng": rngs, **tag}, ckpt)

    from tqdm import tqdm

    board = tensorboard.ScalarLog(run_dir / tensorboard.TB_DIR, kept) if main else None
    stop = _StopFlag().install()
    bar = tqdm(total=total_steps, initial=start, desc=desc or run_dir.name, disable=not (progress and main),
               dynamic_ncols=True, mininterval=0.5)
    log = open(log_path, "a") if main else None
    step, stopping, last = start, False, {}
    try:
        while step < total_steps:
            batch = batches(step)
            with (amp() if amp is not None else contextlib.nullcontext()):
                out = step_fn(step, batch, models, optimizers)
            for s in schedulers.values():
                s.step()
            step += 1
            meter.add(out)
            bar.update(1)
            if step % log_every == 0 or step == total_steps:
                last = meter.flush()
                if log is not None:
                    row = {"step": step, "time": round(time.time(), 3),
                           **{k: _json_float(v) for k, v in last.items()}}
                    log.write(json.dumps(row) + "\n")
                    log.flush()
                    board.add(row)
                bar.set_postfix({k: f"{v:.4g}" for k, v in list(last.items())[:4]}, refresh=False)
            stopping = dist.any_true(stop.signum is not None)
            if stopping or step % ckpt_every == 0 or step == total_steps:
                if log is not None:
                    os.fsync(log.fileno())   # the log reaches at least as far as the checkpoint
                    board.flush()
                save(step)
            if stopping:
                break
    finally:
        bar.close()
        if log is not None:
            log.close()
            board.close()
        signum = stop.signum
        stop.restore()
    dist.barrier()
    if stopping:
        signum = signum or signal.SIGTERM      # another rank was signalled
        if main:
            print(f"[train] {signal.Signals(signum).name}: checkpoint at step {step} -> {ckpt}; "
                  "run again to resume", flush=True)
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        raise SystemExit(128 + signum)
    return TrainResult(step, start, ckpt, last)
