"""The perceptual-GAN training step that every GAN of the suite uses (one G update, then one D update).

Its objective is MFAGAN's Eq. (1), which subsumes ESRGAN's and SRGAN's:

    L_G  = w_recon * L_recon + w_distill_g * L_Distill_G + w_percep * L_percep + w_adv * L_G(adv)
    L_D  = L_D(adv) + w_distill_d * L_Distill_D

- ``L_recon``: L1 (MFAGAN Eq. 2, ESRGAN) or MSE (SRGAN) between SR and HR.
- ``L_percep``: VGG19 conv5_4 features before activation (Eq. 5) when the ImageNet weights are present;
  offline the stage passes the labelled pixel-space stand-in (:class:`srlib.training.losses.PixelStandIn`)
  and records that (never a random VGG). ``percep=None`` leaves the term out.
- ``L_G(adv)`` / ``L_D(adv)``: :class:`srlib.training.losses.GANLoss` (vanilla = Eq. 6, RaGAN for ESRGAN).
- ``L_Distill_G`` (Eq. 3): student MFAM outputs vs the frozen teacher's; ``L_Distill_D`` (Eq. 4): the
  student D's layer-2/4/6 features vs the frozen teacher D's, on the same real and generated images
  (the paper writes D_i(y) without saying which y; we use both the HR and the generated batch).

Every tensor goes to the generator's device. Models: ``models["G"]``, ``models["D"]``; optimisers ``"G"`` (generator + G-side distillation projections)
and ``"D"`` (discriminator + D-side projections).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping

import torch
import torch.nn as nn

from . import losses


@dataclass(frozen=True)
class GANWeights:
    recon: float = 1.0        # lambda1
    distill_g: float = 0.0    # lambda2
    distill_d: float = 0.0    # lambda3
    percep: float = 1.0       # lambda4
    adv: float = 10.0         # lambda5
    recon_kind: str = "l1"    # l1 | mse


def _requires_grad(m: nn.Module, flag: bool) -> None:
    for p in m.parameters():
        p.requires_grad_(flag)


class GANStep:
    """``step_fn`` for :func:`srlib.training.loop.train` (module docstring)."""

    def __init__(self, weights: GANWeights, gan: losses.GANLoss, percep: nn.Module | None = None, *,
                 teacher_g: nn.Module | None = None, teacher_d: nn.Module | None = None,
                 distill_g: nn.Module | None = None, distill_d: nn.Module | None = None,
                 validate: Callable[[nn.Module], Mapping[str, float]] | None = None, val_every: int = 0):
        if weights.distill_g and (teacher_g is None or distill_g is None):
            raise ValueError("distill_g weight > 0 needs teacher_g and a distill_g FeatureDistiller")
        if weights.distill_d and (teacher_d is None or distill_d is None):
            raise ValueError("distill_d weight > 0 needs teacher_d and a distill_d FeatureDistiller")
        self.w, self.gan, self.percep = weights, gan, percep
        self.teacher_g, self.teacher_d = teacher_g, teacher_d
        self.distill_g, self.distill_d = distill_g, distill_d
        self.validate, self.val_every = validate, val_every
        self.recon = losses.l1_loss if weights.recon_kind == "l1" else losses.mse_loss

    def __call__(self, step: int, batch, models, optimizers) -> dict[str, float]:
        G, D = models["G"], models["D"]
        device = next(G.parameters()).device
        lr, hr = (t.to(device) for t in batch)
        G.train()
        D.train()
        w = self.w
        # ---- generator ----
        _requires_grad(D, False)
        if w.distill_g:
            sr, s_feats = G(lr, return_features=True)
            with torch.no_grad():
                _, t_feats = self.teacher_g(lr, return_features=True)
        else:
            sr = G(lr)
        logs: dict[str, float] = {}
        loss_g = w.recon * self.recon(sr, hr)
        logs["l_recon"] = loss_g.detach().item() / max(w.recon, 1e-12)
        if w.distill_g:
            l_dg = self.distill_g(s_feats, t_feats)
            loss_g = loss_g + w.distill_g * l_dg
            logs["l_distill_g"] = l_dg.detach().item()
        if self.percep is not None and w.percep:
            l_p = self.percep(sr, hr)
            loss_g = loss_g + w.percep * l_p
            logs["l_percep"] = l_p.detach().item()
        if w.adv:
            fake_logits = D(sr)
            real_logits = D(hr).detach() if self.gan.kind == "ragan" else None
            l_adv = self.gan.generator(fake_logits, real_logits)
            loss_g = loss_g + w.adv * l_adv
            logs["l_adv_g"] = l_adv.detach().item()
        optimizers["G"].zero_grad(set_to_none=True)
        loss_g.backward()
        optimizers["G"].step()
        logs["loss_g"] = loss_g.detach().item()
        # ---- discriminator ----
        _requires_grad(D, True)
        if w.adv or w.distill_d:
            fake = sr.detach()
            if w.distill_d:
                real_logits, s_real = D(hr, return_features=True)
                fake_logits, s_fake = D(fake, return_features=True)
                with torch.no_grad():
                    _, t_real = self.teacher_d(hr, return_features=True)
                    _, t_fake = self.teacher_d(fake, return_features=True)
                l_dd = 0.5 * (self.distill_d(s_real, t_real) + self.distill_d(s_fake, t_fake))
            else:
                real_logits, fake_logits = D(hr), D(fake)
            loss_d = self.gan.discriminator(real_logits, fake_logits)
            logs["l_adv_d"] = loss_d.detach().item()
            if w.distill_d:
                loss_d = loss_d + w.distill_d * l_dd
                logs["l_distill_d"] = l_dd.detach().item()
            optimizers["D"].zero_grad(set_to_none=True)
            loss_d.backward()
            optimizers["D"].step()
            with torch.no_grad():
                logs["d_real"] = float(torch.sigmoid(real_logits).mean())
                logs["d_fake"] = float(torch.sigmoid(fake_logits).mean())
        if self.validate is not None and self.val_every and (step + 1) % self.val_every == 0:
            logs.update(self.validate(G))
        return logs


class PixelStep:
    """L1 (or MSE) pre-training step (MFAGAN Sec. 4.1 stage 1, ESRGAN's PSNR-oriented pre-training)."""

    def __init__(self, recon_kind: str = "l1",
                 validate: Callable[[nn.Module], Mapping[str, float]] | None = None, val_every: int = 0):
        self.recon = losses.l1_loss if recon_kind == "l1" else losses.mse_loss
        self.validate, self.val_every = validate, val_every

    def __call__(self, step: int, batch, models, optimizers) -> dict[str, float]:
        G = models["G"]
        G.train()
        device = next(G.parameters()).device
        lr, hr = (t.to(device) for t in batch)
        loss = self.recon(G(lr), hr)
        optimizers["G"].zero_grad(set_to_none=True)
        loss.backward()
        optimizers["G"].step()
        logs = {"l_recon": loss.detach().item()}
        if self.validate is not None and self.val_every and (step + 1) % self.val_every == 0:
            logs.update(self.validate(G))
        return logs
