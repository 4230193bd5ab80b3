"""E_G: one generator candidate scored on TPSR's x2 proxy task (Lee et al., ECCV 2020, Alg. 1 lines 15-24).

The paper: build the candidate G from s and initialise it from the weight cache (line 16); compute the
Mult-Adds f_s needed to run it (line 17); if f_s > f return NONE -- the candidate is discarded "before
the training stage" (Sec. 3.2) and the search samples again (lines 7-8); else train and evaluate G on the
proxy distortion task (line 21: x2 upscaling with one upsampling block, n = 16 feature maps, Sec. 4.1;
L1 loss, Eq. 6; validated by PSNR), update the cache by Eq. 5 (line 22) and return the metric. The reward
is "the normalised average PSNR" (Sec. 4.1).

Symbols -> names: s = ``genotype``; f = ``limit`` (G Mult-Adds); f_s = ``mult_adds(genotype)``; NONE =
:class:`Rejected`; m = :attr:`Evaluated.psnr`; R(m) = :attr:`Evaluated.reward` (:func:`normalised_reward`).

Assumptions (the paper defers them to its unavailable supplementary material):

* f_s is counted under TPSR Table 1's convention (:mod:`srlib.complexity.conventions`, "tpsr/table1":
  MACs with bias adds for a 1280x720 output) on the candidate cell in the x4 template, the deployed model
  whose 3.6 G Table 1 prints; the x2 proxy build differs only in the upsampler.
* Reward normalisation: R = (PSNR - floor) / span, with ``floor`` = bicubic PSNR of the validation set
  and ``span`` a fixed number of dB given by the caller, so typical rewards lie in [0, 1] as ENAS's
  accuracies do.
* Training: Adam (0.9, 0.999) at a constant ``lr``, ``iterations`` steps of ``batch`` random LR patches of
  side ``patch`` (random crops, flips, 90-degree rotations: :class:`srlib.data.PatchSampler`), with the
  shared :class:`srlib.training.gan.PixelStep` (L1); weights not in the cache start from PyTorch's
  default initialisation after ``torch.manual_seed(seed)``.
* Validation PSNR: mean over the validation images of Y-PSNR with a shave of 2 (the scale) on 8-bit
  outputs (the suite's convention). A candidate whose loss turns non-finite stops training, scores PSNR
  -inf and reward -1 (worst, never NaN in the policy update) and is not offered to the cache.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from ..complexity import convention, printed_flops
from ..data import Pair, PatchSampler
from ..metrics.psnr_ssim import psnr, quantize
from ..training.gan import PixelStep
from .cell import Genotype, TPSRGenerator
from .weight_cache import WeightCache

__all__ = ["Rejected", "Evaluated", "mult_adds", "normalised_reward", "evaluate", "validation_psnr"]

SCALE = 2  # the proxy task: x2 upscaling, one upsampling block (Sec. 4.1)


@dataclass(frozen=True)
class Rejected:
    """NONE of Alg. 1 line 19: the candidate needs more than ``limit`` G Mult-Adds; never trained."""
    genotype: Genotype
    mult_adds: float
    limit: float

    def row(self) -> dict:
        return {"status": "rejected", "genotype": [list(g) for g in self.genotype],
                "mult_adds_g": self.mult_adds, "limit_g": self.limit}


@dataclass(frozen=True)
class Evaluated:
    """A trained candidate: validation PSNR m, reward R(m), Mult-Adds, cache keys loaded and replaced."""
    genotype: Genotype
    mult_adds: float
    psnr: float
    reward: float
    train_loss: float
    loaded: tuple[str, ...]
    replaced: tuple[str, ...]
    seconds: float

    def row(self) -> dict:
        return {"status": "trained", "genotype": [list(g) for g in self.genotype], "mult_adds_g": self.mult_adds,
                "psnr": self.psnr, "reward": self.reward, "train_loss": self.train_loss,
                "loaded": list(self.loaded), "replaced": list(self.replaced), "seconds": self.seconds}


def mult_adds(genotype: Sequence[tuple[str, int]], num_feat: int = 16) -> float:
    """f_s in G: TPSR Table 1's convention (MACs + bias adds, 1280x720 output) on the x4 template."""
    model = TPSRGenerator(num_feat=num_feat, genotype=genotype, scale=4)
    return float(printed_flops(model, convention("tpsr", "table1")))


def normalised_reward(psnr_db: float, floor: float, span: float) -> float:
    """R(m) = (m - floor) / span (assumption, see the module docstring); -1 for a diverged candidate."""
    if not math.isfinite(psnr_db):
        return -1.0
    return (psnr_db - floor) / span


@torch.no_grad()
def validation_psnr(model: torch.nn.Module, val: Sequence[tuple[torch.Tensor, torch.Tensor]],
                    shave: int = SCALE) -> float:
    """Mean Y-PSNR (8-bit output, ``shave`` pixels) over ``val`` = [(lr, hr)] 1x3xHxW tensors in [0, 1]."""
    was = model.training
    model.eval()
    dev = next(model.parameters()).device
    vals = [psnr(quantize(model(lr.to(dev)).float().cpu()), hr, shave) for lr, hr in val]
    model.train(was)
    return float(np.mean(vals))


def evaluate(genotype: Sequence[tuple[str, int]], *, cache: WeightCache, train: Sequence[Pair],
             val: Sequence[tuple[torch.Tensor, torch.Tensor]], limit: float, iterations: int, batch: int,
             patch: int, lr: float, seed: int, reward_floor: float, reward_span: float,
             num_feat: int = 16, device: torch.device | str = "cpu") -> Rejected | Evaluated:
    """E_G(s) (Alg. 1 lines 15-24) on the x2 proxy task; ``train`` are x2 pairs, ``val`` x2 (lr, hr) tensors.

    ``limit``: f in G Mult-Adds (``math.inf``: no limit). ``seed`` fixes the fresh weights and the patches,
    so the same call gives the same result (on one device). Updates ``cache`` (Eq. 5) only when the
    candidate is trained.
    """
    geno: Genotype = tuple((str(o), int(i)) for o, i in genotype)
    t0 = time.perf_counter()
    f_s = mult_adds(geno, num_feat)
    if f_s > limit:
        return Rejected(geno, f_s, float(limit))
    torch.manual_seed(seed)
    model = TPSRGenerator(num_feat=num_feat, genotype=geno, scale=SCALE)
    loaded = cache.initialise(model, geno)
    model = model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=lr, betas=(0.9, 0.999))
    batches = PatchSampler(train, patch, batch, SCALE, seed)
    step = PixelStep("l1")
    losses = []
    for it in range(iterations):
        losses.append(step(it, batches(it), {"G": model}, {"G": opt})["l_recon"])
        if not math.isfinite(losses[-1]):
            break
    tail = losses[-max(1, len(losses) // 10):]
    train_loss = float(np.mean(tail))
    m = validation_psnr(model, val) if math.isfinite(train_loss) else -math.inf
    replaced = cache.offer(model, geno, m) if math.isfinite(m) else []
    return Evaluated(geno, f_s, m, normalised_reward(m, reward_floor, reward_span), train_loss, tuple(loaded),
                     tuple(replaced), time.perf_counter() - t0)
