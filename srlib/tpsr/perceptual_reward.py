"""E_D: one discriminator candidate scored by the perceptual quality it gives TPSR-NOGAN (Lee et al., ECCV
2020, Alg. 1 lines 27-30, Sec. 3.3, Eq. 8, Sec. 4.2).

The paper: build D from s (line 28; no weight sharing, no Mult-Adds limit, spectral normalisation); fine-tune
the pre-trained distortion generator G (TPSR-NOGAN x4) against it on the proxy perceptual task with

    L_G = alpha L_1 + lambda L_vgg + gamma L_adv,   L_adv = -log D(G(x)),
    L_D = -log D(y) - log(1 - D(G(x)))                                                     (Eq. 8)

with L_vgg the squared distance of an *earlier* VGG layer's features on the proxy; validate with LPIPS and
return "the best [of] the last three epochs" as the reward (Sec. 4.2).

Symbols -> names: s = ``cfg`` (:class:`srlib.tpsr.discriminator.TPSRDConfig`); alpha, lambda, gamma =
``GANWeights(recon=, percep=, adv=)`` of the shared :class:`srlib.training.gan.GANStep`; L_adv / L_D =
:class:`srlib.training.losses.GANLoss` ``"vanilla"`` (BCE on logits; its D loss carries a 0.5 factor, a
constant); phi = ``percep`` (VGG19 at ``vgg_layer``, or offline the labelled pixel-space stand-in of
:func:`srlib.training.losses.perceptual_or_stand_in`); the metric m = :class:`PerceptualMetric` (lower is
better); E_D = :attr:`DEvaluated.perceptual` = :func:`best_of_last` of the evaluations.

The perceptual metric: LPIPS v0.1 VGG (TPSR's, srlib.metrics.conventions) when its verified backbone is
present. Offline it cannot be computed, and the search needs *some* full-reference perceptual score: then
:func:`gmsd` -- Gradient Magnitude Similarity Deviation (Xue, Zhang, Mou, Bovik, IEEE TIP 2014), a published
full-reference IQA index that needs no learned weights, lower is better -- stands in, and is named
``gmsd`` (title "GMSD (offline stand-in for LPIPS-VGG)") in every row, table and plot: the reward then
differs from the paper's.

Assumptions (none of these are printed; the supplementary material is unavailable):

* the search loop maximises its ``metric``: E_D's ``metric`` is ``-perceptual``;
* reward R = (m_0 - m) / m_0, the relative improvement over G's own score before the fine-tune (m_0), so
  rewards are comparable between LPIPS and the stand-in and 0 means "no better than TPSR-NOGAN";
* an "epoch" is ``eval_every`` GAN steps; Adam (0.9, 0.999) at ``lr`` for G and D; D's weights start from
  PyTorch's defaults after ``torch.manual_seed(seed)``; a candidate whose losses turn non-finite scores
  +inf (reward -1) and stops.
"""
from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..data import PatchSampler
from ..metrics.psnr_ssim import quantize
from ..training.gan import GANStep, GANWeights
from ..training.losses import GANLoss
from .discriminator import TPSRDConfig, TPSRDiscriminator

__all__ = ["PerceptualMetric", "perceptual_metric", "gmsd", "best_of_last", "DEvaluated", "evaluate",
           "validation_score", "STANDIN_NAME"]

STANDIN_NAME = "gmsd"
STANDIN_TITLE = "GMSD (offline stand-in for LPIPS-VGG)"


