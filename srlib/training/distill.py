"""Layer-wise feature distillation (MFAGAN Sec. 3.4; Eq. 3 for the generator, Eq. 4 for the discriminator).

``L_Distill = (1/n) sum_i ||T_i - S_i||_2`` over the n chosen layers (MFAGAN: the three MFAM outputs of the
generator, layers 2/4/6 of the PatchGAN discriminator).

* **the norm** (``criterion``): ``"l2"`` (the default) is the printed form: the unsquared L2 norm of each
  sample's whole difference map (C x H x W), averaged over the batch, then over the n layers -- the batch
  mean is our reading, as Eq. (2) writes its 1/N over samples and Eqs. (3)-(4) do not say. Its scale grows
  with the map size (for a 48 x 32 x 32 map about sqrt(49152) ~ 220 times a per-element RMS), which is
  the balance lambda2 = lambda3 = 0.05 were chosen for. ``"mse"`` (per-element mean squared error, as in
  FitNets-style hints and GAN Compression, scale-free) and ``"l1"`` (per-element mean absolute error)
  are named options, e.g. to show what the choice does (MFAGAN notebook 10).
* **width matching** when the student is narrower (G48 <- G64, D32 <- D48): a learnable 1x1 convolution
  per layer, student width -> teacher width (with bias), as in GAN Compression. The projections belong to
  the student side: put :meth:`FeatureDistiller.parameters` into the student's optimizer (and the
  distiller into the training loop's ``models`` so it is checkpointed). Layers whose widths already agree
  use the identity (no parameters), so same-width distillation is parameter-free.

Teacher maps are always detached: no gradient reaches the teacher.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["FeatureDistiller", "CRITERIA", "l2_norm"]

CRITERIA = ("l2", "mse", "l1")


def l2_norm(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """MFAGAN Eqs. (3)-(4) for one layer: ``||a - b||_2`` per sample (over C, H, W), averaged over the batch."""
    return (a - b).flatten(1).norm(dim=1).mean()


class FeatureDistiller(nn.Module):
    """``forward(student_feats, teacher_feats) -> loss`` (a scalar): mean over layers of
    ``dist(proj_i(s_i), t_i.detach())``; ``proj_i`` = 1x1 conv s_i -> t_i channels, or identity when equal.

    ``criterion``: "l2" (default: per-sample L2 norm, batch mean -- MFAGAN Eqs. 3-4), "mse" or "l1"
    (per-element means); see the module docstring.
    """

    def __init__(self, student_channels: Sequence[int], teacher_channels: Sequence[int], *,
                 criterion: str = "l2"):
        super().__init__()
        s, t = [int(c) for c in student_channels], [int(c) for c in teacher_channels]
        if len(s) != len(t) or not s:
            raise ValueError(f"need one teacher width per student width (at least one layer), got "
                             f"student {s} and teacher {t}")
        if min(s + t) <= 0:
            raise ValueError(f"channel counts must be positive: student {s}, teacher {t}")
        if criterion not in CRITERIA:
            raise ValueError(f"criterion must be one of {', '.join(CRITERIA)}, got {criterion!r}")
        self.student_channels, self.teacher_channels, self.criterion = tuple(s), tuple(t), criterion
        self.projections = nn.ModuleList(
            nn.Identity() if cs == ct else nn.Conv2d(cs, ct, 1, bias=True) for cs, ct in zip(s, t))

    def forward(self, student_feats: Sequence[torch.Tensor], teacher_feats: Sequence[torch.Tensor]
                ) -> torch.Tensor:
        if len(student_feats) != len(self.projections) or len(teacher_feats) != len(self.projections):
            raise ValueError(f"expected {len(self.projections)} student and teacher feature maps, got "
                             f"{len(student_feats)} and {len(teacher_feats)}")
        crit = {"l2": l2_norm, "mse": F.mse_loss, "l1": F.l1_loss}[self.criterion]
        total = None
        for i, (proj, s, t) in enumerate(zip(self.projections, student_feats, teacher_feats)):
            if s.shape[1] != self.student_channels[i] or t.shape[1] != self.teacher_channels[i]:
                raise ValueError(f"layer {i}: expected {self.student_channels[i]} student and "
                                 f"{self.teacher_channels[i]} teacher channels, got {s.shape[1]} and {t.shape[1]}")
            p = proj(s)
            if p.shape != t.shape:
                raise ValueError(f"layer {i}: student map {tuple(s.shape)} does not match teacher map "
                                 f"{tuple(t.shape)} in batch or spatial size")
            term = crit(p, t.detach())
            total = term if total is None else total + term
        return total / len(self.projections)

    def extra_repr(self) -> str:
        return (f"student={list(self.student_channels)}, teacher={list(self.teacher_channels)}, "
                f"criterion={self.criterion!r}")
