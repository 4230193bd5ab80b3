"""CARN and CARN-M (Cascading Residual Network), x4.

Ahn, Kang, Sohn, "Fast, Accurate, and Lightweight Super-Resolution with Cascading Residual Network",
ECCV 2018, Sec. 3.1-3.3 and Fig. 2-3 (cascading blocks, efficient residual units with group convolution
and recursive sharing for CARN-M). AdaSR's main example.

Structure (both): ``sub_mean`` -> conv3 3->64 -> 3 cascading blocks; after block i, concat [input, b1..bi]
-> conv1 -> 64 + ReLU -> upsampler -> conv3 64->3 -> ``add_mean``. Each cascading block does the same
cascade internally over 3 residual units (concat [block input, u1..ui] -> conv1 + ReLU).

* CARN unit: conv3 -> ReLU -> conv3, + x, ReLU (3 independent units per block).
* CARN-M unit (efficient residual block): grouped conv3 (g=4) -> ReLU -> grouped conv3 -> ReLU -> conv1,
  + x, ReLU; ONE unit per block, applied 3 times (recursive weight sharing). The 1x1 fusion convs, entry
  and exit convs are dense; the upsampler's 3x3 convs are grouped (g=4) in CARN-M.
* Upsampler x4 = 2 x [conv3 64->256 -> ReLU -> PixelShuffle(2)]; x3 = conv3 64->576 -> ReLU ->
  PixelShuffle(3); x2 = one x4 stage.

``multi_scale``: the authors train one multi-scale model holding x2, x3 and x4 upsamplers and print the
parameter count of that whole model. ``multi_scale=False`` (default) builds only the x4 upsampler (what an
x4 deployment or an x4 latency measurement runs); ``multi_scale=True`` builds all three so the printed
counts can be checked; ``forward`` uses the x4 branch unless ``scale`` is given.

Parameters (trainable, i.e. without the 2 x 12 frozen mean-shift parameters):

| model  | x4 only (default) | multi_scale=True | printed |
|--------|-------------------|------------------|---------|
| CARN   | 1,111,875         | 1,591,939        | 1,592K = the multi-scale model |
| CARN-M | 294,147           | 414,787          | 412K = the multi-scale model's weights without biases (412,032) |

Units: the authors' code works on [0, 1] tensors (``ToTensor``; ``sample.py`` multiplies the output by
255 to save it), and its mean shift is in [0, 1] units (DIV2K mean 0.4488, 0.4371, 0.4040). So no
0-255 conversion is needed: input and output are RGB in [0, 1], not clamped. The mean shifts are frozen
1x1 convs (``requires_grad=False``), as in the authors' code.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from srlib.models import register
from srlib.models.common import MeanShift, conv


class ResidualUnit(nn.Module):
    """CARN residual unit: conv3 -> ReLU -> conv3, + x, ReLU."""

    def __init__(self, num_feat: int):
        super().__init__()
        self.body = nn.Sequential(conv(num_feat, num_feat, 3), nn.ReLU(inplace=True), conv(num_feat, num_feat, 3))
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.body(x) + x)


class EfficientResidualUnit(nn.Module):
    """CARN-M unit: grouped conv3 -> ReLU -> grouped conv3 -> ReLU -> conv1, + x, ReLU."""

    def __init__(self, num_feat: int, group: int):
        super().__init__()
        self.body = nn.Sequential(
            conv(num_feat, num_feat, 3, groups=group), nn.ReLU(inplace=True),
            conv(num_feat, num_feat, 3, groups=group), nn.ReLU(inplace=True),
            conv(num_feat, num_feat, 1))
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.body(x) + x)


def _fusions(num_feat: int, n: int) -> nn.ModuleList:
    """conv1 (i+2)*C -> C + ReLU for i = 0..n-1 (the cascading 1x1 convs)."""
    return nn.ModuleList(
        nn.Sequential(conv(num_feat * (i + 2), num_feat, 1), nn.ReLU(inplace=True)) for i in range(n))


class CascadingBlock(nn.Module):
    """Local cascade over ``num_unit`` residual units (shared recursively when ``mobile``)."""

    def __init__(self, num_feat: int, num_unit: int, mobile: bool, group: int):
        super().__init__()
        self.num_unit = num_unit
        self.mobile = mobile
        if mobile:
            self.unit = EfficientResidualUnit(num_feat, group)
        else:
            self.units = nn.ModuleList(ResidualUnit(num_feat) for _ in range(num_unit))
        self.fuse = _fusions(num_feat, num_unit)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        cat, o = x, x
        for i in range(self.num_unit):
            b = self.unit(o) if self.mobile else self.units[i](o)
            cat = torch.cat((cat, b), dim=1)
            o = self.fuse[i](cat)
        return o


def _upsampler(num_feat: int, scale: int, group: int) -> nn.Sequential:
    if scale in (2, 4):
        layers = []
        for _ in range(scale // 2):
            layers += [conv(num_feat, 4 * num_feat, 3, groups=group), nn.ReLU(inplace=True), nn.PixelShuffle(2)]
        return nn.Sequential(*layers)
    if scale == 3:
        return nn.Sequential(conv(num_feat, 9 * num_feat, 3, groups=group), nn.ReLU(inplace=True),
                             nn.PixelShuffle(3))
    raise ValueError(f"unsupported scale {scale}")


class CARN(nn.Module):
    """CARN (``mobile=False``) or CARN-M (``mobile=True``, ``group=4``) at x4."""

    scale = 4

    def __init__(self, num_feat: int = 64, num_block: int = 3, num_unit: int = 3, mobile: bool = False,
                 group: int = 1, multi_scale: bool = False):
        super().__init__()
        self.multi_scale = multi_scale
        self.num_block = num_block
        self.sub_mean = MeanShift(rgb_range=1.0, sign=-1)
        self.entry = conv(3, num_feat, 3)
        self.blocks = nn.ModuleList(CascadingBlock(num_feat, num_unit, mobile, group) for _ in range(num_block))
        self.fuse = _fusions(num_feat, num_block)
        scales = (2, 3, 4) if multi_scale else (4,)
        self.upsample = nn.ModuleDict({f"x{s}": _upsampler(num_feat, s, group) for s in scales})
        self.exit = conv(num_feat, 3, 3)
        self.add_mean = MeanShift(rgb_range=1.0, sign=1)

    def forward(self, x: torch.Tensor, scale: int = 4) -> torch.Tensor:
        """``scale`` picks the upsampler branch (2 or 3 only with ``multi_scale=True``); default x4."""
        x = self.entry(self.sub_mean(x))
        cat, o = x, x
        for i in range(self.num_block):
            cat = torch.cat((cat, self.blocks[i](o)), dim=1)
            o = self.fuse[i](cat)
        out = self.upsample[f"x{scale}"](o)
        return self.add_mean(self.exit(out))


@register("carn")
def carn(num_feat: int = 64, num_block: int = 3, num_unit: int = 3, multi_scale: bool = False) -> CARN:
    """CARN: 3 cascading blocks x 3 residual units, 64 channels."""
    return CARN(num_feat, num_block, num_unit, mobile=False, group=1, multi_scale=multi_scale)


@register("carn_m")
def carn_m(num_feat: int = 64, num_block: int = 3, num_unit: int = 3, group: int = 4,
           multi_scale: bool = False) -> CARN:
    """CARN-M: efficient residual units (group 4) shared recursively within each block."""
    return CARN(num_feat, num_block, num_unit, mobile=True, group=group, multi_scale=multi_scale)
