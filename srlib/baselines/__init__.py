"""The reference models of the four papers, each trained once per profile and seed, read by every paper.

ESRGAN is MFAGAN's baseline, AGD's teacher, one of AdaSR's adapted models and a TPSR Table 1 row; SRGAN
and EnhanceNet are rows of MFAGAN Table 2 and TPSR Table 1; CARN, RCAN and FMEN are AdaSR's teachers;
FEQE, IMDN, RFDN, CARN-M and TPSR's published cell are rows of the papers' comparisons. Each is a cached
stage keyed by (model, recipe, profile section, seed), so the second notebook that asks for one reads the
finished stage.

    reference(profile, "esrgan", seed)     -> the finished stage whose "G" is the reference generator
    pretrained(profile, "esrgan", seed)    -> a GAN recipe's pixel-loss stage (PSNR before the GAN stage)

Where the weights come from is the profile key ``baselines.<name>.source``: ``train`` (the recipe in
``baselines.<name>``, srlib/baselines/config.py, with its sources) or ``released`` (the authors'
checkpoint ``baselines.<name>.released``, srlib/weights/released.py). One small file per recipe family:

    pixel.py      PSNR-oriented recipes (L1 / MSE): CARN, CARN-M, RCAN, IMDN, RFDN, FMEN, FEQE, TPSR's cell,
                  and every GAN's pre-training
    gan.py        the GAN recipes: ESRGAN (RaGAN + L1 + VGG), SRGAN (VGG54 + adversarial), EnhanceNet-PAT
                  (perceptual + texture + adversarial)
    released.py   the authors' checkpoints as a stage with the same handle

This package is light to import (its profile section is read by srlib.config); the stages import torch.
"""
from __future__ import annotations

NAMES = ("esrgan", "srgan", "enhancenet", "carn", "carn_m", "rcan", "imdn", "rfdn", "fmen", "feqe", "tpsr")


def reference(profile, name: str, seed: int = 0):
    """The finished stage of reference model ``name`` (its ``"G"`` via :func:`srlib.training.runs.load_model`)."""
    recipe = profile.baselines.recipe(name)
    if recipe.source == "released":
        from . import released

        return released.stage(profile, name)
    if recipe.is_gan:
        from . import gan

        return gan.train(profile, name, seed)
    from . import pixel

    return pixel.train(profile, name, seed)


def pretrained(profile, name: str, seed: int = 0):
    """A GAN recipe's pixel-loss pre-training stage (ESRGAN's PSNR-oriented RRDBNet, SRGAN's SRResNet)."""
    from . import pixel

    return pixel.pretrain(profile, name, seed)
