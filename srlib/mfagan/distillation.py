"""MFAGAN's distillation of G and D (Sec. 3.4, Eqs. 3-4) as a GAN step: Eq. (1) with both terms.

    L_G = lambda1 L_recon + lambda2 L_Distill_G + lambda4 L_percep + lambda5 L_G(adv)
    L_D = L_D(adv) + lambda3 L_Distill_D

- ``L_Distill_G`` (Eq. 3): the student's MFAM outputs against the frozen teacher's (MFAGAN.L), through
  :class:`srlib.training.distill.FeatureDistiller` (width-matching projections on the student side).
- ``L_Distill_D`` (Eq. 4): the student D's layer-2/4/6 features against the frozen teacher D's, on the same
  real and generated images (the paper writes D_i(y) without saying which y; we use both the HR and the
  generated batch and average the two).

Everything else (reconstruction, perceptual, adversarial terms and the update order) is the shared
:class:`srlib.training.gan.GANStep`; this class only fills its hooks.

Reductions, term by term (what the paper prints, and our reading where the print is loose):
- Eq. (2) ``1/N sum_i ||R(x_i) - y_i||_1``: per-element mean absolute error. The norm notation is read as
  in Eq. (5), whose text says it computes "the Mean Square Error" although its formula also shows a norm;
  a per-image *sum* would weigh lambda1 = 1 about C x H x W (~5e4 at 128 x 128) times more against
  lambda5 = 10 than every SR codebase does. Our choice, stated.
- Eq. (3)-(4): the unsquared L2 norm per sample, batch mean, mean over layers (as printed;
  :mod:`srlib.training.distill`, ``mfagan.distill_norm``).
- Eq. (5): MSE on the VGG19 conv5_4 maps, per-element mean (its text).
- Eq. (6) ``-log D(G(x))`` "over all training samples": mean over samples and PatchGAN patches.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn

from ..training import losses
from ..training.gan import GANStep, GANWeights


class DistillationStep(GANStep):
    """``step_fn`` with MFAGAN's G and/or D distillation (module docstring).

    ``lambda_g`` / ``lambda_d``: lambda2 / lambda3 (0 switches a term off: Table 1's "distill G only").
    """

    def __init__(self, weights: GANWeights, gan: losses.GANLoss, percep: nn.Module | None = None, *,
                 lambda_g: float = 0.0, lambda_d: float = 0.0,
                 teacher_g: nn.Module | None = None, teacher_d: nn.Module | None = None,
                 distill_g: nn.Module | None = None, distill_d: nn.Module | None = None, **kw):
        super().__init__(weights, gan, percep, **kw)
        if lambda_g and (teacher_g is None or distill_g is None):
            raise ValueError("lambda_g > 0 needs teacher_g and a distill_g FeatureDistiller")
        if lambda_d and (teacher_d is None or distill_d is None):
            raise ValueError("lambda_d > 0 needs teacher_d and a distill_d FeatureDistiller")
        self.lambda_g, self.lambda_d = float(lambda_g), float(lambda_d)
        self.teacher_g, self.teacher_d = teacher_g, teacher_d
        self.distill_g, self.distill_d = distill_g, distill_d

    @property
    def trains_d(self) -> bool:
        return bool(self.w.adv or self.lambda_d)

    def generator_forward(self, G: nn.Module, lr: torch.Tensor) -> tuple[torch.Tensor, Any]:
        if not self.lambda_g:
            return G(lr), None
        sr, s_feats = G(lr, return_features=True)
        with torch.no_grad():
            _, t_feats = self.teacher_g(lr, return_features=True)
        return sr, (s_feats, t_feats)

    def generator_extra(self, lr, aux, logs):
        if not self.lambda_g:
            return 0.0
        l_dg = self.distill_g(*aux)
        logs["l_distill_g"] = l_dg.detach().item()
        return self.lambda_g * l_dg

    def discriminator_forward(self, D, hr, fake):
        if not self.lambda_d:
            return D(hr), D(fake), None
        real_logits, s_real = D(hr, return_features=True)
        fake_logits, s_fake = D(fake, return_features=True)
        with torch.no_grad():
            _, t_real = self.teacher_d(hr, return_features=True)
            _, t_fake = self.teacher_d(fake, return_features=True)
        return real_logits, fake_logits, (s_real, t_real, s_fake, t_fake)

    def discriminator_extra(self, hr, fake, aux, logs):
        if not self.lambda_d:
            return 0.0
        s_real, t_real, s_fake, t_fake = aux
        l_dd = 0.5 * (self.distill_d(s_real, t_real) + self.distill_d(s_fake, t_fake))
        logs["l_distill_d"] = l_dd.detach().item()
        return self.lambda_d * l_dd
