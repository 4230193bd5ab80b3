"""RFDN (Residual Feature Distillation Network), x4 — the AIM-2020 variant (50 channels, 4 blocks).

Liu, Tang, Wu, "Residual Feature Distillation Network for Lightweight Image Super-Resolution", ECCV
Workshops (AIM 2020 efficient SR challenge), Sec. 3.2-3.3 and Fig. 3-4 (RFDB: feature distillation
connections, shallow residual blocks, ESA). ESA (enhanced spatial attention) is from Liu, Zhang, Gu, Liu,
"Residual Feature Aggregation Network for Image Super-Resolution", CVPR 2020, Sec. 3.3 / Fig. 4. MFAGAN's
MFAM starts from RFDB.

Structure:

* conv3 3->50; 4 RFDB; concat the 4 outputs -> conv1 -> 50 -> LReLU(0.05) -> conv3; + the first conv's
  output; conv3 50->48 -> PixelShuffle(4).
* RFDB(C): three steps, each a distilled branch (conv1 C->C/2 + LReLU(0.05)) and a refined branch (SRB:
  LReLU(conv3(x) + x)); then conv3 C->C/2 + LReLU; concat the four C/2 parts -> conv1 -> C -> ESA.
  No block-level residual.
* ESA(C), f = C // 4: conv1 C->f (= c1); strided conv3 (stride 2, no padding) -> max-pool 7, stride 3 ->
  conv3 + ReLU -> conv3 + ReLU -> conv3 -> bilinear resize back to H x W (align_corners False);
  + conv1 f->f of c1; conv1 f->C -> sigmoid; output ``x * mask``.

Parameters (trainable = all): 433,448 at the defaults. The paper's main RFDN (~550K parameters) is a
different configuration that the public code does not confirm; the AIM-2020 variant is the one that is
public and the one built here (``num_feat``/``num_block`` can build others).

Units: input and output RGB in [0, 1], not clamped.
Minimum input size: ESA's stride-2 conv followed by a 7x7 max-pool needs an LR input of at least 15 x 15
(the original has the same limit); smaller inputs raise a ValueError.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from srlib.models import register
from srlib.models.common import conv

MIN_INPUT = 15


class ESA(nn.Module):
    """Enhanced spatial attention (RFANet, Liu et al. 2020)."""

    def __init__(self, num_feat: int):
        super().__init__()
        f = num_feat // 4
        self.conv1 = conv(num_feat, f, 1)
        self.conv_f = conv(f, f, 1)
        self.conv_max = conv(f, f, 3)
        self.conv2 = nn.Conv2d(f, f, 3, stride=2, padding=0)
        self.conv3 = conv(f, f, 3)
        self.conv3_ = conv(f, f, 3)
        self.conv4 = conv(f, num_feat, 1)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        if h < MIN_INPUT or w < MIN_INPUT:
            raise ValueError(f"RFDN/ESA needs inputs of at least {MIN_INPUT}x{MIN_INPUT}, got {h}x{w}")
        c1_ = self.conv1(x)
        c1 = self.conv2(c1_)
        v = F.max_pool2d(c1, kernel_size=7, stride=3)
        v = self.relu(self.conv_max(v))
        c3 = self.conv3_(self.relu(self.conv3(v)))
        c3 = F.interpolate(c3, size=(h, w), mode="bilinear", align_corners=False)
        m = torch.sigmoid(self.conv4(c3 + self.conv_f(c1_)))
        return x * m


class RFDB(nn.Module):
    """Residual feature distillation block (distilled width C/2)."""

    def __init__(self, num_feat: int = 50):
        super().__init__()
        dc = num_feat // 2
        self.c1_d = conv(num_feat, dc, 1)
        self.c1_r = conv(num_feat, num_feat, 3)
        self.c2_d = conv(num_feat, dc, 1)
        self.c2_r = conv(num_feat, num_feat, 3)
        self.c3_d = conv(num_feat, dc, 1)
        self.c3_r = conv(num_feat, num_feat, 3)
        self.c4 = conv(num_feat, dc, 3)
        self.act = nn.LeakyReLU(0.05, inplace=True)
        self.c5 = conv(dc * 4, num_feat, 1)
        self.esa = ESA(num_feat)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        d1 = self.act(self.c1_d(x))
        r1 = self.act(self.c1_r(x) + x)
        d2 = self.act(self.c2_d(r1))
        r2 = self.act(self.c2_r(r1) + r1)
        d3 = self.act(self.c3_d(r2))
        r3 = self.act(self.c3_r(r2) + r2)
        r4 = self.act(self.c4(r3))
        return self.esa(self.c5(torch.cat((d1, d2, d3, r4), dim=1)))


@register("rfdn")
class RFDN(nn.Module):
    """RFDN at x4; defaults build the AIM-2020 model (50 channels, 4 RFDB)."""

    scale = 4

    def __init__(self, num_feat: int = 50, num_block: int = 4):
        super().__init__()
        self.fea_conv = conv(3, num_feat, 3)
        self.blocks = nn.ModuleList([RFDB(num_feat) for _ in range(num_block)])
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
