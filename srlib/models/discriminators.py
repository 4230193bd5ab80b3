"""Discriminators: ESRGAN's and SRGAN's VGG-style nets, pix2pix PatchGAN, MFAGAN's PatchGAN.

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
* ``patchgan_mfagan`` — MFAGAN's 7-layer BN-free PatchGAN (Sec. 3.3), with the features its
  discriminator distillation uses (Sec. 3.4, Eq. 4). 1,749,825 parameters at ``num_feat=64``.

TPSR's discriminator search space (``tpsr_d``) is TPSR's own contribution and lives in its package,
:mod:`srlib.tpsr.discriminator`; it follows the same input / output convention.
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


# ----------------------------------------------------------------------------------------------------------
@register("patchgan_mfagan")
class MFAGANPatchDiscriminator(nn.Module):
    """MFAGAN's discriminator: "a 7-layer fully convolutional" PatchGAN, "each convolutional layer is followed
    by a leaky ReLU", "all BN layers are removed" (Sec. 3.3); its layers 2, 4, 6 feed the discriminator
    distillation loss (Sec. 3.4 "outputs of every two convolution layers ... t2, t4, t6"; Eq. 4).

    Our reading of "7-layer" (an assumption; the paper gives no widths, kernels or strides):
    three stages of [conv3 s1, conv4 s2] followed by a conv3 s1 -> 1 output conv::

        L1 conv3 s1 3->nf   L2 conv4 s2 nf->nf     (t2, H/2)
        L3 conv3 s1 nf->2nf L4 conv4 s2 2nf->2nf   (t4, H/4)
        L5 conv3 s1 2nf->4nf L6 conv4 s2 4nf->4nf  (t6, H/8)
        L7 conv3 s1 4nf->1  (logits, H/8)

    Why this reading and not pix2pix's NLayerDiscriminator with 7 convs (n_layers = 5):
    (1) the distillation taps t2, t4, t6 then fall at the end of each stage (the scale changes), so "every
    two convolution layers" picks one feature map per scale; (2) it is ESRGAN's discriminator (Sec. 4.3
    compares against it) with the BN and the fully connected head removed, which is what Sec. 3.3 describes
    as replacing it; (3) on 128x128 HR patches it yields a 16x16 map of logits with a 52x52 receptive field,
    a truly local patch model ("only models local patches", Sec. 3.3), whereas 7 pix2pix convs leave a 2x2 map
    whose receptive field exceeds the patch; (4) it has fewer parameters than ESRGAN's (1.75M vs 14.5M at
    nf = 64), as Sec. 3.3 states. Every conv has a bias (no BN) and LReLU(0.2) follows L1-L6; L7 is the
    logit layer and has no activation (a LReLU on the logits would only rescale negative scores).
    ``return_features`` returns the post-activation outputs of L2, L4, L6 (widths nf, 2nf, 4nf). Table 1
    uses nf = 64 (teacher), 48 and 32 (students).
    """

    def __init__(self, num_feat: int = 64, in_channels: int = 3):
        super().__init__()
        nf = num_feat
        specs = [(in_channels, nf, 3, 1), (nf, nf, 4, 2), (nf, 2 * nf, 3, 1), (2 * nf, 2 * nf, 4, 2),
                 (2 * nf, 4 * nf, 3, 1), (4 * nf, 4 * nf, 4, 2)]
        self.layers = nn.ModuleList(
            nn.Sequential(nn.Conv2d(ci, co, k, s, 1), _lrelu()) for ci, co, k, s in specs)
        self.last = conv(4 * nf, 1, 3)

    #: 1-based indices of the layers whose outputs ``return_features`` gives (Sec. 3.4).
    feature_layers = (2, 4, 6)

    def forward(self, x: torch.Tensor, return_features: bool = False):
        feats = []
        for i, layer in enumerate(self.layers, start=1):
            x = layer(x)
            if i in self.feature_layers:
                feats.append(x)
        out = self.last(x)
        return (out, feats) if return_features else out


__all__: Sequence[str] = (
    "ESRGANDiscriminator", "SRGANDiscriminator", "PatchGANDiscriminator", "MFAGANPatchDiscriminator",
)
