"""Function matching (Sec. 3.2.2), depth consolidation (Sec. 3.2.3) and the per-anchor loss (Eq. 6).

**Depth consolidation** (Sec. 3.2.3). A student of M_S blocks is distilled from a teacher of M_T blocks
every m-th teacher block, m = floor(M_T / M_S), "with the last block including the last leftover blocks":
student block j (1-based) <- teacher block j m for j < M_S, and student block M_S <- teacher block M_T.
:func:`teacher_anchors` returns these teacher indices 0-based (``[(j + 1) m - 1 ...] + [M_T - 1]``).

**Mapping layer** (Sec. 3.2.2). "a convolutional layer with kernel and channel sizes equal to that of the
original model's" maps the student's width W to the teacher's width C_T; it is used only in training.
*Max-norm* ``||w||_2 < c`` with c = 0.0002 (Sec. 3.2.2; Srebro & Shraibman 2005) holds its weights: we
apply it after every optimiser step, **per output filter** -- each row ``w[o]`` of the conv weight
(``W x k x k`` numbers, dim 0 of the weight) is rescaled to L2 norm c when larger
(``torch.renorm(w, p=2, dim=0, maxnorm=c)``); the bias is not bounded (max-norm bounds weight vectors).
At c = 2e-4 a filter's output is at most c ||patch||_2: for a 3x3 x 32-channel patch of unit activations,
sqrt(288) c = 3.4e-3 -- the conv can barely contribute. Read literally (``identity=False``), the student's
features would have to be ~1/c times the teacher's to match them, and the anchor gradient reaching the
student is scaled by at most c. **Assumption** (default ``identity=True``): the mapping layer is the
identity embedding of the W student channels into the teacher's first W channels *plus* the max-normed
conv: the student itself must carry the representation (the paper's stated purpose of the bound) and the
conv is a small correction; at W = C_T it is (almost) the identity, as no mapping is needed there.

**Eq. 6**: L = lambda KL(t, s) + (1 - lambda) MSE(t, s) per anchor. The paper does not define KL between
feature maps. **Assumption**: for every sample and channel, a softmax over the H x W spatial positions
(temperature tau = 1 by default) turns each map into a distribution; KL(P_t || P_s) (teacher as target)
is summed over positions, averaged over samples and channels and multiplied by tau^2 (as channel-wise
distillation, Shu et al. ICCV 2021, does for dense features). Why spatial: SR features are local
detectors; a softmax over channels per pixel would compare the mix of detectors, one over positions
compares *where* each detector fires, which the upsampler turns into texture placement. MSE is the mean
over all elements. The teacher side is detached.
"""
from __future__ import annotations

from typing import Iterable, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["consolidation_stride", "teacher_anchors", "MappingLayer", "MappingLayers", "apply_max_norm",
           "max_filter_norm", "spatial_kl", "anchor_loss", "lambdas_for", "MAX_NORM"]

#: Sec. 3.2.2: "We find c = 0.0002 is sufficient and we use this value for all experiments."
MAX_NORM = 2e-4


def consolidation_stride(m_teacher: int, m_student: int) -> int:
    """m = floor(M_T / M_S) (Sec. 3.2.3)."""
    if not 1 <= m_student <= m_teacher:
        raise ValueError(f"depth consolidation needs 1 <= M_S <= M_T, got M_S={m_student}, M_T={m_teacher}")
    return m_teacher // m_student


def teacher_anchors(m_teacher: int, m_student: int) -> list[int]:
    """Teacher block (0-based) matched to each student block 0..M_S-1; the last takes the leftovers."""
    m = consolidation_stride(m_teacher, m_student)
    return [(j + 1) * m - 1 for j in range(m_student - 1)] + [m_teacher - 1]


