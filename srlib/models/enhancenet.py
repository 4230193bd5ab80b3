"""EnhanceNet generator, x4.

Sajjadi, Schölkopf, Hirsch, "EnhanceNet: Single Image Super-Resolution Through Automated Texture
Synthesis", ICCV 2017, Sec. 3 and Table 1 (the network: 10 residual blocks at LR resolution, nearest-
neighbour upsampling + conv instead of transposed convolutions, the bicubic interpolation of the input
added to the output so the network learns a residual).

Structure: conv3 3->64 + ReLU; 10 x [conv3 -> ReLU -> conv3, + x] (no BN); 2 x [nearest x2 -> conv3 ->
ReLU]; conv3 -> ReLU -> conv3 64->3; + bicubic x4 upsampling of the input.

Parameters (trainable = all): 852,867 at the defaults (the "852K" the papers print).

Units and assumptions: input and output are RGB in [0, 1], not clamped (the original TensorFlow code is not
public in a form we use). The bicubic branch is ``F.interpolate(mode="bicubic", align_corners=False)``
(Keys a = -0.75), differentiable and exportable; the paper does not say which bicubic it used, and the
difference from MATLAB's a = -0.5 kernel is a small change to a fixed skip the network learns around.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from srlib.models import register
from srlib.models.common import conv


class ResidualBlock(nn.Module):
    """conv3 -> ReLU -> conv3, + x."""

    def __init__(self, num_feat: int):
        super().__init__()
        self.body = nn.Sequential(conv(num_feat, num_feat, 3), nn.ReLU(inplace=True), conv(num_feat, num_feat, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


@register("enhancenet")
class EnhanceNet(nn.Module):
    """EnhanceNet generator at x4; defaults build the published 10-block, 64-channel model."""

    scale = 4

    def __init__(self, num_feat: int = 64, num_block: int = 10):
        super().__init__()
        self.head = nn.Sequential(conv(3, num_feat, 3), nn.ReLU(inplace=True))
        self.body = nn.Sequential(*[ResidualBlock(num_feat) for _ in range(num_block)])
        self.up1 = conv(num_feat, num_feat, 3)
        self.up2 = conv(num_feat, num_feat, 3)
        self.tail = nn.Sequential(conv(num_feat, num_feat, 3), nn.ReLU(inplace=True), conv(num_feat, 3, 3))
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        feat = self.body(self.head(x))
        feat = self.relu(self.up1(F.interpolate(feat, scale_factor=2, mode="nearest")))
        feat = self.relu(self.up2(F.interpolate(feat, scale_factor=2, mode="nearest")))
        base = F.interpolate(x, size=(4 * h, 4 * w), mode="bicubic", align_corners=False)
        return self.tail(feat) + base
