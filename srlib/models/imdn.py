"""IMDN (Information Multi-Distillation Network), x4.

Hui, Gao, Yang, Wang, "Lightweight Image Super-Resolution with Information Multi-distillation Network",
ACM Multimedia 2019, Sec. 3.1-3.3 and Fig. 2-3 (IMDB with progressive refinement, contrast-aware channel
attention, adaptive cropping strategy is not part of the network).

Structure:

* conv3 3->64; 6 IMDB; concatenate the 6 block outputs (384) -> conv1 -> 64 -> LReLU(0.05) -> conv3;
  + the first conv's output; conv3 64->48 -> PixelShuffle(4).
* IMDB(64): c1 conv3 64->64 + LReLU(0.05), split 16 distilled / 48 onward; c2, c3 conv3 48->64 + LReLU,
  same split; c4 conv3 48->16 (no activation); concat the four distilled parts (64) -> CCA
  (:class:`srlib.models.common.CCALayer`, reduction 16) -> conv1 64->64; + the block input.

Parameters (trainable = all): 715,176 at the defaults (the "715K" the papers print).

Units: input and output RGB in [0, 1] (the authors divide images by 255), not clamped.
Knobs: ``num_feat`` (multiple of 4: a quarter is distilled at each step) and ``num_block``.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from srlib.models import register
from srlib.models.common import CCALayer, conv


class IMDB(nn.Module):
    """Information multi-distillation block (distillation rate 1/4)."""

    def __init__(self, num_feat: int = 64):
        super().__init__()
        self.distilled = num_feat // 4
        self.remaining = num_feat - self.distilled
        self.c1 = conv(num_feat, num_feat, 3)
        self.c2 = conv(self.remaining, num_feat, 3)
        self.c3 = conv(self.remaining, num_feat, 3)
        self.c4 = conv(self.remaining, self.distilled, 3)
        self.act = nn.LeakyReLU(0.05, inplace=True)
        self.cca = CCALayer(self.distilled * 4)
        self.c5 = conv(self.distilled * 4, num_feat, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        split = (self.distilled, self.remaining)
        d1, r1 = torch.split(self.act(self.c1(x)), split, dim=1)
        d2, r2 = torch.split(self.act(self.c2(r1)), split, dim=1)
        d3, r3 = torch.split(self.act(self.c3(r2)), split, dim=1)
        d4 = self.c4(r3)
        out = torch.cat((d1, d2, d3, d4), dim=1)
        return self.c5(self.cca(out)) + x


@register("imdn")
class IMDN(nn.Module):
    """IMDN at x4; defaults build the published 6-block, 64-channel model."""

    scale = 4

    def __init__(self, num_feat: int = 64, num_block: int = 6):
        super().__init__()
        if num_feat % 4:
            raise ValueError("num_feat must be a multiple of 4")
        self.fea_conv = conv(3, num_feat, 3)
        self.blocks = nn.ModuleList([IMDB(num_feat) for _ in range(num_block)])
        self.fuse = nn.Sequential(conv(num_feat * num_block, num_feat, 1), nn.LeakyReLU(0.05, inplace=True))
        self.lr_conv = conv(num_feat, num_feat, 3)
        self.upsampler = nn.Sequential(conv(num_feat, 3 * 16, 3), nn.PixelShuffle(4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        fea = self.fea_conv(x)
        outs, h = [], fea
        for block in self.blocks:
            h = block(h)
            outs.append(h)
        body = self.lr_conv(self.fuse(torch.cat(outs, dim=1))) + fea
        return self.upsampler(body)