class MappingLayer(nn.Module):
    """Student width -> teacher width: ``conv_k(s)`` (+ ``s`` embedded in the first channels when
    ``identity``). Created with its filters already inside the max-norm ball when ``max_norm`` is given."""

    def __init__(self, student_width: int, teacher_width: int, kernel: int = 3, *, identity: bool = True,
                 bias: bool = True, max_norm: float | None = MAX_NORM):
        super().__init__()
        if identity and student_width > teacher_width:
            raise ValueError(f"identity embedding needs student width {student_width} <= teacher {teacher_width}")
        self.student_width, self.teacher_width, self.identity = student_width, teacher_width, identity
        self.conv = nn.Conv2d(student_width, teacher_width, kernel, padding=kernel // 2, bias=bias)
        if bias:
            nn.init.zeros_(self.conv.bias)
        if max_norm is not None:
            apply_max_norm(self, max_norm)

    def forward(self, s: torch.Tensor) -> torch.Tensor:
        y = self.conv(s)
        if self.identity:
            pad = self.teacher_width - self.student_width
            y = y + (F.pad(s, (0, 0, 0, 0, 0, pad)) if pad else s)
        return y


class MappingLayers(nn.ModuleDict):
    """One :class:`MappingLayer` per (student block j, width W, teacher block t) the grid uses; built
    for every (D, W) of ``options`` with :func:`teacher_anchors`. Keys ``"s{j}_w{W}_t{t}"`` (0-based)."""

    def __init__(self, options: Iterable[tuple[int, int]], m_teacher: int, teacher_width: int, *,
                 kernel: int = 3, identity: bool = True, max_norm: float | None = MAX_NORM):
        super().__init__()
        for depth, width in options:
            for j, t in enumerate(teacher_anchors(m_teacher, depth)):
                key = self.key(j, width, t)
                if key not in self:
                    self[key] = MappingLayer(width, teacher_width, kernel, identity=identity, max_norm=max_norm)

    @staticmethod
    def key(j: int, width: int, t: int) -> str:
        return f"s{j}_w{width}_t{t}"

    def layer(self, j: int, width: int, t: int) -> MappingLayer:
        return self[self.key(j, width, t)]


def _weights(module: nn.Module) -> list[torch.Tensor]:
    return [m.weight for m in module.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


@torch.no_grad()
def apply_max_norm(module: nn.Module, c: float = MAX_NORM) -> None:
    """Project every conv/linear weight of ``module`` onto ||w[o]||_2 <= c per output filter (dim 0)."""
    if c <= 0:
        raise ValueError(f"max-norm bound must be > 0, got {c}")
    for w in _weights(module):
        w.copy_(torch.renorm(w, p=2, dim=0, maxnorm=c))


@torch.no_grad()
def max_filter_norm(module: nn.Module) -> float:
    """The largest per-output-filter L2 norm over ``module``'s conv/linear weights (for checks and logs)."""
    norms = [w.flatten(1).norm(dim=1).max() for w in _weights(module)]
    return float(torch.stack(norms).max()) if norms else 0.0


def spatial_kl(s: torch.Tensor, t: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """KL(P_t || P_s), P = softmax over the H x W positions of each (sample, channel) map (see above)."""
    if s.shape != t.shape:
        raise ValueError(f"spatial_kl: shapes differ, student {tuple(s.shape)} vs teacher {tuple(t.shape)}")
    tau = float(temperature)
    log_p_t = F.log_softmax(t.detach().flatten(2) / tau, dim=-1)
    log_p_s = F.log_softmax(s.flatten(2) / tau, dim=-1)
    kl = (log_p_t.exp() * (log_p_t - log_p_s)).sum(-1)
    return kl.mean() * tau * tau


def anchor_loss(s: torch.Tensor, t: torch.Tensor, lam: float, temperature: float = 1.0) -> torch.Tensor:
    """Eq. 6: ``lam * KL(t, s) + (1 - lam) * MSE(t, s)``; ``lam`` in [0, 1] (Bayesian-tuned, Sec. 3.2.4)."""
    if not 0.0 <= lam <= 1.0:
        raise ValueError(f"lambda must lie in [0, 1], got {lam}")
    mse = F.mse_loss(s, t.detach())
    if lam == 0.0:
        return mse
    return lam * spatial_kl(s, t, temperature) + (1.0 - lam) * mse


def lambdas_for(lambdas: float | Sequence[float] | dict, m_teacher: int) -> list[float]:
    """One lambda per teacher anchor from a number, a sequence of M_T values or ``{anchor: value}``."""
    if isinstance(lambdas, (int, float)):
        return [float(lambdas)] * m_teacher
    if isinstance(lambdas, dict):
        missing = [t for t in range(m_teacher) if t not in lambdas and str(t) not in lambdas]
        if missing:
            raise ValueError(f"no lambda for teacher anchors {missing}")
        return [float(lambdas[t] if t in lambdas else lambdas[str(t)]) for t in range(m_teacher)]
    out = [float(x) for x in lambdas]
    if len(out) != m_teacher:
        raise ValueError(f"{len(out)} lambdas for {m_teacher} teacher anchors")
    return out
