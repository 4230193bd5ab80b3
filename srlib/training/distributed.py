"""torch.distributed in a few calls; every function is a no-op in a single process.

Launch with ``torchrun --nproc_per_node=N ...``; the script calls :func:`init_from_env` first, wraps its
trainable models with :func:`wrap`, and calls :func:`cleanup` at the end. Backend: ``nccl`` when CUDA is
available, else ``gloo`` (the CPU path the ``smoke`` profile exercises with 2 processes). One node and
a shared file system are assumed: every rank reads the same run folder on resume.
"""
from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
import torch.nn as nn
from torch.nn.parallel import DistributedDataParallel

__all__ = ["init_from_env", "is_distributed", "rank", "world_size", "local_rank", "is_main", "device",
           "wrap", "unwrap", "barrier", "cleanup", "any_true", "all_gather_object", "average_gradients"]


def init_from_env(backend: str | None = None, timeout_s: float = 1800) -> bool:
    """Join the process group torchrun describes (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT).

    Returns True when running distributed. A single process (no WORLD_SIZE, or 1) does nothing.
    """
    if is_distributed():
        return True
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return False
    missing = [k for k in ("RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT") if k not in os.environ]
    if missing:
        raise RuntimeError(f"WORLD_SIZE>1 but {', '.join(missing)} not set; launch with "
                           "`torchrun --nproc_per_node=N script.py` (or python -m torch.distributed.run)")
    if backend is None:
        backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ["LOCAL_RANK"]))
    dist.init_process_group(backend=backend, init_method="env://", timeout=timedelta(seconds=timeout_s))
    return True


def is_distributed() -> bool:
    """True under torchrun with several ranks -- except inside a stage that runs on rank 0 alone
    (:func:`srlib.pipeline.stage`), where the code acts as in one process."""
    from ..pipeline import rank0_only

    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1 and not rank0_only()


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0")) if is_distributed() else 0


def is_main() -> bool:
    """True on rank 0 (and in a single process): the one rank that writes files and shows progress."""
    return rank() == 0


def device() -> torch.device:
    """This rank's device: ``cuda:LOCAL_RANK`` when CUDA is available, else CPU."""
    return torch.device("cuda", local_rank()) if torch.cuda.is_available() else torch.device("cpu")


def wrap(model: nn.Module, **ddp_kwargs: Any) -> nn.Module:
    """``DistributedDataParallel(model)`` when distributed (and it has trainable parameters), else ``model``.

    Pass ``find_unused_parameters=True`` for supernets whose sampled sub-networks skip parameters.
    """
    if not is_distributed() or isinstance(model, DistributedDataParallel):
        return model
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        return model  # frozen (a teacher): nothing to synchronise
    dev = params[0].device
    ids = [dev.index if dev.index is not None else local_rank()] if dev.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids, **ddp_kwargs)


def unwrap(model: nn.Module) -> nn.Module:
    """The plain module inside a DDP (or ``torch.compile``) wrapper."""
    while True:
        if isinstance(model, DistributedDataParallel):
            model = model.module
        elif hasattr(model, "_orig_mod"):
            model = model._orig_mod
        else:
            return model


def barrier() -> None:
    if is_distributed():
        if dist.get_backend() == "nccl":
            dist.barrier(device_ids=[local_rank()])
        else:
            dist.barrier()


def cleanup() -> None:
    """Leave the process group (safe to call when not distributed)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def any_true(flag: bool) -> bool:
    """True on every rank when ``flag`` is true on any rank (collective)."""
    if not is_distributed():
        return bool(flag)
    dev = device() if dist.get_backend() == "nccl" else torch.device("cpu")
    t = torch.tensor([1 if flag else 0], dtype=torch.int32, device=dev)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def all_gather_object(obj: Any) -> list[Any]:
    """``[obj of rank 0, obj of rank 1, ...]`` on every rank (collective); ``[obj]`` in one process."""
    if not is_distributed():
        return [obj]
    out: list[Any] = [None] * world_size()
    dist.all_gather_object(out, obj)
    return out


def average_gradients(params) -> None:
    """Average ``params``' gradients over ranks with one all-reduce of a flat buffer (a missing gradient
    counts as zeros), for step functions that synchronise gradients themselves instead of DDP (a step
    that sums the gradients of several sub-networks before one update: MFAGAN's SuperGenerator, AdaSR's
    progressive distillation). A no-op in one process."""
    world = world_size()
    if world <= 1:
        return
    grads = []
    for p in params:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
        grads.append(p.grad)
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat.div_(world)
    off = 0
    for g in grads:
        g.copy_(flat[off:off + g.numel()].view_as(g))
        off += g.numel()
