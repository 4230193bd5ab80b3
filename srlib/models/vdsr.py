"""VDSR (Kim, Lee, Lee, "Accurate Image Super-Resolution Using Very Deep Convolutional Networks", CVPR 2016).

A row of AGD's README complexity table (699.36 GFLOPs, 2.67 MB). The paper (Sec. 3.1, Fig. 2): the LR
image is first interpolated to the HR size (MATLAB bicubic); 20 conv3x3 layers follow -- the first maps
the image to 64 channels, 18 map 64 -> 64, the last back to the image -- each but the last followed by a
ReLU; the network predicts the residual, added to the interpolated input. Weights: He et al.'s
initialisation (Sec. 4.1; biases 0 -- assumption, the paper does not name them).

assumption: RGB in and out (``num_channels=3``), like every model of the suite. VDSR as published works
on the luminance only (``num_channels=1``); AGD's 2.67 MB fits RGB (668,227 parameters = 2.673 MB; Y:
665,921 = 2.664 MB). MACs at a 256 x 256 LR input (the body runs at 1024 x 1024): 699.41 G, 700.69 G with
bias adds (AGD's convention: 0.19 % above their 699.36).

The upsampling is the suite's MATLAB bicubic (:func:`srlib.data.imresize.imresize`, 0 MACs). It reads index
values, which a meta tensor cannot give: on the meta device (the shape-only pass of
:func:`srlib.complexity.measure`) an empty tensor of the upscaled shape stands in for it, so MACs, the
conv-based memory definitions and parameters are those of the real model; only ``all_ops_io`` misses the
interpolation's elementwise traffic.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from srlib.data.imresize import imresize
from srlib.models import register
from srlib.models.common import conv

__all__ = ["VDSR"]


@register("vdsr")
class VDSR(nn.Module):
    """VDSR at ``scale`` (default x4): ``bicubic(x) + body(bicubic(x))``, ``num_layers`` conv3x3."""

    def __init__(self, scale: int = 4, num_channels: int = 3, num_feat: int = 64, num_layers: int = 20):
        super().__init__()
        if num_layers < 2:
            raise ValueError(f"VDSR needs at least 2 layers, got {num_layers}")
        self.scale = int(scale)
        layers: list[nn.Module] = [conv(num_channels, num_feat, 3), nn.ReLU(inplace=True)]
        for _ in range(num_layers - 2):
            layers += [conv(num_feat, num_feat, 3), nn.ReLU(inplace=True)]
        layers.append(conv(num_feat, num_channels, 3))
        self.body = nn.Sequential(*layers)
        for m in self.body:
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
                nn.init.zeros_(m.bias)

    def upsample(self, x: torch.Tensor) -> torch.Tensor:
        """MATLAB bicubic x ``scale`` (an empty tensor of that shape on the meta device; module docstring)."""
        if x.device.type == "meta":
            n, c, h, w = x.shape
            return x.new_empty(n, c, h * self.scale, w * self.scale)
        return imresize(x.contiguous(), float(self.scale))   # the resizer views NCHW-contiguous memory
        #                                                        (a channels_last batch from the training loop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        up = self.upsample(x)
        return up + self.body(up)
