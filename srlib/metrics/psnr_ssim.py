"""PSNR and SSIM exactly as the SR papers compute them (shared/notes/conventions.md).

- Y channel of YCbCr, ITU-R BT.601 with MATLAB's constants:
  ``Y = 16 + (65.481 R + 128.553 G + 24.966 B) / 255`` for R, G, B in [0, 255]; Y is not rounded.
- ``crop_border`` pixels removed from every side first ("shave", = the scale factor).
- float64 throughout; PSNR = 10 log10(255^2 / MSE).
- SSIM (Wang et al. 2004): 11x11 Gaussian window, sigma 1.5, valid region only,
  C1 = (0.01 * 255)^2, C2 = (0.03 * 255)^2; on RGB the mean over channels.

Inputs: uint8 arrays in [0,255], float arrays in [0,1] (HxWxC or HxW), or torch tensors in [0,1]
(CxHxW or 1xCxHxW). Feed the *quantised* SR output (:func:`quantize`) to match the papers, which save
8-bit PNGs before measuring.
"""
from __future__ import annotations

import numpy as np
from scipy.ndimage import correlate1d

__all__ = ["psnr", "ssim", "rgb_to_y", "quantize", "to_255"]


def to_255(img) -> np.ndarray:
    """Any supported image -> float64 HxWxC (or HxW) in [0, 255]."""
    try:
        import torch
        if isinstance(img, torch.Tensor):
            t = img.detach().cpu().double()
            if t.ndim == 4:
                if t.shape[0] != 1:
                    raise ValueError(f"expected one image, got a batch of {t.shape[0]}")
                t = t[0]
            if t.ndim == 3:
                t = t.permute(1, 2, 0)
            return t.numpy() * 255.0
    except ImportError:  # pragma: no cover
        pass
    a = np.asarray(img)
    if a.dtype == np.uint8:
        return a.astype(np.float64)
    if not np.issubdtype(a.dtype, np.floating):
        raise TypeError(f"expected uint8 or float image, got {a.dtype}")
    return a.astype(np.float64) * 255.0


def quantize(img):
    """Round to 8 bits as saving a PNG does: clip to [0,1], x255, round, back to [0,1] (same type)."""
    try:
        import torch
        if isinstance(img, torch.Tensor):
            return img.clamp(0, 1).mul(255).round().div(255)
    except ImportError:  # pragma: no cover
        pass
    return np.round(np.clip(img, 0, 1) * 255) / 255


def rgb_to_y(img255: np.ndarray) -> np.ndarray:
    """BT.601 luma in [16, 235] from RGB in [0, 255] (MATLAB ``rgb2ycbcr``), float64, not rounded."""
    if img255.ndim != 3 or img255.shape[2] != 3:
        raise ValueError(f"rgb_to_y expects HxWx3, got {img255.shape}")
    return 16.0 + img255 @ np.array([65.481, 128.553, 24.966]) / 255.0


def _prepare(sr, hr, crop_border: int, y_channel: bool) -> tuple[np.ndarray, np.ndarray]:
    a, b = to_255(sr), to_255(hr)
    if a.shape != b.shape:
        raise ValueError(f"sr and hr shapes differ: {a.shape} vs {b.shape}")
    if crop_border < 0:
        raise ValueError(f"crop_border must be >= 0, got {crop_border}")
    if crop_border:
        if min(a.shape[:2]) <= 2 * crop_border:
            raise ValueError(f"image {a.shape[:2]} too small for crop_border {crop_border}")
        a = a[crop_border:-crop_border, crop_border:-crop_border]
        b = b[crop_border:-crop_border, crop_border:-crop_border]
    if y_channel and a.ndim == 3:
        a, b = rgb_to_y(a), rgb_to_y(b)
    return a, b


def psnr(sr, hr, crop_border: int, y_channel: bool = True) -> float:
    """PSNR in dB (peak 255) on Y (or all RGB values) after shaving ``crop_border``."""
    a, b = _prepare(sr, hr, crop_border, y_channel)
    mse = np.mean((a - b) ** 2)
    return float("inf") if mse == 0 else float(10.0 * np.log10(255.0 ** 2 / mse))


def _gaussian_1d(size: int = 11, sigma: float = 1.5) -> np.ndarray:
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2
    g = np.exp(-(x ** 2) / (2 * sigma ** 2))
    return g / g.sum()


def _filter_valid(x: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Separable Gaussian filter, 'valid' region only (the window fully inside the image)."""
    r = len(g) // 2
    y = correlate1d(correlate1d(x, g, axis=0, mode="constant"), g, axis=1, mode="constant")
    return y[r:-r, r:-r]


def _ssim_2d(a: np.ndarray, b: np.ndarray) -> float:
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    g = _gaussian_1d()
    mu_a, mu_b = _filter_valid(a, g), _filter_valid(b, g)
    s_aa = _filter_valid(a * a, g) - mu_a ** 2
    s_bb = _filter_valid(b * b, g) - mu_b ** 2
    s_ab = _filter_valid(a * b, g) - mu_a * mu_b
    m = ((2 * mu_a * mu_b + c1) * (2 * s_ab + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (s_aa + s_bb + c2))
    return float(m.mean())


def ssim(sr, hr, crop_border: int, y_channel: bool = True) -> float:
    """SSIM on Y (or the mean over RGB channels) after shaving ``crop_border``."""
    a, b = _prepare(sr, hr, crop_border, y_channel)
    if min(a.shape[:2]) < 11:
        raise ValueError(f"image {a.shape[:2]} smaller than the 11x11 SSIM window")
    if a.ndim == 2:
        return _ssim_2d(a, b)
    return float(np.mean([_ssim_2d(a[..., c], b[..., c]) for c in range(a.shape[2])]))
