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

__all__ = ["l1_loss", "mse_loss", "PerceptualLoss", "TextureLoss", "PixelStandIn", "PixelTextureStandIn",
           "perceptual_or_stand_in", "texture_or_stand_in", "gram_patches", "GANLoss", "GAN_KINDS",
           "WeightsUnavailable"]


def l1_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean absolute error: MFAGAN Eq. (2), ``L_recon = 1/N sum ||R(x_lr) - x_gt||_1`` (mean per element)."""
    return F.l1_loss(pred, target)


def mse_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error (per element)."""
    return F.mse_loss(pred, target)


_CRITERIA = {"l1": l1_loss, "mse": mse_loss}


def _vgg_layer(name: str) -> tuple[str, bool]:
    """``relu5_4`` -> (``relu5_4``, after activation); ``conv5_4``/``pool2`` -> (name, before activation)."""
    return name, not name.startswith("relu")


class PerceptualLoss(nn.Module):
    """VGG19 feature loss ``sum_i w_i criterion(s phi_i(sr), s phi_i(hr))`` over one or more layers.

    The default is one layer, ``conv5_4`` before its ReLU, weight 1: ESRGAN (Sec. 3.3, L1 on features
    "before activation") and MFAGAN Eq. (5) (the same layer, MSE). SRGAN's VGG54 is ``relu5_4`` (after
    activation) with its feature maps rescaled by ``feature_scale = 1/12.75``; EnhanceNet's L_P is
    ``("pool2", "pool5")`` with weights ``(2e-1, 2e-2)``. A ``reluB_I`` layer name means after activation.
    The target's features are computed without gradient.

    The VGG19 is torchvision's ImageNet checkpoint loaded through :mod:`srlib.weights`; without it the
    constructor raises :class:`~srlib.weights.WeightsUnavailable` (never a random VGG). Ask
    :meth:`status` first to decide whether a run can use this term.
    """

    def __init__(self, criterion: str = "mse", layer: str | tuple[str, ...] = "conv5_4",
                 before_activation: bool = True, *, weights: str = "vgg19",
                 layer_weights: tuple[float, ...] | None = None, feature_scale: float = 1.0):
        super().__init__()
        if criterion not in _CRITERIA:
            raise ValueError(f"criterion must be one of {sorted(_CRITERIA)}, got {criterion!r}")
        from .vgg import VGGFeatures  # raises WeightsUnavailable

        layers = (layer,) if isinstance(layer, str) else tuple(layer)
        layer_weights = tuple(layer_weights) if layer_weights is not None else (1.0,) * len(layers)
        if len(layer_weights) != len(layers) or not layers:
            raise ValueError(f"need one weight per layer: layers {layers}, weights {layer_weights}")
        self.criterion, self.layer_weights, self.feature_scale = criterion, layer_weights, float(feature_scale)
        self.layers = layers
        self.vggs = nn.ModuleList(VGGFeatures(name, before_activation and not name.startswith("relu"),
                                              weights=weights) for name in layers)

    @staticmethod
    def status(weights: str = "vgg19") -> tuple[bool, str]:
        """``(True, "")`` when the verified VGG19 weights are present, else ``(False, reason)``."""
        from ..weights import available

        return available(weights)

    def forward(self, sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        total = 0.0
        s = self.feature_scale
        for w, vgg in zip(self.layer_weights, self.vggs):
            with torch.no_grad():
                target = vgg(hr) * s
            total = total + w * _CRITERIA[self.criterion](vgg(sr) * s, target)
        return total

    def extra_repr(self) -> str:
        return f"criterion={self.criterion!r}, layers={self.layers}, weights={self.layer_weights}, scale={self.feature_scale:g}"


def gram_patches(feat: torch.Tensor, patch: int) -> torch.Tensor:
    """Gram matrices of the non-overlapping ``patch`` x ``patch`` windows of ``feat`` (N, C, H, W):
    ``(N * windows, C, C)``, each ``F F^T / patch^2`` (EnhanceNet's L_T; the normalisation is our choice,
    the paper's appendix was not available). H and W must be multiples of ``patch``."""
    n, c, h, w = feat.shape
    if h % patch or w % patch:
        raise ValueError(f"feature map {h}x{w} is not a multiple of the texture patch {patch}")
    x = feat.reshape(n, c, h // patch, patch, w // patch, patch).permute(0, 2, 4, 1, 3, 5)
    x = x.reshape(-1, c, patch * patch)
    return x @ x.transpose(1, 2) / (patch * patch)


class TextureLoss(nn.Module):
    """EnhanceNet's texture loss L_T: ``sum_i w_i mse(Gram(phi_i(sr)), Gram(phi_i(hr)))`` with Gram matrices
    taken per 16x16 *image* patch (a layer at 1/2^k resolution uses 16/2^k windows). EnhanceNet-PAT uses
    VGG19 conv1_1, conv2_1, conv3_1 with weights 3e-7, 1e-6, 1e-6 (read from a third-party
    reimplementation: srlib/baselines/config.py says so). Needs the VGG19 ImageNet weights like
    :class:`PerceptualLoss`; offline, :func:`texture_or_stand_in` gives the labelled pixel-space stand-in.
    """

    def __init__(self, layers: tuple[str, ...], layer_weights: tuple[float, ...], patch: int = 16, *,
                 weights: str = "vgg19"):
        super().__init__()
        from .vgg import VGGFeatures  # raises WeightsUnavailable

        if len(layers) != len(layer_weights) or not layers:
            raise ValueError(f"need one weight per layer: layers {layers}, weights {layer_weights}")
        self.layers, self.layer_weights, self.patch = tuple(layers), tuple(layer_weights), int(patch)
        self.vggs = nn.ModuleList(VGGFeatures(n, _vgg_layer(n)[1], weights=weights) for n in layers)

    def forward(self, sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        total = 0.0
        for w, vgg in zip(self.layer_weights, self.vggs):
            fs = vgg(sr)
            with torch.no_grad():
                fh = vgg(hr)
            p = max(1, self.patch * fs.shape[-1] // sr.shape[-1])
            total = total + w * F.mse_loss(gram_patches(fs, p), gram_patches(fh, p))
        return total


class PixelStandIn(nn.Module):
    """The offline stand-in for :class:`PerceptualLoss`: ``scale * criterion(sr, hr)`` on the pixels, i.e. the
    perceptual distance with an *identity* feature extractor (``scale`` = the sum of the layer weights). It
    is not a perceptual loss and is never called one: stages that use it record
    ``"stand-in: identity features ..."``.

    Why not drop the term: without it, the GAN recipes lose their content anchor -- ESRGAN's weights
    (L1 1e-2, adversarial 5e-3, perceptual 1) leave the adversarial gradient in charge and its generator
    collapses within a hundred iterations (measured at mini: 7-9 dB). Keeping the term's weight on a pixel
    distance keeps each recipe's balance between content and adversarial terms as close as offline allows.
    """

    def __init__(self, criterion: str = "mse", scale: float = 1.0):
        super().__init__()
        if criterion not in _CRITERIA:
            raise ValueError(f"criterion must be one of {sorted(_CRITERIA)}, got {criterion!r}")
        self.criterion, self.scale = criterion, float(scale)

    def forward(self, sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        return self.scale * _CRITERIA[self.criterion](sr, hr)

    def extra_repr(self) -> str:
        return f"criterion={self.criterion!r}, scale={self.scale:g}"


class PixelTextureStandIn(nn.Module):
    """The offline stand-in for :class:`TextureLoss`: Gram matrices of the RGB pixels of each 16x16 patch
    (identity features), weighted by the sum of the layer weights. Labelled wherever it is used."""

    def __init__(self, patch: int = 16, scale: float = 1.0):
        super().__init__()
        self.patch, self.scale = int(patch), float(scale)

    def forward(self, sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        return self.scale * F.mse_loss(gram_patches(sr, self.patch), gram_patches(hr, self.patch))


def perceptual_or_stand_in(criterion: str = "mse", layers: tuple[str, ...] = ("conv5_4",),
                           layer_weights: tuple[float, ...] = (1.0,), feature_scale: float = 1.0
                           ) -> tuple[nn.Module, str]:
    """``(loss, description)``: the VGG19 feature loss when its ImageNet weights are present, else the
    labelled :class:`PixelStandIn` with the reason (never a random VGG)."""
    ok, reason = PerceptualLoss.status()
    layers, layer_weights = tuple(layers), tuple(layer_weights)
    if ok:
        desc = ", ".join(f"{w:g} x {n}" if len(layers) > 1 else n for n, w in zip(layers, layer_weights))
        when = "before activation" if all(not n.startswith("relu") for n in layers) else "after activation"
        scale = f", features x {feature_scale:g}" if feature_scale != 1 else ""
        return (PerceptualLoss(criterion, layers, layer_weights=layer_weights, feature_scale=feature_scale),
                f"VGG19 {desc} {when}, {criterion.upper()}{scale}")
    total = sum(layer_weights)
    weight = f" x {total:g}" if total != 1 else ""
    return PixelStandIn(criterion, total), (
        f"stand-in: identity features (pixel-space {criterion.upper()}{weight}) at the perceptual weight; "
        f"VGG19 ImageNet weights unavailable ({reason})")


def texture_or_stand_in(layers: tuple[str, ...], layer_weights: tuple[float, ...], patch: int = 16
                        ) -> tuple[nn.Module, str]:
    """``(loss, description)``: :class:`TextureLoss`, or offline the labelled :class:`PixelTextureStandIn`."""
    ok, reason = PerceptualLoss.status()
    if ok:
        return (TextureLoss(tuple(layers), tuple(layer_weights), patch),
                f"VGG19 Gram texture loss at {', '.join(layers)}, {patch}x{patch} patches")
    return PixelTextureStandIn(patch, sum(layer_weights)), (
        f"stand-in: Gram matrices of RGB {patch}x{patch} patches (identity features) x {sum(layer_weights):g}; "
        f"VGG19 ImageNet weights unavailable ({reason})")


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