# ---- the metric -----------------------------------------------------------------------------------------
def gmsd(sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
    """GMSD (Xue et al., TIP 2014) per image of RGB batches in [0, 1] (N, 3, H, W): lower is better.

    As the authors' MATLAB code (GMSD.m): luminance 0.299 R + 0.587 G + 0.114 B in [0, 255]; 2x2 average
    filter and downsampling by 2 (= ``avg_pool2d(2)`` on even sizes); Prewitt gradients (kernels / 3, 'same'
    zero padding); GMS = (2 g_r g_d + c) / (g_r^2 + g_d^2 + c) with c = 170; GMSD = standard deviation of
    the GMS map."""
    w = torch.tensor([0.299, 0.587, 0.114], dtype=torch.float64).view(1, 3, 1, 1)

    def prep(x: torch.Tensor) -> torch.Tensor:
        y = (x.detach().double().cpu() * 255 * w).sum(1, keepdim=True)
        return F.avg_pool2d(y, 2)

    a, b = prep(sr), prep(hr)
    px = torch.tensor([[1.0, 0, -1], [1, 0, -1], [1, 0, -1]], dtype=torch.float64) / 3
    k = torch.stack([px, px.t()]).unsqueeze(1)

    def grad(y: torch.Tensor) -> torch.Tensor:
        g = F.conv2d(y, k, padding=1)         # MATLAB conv2(..., 'same'): zero padding (the sign flip of
        return torch.sqrt((g ** 2).sum(1))    # convolution vs correlation does not change the magnitude)

    ga, gb = grad(a), grad(b)
    c = 170.0
    gms = (2 * ga * gb + c) / (ga ** 2 + gb ** 2 + c)
    return gms.flatten(1).std(1, unbiased=False).float()


@dataclass(frozen=True)
class PerceptualMetric:
    """A full-reference perceptual distance, lower is better: ``fn(sr, hr) -> (N,)``; ``name`` is its
    tidy-row metric name, ``title`` its label on tables and plots, ``note`` why it is this one."""
    name: str
    title: str
    note: str
    fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    is_paper_metric: bool

    def __call__(self, sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        return self.fn(sr, hr)


def perceptual_metric(device: str | torch.device = "cpu") -> PerceptualMetric:
    """LPIPS v0.1 VGG (TPSR's metric) when its verified weights are present, else the labelled GMSD stand-in."""
    from ..metrics import lpips as lp

    ok, reason = lp.lpips_available("vgg")
    if ok:
        m = lp.cached_metric("vgg", device)
        return PerceptualMetric("lpips_vgg", "LPIPS v0.1 VGG", "LPIPS v0.1 VGG on the whole RGB image (TPSR Sec. 4)",
                                lambda sr, hr: m(sr.to(device), hr.to(device)).cpu(), True)
    return PerceptualMetric(STANDIN_NAME, STANDIN_TITLE,
                            f"offline stand-in for LPIPS-VGG: GMSD (Xue et al. 2014, full-reference, no learned "
                            f"weights), lower is better; NOT the paper's metric. LPIPS unavailable: {reason}",
                            gmsd, False)


@torch.no_grad()
def validation_score(G: nn.Module, val: Sequence[tuple[torch.Tensor, torch.Tensor]], metric: PerceptualMetric) -> float:
    """Mean ``metric`` over ``val`` = [(lr, hr)] 1x3xHxW tensors, on the 8-bit output, whole image."""
    was = G.training
    G.eval()
    dev = next(G.parameters()).device
    vals = [float(metric(quantize(G(lr.to(dev)).float().cpu()), hr).mean()) for lr, hr in val]
    G.train(was)
    return float(np.mean(vals))


def best_of_last(values: Sequence[float], k: int = 3) -> float:
    """E_D's smoothing (Sec. 4.2): the best (lowest) of the last ``k`` evaluations; non-finite ones count
    as worst (+inf). Needs at least one value."""
    if not values:
        raise ValueError("best_of_last needs at least one evaluation")
    tail = [v if math.isfinite(v) else math.inf for v in values[-k:]]
    return float(min(tail))


# ---- E_D --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DEvaluated:
    """A trained discriminator candidate: its evaluations, E_D (best of the last three), reward R."""
    config: TPSRDConfig
    params: int
    evaluations: tuple[float, ...]
    perceptual: float
    start: float
    reward: float
    metric_name: str
    seconds: float

    @property
    def metric(self) -> float:
        """What Algorithm 1's loop maximises: -E_D."""
        return -self.perceptual

    def row(self) -> dict:
        c = self.config
        return {"status": "trained", "ops": list(c.ops), "reductions": list(c.reductions),
                "bottleneck": c.bottleneck, "base_channels": c.base_channels, "d_params": self.params,
                "evaluations": list(self.evaluations), "perceptual": self.perceptual, "start": self.start,
                "metric_name": self.metric_name, "reward": self.reward, "seconds": self.seconds}


def reward(perceptual: float, start: float) -> float:
    """R = (m_0 - m) / m_0 (assumption, module docstring); -1 for a diverged candidate."""
    if not math.isfinite(perceptual) or start <= 0:
        return -1.0
    return (start - perceptual) / start


def evaluate(cfg: TPSRDConfig, *, generator: nn.Module, start: float, train: Sequence, scale: int,
             val: Sequence[tuple[torch.Tensor, torch.Tensor]], metric: PerceptualMetric, percep: nn.Module | None,
             iterations: int, eval_every: int, batch: int, patch: int, lr: float, alpha: float, lam: float,
             gamma: float, seed: int, device: torch.device | str = "cpu", last: int = 3) -> DEvaluated:
    """E_D(s): fine-tune a copy of ``generator`` (TPSR-NOGAN, never modified) against a fresh D built from
    ``cfg`` for ``iterations`` Eq. 8 steps on ``batch`` LR patches of side ``patch`` (``train``: x``scale``
    pairs); evaluate ``metric`` on ``val`` every ``eval_every`` steps; E_D = the best of the last ``last``.
    ``start`` = m_0, the generator's own score (the reward's reference)."""
    t0 = time.perf_counter()
    torch.manual_seed(seed)
    G = copy.deepcopy(generator).to(device).train()
    D = TPSRDiscriminator(cfg, input_size=patch * scale, spectral_norm=True).to(device)
    opts = {"G": torch.optim.Adam(G.parameters(), lr=lr, betas=(0.9, 0.999)),
            "D": torch.optim.Adam(D.parameters(), lr=lr, betas=(0.9, 0.999))}
    step = GANStep(GANWeights(recon=alpha, percep=lam, adv=gamma, recon_kind="l1"), GANLoss("vanilla"),
                   percep.to(device) if percep is not None else None)
    batches = PatchSampler(train, patch, batch, scale, seed)
    evals: list[float] = []
    for it in range(iterations):
        logs = step(it, batches(it), {"G": G, "D": D}, opts)
        if not all(math.isfinite(v) for v in logs.values()):
            evals.append(math.inf)
            break
        if (it + 1) % eval_every == 0:
            evals.append(validation_score(G, val, metric))
    if not evals:
        evals.append(validation_score(G, val, metric))
    m = best_of_last(evals, last)
    n_params = sum(p.numel() for p in D.parameters())
    return DEvaluated(cfg, n_params, tuple(evals), m, start, reward(m, start), metric.name,
                      time.perf_counter() - t0)
