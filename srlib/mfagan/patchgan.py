"""MFAGAN's discriminator: the 7-layer, BN-free PatchGAN of Sec. 3.3 with the features its distillation
uses (Sec. 3.4, Eq. 4). Registered as ``patchgan_mfagan``; 1,749,825 parameters at ``num_feat=64``.
MFAGAN's own network, so it lives in its paper's package (the shared zoo keeps pix2pix's ``patchgan``).
"""
from __future__ import annotations

import torch
import torch.nn as nn

from ..models import register
from ..models.common import conv


def _lrelu() -> nn.LeakyReLU:
    return nn.LeakyReLU(0.2, inplace=True)


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
