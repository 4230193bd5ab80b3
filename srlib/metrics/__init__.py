"""Quality metrics: PSNR/SSIM (psnr_ssim.py), LPIPS v0.1 with checksummed backbones (lpips.py),
and :func:`evaluate` which runs a generator over test sets and returns tidy rows (evaluate.py)."""
from .psnr_ssim import psnr, quantize, rgb_to_y, ssim

__all__ = ["psnr", "ssim", "rgb_to_y", "quantize"]
