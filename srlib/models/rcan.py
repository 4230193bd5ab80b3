"""RCAN (Residual Channel Attention Network), x4.

Zhang, Li, Li, Wang, Zhong, Fu, "Image Super-Resolution Using Very Deep Residual Channel Attention
Networks", ECCV 2018, Sec. 3 and Fig. 2-4 (residual-in-residual: 10 residual groups x 20 RCAB, long and
short skips, channel attention with reduction 16). AdaSR's large reference model.

Structure (EDSR code base):

* ``sub_mean`` -> ``head`` conv3 3->64 -> ``body`` = 10 residual groups + conv3, + head output (long skip)
  -> ``tail`` = 2 x [conv3 64->256 -> PixelShuffle(2)] -> conv3 64->3 -> ``add_mean``.
* Residual group = 20 RCAB + conv3, + group input. RCAB = conv3 -> ReLU -> conv3 -> channel attention,
  + x. Channel attention = global average pool -> conv1 64->4 -> ReLU -> conv1 4->64 -> sigmoid, x * a.

Units: the original works on 0-255 pixel values with a mean shift of 255 x the DIV2K RGB mean (std 1).
``forward`` takes [0, 1] input, multiplies by 255, runs the network, and divides the output by 255, so the
interface is [0, 1] in and (roughly) [0, 1] out, not clamped.

Parameters: 15,592,379 in ``parameters()``, of which 24 are the two frozen mean-shift 1x1 convs
(``requires_grad=False``: 3x3 weight + 3 bias each); 15,592,355 trainable. "15.6M" in the papers.

The mean shifts are :class:`srlib.models.common.MeanShift` (shared with CARN and TPSR).
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn

from srlib.models import register
from srlib.models.common import MeanShift, conv


class CALayer(nn.Module):
    """Channel attention: avg pool -> conv1 C->C/r -> ReLU -> conv1 C/r->C -> sigmoid; x * attention."""

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.conv_du = nn.Sequential(
            conv(channels, channels // reduction, 1), nn.ReLU(inplace=True),
            conv(channels // reduction, channels, 1), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.conv_du(self.avg_pool(x))


class RCAB(nn.Module):
    """Residual channel attention block."""

    def __init__(self, num_feat: int, reduction: int):
        super().__init__()
        self.body = nn.Sequential(conv(num_feat, num_feat, 3), nn.ReLU(inplace=True), conv(num_feat, num_feat, 3),
                                  CALayer(num_feat, reduction))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ResidualGroup(nn.Module):
    """``num_block`` RCAB + conv3, with a short skip."""

    def __init__(self, num_feat: int, num_block: int, reduction: int):
        super().__init__()
        self.body = nn.Sequential(*[RCAB(num_feat, reduction) for _ in range(num_block)],
                                  conv(num_feat, num_feat, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


@register("rcan")
class RCAN(nn.Module):
    """RCAN at x4; defaults build the published 10 x 20 RCAB, 64-channel model."""

    scale = 4

    def __init__(self, num_feat: int = 64, num_group: int = 10, num_block: int = 20, reduction: int = 16,
                 rgb_range: float = 255.0):
        super().__init__()
        self.rgb_range = rgb_range
        self.sub_mean = MeanShift(rgb_range, sign=-1)
        self.head = nn.Sequential(conv(3, num_feat, 3))
        self.body = nn.Sequential(*[ResidualGroup(num_feat, num_block, reduction) for _ in range(num_group)],
                                  conv(num_feat, num_feat, 3))
        up = []
        for _ in range(int(math.log2(self.scale))):
            up += [conv(num_feat, 4 * num_feat, 3), nn.PixelShuffle(2)]
        self.tail = nn.Sequential(nn.Sequential(*up), conv(num_feat, 3, 3))
        self.add_mean = MeanShift(rgb_range, sign=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.head(self.sub_mean(x * self.rgb_range))  # [0, 1] -> the original's 0-255 units
        x = x + self.body(x)
        return self.add_mean(self.tail(x)) / self.rgb_range
