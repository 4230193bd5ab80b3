"""Layer-wise feature distillation (MFAGAN Sec. 3.4; Eq. 3 for the generator, Eq. 4 for the discriminator).

``L_Distill = (1/n) sum_i ||T_i - S_i||_2`` over the n chosen layers (MFAGAN: the three MFAM outputs of the
generator, layers 2/4/6 of the PatchGAN discriminator). The paper leaves two things open; our choices:

* **the norm**: a per-element *mean squared error* between the (projected) student map and the teacher
  map, i.e. ``||.||_2^2 / numel``, then the plain mean over the n layers. Squared and per-element, as in the
  layer-wise distillation MFAGAN cites (FitNets-style hints) and in GAN Compression, so the term's scale
  is independent of batch, width and resolution, and it is smooth at zero.
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

__all__ = ["FeatureDistiller"]


class FeatureDistiller(nn.Module):
    """``forward(student_feats, teacher_feats) -> loss`` (a scalar): mean over layers of
    ``mse(proj_i(s_i), t_i.detach())``; ``proj_i`` = 1x1 conv s_i -> t_i channels, or identity when equal.

    ``criterion``: "mse" (default, see the module docstring) or "l1" (per-element mean absolute error).
    """

    def __init__(self, student_channels: Sequence[int], teacher_channels: Sequence[int], *,
                 criterion: str = "mse"):
        super().__init__()
        s, t = [int(c) for c in student_channels], [int(c) for c in teacher_channels]
        if len(s) != len(t) or not s:
            raise ValueError(f"need one teacher width per student width (at least one layer), got "
                             f"student {s} and teacher {t}")
        if min(s + t) <= 0:
            raise ValueError(f"channel counts must be positive: student {s}, teacher {t}")
        if criterion not in ("mse", "l1"):
            raise ValueError(f"criterion must be 'mse' or 'l1', got {criterion!r}")
        self.student_channels, self.teacher_channels, self.criterion = tuple(s), tuple(t), criterion
        self.projections = nn.ModuleList(
            nn.Identity() if cs == ct else nn.Conv2d(cs, ct, 1, bias=True) for cs, ct in zip(s, t))

    def forward(self, student_feats: Sequence[torch.Tensor], teacher_feats: Sequence[torch.Tensor]
                ) -> torch.Tensor:
        if len(student_feats) != len(self.projections) or len(teacher_feats) != len(self.projections):
            raise ValueError(f"expected {len(self.projections)} student and teacher feature maps, got "
                             f"{len(student_feats)} and {len(teacher_feats)}")
        crit = F.mse_loss if self.criterion == "mse" else F.l1_loss
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
