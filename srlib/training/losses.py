"""Losses shared by the GAN trainers: reconstruction, VGG perceptual, adversarial.

MFAGAN's objective (Eq. 1) is ``lambda1 L_recon + lambda2 L_DistillG + lambda3 L_DistillD + lambda4 L_percep
+ lambda5 L_G``; the distillation terms live in :mod:`srlib.training.distill`, the others here.

Reductions: every loss is a *mean* over all elements (batch, channels, pixels, patch-map entries), so its
size does not depend on the batch or the patch size. The papers' sums over samples (Eq. 2's 1/N sum, Eq. 5's
sum) differ from that by constant factors only.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..weights import WeightsUnavailable

__all__ = ["l1_loss", "mse_loss", "PerceptualLoss", "GANLoss", "GAN_KINDS", "WeightsUnavailable"]


def l1_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean absolute error: MFAGAN Eq. (2), ``L_recon = 1/N sum ||R(x_lr) - x_gt||_1`` (mean per element)."""
    return F.l1_loss(pred, target)


def mse_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error (per element)."""
    return F.mse_loss(pred, target)


_CRITERIA = {"l1": l1_loss, "mse": mse_loss}


class PerceptualLoss(nn.Module):
    """VGG19 feature loss, ``criterion(phi(sr), phi(hr))`` with ``phi`` = ``conv5_4`` before its ReLU.

    ESRGAN (Sec. 3.3) uses L1 on features "before activation"; MFAGAN Eq. (5) takes the same layer ("the
    fourth convolutional layer before the fifth max-pooling layer") with MSE. ``criterion``: "mse"
    (MFAGAN, the default) or "l1" (ESRGAN). The target's features are computed without gradient.

    The VGG19 is torchvision's ImageNet checkpoint loaded through :mod:`srlib.weights`; without it the
    constructor raises :class:`~srlib.weights.WeightsUnavailable` (never a random VGG). Ask
    :meth:`status` first to decide whether a run can use this term.
    """

    def __init__(self, criterion: str = "mse", layer: str = "conv5_4", before_activation: bool = True, *,
                 weights: str = "vgg19"):
        super().__init__()
        if criterion not in _CRITERIA:
            raise ValueError(f"criterion must be one of {sorted(_CRITERIA)}, got {criterion!r}")
        from .vgg import VGGFeatures  # raises WeightsUnavailable

        self.criterion = criterion
        self.vgg = VGGFeatures(layer, before_activation, weights=weights)

    @staticmethod
    def status(weights: str = "vgg19") -> tuple[bool, str]:
        """``(True, "")`` when the verified VGG19 weights are present, else ``(False, reason)``."""
        from ..weights import available

        return available(weights)

    def forward(self, sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            target = self.vgg(hr)
        return _CRITERIA[self.criterion](self.vgg(sr), target)

    def extra_repr(self) -> str:
        return f"criterion={self.criterion!r}"


class PixelStandIn(nn.Module):
    """The offline stand-in for :class:`PerceptualLoss`: ``criterion(sr, hr)`` on the pixels, i.e. the
    perceptual distance with an *identity* feature extractor. It is not a perceptual loss and is never
    called one: stages that use it record ``"stand-in: identity features ..."``.

    Why not drop the term: without it, the GAN recipes lose their content anchor -- ESRGAN's weights
    (L1 1e-2, adversarial 5e-3, perceptual 1) leave the adversarial gradient in charge and its generator
    collapses within a hundred iterations (measured at mini: 7-9 dB). Keeping the term's weight on a pixel
    distance keeps each recipe's balance between content and adversarial terms as close as offline allows.
    """

    def __init__(self, criterion: str = "mse"):
        super().__init__()
        if criterion not in _CRITERIA:
            raise ValueError(f"criterion must be one of {sorted(_CRITERIA)}, got {criterion!r}")
        self.criterion = criterion

    def forward(self, sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        return _CRITERIA[self.criterion](sr, hr)

    def extra_repr(self) -> str:
        return f"criterion={self.criterion!r}"


def perceptual_or_stand_in(criterion: str = "mse") -> tuple[nn.Module, str]:
    """``(loss, description)``: the VGG19 conv5_4 loss when its ImageNet weights are present, else the
    labelled :class:`PixelStandIn` with the reason (never a random VGG)."""
    ok, reason = PerceptualLoss.status()
    if ok:
        return PerceptualLoss(criterion=criterion), f"VGG19 conv5_4 before activation, {criterion.upper()}"
    return PixelStandIn(criterion), (f"stand-in: identity features (pixel-space {criterion.upper()}) at the "
                                     f"perceptual weight; VGG19 ImageNet weights unavailable ({reason})")


GAN_KINDS = ("vanilla", "ragan", "lsgan")


class GANLoss:
    """Adversarial losses on raw discriminator logits (``(N, 1)`` or PatchGAN maps ``(N, 1, h, w)``).

    Every term averages over all logit elements (patches included); the discriminator loss is the mean
    of its real and fake terms (pix2pix's and ESRGAN's 0.5 factor).

    * ``"vanilla"`` (non-saturating GAN, BCE with logits): generator ``-log sigmoid(D(G(x)))``, MFAGAN
      Eq. (6); discriminator ``0.5 [-log sigmoid(D(y)) - log(1 - sigmoid(D(G(x))))]``.
    * ``"ragan"`` (relativistic average GAN, ESRGAN Eq. 1-2): with ``C_r = D(y) - mean D(G(x))`` and
      ``C_f = D(G(x)) - mean D(y)`` (means over all elements of the batch), discriminator
      ``0.5 [BCE(C_r, 1) + BCE(C_f, 0)]``, generator ``0.5 [BCE(C_r, 0) + BCE(C_f, 1)]``. The generator
      needs ``real_logits``; they are detached there (the G step does not train D).
    * ``"lsgan"`` (least squares, pix2pix's targets 1/0): generator ``mean (D(G(x)) - 1)^2``,
      discriminator ``0.5 [mean (D(y) - 1)^2 + mean D(G(x))^2]``.

    Pass fake logits computed from ``fake.detach()`` to :meth:`discriminator`.
    """

    def __init__(self, kind: str = "vanilla"):
        if kind not in GAN_KINDS:
            raise ValueError(f"GAN loss kind must be one of {GAN_KINDS}, got {kind!r}")
        self.kind = kind

    @staticmethod
    def _bce(logits: torch.Tensor, target: float) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))

    def generator(self, fake_logits: torch.Tensor, real_logits: torch.Tensor | None = None) -> torch.Tensor:
        if self.kind == "vanilla":
            return self._bce(fake_logits, 1.0)
        if self.kind == "lsgan":
            return (fake_logits - 1).pow(2).mean()
        if real_logits is None:
            raise ValueError("the RaGAN generator loss needs real_logits (D on the ground truth)")
        real = real_logits.detach()
        return 0.5 * (self._bce(real - fake_logits.mean(), 0.0) + self._bce(fake_logits - real.mean(), 1.0))

    def discriminator(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        if self.kind == "vanilla":
            return 0.5 * (self._bce(real_logits, 1.0) + self._bce(fake_logits, 0.0))
        if self.kind == "lsgan":
            return 0.5 * ((real_logits - 1).pow(2).mean() + fake_logits.pow(2).mean())
        return 0.5 * (self._bce(real_logits - fake_logits.mean(), 1.0)
                      + self._bce(fake_logits - real_logits.mean(), 0.0))

    def __repr__(self) -> str:
        return f"GANLoss({self.kind!r})"
