"""Discriminators of the reference models: ESRGAN's and SRGAN's VGG-style nets, pix2pix PatchGAN.

Every discriminator takes an RGB image batch (N, 3, H, W) at HR size, values in [0, 1], and returns raw
logits (no sigmoid): (N, 1) for the nets with a linear head, (N, 1, h, w) for the patch nets. The loss
(vanilla GAN, RaGAN, ...) is the trainer's business.

Registered names (structural facts: shared/notes/architectures.md):

* ``esrgan_d`` — ESRGAN's VGG-style discriminator for 128x128 (Wang et al. 2018; trained as RaGAN).
  14,499,401 parameters at the defaults.
* ``srgan_d`` — SRGAN's discriminator (Ledig et al. 2017, Fig. 4); the first Linear depends on the input
  size (512 x 6 x 6 for 96x96). 23,563,649 parameters at 96x96 with our bias convention (below).
* ``patchgan`` — pix2pix ``NLayerDiscriminator`` (Isola et al. 2017), n_layers = 3, 3-channel input, BN,
  no bias on the normed convs: 2,765,633 parameters.

The papers' own discriminators live in their packages and follow the same input / output convention:
MFAGAN's 7-layer PatchGAN (``patchgan_mfagan``, :mod:`srlib.mfagan.patchgan`) and TPSR's discriminator
search space (``tpsr_d``, :mod:`srlib.tpsr.discriminator`).
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn

from srlib.models import register
from srlib.models.common import conv


def _lrelu() -> nn.LeakyReLU:
    return nn.LeakyReLU(0.2, inplace=True)


def _halve(size: int, k: int, stride: int, pad: int) -> int:
    return (size + 2 * pad - k) // stride + 1


# ----------------------------------------------------------------------------------------------------------
@register("esrgan_d")
class ESRGANDiscriminator(nn.Module):
    """ESRGAN's VGG-style discriminator (BasicSR ``VGGStyleDiscriminator``, 128x128 input).

    conv3 3->nf (bias, no BN) -> LReLU(0.2); then five stages (widths nf, 2nf, 4nf, 8nf, 8nf) of
    [conv3 s1 -> BN -> LReLU, conv4 s2 -> BN -> LReLU] (the first stage has only its conv4 s2, whose input is
    the first conv); every conv after the first has no bias. Flatten (8nf x s/32 x s/32) -> Linear -> 100
    -> LReLU(0.2) -> Linear -> 1. 14,499,401 parameters at nf = 64, s = 128 (architectures.md,
    corrections). ``input_size`` must be a multiple of 32 (the head's width depends on it).
    """

    def __init__(self, num_feat: int = 64, input_size: int = 128, in_channels: int = 3):
        super().__init__()
        if input_size % 32:
            raise ValueError(f"esrgan_d needs an input size divisible by 32, got {input_size}")
        nf = num_feat
        self.input_size = input_size
        layers: list[nn.Module] = [conv(in_channels, nf, 3), _lrelu(),
                                   nn.Conv2d(nf, nf, 4, 2, 1, bias=False), nn.BatchNorm2d(nf), _lrelu()]
        c = nf
        for w in (2 * nf, 4 * nf, 8 * nf, 8 * nf):
            layers += [conv(c, w, 3, bias=False), nn.BatchNorm2d(w), _lrelu(),
                       nn.Conv2d(w, w, 4, 2, 1, bias=False), nn.BatchNorm2d(w), _lrelu()]
            c = w
        self.features = nn.Sequential(*layers)
        s = input_size // 32
        self.classifier = nn.Sequential(nn.Linear(c * s * s, 100), _lrelu(), nn.Linear(100, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-2:] != (self.input_size, self.input_size):
            raise ValueError(f"esrgan_d was built for {self.input_size}x{self.input_size}, got {tuple(x.shape[-2:])}")
        return self.classifier(torch.flatten(self.features(x), 1))


# ----------------------------------------------------------------------------------------------------------
@register("srgan_d")
class SRGANDiscriminator(nn.Module):
    """SRGAN's discriminator (Ledig et al. 2017, Fig. 4 bottom).

    Eight conv3 layers, widths nf, nf, 2nf, 2nf, 4nf, 4nf, 8nf, 8nf, strides 1, 2, 1, 2, ...; BN after all
    but the first; LReLU(0.2). Flatten -> Linear -> 1024 -> LReLU(0.2) -> Linear -> 1 (the paper's final
    sigmoid is left to the loss). The first Linear's width is 8nf x s' x s' with s' = the spatial size
    after four stride-2 convs (6 for the default 96x96 SRGAN crops).
    Assumption (the paper is silent): the BN-followed convs have no bias, as in ESRGAN's discriminator.
    23,563,649 parameters at nf = 64, 96x96 (18.9M of them in the first Linear); 128x128 gives 8x8 there.
    """

    def __init__(self, num_feat: int = 64, input_size: int = 96, in_channels: int = 3):
        super().__init__()
        nf = num_feat
        widths = (nf, nf, 2 * nf, 2 * nf, 4 * nf, 4 * nf, 8 * nf, 8 * nf)
        layers: list[nn.Module] = []
        c, s = in_channels, input_size
        for i, w in enumerate(widths):
            stride = 1 if i % 2 == 0 else 2
            layers.append(conv(c, w, 3, stride=stride, bias=(i == 0)))
            if i > 0:
                layers.append(nn.BatchNorm2d(w))
            layers.append(_lrelu())
            c, s = w, _halve(s, 3, stride, 1)
        self.input_size = input_size
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Linear(c * s * s, 1024), _lrelu(), nn.Linear(1024, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-2:] != (self.input_size, self.input_size):
            raise ValueError(f"srgan_d was built for {self.input_size}x{self.input_size}, got {tuple(x.shape[-2:])}")
        return self.classifier(torch.flatten(self.features(x), 1))


# ----------------------------------------------------------------------------------------------------------
@register("patchgan")
class PatchGANDiscriminator(nn.Module):
    """pix2pix ``NLayerDiscriminator`` (Isola et al. 2017, Sec. 3.2.2 / appendix 6.1.2: the 70x70 PatchGAN).

    conv4 s2 in->nf (bias) -> LReLU(0.2); for i = 1..n_layers-1: conv4 s2 (width nf * min(2^i, 8)) -> norm
    -> LReLU; conv4 s1 (nf * min(2^n, 8)) -> norm -> LReLU; conv4 s1 -> 1. Padding 1. Normed convs have no
    bias. n_layers = 3, 3 channels (an SR discriminator sees one image; pix2pix itself takes 6):
    2,765,633 parameters; a 128x128 input gives a 14x14 logit map. ``norm``: "batch" or "none".
    """

    def __init__(self, in_channels: int = 3, num_feat: int = 64, n_layers: int = 3, norm: str = "batch"):
        super().__init__()
        if norm not in ("batch", "none"):
            raise ValueError(f"norm must be 'batch' or 'none', got {norm!r}")
        use_bn = norm == "batch"

        def block(c_in: int, c_out: int, stride: int) -> list[nn.Module]:
            mods: list[nn.Module] = [nn.Conv2d(c_in, c_out, 4, stride, 1, bias=not use_bn)]
            if use_bn:
                mods.append(nn.BatchNorm2d(c_out))
            return mods + [_lrelu()]

        layers: list[nn.Module] = [nn.Conv2d(in_channels, num_feat, 4, 2, 1), _lrelu()]
        mult = 1
        for i in range(1, n_layers):
            prev, mult = mult, min(2 ** i, 8)
            layers += block(num_feat * prev, num_feat * mult, 2)
        prev, mult = mult, min(2 ** n_layers, 8)
        layers += block(num_feat * prev, num_feat * mult, 1)
        layers.append(nn.Conv2d(num_feat * mult, 1, 4, 1, 1))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


__all__: Sequence[str] = (
    "ESRGANDiscriminator", "SRGANDiscriminator", "PatchGANDiscriminator",
)
