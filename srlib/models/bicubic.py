"""Bicubic interpolation as a model: the baseline row of every SR table (MATLAB ``imresize``)."""
from __future__ import annotations

import torch
import torch.nn as nn

from srlib.data.imresize import imresize
from srlib.models import register


@register("bicubic")
class Bicubic(nn.Module):
    """Upscale by ``scale`` with MATLAB-compatible bicubic; no parameters."""

    def __init__(self, scale: int = 4):
        super().__init__()
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return imresize(x, float(self.scale))
