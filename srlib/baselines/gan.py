"""The GAN recipes: a pixel-loss pre-training (srlib/baselines/pixel.py), then the GAN stage.

- ESRGAN: RaGAN, L_G = L_percep + 5e-3 L_adv + 1e-2 L1 with L_percep = L1 on VGG19 conv5_4 before
  activation; VGG-style D.
- SRGAN: L = VGG54 MSE (relu5_4, feature maps x 1/12.75) + 1e-3 adversarial; its D.
- EnhanceNet-PAT: L = L_P (pool2, pool5) + L_T (Gram texture at conv1_1, conv2_1, conv3_1) + 2 L_A.

Each recipe's values and sources are in srlib/baselines/config.py. Offline (no VGG19 ImageNet weights)
the perceptual and texture terms are the labelled pixel-space stand-ins of srlib.training.losses at the
terms' weights; every stage's manifest records which.
"""
from __future__ import annotations

from .. import pipeline
from ..training import runs
from ..training.gan import GANWeights
from .pixel import pretrain, stage_name

# discriminators whose linear head is sized by the input (HR patch) side
_SIZED_D = ("esrgan_d", "srgan_d")


def discriminator_spec(profile, name: str) -> dict:
    r = profile.baselines.recipe(name)
    kw = dict(r.d_kw)
    if r.d in _SIZED_D:
        kw.setdefault("input_size", (r.lr_patch or profile.data.lr_patch) * profile.data.scale)
    return runs.spec(r.d, **kw)


def train(profile, name: str, seed: int) -> pipeline.StageResult:
    """The GAN recipe ``name``: its pre-training stage, then the GAN stage from it."""
    b = profile.baselines
    r = b.recipe(name)
    if not r.is_gan:
        raise ValueError(f"{name!r} is a PSNR-oriented recipe: use srlib.baselines.pixel.train")
    pre = pretrain(profile, name, seed)
    weights = GANWeights(recon=r.w_recon, percep=r.w_percep, adv=r.w_adv, texture=r.w_texture,
                         recon_kind=r.recon_loss)
    percep = ({"criterion": r.percep_criterion, "layers": r.percep_layers,
               "layer_weights": r.percep_layer_weights, "feature_scale": r.percep_feature_scale}
              if r.w_percep else None)
    texture = ({"layers": r.texture_layers, "layer_weights": r.texture_layer_weights, "patch": r.texture_patch}
               if r.w_texture else None)
    return runs.gan_stage(profile, stage_name(name, seed), g=runs.spec(r.model, **r.kw),
                          d=discriminator_spec(profile, name), init_g=pre, seed=seed, weights=weights,
                          gan_kind=r.gan, percep=percep, texture=texture, iters=r.gan_iters, lr=r.gan_lr,
                          milestones=r.gan_milestones, gamma=r.gan_gamma, betas=r.gan_betas,
                          val_every=b.val_every, batch_size=r.batch_size, lr_patch=r.lr_patch,
                          params={"recipe": name})
