"""Training precision: ``train.precision`` (auto | fp32 | bf16) resolved for a device.

``resolve(setting, device) -> (dtype, description)``:

* ``fp32``: ``(torch.float32, "fp32")``.
* ``bf16``: bfloat16 autocast around each training step (:func:`srlib.training.loop.train`), whatever the
  hardware; where the device does not execute bfloat16 natively the description says "emulated" (only
  native bf16 was timed: benchmarks/train_throughput.py).
* ``auto``: bf16 where the device executes it natively -- a CPU with the ``avx512_bf16`` or ``amx_bf16``
  instructions (read from ``/proc/cpuinfo`` on Linux; elsewhere nothing is detected and fp32 is used), a
  CUDA GPU for which ``torch.cuda.is_bf16_supported()`` -- fp32 elsewhere.

What bf16 means here (mixed precision, not a bf16 model): the weights, their gradients and the optimizer
states stay fp32; inside the autocast region PyTorch runs convolutions and matrix products in bfloat16
and keeps its fp32 list (on CPU: ``l1_loss``, ``mse_loss``, ``binary_cross_entropy_with_logits``, ...)
in fp32, so the pixel, perceptual(-stand-in), distillation and vanilla/RaGAN BCE losses are reduced in
fp32. What stays bf16: activations and logits, so RaGAN's relativistic logits (``D(y) - mean D(G(x))``)
and EnhanceNet's Gram matrices (matrix products) carry bf16 rounding (8-bit mantissa) into their fp32
losses, and an LSGAN loss (``pow``/``mean`` are not on the fp32 list; no recipe uses it) would come out
in bf16. bfloat16 has fp32's exponent range: no loss scaling (GradScaler) is needed. The description
("bf16 (autocast, avx512_bf16)", "fp32") goes into each training stage's params, so it is part of the
stage key and of its manifest.
"""
from __future__ import annotations

import functools
import platform
from pathlib import Path

import torch

__all__ = ["SETTINGS", "NATIVE_CPU_FLAGS", "cpu_flags", "cpu_bf16_native", "resolve"]

SETTINGS = ("auto", "fp32", "bf16")
NATIVE_CPU_FLAGS = ("amx_bf16", "avx512_bf16")   # x86 instructions that compute on bfloat16 directly


@functools.lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The CPU feature flags of ``/proc/cpuinfo`` (Linux); empty where they cannot be read."""
    if platform.system() != "Linux":
        return frozenset()
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return frozenset()


def _native_cpu_flag() -> str | None:
    flags = cpu_flags()
    return next((f for f in NATIVE_CPU_FLAGS if f in flags), None)


def cpu_bf16_native() -> bool:
    """True when this CPU executes bfloat16 arithmetic natively (AVX512-BF16 or AMX-BF16)."""
    return _native_cpu_flag() is not None


def _cuda_bf16(device: torch.device) -> bool:
    try:
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    except Exception:  # pragma: no cover - a broken CUDA install
        return False


def resolve(setting: str, device: torch.device | str = "cpu") -> tuple[torch.dtype, str]:
    """``(dtype, description)`` of ``setting`` (auto | fp32 | bf16) on ``device`` (module docstring)."""
    if setting not in SETTINGS:
        raise ValueError(f"train.precision={setting!r} is not valid; choose one of: {', '.join(SETTINGS)}")
    device = torch.device(device)
    if setting == "fp32":
        return torch.float32, "fp32"
    if device.type == "cuda":
        native, how = _cuda_bf16(device), "cuda"
    elif device.type == "cpu":
        flag = _native_cpu_flag()
        native, how = flag is not None, flag
    else:
        native, how = False, device.type
    if setting == "auto" and not native:
        return torch.float32, "fp32"
    if native:
        return torch.bfloat16, f"bf16 (autocast, {how})"
    return torch.bfloat16, (f"bf16 (autocast, emulated: {device.type} without "
                            f"{' / '.join(NATIVE_CPU_FLAGS) if device.type == 'cpu' else 'native bf16'})")
