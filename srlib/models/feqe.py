"""FEQE generator (Fast and Efficient Quality Enhancement), x4.

Vu, Van Nguyen, Pham, Luu, Yoo, "Fast and Efficient Image Quality Enhancement via Desubpixel Convolutional
Neural Networks", ECCV Workshops (PIRM) 2018, Sec. 3 and Fig. 2-3 (desubpixel downsampling, residual body
at low resolution, sub-pixel upsampling, global residual on the bicubic-upsampled input).

Structure (the authors' TensorFlow code, model ``desubpixel`` / ``resnet`` body / ``subpixel``):

* The network's input is the bicubic x4 upsampling of the LR image. This module does that upsampling
  itself, so ``forward`` still takes the LR image like every other generator in the zoo.
* Internal units: ``z = (x - 0.5) * 255`` (the authors' NormalizeLayer); output ``out / 255 + 0.5``.
* space-to-depth(2) -> conv1 12->4 -> space-to-depth(2): 16 channels at LR size;
  20 x [conv3 -> ReLU -> conv3, + x]; conv3 (no skip around the body);
  conv1 16->64 -> PixelShuffle(2) -> conv1 16->12 -> PixelShuffle(2); + ``z`` (global residual).

Parameters (trainable = all): 96,464 at the defaults (the "96K" the papers print).

Assumptions and deviations:

* Output clipping: the authors clip the output to [0, 1] inside the graph. The suite's convention is an
  unclamped output (evaluation clamps), so ``clip=False`` by default; ``clip=True`` restores the original.
* Bicubic: the authors feed images resized by ``scipy.misc.imresize`` (PIL bicubic, a = -0.5) on uint8
  data; here ``F.interpolate(mode="bicubic", align_corners=False)`` (a = -0.75) on floats, which is
  differentiable and exportable.
* Channel order of space-to-depth / depth-to-space: PyTorch's ``pixel_unshuffle`` / ``pixel_shuffle``
  (channel-major) instead of TensorFlow's ``space_to_depth`` (position-major). The two differ by a fixed
  permutation of the adjacent 1x1 conv's weights, so the function class is identical; TensorFlow weights
  would need that permutation.
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


@register("feqe")
class FEQE(nn.Module):
    """FEQE at x4; defaults build the published 16-channel, 20-block model. Input: the LR image."""

    scale = 4

    def __init__(self, num_feat: int = 16, num_block: int = 20, clip: bool = False):
        super().__init__()
        if num_feat % 4:
            raise ValueError("num_feat must be a multiple of 4 (space-to-depth after a num_feat/4 conv)")
        self.clip = clip
        self.down_conv = conv(12, num_feat // 4, 1)
        self.body = nn.Sequential(*[ResidualBlock(num_feat) for _ in range(num_block)],
                                  conv(num_feat, num_feat, 3))
        self.up_conv1 = conv(num_feat, num_feat * 4, 1)
        self.up_conv2 = conv(num_feat, 12, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        bic = F.interpolate(x, size=(4 * h, 4 * w), mode="bicubic", align_corners=False)
        z = (bic - 0.5) * 255.0
        feat = F.pixel_unshuffle(self.down_conv(F.pixel_unshuffle(z, 2)), 2)
        feat = self.body(feat)
        res = F.pixel_shuffle(self.up_conv2(F.pixel_shuffle(self.up_conv1(feat), 2)), 2)
        out = (res + z) / 255.0 + 0.5
        return out.clamp(0.0, 1.0) if self.clip else out
