"""ESRGAN generator (RRDBNet), x4.

Wang, Yu, Wu, Gu, Liu, Dong, Qiao, Loy, "ESRGAN: Enhanced Super-Resolution Generative Adversarial
Networks", ECCV Workshops 2018, Sec. 3.1 and Fig. 3-4 (Residual-in-Residual Dense Block, residual scaling
0.2, BN removed). The teacher of MFAGAN and AGD, and the "large model" row of every paper's table.

Structure (shared/notes/architectures.md):

* ``conv_first`` conv3 3->64; ``body`` = 23 RRDB; ``conv_body`` conv3 64->64; + ``conv_first`` output.
* Upsampler: 2 x [nearest x2 -> conv3 64->64 -> LReLU(0.2)], then ``conv_hr`` conv3 -> LReLU(0.2) ->
  ``conv_last`` conv3 64->3.
* RRDB = 3 residual dense blocks, ``out * 0.2 + x``. A dense block has 5 conv3: conv i sees the block input
  concatenated with every earlier conv output (growth 32); LReLU(0.2) after convs 1-4; conv 5 returns to 64
  channels; ``conv5 * 0.2 + x``.

Parameters (trainable = all): 16,697,987 at the defaults. MFAGAN prints 16.67M (a rounding slip).

Units: input and output are RGB in [0, 1] (as in the authors' code); the output is not clamped.

Initialisation (the paper's Sec. 4.1 "smaller initialization"): the dense-block convs get Kaiming-normal
weights scaled by 0.1 and zero bias, as in the authors' code; every other conv keeps PyTorch's default.

State-dict keys follow BasicSR's renamed layout (``conv_first``, ``body.N.rdbK.convJ``, ``conv_body``,
``conv_up1/2``, ``conv_hr``, ``conv_last``). :func:`convert_original_state_dict` maps the authors' original
checkpoint names (``RRDB_trunk``, ``RDB1``, ``trunk_conv``, ``upconv1``, ``HRconv``) onto these.
"""
from __future__ import annotations

import re

import torch
import torch.nn as nn
import torch.nn.functional as F

from srlib.models import register
from srlib.models.common import conv


class ResidualDenseBlock(nn.Module):
    """Five densely connected conv3 layers; output ``conv5 * 0.2 + x``."""

    def __init__(self, num_feat: int = 64, num_grow_ch: int = 32):
        super().__init__()
        g = num_grow_ch
        self.conv1 = conv(num_feat, g, 3)
        self.conv2 = conv(num_feat + g, g, 3)
        self.conv3 = conv(num_feat + 2 * g, g, 3)
        self.conv4 = conv(num_feat + 3 * g, g, 3)
        self.conv5 = conv(num_feat + 4 * g, num_feat, 3)
        self.lrelu = nn.LeakyReLU(0.2, inplace=True)
        for m in (self.conv1, self.conv2, self.conv3, self.conv4, self.conv5):
            nn.init.kaiming_normal_(m.weight)
            m.weight.data.mul_(0.1)
            nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = self.lrelu(self.conv1(x))
        x2 = self.lrelu(self.conv2(torch.cat((x, x1), 1)))
        x3 = self.lrelu(self.conv3(torch.cat((x, x1, x2), 1)))
        x4 = self.lrelu(self.conv4(torch.cat((x, x1, x2, x3), 1)))
        x5 = self.conv5(torch.cat((x, x1, x2, x3, x4), 1))
        return x5 * 0.2 + x


class RRDB(nn.Module):
    """Residual-in-residual dense block: three dense blocks, ``out * 0.2 + x``."""

    def __init__(self, num_feat: int = 64, num_grow_ch: int = 32):
        super().__init__()
        self.rdb1 = ResidualDenseBlock(num_feat, num_grow_ch)
        self.rdb2 = ResidualDenseBlock(num_feat, num_grow_ch)
        self.rdb3 = ResidualDenseBlock(num_feat, num_grow_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rdb3(self.rdb2(self.rdb1(x))) * 0.2 + x


@register("esrgan")
class RRDBNet(nn.Module):
    """ESRGAN generator at x4. Defaults build the published model (23 RRDB, 64 channels, growth 32)."""

    scale = 4

    def __init__(self, num_in_ch: int = 3, num_out_ch: int = 3, num_feat: int = 64, num_block: int = 23,
                 num_grow_ch: int = 32):
        super().__init__()
        self.conv_first = conv(num_in_ch, num_feat, 3)
        self.body = nn.Sequential(*[RRDB(num_feat, num_grow_ch) for _ in range(num_block)])
        self.conv_body = conv(num_feat, num_feat, 3)
        self.conv_up1 = conv(num_feat, num_feat, 3)
        self.conv_up2 = conv(num_feat, num_feat, 3)
        self.conv_hr = conv(num_feat, num_feat, 3)
        self.conv_last = conv(num_feat, num_out_ch, 3)
        self.lrelu = nn.LeakyReLU(0.2, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feat = self.conv_first(x)
        feat = feat + self.conv_body(self.body(feat))
        feat = self.lrelu(self.conv_up1(F.interpolate(feat, scale_factor=2, mode="nearest")))
        feat = self.lrelu(self.conv_up2(F.interpolate(feat, scale_factor=2, mode="nearest")))
        return self.conv_last(self.lrelu(self.conv_hr(feat)))


_ORIGINAL_KEYS = (
    (r"^RRDB_trunk\.", "body."),
    (r"\.RDB([123])\.", r".rdb\1."),
    (r"^trunk_conv\.", "conv_body."),
    (r"^upconv([12])\.", r"conv_up\1."),
    (r"^HRconv\.", "conv_hr."),
)


def convert_original_state_dict(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename the keys of an authors' ESRGAN checkpoint (``RRDB_ESRGAN_x4.pth``) to this module's keys."""
    out = {}
    for k, v in state.items():
        for pat, rep in _ORIGINAL_KEYS:
            k = re.sub(pat, rep, k)
        out[k] = v
    return out
