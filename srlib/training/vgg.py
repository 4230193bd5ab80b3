"""Frozen VGG19 feature extractor for perceptual losses.

ESRGAN (and MFAGAN, which follows it) compute the perceptual loss on VGG19 ``conv5_4`` features *before*
the ReLU ("before activation", ESRGAN sec. 3.3); SRGAN-style losses use the activation after it. The
network is torchvision's VGG19 (ImageNet, ``vgg19-dcbb9e9d.pth``) truncated after the requested layer;
its weights come only from :mod:`srlib.weights` (checksummed). Without them the constructor raises
:class:`srlib.weights.WeightsUnavailable`: a perceptual loss on a random VGG would be a different loss,
so there is no silent fallback.

Input: RGB in [0, 1], ``(N, 3, H, W)``; it is normalised with the ImageNet mean/std internally. The
parameters are frozen (gradients still flow to the input, as a loss needs) and the module stays in eval
mode.
"""
from __future__ import annotations

import torch
from torch import nn

from ..weights import WeightsUnavailable, load_state_dict

__all__ = ["VGG19_CFG", "VGG19_LAYERS", "IMAGENET_MEAN", "IMAGENET_STD", "VGGFeatures", "WeightsUnavailable"]

# torchvision's VGG19 ("E") configuration: channel counts, "M" = 2x2 max-pool.
VGG19_CFG = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
             512, 512, 512, 512, "M")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _layer_names(cfg=VGG19_CFG) -> dict[str, int]:
    """``conv1_1`` -> 0, ``relu1_1`` -> 1, ..., ``pool1`` -> 4, ... (indices into torchvision's ``features``)."""
    names, idx, block, conv = {}, 0, 1, 0
    for v in cfg:
        if v == "M":
            names[f"pool{block}"] = idx
            idx, block, conv = idx + 1, block + 1, 0
        else:
            conv += 1
            names[f"conv{block}_{conv}"] = idx
            names[f"relu{block}_{conv}"] = idx + 1
            idx += 2
    return names


VGG19_LAYERS = _layer_names()


def _features(cfg, upto: int) -> nn.Sequential:
    """torchvision-compatible ``features`` (same indices) truncated after index ``upto``."""
    layers: list[nn.Module] = []
    c_in = 3
    for v in cfg:
        if v == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers += [nn.Conv2d(c_in, v, kernel_size=3, padding=1), nn.ReLU(inplace=True)]
            c_in = v
    return nn.Sequential(*layers[: upto + 1])


class VGGFeatures(nn.Module):
    """VGG19 features at ``layer`` (``conv5_4`` by default, before its ReLU), frozen, ImageNet weights.

    ``layer`` names a convolution (``convB_I``) or a pooling layer (``poolB``); ``before_activation``
    selects the convolution's raw output (True) or its ReLU (False). ``reluB_I`` is accepted with
    ``before_activation=False``.
    """

    def __init__(self, layer: str = "conv5_4", before_activation: bool = True, *, weights: str = "vgg19"):
        super().__init__()
        if layer.startswith("relu"):
            if before_activation:
                raise ValueError(f"layer {layer!r} is an activation; use 'conv{layer[4:]}' with "
                                 "before_activation=True, or pass before_activation=False")
            layer = "conv" + layer[4:]
        if layer not in VGG19_LAYERS:
            valid = ", ".join(k for k in VGG19_LAYERS if not k.startswith("relu"))
            raise ValueError(f"unknown VGG19 layer {layer!r}; valid: {valid}")
        idx = VGG19_LAYERS[layer]
        if layer.startswith("conv") and not before_activation:
            idx += 1
        self.layer, self.before_activation, self.index = layer, before_activation, idx

        state = load_state_dict(weights)                  # raises WeightsUnavailable; never random
        features = _features(VGG19_CFG, idx)
        wanted = features.state_dict()
        try:
            picked = {k: state[f"features.{k}"] for k in wanted}
        except KeyError as e:
            raise WeightsUnavailable(weights, f"the {weights} checkpoint lacks {e.args[0]!r}; "
                                              "it is not torchvision's VGG19 file") from None
        try:
            features.load_state_dict(picked, strict=True)
        except RuntimeError as e:
            raise WeightsUnavailable(weights, f"the {weights} checkpoint does not fit VGG19: {e}") from e
        for p in features.parameters():
            p.requires_grad_(False)
        self.features = features.eval()
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def train(self, mode: bool = True) -> "VGGFeatures":
        return super().train(False)                      # frozen feature extractor: always eval

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"VGGFeatures: expected RGB (N, 3, H, W) in [0, 1], got {tuple(x.shape)}")
        return self.features((x - self.mean) / self.std)

    def extra_repr(self) -> str:
        return f"layer={self.layer!r}, before_activation={self.before_activation}, index={self.index}"
