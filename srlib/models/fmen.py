"""FMEN (Fast and Memory-Efficient Network), x4, deploy (re-parameterised) form.

Du, Liu, Liu, Tang, Wu, Fu, "Fast and Memory-Efficient Network Towards Efficient Image Super-Resolution",
CVPR Workshops (NTIRE 2022 efficient SR challenge), Sec. 3 and Fig. 2-4 (enhanced residual block ERB,
high-frequency attention block HFAB, sequential ERB/HFAB backbone to cut memory traffic).

Structure of the deploy form (what parameter and latency tables mean):

* ``head`` conv3 3->50; ``warmup`` = conv3 50->50 -> HFAB(mid 12, 2 ERBs);
  4 x [ERB(50) -> HFAB(mid 16, 1 ERB)]; ``lr_conv`` conv3 50->50; + head output;
  ``tail`` conv3 50->48 -> PixelShuffle(4).
* ERB(C) = conv3 -> LReLU(0.1) -> conv3 (its training-time residual and 1x1 branches are folded in).
* HFAB = LReLU(conv3 squeeze 50->mid) -> ERBs(mid) -> LReLU -> conv3 expand mid->50 -> sigmoid;
  output ``x * attention``.

The training form re-parameterises each conv3 (1x1 expand, 3x3, 1x1 reduce, identity) and adds BN; it is
not built here. Training the deploy form directly is a different optimisation problem with the same
function class — say so wherever this module stands in for a trained FMEN.

Parameters (trainable = all): 341,066 at the defaults.
Units: input and output RGB in [0, 1], not clamped (no mean shift in the deploy model).
Knobs: ``num_feat`` (50), ``num_block`` (4 ERB/HFAB pairs after the warm-up), ``mid_feat`` (16; the
warm-up HFAB uses ``mid_feat - 4``), ``up_blocks`` (ERBs inside each HFAB, warm-up first).
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn

from srlib.models import register
from srlib.models.common import conv


class ERB(nn.Module):
    """Enhanced residual block, deploy form: conv3 -> LReLU(0.1) -> conv3."""

    def __init__(self, num_feat: int, slope: float = 0.1):
        super().__init__()
        self.conv1 = conv(num_feat, num_feat, 3)
        self.conv2 = conv(num_feat, num_feat, 3)
        self.act = nn.LeakyReLU(slope, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.act(self.conv1(x)))


class HFAB(nn.Module):
    """High-frequency attention block: squeeze -> ERBs -> expand -> sigmoid mask on the input."""

    def __init__(self, num_feat: int, mid_feat: int, num_erb: int, slope: float = 0.1):
        super().__init__()
        self.squeeze = conv(num_feat, mid_feat, 3)
        self.convs = nn.Sequential(*[ERB(mid_feat, slope) for _ in range(num_erb)])
        self.excitate = conv(mid_feat, num_feat, 3)
        self.act = nn.LeakyReLU(slope, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.act(self.convs(self.act(self.squeeze(x))))
        return x * torch.sigmoid(self.excitate(a))


@register("fmen")
class FMEN(nn.Module):
    """FMEN (deploy form) at x4; defaults build the published NTIRE-2022 model."""

    scale = 4

    def __init__(self, num_feat: int = 50, num_block: int = 4, mid_feat: int = 16,
                 up_blocks: Sequence[int] = (2, 1, 1, 1, 1)):
        super().__init__()
        if len(up_blocks) != num_block + 1:
            raise ValueError("up_blocks needs num_block + 1 entries (the warm-up HFAB first)")
        self.head = conv(3, num_feat, 3)
        self.warmup = nn.Sequential(conv(num_feat, num_feat, 3), HFAB(num_feat, mid_feat - 4, up_blocks[0]))
        self.erbs = nn.ModuleList(ERB(num_feat) for _ in range(num_block))
        self.hfabs = nn.ModuleList(HFAB(num_feat, mid_feat, up_blocks[i + 1]) for i in range(num_block))
        self.lr_conv = conv(num_feat, num_feat, 3)
        self.tail = nn.Sequential(conv(num_feat, 3 * 16, 3), nn.PixelShuffle(4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.head(x)
        h = self.warmup(x)
        for erb, hfab in zip(self.erbs, self.hfabs):
            h = hfab(erb(h))
        return self.tail(self.lr_conv(h) + x)
