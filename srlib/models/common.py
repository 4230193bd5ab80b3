"""Small building blocks shared by several architectures."""
from __future__ import annotations

import torch
import torch.nn as nn


class CCALayer(nn.Module):
    """Contrast-aware channel attention (IMDN, Hui et al. 2019, Sec. 3.2; reused by MFAGAN's CFAB).

    Contrast = population standard deviation over H x W + mean over H x W (no epsilon); then
    conv1 C->C/r (bias) -> ReLU -> conv1 C/r->C (bias) -> sigmoid; output ``x * attention``.
    """

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        hidden = max(1, channels // reduction)
        self.conv_du = nn.Sequential(
            nn.Conv2d(channels, hidden, 1, bias=True), nn.ReLU(inplace=True),
            nn.Conv2d(hidden, channels, 1, bias=True), nn.Sigmoid())

    @staticmethod
    def contrast(x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(dim=(2, 3), keepdim=True)
        std = (x - mean).pow(2).mean(dim=(2, 3), keepdim=True).sqrt()
        return std + mean

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.conv_du(self.contrast(x))


def conv(c_in: int, c_out: int, k: int, stride: int = 1, bias: bool = True, groups: int = 1) -> nn.Conv2d:
    """k x k convolution with 'same' padding k//2."""
    return nn.Conv2d(c_in, c_out, k, stride=stride, padding=k // 2, bias=bias, groups=groups)
