"""MATLAB-compatible bicubic resize: the degradation every SR benchmark uses to make LR images.

MATLAB's ``imresize(img, 1/s, 'bicubic')``: Keys cubic (a = -0.5), kernel widened by ``s`` when
downscaling (antialiasing), mirrored borders, output size ``ceil(in * scale)``. We delegate to the
``bicubic-pytorch`` package, which agreed with an independent port of MATLAB's algorithm to 2e-7 on
[0,1] images (shared/notes/environment.md); tests/test_data.py re-checks that against our own port.
"""
from __future__ import annotations

import numpy as np
import torch
from bicubic_pytorch import core as _bicubic

__all__ = ["imresize", "mod_crop", "bicubic_lr"]


def imresize(img: np.ndarray | torch.Tensor, scale: float) -> np.ndarray | torch.Tensor:
    """Resize by ``scale`` like MATLAB's ``imresize(img, scale, 'bicubic')`` (antialiased when < 1).

    Accepts a float image in [0,1] as numpy ``HxW`` / ``HxWxC`` or torch ``HxW`` / ``CxHxW`` /
    ``NxCxHxW``; returns the same layout and type, float, not clipped (MATLAB clips only for integer
    types; use :func:`bicubic_lr` for the uint8 LR images of the benchmarks).
    """
    if scale <= 0:
        raise ValueError(f"scale must be > 0, got {scale}")
    if isinstance(img, np.ndarray):
        if img.dtype == np.uint8:
            raise TypeError("imresize expects a float image in [0,1]; for uint8 use bicubic_lr "
                            "or divide by 255 first")
        t = torch.from_numpy(np.ascontiguousarray(img, dtype=np.float64))
        if t.ndim == 3:
            t = t.permute(2, 0, 1)
        out = _resize_tensor(t, scale)
        if img.ndim == 3:
            out = out.permute(1, 2, 0)
        return out.numpy().astype(img.dtype if img.dtype in (np.float32, np.float64) else np.float64)
    if isinstance(img, torch.Tensor):
        return _resize_tensor(img, scale)
    raise TypeError(f"imresize expects a numpy array or torch tensor, got {type(img).__name__}")


def _resize_tensor(t: torch.Tensor, scale: float) -> torch.Tensor:
    if t.ndim not in (2, 3, 4):
        raise ValueError(f"expected 2-4 dims (HW, CHW or NCHW), got shape {tuple(t.shape)}")
    if not t.is_floating_point():
        raise TypeError(f"imresize expects a float tensor, got {t.dtype}")
    return _bicubic.imresize(t, scale=scale, antialiasing=True)


def mod_crop(img: np.ndarray, scale: int) -> np.ndarray:
    """Crop an HxW[xC] image to a multiple of ``scale`` (bottom/right rows go, as in the SR benchmarks)."""
    h, w = img.shape[:2]
    return img[: h - h % scale, : w - w % scale]


def bicubic_lr(hr_u8: np.ndarray, scale: int) -> np.ndarray:
    """LR image of the benchmarks: uint8 HR (already mod-cropped) -> MATLAB bicubic 1/scale -> uint8.

    MATLAB's imresize on a uint8 image rounds and saturates its output, so LR images are uint8.
    """
    if hr_u8.dtype != np.uint8:
        raise TypeError(f"bicubic_lr expects a uint8 HR image, got {hr_u8.dtype}")
    h, w = hr_u8.shape[:2]
    if h % scale or w % scale:
        raise ValueError(f"HR size {h}x{w} is not a multiple of scale {scale}: mod_crop it first")
    lr = imresize(hr_u8.astype(np.float64) / 255.0, 1.0 / scale)
    return np.clip(np.round(lr * 255.0), 0, 255).astype(np.uint8)
