"""AdaSR training (Algorithm 1, Fig. 1, Sec. 3.2-3.3): progressive knowledge distillation of one
adaptable student from a frozen teacher, every (depth, width) sub-model per batch, one update.

Algorithm 1, per batch (symbols -> names):

* line 5, ``t_{1..N} = T(batch)``: the frozen teacher's block outputs ``t_anchors`` and its output ``y_t``,
  once per batch, without gradients (``teacher`` = an :class:`~srlib.adasr.adaptable.Adaptable` of T run
  at full size);
* lines 6-9, for each D in ``depth``, W in ``width``: ``s_D^W = S(batch, W, D)`` -- the student's block
  outputs at that size (:meth:`Adaptable.forward_depths`: for one W the stem and blocks run once for all
  depths; the sum of the per-(D, W) losses has the gradients of separate passes);
* line 10, depth consolidation + function matching: student block j <- teacher block
  :func:`~srlib.adasr.matching.teacher_anchors` (M_T, D)[j], through the mapping layer (W -> C_T);
* lines 11-12, Eq. 6 with the anchor's lambda (``lambdas[t]``, found beforehand by
  :mod:`srlib.adasr.loss_tuning`: running BO inside every batch, as line 11 reads, is not affordable);
* line 13, ``grads.append``: ``loss.backward()`` per width -- PyTorch sums the gradients of all
  combinations in ``.grad`` (summed, as Alg. 1 "applies them together"; Adam is invariant to the scale);
* line 17, ``S.update``: under DDP the summed gradients of the student *and* the mapping layers are
  averaged over ranks in ONE all-reduce of a flat buffer, then each optimizer steps once; then max-norm
  (Sec. 3.2.2) projects the mapping layers.

Assumption (the paper's Alg. 1 lists block anchors only): the student's tail (upsampler) would get no
gradient from block anchors alone, so each sub-model's SR output is also distilled to the teacher's
(``output_weight``, L1 as in CARN's own training), and an optional pixel term to the HR image
(``pixel_weight``, 0 by default). Ablations (issue 13 item 6), the same sub-models and step otherwise:
``mode="output"`` (output-only KD, the conventional SR KD), ``mode="none"`` (no KD: L1 to HR only),
``max_norm=None`` (mapping layers unbounded).
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from srlib.training import distributed as dist

from .adaptable import Adaptable
from .matching import (MAX_NORM, MappingLayers, anchor_loss, apply_max_norm, lambdas_for, max_filter_norm,
                       teacher_anchors)

__all__ = ["ProgressiveKDStep", "MODES"]

MODES = ("progressive", "output", "none")


class ProgressiveKDStep:
    """``step_fn(step, batch, models, optimizers)`` for :func:`srlib.training.loop.train`.

    ``batch`` = ``(lr, hr)``. ``models[student_key]``: the student :class:`Adaptable` (DDP-wrapped or not;
    its sub-models are run directly, the gradient averaging is done here); ``models[teacher_key]``: the
    teacher's :class:`Adaptable` (frozen: never stepped, run under ``no_grad``); ``models[mapping_key]``:
    the :class:`~srlib.adasr.matching.MappingLayers` (needed for ``mode="progressive"``).
    ``optimizers[k]`` for ``k`` in ``optimizer_keys`` are zeroed and stepped once per call (give the
    mapping layers' parameters to one of them).

    ``options``: the (D, W) grid (:meth:`Adaptable.options`). ``lambdas``: Eq. 6's lambda per teacher
    anchor (a number, M_T numbers or ``{anchor: value}``). ``temperature``: the spatial-softmax
    temperature of KL. Logged: ``loss`` (mean over sub-models), ``loss_smallest``, ``loss_largest``,
    ``kd_anchor`` and ``kd_output`` (means), ``map_norm`` (largest mapping filter norm after the step).
    """

    def __init__(self, options: Sequence[tuple[int, int]], *, lambdas: float | Sequence[float] | dict = 0.5,
                 mode: str = "progressive", max_norm: float | None = MAX_NORM, output_weight: float = 1.0,
                 pixel_weight: float = 0.0, temperature: float = 1.0, student_key: str = "S",
                 teacher_key: str = "T", mapping_key: str = "maps", optimizer_keys: Sequence[str] = ("S",)):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        self.options = sorted({(int(d), int(w)) for d, w in options})
        if not self.options:
            raise ValueError("options must list at least one (depth, width)")
        self.lambdas, self.mode, self.max_norm = lambdas, mode, max_norm
        self.output_weight, self.pixel_weight = float(output_weight), float(pixel_weight)
        self.temperature = float(temperature)
        self.student_key, self.teacher_key, self.mapping_key = student_key, teacher_key, mapping_key
        self.optimizer_keys = tuple(optimizer_keys)

    def _by_width(self) -> dict[int, list[int]]:
        out: dict[int, list[int]] = {}
        for d, w in self.options:
            out.setdefault(w, []).append(d)
        return out

    def losses(self, student: Adaptable, teacher: Adaptable, maps: MappingLayers | None, lr: torch.Tensor,
               hr: torch.Tensor | None, width: int, depths: Sequence[int], y_t: torch.Tensor | None,
               t_anchors: Sequence[torch.Tensor]) -> dict[int, dict[str, torch.Tensor]]:
        """Per depth at one width: ``{D: {"loss", "kd_anchor", "kd_output"}}`` (differentiable)."""
        m_t = teacher.description.depth if self.mode == "progressive" else 0
        lams = lambdas_for(self.lambdas, m_t) if m_t else []
        out = {}
        for D, (y_s, s_anchors) in student.forward_depths(lr, depths, width).items():
            zero = y_s.new_zeros(())
            kd_a, kd_o, loss = zero, zero, zero
            if self.mode == "none":
                loss = F.l1_loss(y_s, hr)
            else:
                if self.mode == "progressive":
                    for j, t in enumerate(teacher_anchors(m_t, D)):
                        mapped = maps.layer(j, width, t)(s_anchors[j])
                        kd_a = kd_a + anchor_loss(mapped, t_anchors[t], lams[t], self.temperature)
                kd_o = F.l1_loss(y_s, y_t)
                loss = kd_a + self.output_weight * kd_o
                if self.pixel_weight:
                    loss = loss + self.pixel_weight * F.l1_loss(y_s, hr)
            out[D] = {"loss": loss, "kd_anchor": kd_a, "kd_output": kd_o}
        return out

    def __call__(self, step: int, batch: Any, models: Mapping[str, nn.Module],
                 optimizers: Mapping[str, Any]) -> dict[str, torch.Tensor]:
        student = dist.unwrap(models[self.student_key])
        teacher = dist.unwrap(models[self.teacher_key]) if self.mode != "none" else None  # no KD: no teacher
        maps = dist.unwrap(models[self.mapping_key]) if self.mapping_key in models else None
        if self.mode == "progressive" and maps is None:
            raise KeyError(f"progressive KD needs the mapping layers as models[{self.mapping_key!r}]")
        device = next(student.parameters()).device
        lr, hr = (t.to(device, non_blocking=True) for t in batch)
        y_t, t_anchors = None, []
        if self.mode != "none":                                          # Alg. 1 line 5, once per batch
            with torch.no_grad():
                y_t, t_anchors = teacher(lr, anchors=True)
        opts = [optimizers[k] for k in self.optimizer_keys]
        for o in opts:
            o.zero_grad(set_to_none=True)
        per: dict[tuple[int, int], dict[str, torch.Tensor]] = {}
        for width, depths in self._by_width().items():                   # Alg. 1 lines 6-16
            res = self.losses(student, teacher, maps, lr, hr, width, depths, y_t, t_anchors)
            torch.stack([r["loss"] for r in res.values()]).sum().backward()   # line 13: accumulate
            for D, r in res.items():
                per[(D, width)] = {k: v.detach() for k, v in r.items()}
        params = [p for p in student.parameters() if p.requires_grad]
        if maps is not None and self.mode == "progressive":
            params += [p for p in maps.parameters() if p.requires_grad]
        dist.average_gradients(params)                                   # one all-reduce under DDP
        for o in opts:                                                   # line 17: one update
            o.step()
        out = {"loss": torch.stack([r["loss"] for r in per.values()]).mean(),
               "loss_smallest": per[self.options[0]]["loss"], "loss_largest": per[self.options[-1]]["loss"],
               "kd_anchor": torch.stack([r["kd_anchor"] for r in per.values()]).mean(),
               "kd_output": torch.stack([r["kd_output"] for r in per.values()]).mean()}
        if maps is not None and self.mode == "progressive":
            if self.max_norm is not None:
                apply_max_norm(maps, self.max_norm)                      # Sec. 3.2.2, after every step
            out["map_norm"] = torch.tensor(max_filter_norm(maps))
        return out
