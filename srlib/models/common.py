"""Small building blocks shared by several architectures."""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn

#: DIV2K's RGB mean (EDSR / RCAN / CARN code), the default of :class:`MeanShift`.
DIV2K_RGB_MEAN = (0.4488, 0.4371, 0.4040)


class MeanShift(nn.Conv2d):
    """Frozen 1x1 conv adding (``sign=+1``) or subtracting (``sign=-1``) ``rgb_range * mean`` per channel.

    Weight = identity / std, bias = sign * rgb_range * mean / std. Both are ``nn.Parameter`` with
    ``requires_grad=False`` (as in the EDSR/RCAN and CARN code), so they appear in ``parameters()`` and in
    the state dict but are never trained.
    """

    def __init__(self, rgb_range: float = 255.0, mean: Sequence[float] = DIV2K_RGB_MEAN,
                 std: Sequence[float] = (1.0, 1.0, 1.0), sign: int = -1):
        super().__init__(3, 3, kernel_size=1)
        std_t = torch.tensor(std, dtype=torch.float32)
        with torch.no_grad():
            self.weight.copy_(torch.eye(3).view(3, 3, 1, 1) / std_t.view(3, 1, 1, 1))
            self.bias.copy_(sign * rgb_range * torch.tensor(mean, dtype=torch.float32) / std_t)
        for p in self.parameters():
            p.requires_grad = False


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
