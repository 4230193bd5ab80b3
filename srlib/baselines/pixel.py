"""PSNR-oriented recipes: one pixel loss (L1 or MSE), Adam, step decay (srlib/baselines/config.py has each
model's values and their sources). Also every GAN recipe's pre-training stage."""
from __future__ import annotations

from .. import pipeline
from ..training import runs


def stage_name(name: str, seed: int, kind: str = "") -> str:
    return f"baseline_{name}{'_' + kind if kind else ''}_s{seed}"


def pretrain(profile, name: str, seed: int) -> pipeline.StageResult:
    """The pixel-loss stage of recipe ``name`` (for a GAN recipe: its pre-training)."""
    b = profile.baselines
    r = b.recipe(name)
    return runs.pixel_stage(profile, stage_name(name, seed, "pixel" if r.is_gan else ""),
                            g=runs.spec(r.model, **r.kw), seed=seed, iters=r.pixel_iters, lr=r.pixel_lr,
                            loss=r.pixel_loss, milestones=r.pixel_milestones, gamma=r.pixel_gamma,
                            betas=r.pixel_betas, val_every=b.val_every,
                            batch_size=r.pixel_batch_size or r.batch_size,
                            lr_patch=r.pixel_lr_patch or r.lr_patch, params={"recipe": name})


def train(profile, name: str, seed: int) -> pipeline.StageResult:
    """A PSNR-oriented reference model trained with its recipe."""
    if profile.baselines.recipe(name).is_gan:
        raise ValueError(f"{name!r} is a GAN recipe: use srlib.baselines.gan.train")
    return pretrain(profile, name, seed)
