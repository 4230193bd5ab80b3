"""The perceptual-GAN training step every GAN of the suite uses (one G update, then one D update).

    L_G = w_recon L_recon + w_percep L_percep + w_texture L_texture + w_adv L_G(adv) [+ extra_g]
    L_D = L_D(adv) [+ extra_d]

which is ESRGAN's (RaGAN + L1 + VGG), SRGAN's (VGG + adversarial), EnhanceNet-PAT's (perceptual + texture
+ adversarial) and MFAGAN's Eq. (1) without its distillation terms.

- ``L_recon``: L1 (ESRGAN, MFAGAN Eq. 2) or MSE (SRGAN) between SR and HR.
- ``L_percep`` / ``L_texture``: modules ``(sr, hr) -> loss`` -- VGG19 features when the ImageNet weights are
  present; offline the stage passes the labelled pixel-space stand-ins of :mod:`srlib.training.losses`
  and records that (never a random VGG). ``None`` leaves a term out.
- ``L_G(adv)`` / ``L_D(adv)``: :class:`srlib.training.losses.GANLoss` (vanilla, RaGAN, LSGAN).

A method that adds terms (MFAGAN's distillation of G and D, srlib/mfagan/distillation.py) subclasses
:class:`GANStep` and overrides the four small hooks ``generator_forward``, ``generator_extra``,
``discriminator_forward`` and ``discriminator_extra``; the update order stays here.

Every tensor goes to the generator's device. Models: ``models["G"]``, ``models["D"]``; optimisers ``"G"``
and ``"D"`` (each may also hold a method's extra parameters, e.g. distillation projections).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

import torch
import torch.nn as nn

from . import losses


@dataclass(frozen=True)
class GANWeights:
    recon: float = 1.0        # MFAGAN lambda1, ESRGAN eta
    percep: float = 1.0       # MFAGAN lambda4
    adv: float = 10.0         # MFAGAN lambda5, ESRGAN lambda
    texture: float = 0.0      # EnhanceNet's texture term
    recon_kind: str = "l1"    # l1 | mse


def requires_grad(m: nn.Module, flag: bool) -> None:
    for p in m.parameters():
        p.requires_grad_(flag)


class GANStep:
    """``step_fn`` for :func:`srlib.training.loop.train` (module docstring)."""

    def __init__(self, weights: GANWeights, gan: losses.GANLoss, percep: nn.Module | None = None, *,
                 texture: nn.Module | None = None,
                 validate: Callable[[nn.Module], Mapping[str, float]] | None = None, val_every: int = 0):
        if weights.texture and texture is None:
            raise ValueError("a texture weight > 0 needs a texture loss module")
        self.w, self.gan, self.percep, self.texture = weights, gan, percep, texture
        self.validate, self.val_every = validate, val_every
        self.recon = losses.l1_loss if weights.recon_kind == "l1" else losses.mse_loss

    # ---- hooks for methods that add terms (defaults: none) ----
    def generator_forward(self, G: nn.Module, lr: torch.Tensor) -> tuple[torch.Tensor, Any]:
        return G(lr), None

    def generator_extra(self, lr: torch.Tensor, aux: Any, logs: dict) -> torch.Tensor | float:
        return 0.0

    def discriminator_forward(self, D: nn.Module, hr: torch.Tensor, fake: torch.Tensor):
        """``(real_logits, fake_logits, aux)``."""
        return D(hr), D(fake), None

    def discriminator_extra(self, hr: torch.Tensor, fake: torch.Tensor, aux: Any, logs: dict) -> torch.Tensor | float:
        return 0.0

    @property
    def trains_d(self) -> bool:
        return bool(self.w.adv)

    def __call__(self, step: int, batch, models, optimizers) -> dict[str, float]:
        G, D = models["G"], models["D"]
        device = next(G.parameters()).device
        lr, hr = (t.to(device) for t in batch)
        G.train()
        D.train()
        w = self.w
        # ---- generator ----
        requires_grad(D, False)
        sr, aux = self.generator_forward(G, lr)
        logs: dict[str, float] = {}
        loss_g = w.recon * self.recon(sr, hr)
        logs["l_recon"] = loss_g.detach().item() / max(w.recon, 1e-12) if w.recon else self.recon(sr, hr).item()
        loss_g = loss_g + self.generator_extra(lr, aux, logs)
        if self.percep is not None and w.percep:
            l_p = self.percep(sr, hr)
            loss_g = loss_g + w.percep * l_p
            logs["l_percep"] = l_p.detach().item()
        if self.texture is not None and w.texture:
            l_t = self.texture(sr, hr)
            loss_g = loss_g + w.texture * l_t
            logs["l_texture"] = l_t.detach().item()
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
        requires_grad(D, True)
        if self.trains_d:
            fake = sr.detach()
            real_logits, fake_logits, d_aux = self.discriminator_forward(D, hr, fake)
            loss_d = self.gan.discriminator(real_logits, fake_logits)
            logs["l_adv_d"] = loss_d.detach().item()
            loss_d = loss_d + self.discriminator_extra(hr, fake, d_aux, logs)
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
    """L1 (or MSE) training step: PSNR-oriented models, and every GAN's pre-training (ESRGAN's
    PSNR-oriented RRDBNet, SRGAN's SRResNet, MFAGAN Sec. 4.1 stage 1)."""

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
