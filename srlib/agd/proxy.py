"""AGD's distillation proxy: the student learns the teacher's outputs, no discriminator, no HR images.

shared/notes/agd.md (the authors' ``NAS_GAN._criterion`` with ``loss_func = 'L1'``, ``before_act = True``):

    L(student, teacher) = w_pix * L1(student(x), T(x)) + w_content * L1(phi(student(x)), phi(T(x)))

``T`` = the pretrained ESRGAN (targets are its outputs on the LR inputs); ``phi`` = VGG19 ``conv5_4``
before its ReLU. Weights (their ``loss_weight = [base, style, content, tv]``): supernet pre-training
``w_pix = 1, w_content = 0``; search and the final training's second stage ``w_pix = 0.01,
w_content = 1`` (the first retraining stage is pixel only). The style (Gram) and TV terms are 0 in every
SR config and are not built.

Offline the VGG19 ImageNet weights cannot be loaded: ``content="auto"`` then takes the suite's labelled
stand-in (:func:`srlib.training.losses.perceptual_or_stand_in`: identity features, pixel-space L1 at the
content weight); :attr:`DistillationProxy.content_description` says which one runs, for the stage's
manifest and each row's note. Means over all elements (srlib's loss convention).
"""
from __future__ import annotations

import torch
import torch.nn as nn

from srlib.training.losses import l1_loss, perceptual_or_stand_in

__all__ = ["DistillationProxy"]


class DistillationProxy(nn.Module):
    """``forward(student_out, teacher_out) -> (loss, {"pix": .., "content": ..})`` (module docstring).

    ``content``: a module ``(sr, target) -> loss`` (e.g. a :class:`~srlib.training.losses.PerceptualLoss`),
    ``"auto"`` (VGG19 conv5_4 L1 when its weights are present, else the labelled stand-in), or None. It is
    not built when ``w_content == 0``.
    """

    def __init__(self, *, w_pix: float = 1e-2, w_content: float = 1.0, content: nn.Module | str | None = "auto"):
        super().__init__()
        if w_pix < 0 or w_content < 0:
            raise ValueError(f"loss weights must be >= 0, got w_pix={w_pix}, w_content={w_content}")
        self.w_pix, self.w_content = float(w_pix), float(w_content)
        self.content: nn.Module | None = None
        self.content_description = "none (w_content = 0)"
        if self.w_content:
            if isinstance(content, nn.Module):
                self.content, self.content_description = content, f"given: {type(content).__name__}"
            elif content == "auto":
                self.content, self.content_description = perceptual_or_stand_in("l1", ("conv5_4",), (1.0,))
            elif content is None:
                raise ValueError("w_content > 0 needs a content loss (a module or 'auto')")
            else:
                raise ValueError(f"content must be a module, 'auto' or None, got {content!r}")

    def forward(self, sr: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        target = target.detach()
        pix = l1_loss(sr, target)
        loss = self.w_pix * pix
        parts = {"pix": pix.detach()}
        if self.content is not None:
            content = self.content(sr, target)
            loss = loss + self.w_content * content
            parts["content"] = content.detach()
        return loss, parts

    def extra_repr(self) -> str:
        return f"w_pix={self.w_pix:g}, w_content={self.w_content:g}, content={self.content_description!r}"
