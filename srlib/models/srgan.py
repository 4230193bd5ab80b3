"""SRGAN generator (SRResNet), x4.

Ledig, Theis, Huszar, Caballero, Cunningham, Acosta, Aitken, Tejani, Totz, Wang, Shi, "Photo-Realistic
Single Image Super-Resolution Using a Generative Adversarial Network", CVPR 2017, Sec. 2.2 and Fig. 4
(generator: B = 16 residual blocks, 64 channels, BN, PReLU, two sub-pixel x2 stages, 9x9 first and last
convolutions).

Structure: conv9 3->64 + PReLU; 16 x [conv3 -> BN -> PReLU -> conv3 -> BN, + x]; conv3 -> BN, + the first
conv's output; 2 x [conv3 64->256 -> PixelShuffle(2) -> PReLU]; conv9 64->3 -> tanh.

Parameters (trainable; BN running statistics are buffers, not counted):

* ``prelu_per_channel=False`` (default): every PReLU has one slope -> 1,549,462, the "1.55M" that MFAGAN
  prints. Keras/TensorLayer ports often share one slope; PyTorch's ``nn.PReLU()`` default is also one.
* ``prelu_per_channel=True``: one slope per channel (as Fig. 4's PReLU is usually read in PyTorch ports)
  -> 1,550,659. TPSR's 1,513K fits neither variant (see architectures.md).

Units (assumption where the paper leaves the model boundary open): Sec. 3.2 scales LR inputs to [0, 1]
and HR targets to [-1, 1], so the last conv is followed by tanh. This module takes the suite's [0, 1]
input unchanged and maps the tanh output back to [0, 1] with ``(t + 1) / 2`` inside ``forward``, so the
output is in [0, 1] like every other generator here (bounded by construction, not clamped).
"""
from __future__ import annotations

import torch
import torch.nn as nn

from srlib.models import register
from srlib.models.common import conv


def _prelu(channels: int, per_channel: bool) -> nn.PReLU:
    return nn.PReLU(channels if per_channel else 1)


class ResidualBlockBN(nn.Module):
    """conv3 -> BN -> PReLU -> conv3 -> BN, + x."""

    def __init__(self, num_feat: int, per_channel: bool):
        super().__init__()
        self.body = nn.Sequential(
            conv(num_feat, num_feat, 3), nn.BatchNorm2d(num_feat), _prelu(num_feat, per_channel),
            conv(num_feat, num_feat, 3), nn.BatchNorm2d(num_feat))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


@register("srgan")
class SRResNet(nn.Module):
    """SRGAN generator at x4; defaults build the published 16-block, 64-channel model (one PReLU slope)."""

    scale = 4

    def __init__(self, num_feat: int = 64, num_block: int = 16, prelu_per_channel: bool = False):
        super().__init__()
        pc = prelu_per_channel
        self.head = nn.Sequential(conv(3, num_feat, 9), _prelu(num_feat, pc))
        self.body = nn.Sequential(*[ResidualBlockBN(num_feat, pc) for _ in range(num_block)])
        self.body_tail = nn.Sequential(conv(num_feat, num_feat, 3), nn.BatchNorm2d(num_feat))
        self.upsample = nn.Sequential(
            conv(num_feat, num_feat * 4, 3), nn.PixelShuffle(2), _prelu(num_feat, pc),
            conv(num_feat, num_feat * 4, 3), nn.PixelShuffle(2), _prelu(num_feat, pc))
        self.tail = conv(num_feat, 3, 9)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feat = self.head(x)
        feat = feat + self.body_tail(self.body(feat))
        t = torch.tanh(self.tail(self.upsample(feat)))
        return (t + 1.0) / 2.0  # tanh's [-1, 1] (the paper's HR range) -> the suite's [0, 1]
