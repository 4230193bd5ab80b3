"""The ``baselines`` profile section: each reference model's published recipe (``profile.baselines``).

One :class:`Recipe` per reference model. The dataclass defaults are the published recipes (paper values,
each with its source); ``paper.yaml`` lists them again (a test keeps the two equal) and ``mini``/``smoke``
override only what they shrink -- a section's YAML is merged over these defaults, nested ``kw`` mappings
included.

A recipe is a pixel-loss stage (PSNR-oriented models; a GAN's pre-training) and, when ``gan`` is set, a
GAN stage that starts from it. ``source: released`` loads the authors' checkpoint
(:mod:`srlib.weights.released`) instead of training, where one exists.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any

from ..config import ConfigError, check_choice, check_positive, register_section

SOURCES = ("train", "released")


@dataclass(frozen=True)
class Recipe:
    """One reference model's training recipe. ``ref`` cites where the values come from."""
    model: str                               # srlib.models registry name of the generator
    ref: str = ""                            # the recipe's source (paper section / official config)
    kw: dict[str, Any] = field(default_factory=dict)  # generator kwargs (shrunk at mini/smoke)
    source: str = "train"                    # train (our recipe) | released (the authors' weights)
    released: str = ""                       # srlib.weights.released name for source: released
    batch_size: int | None = None            # None: data.batch_size
    lr_patch: int | None = None              # LR patch side; None: data.lr_patch
    pixel_batch_size: int | None = None      # the pixel stage's own batch; None: batch_size (the papers use
    pixel_lr_patch: int | None = None        # one shape for both stages; mini gives the pixel stage more)
    # ---- pixel-loss stage (PSNR-oriented training, or the GAN's pre-training) ----
    pixel_loss: str = "l1"                   # l1 | mse
    pixel_iters: int = 1_000_000
    pixel_lr: float = 2e-4
    pixel_milestones: tuple[int, ...] = ()
    pixel_gamma: float = 0.5
    pixel_betas: tuple[float, ...] = (0.9, 0.999)
    # ---- GAN stage ("" = a PSNR-oriented model, no GAN stage) ----
    gan: str = ""                            # "" | vanilla | ragan | lsgan
    d: str = ""                              # discriminator registry name
    d_kw: dict[str, Any] = field(default_factory=dict)
    gan_iters: int = 0
    gan_lr: float = 1e-4
    gan_milestones: tuple[int, ...] = ()
    gan_gamma: float = 0.5
    gan_betas: tuple[float, ...] = (0.9, 0.999)
    w_recon: float = 0.0                     # pixel term in the GAN stage
    recon_loss: str = "l1"
    w_percep: float = 0.0                    # VGG feature term (per layer in percep_layers)
    percep_layers: tuple[str, ...] = ("conv5_4",)
    percep_layer_weights: tuple[float, ...] = (1.0,)
    percep_criterion: str = "l1"             # l1 | mse
    percep_feature_scale: float = 1.0        # feature maps multiplied by this before the distance
    w_texture: float = 0.0                   # EnhanceNet's Gram texture term
    texture_layers: tuple[str, ...] = ()
    texture_layer_weights: tuple[float, ...] = ()
    texture_patch: int = 16
    w_adv: float = 0.0

    @property
    def is_gan(self) -> bool:
        return bool(self.gan)

    def validate(self, where: str, profile) -> None:
        check_choice(f"{where}.source", self.source, SOURCES)
        if self.source == "released" and not self.released:
            raise ConfigError(f"{where}.source is 'released' but {where}.released names no checkpoint; "
                              f"set it (python -m srlib.weights list) or use source: train")
        check_choice(f"{where}.pixel_loss", self.pixel_loss, ("l1", "mse"))
        check_positive(f"{where}.pixel_iters", self.pixel_iters)
        for k in ("batch_size", "lr_patch", "pixel_batch_size", "pixel_lr_patch"):
            if getattr(self, k) is not None:
                check_positive(f"{where}.{k}", getattr(self, k))
        _schedule(where, "pixel", self.pixel_lr, self.pixel_milestones, self.pixel_iters, self.pixel_betas)
        if not self.gan:
            return
        check_choice(f"{where}.gan", self.gan, ("vanilla", "ragan", "lsgan"))
        check_choice(f"{where}.recon_loss", self.recon_loss, ("l1", "mse"))
        check_choice(f"{where}.percep_criterion", self.percep_criterion, ("l1", "mse"))
        check_positive(f"{where}.gan_iters", self.gan_iters)
        if not self.d:
            raise ConfigError(f"{where}.d must name the discriminator of a GAN recipe")
        _schedule(where, "gan", self.gan_lr, self.gan_milestones, self.gan_iters, self.gan_betas)
        for k in ("w_recon", "w_percep", "w_texture", "w_adv"):
            if getattr(self, k) < 0:
                raise ConfigError(f"{where}.{k} must be >= 0, got {getattr(self, k)}")
        if len(self.percep_layers) != len(self.percep_layer_weights):
            raise ConfigError(f"{where}.percep_layers and percep_layer_weights must have the same length")
        if len(self.texture_layers) != len(self.texture_layer_weights):
            raise ConfigError(f"{where}.texture_layers and texture_layer_weights must have the same length")
        hr = (self.lr_patch or profile.data.lr_patch) * profile.data.scale
        if self.d == "esrgan_d" and hr % 32:
            raise ConfigError(f"{where}.lr_patch: the HR patch ({hr}) must be a multiple of 32 for esrgan_d")
        if self.w_texture and hr % self.texture_patch:
            raise ConfigError(f"{where}.texture_patch={self.texture_patch} must divide the HR patch ({hr})")


def _schedule(where: str, stage: str, lr: float, milestones, iters: int, betas) -> None:
    if lr <= 0:
        raise ConfigError(f"{where}.{stage}_lr must be > 0, got {lr}")
    if list(milestones) != sorted(set(milestones)) or any(m <= 0 or m >= iters for m in milestones):
        raise ConfigError(f"{where}.{stage}_milestones {list(milestones)} must increase strictly and lie "
                          f"inside (0, {stage}_iters={iters})")
    if len(betas) != 2 or not all(0 <= b < 1 for b in betas):
        raise ConfigError(f"{where}.{stage}_betas must be two numbers in [0, 1), got {list(betas)}")


def _every(step: int, total: int) -> tuple[int, ...]:
    return tuple(range(step, total, step))


# ------------------------------------------------------------------------------------------------------
# The published recipes (x4, bicubic). Where a paper is silent the value is marked "assumption".
# ------------------------------------------------------------------------------------------------------
def _esrgan() -> Recipe:
    return Recipe(
        model="esrgan", kw={"num_feat": 64, "num_block": 23},
        ref=("ESRGAN (Wang et al. 2018) Sec. 3.2-4.1: batch 16, 128x128 HR patches, Adam (0.9, 0.999); "
             "PSNR-oriented RRDBNet with L1, lr 2e-4 halved every 2e5 updates (1e6 in all: the authors' "
             "BasicSR train_sr.json); GAN stage from it, lr 1e-4 halved at 50k/100k/200k/300k of 400k "
             "(BasicSR train_ESRGAN_x4.yml; the paper gives no total), L_G = L_percep + 5e-3 L_RaGAN + 1e-2 "
             "L1, L_percep = L1 on VGG19 conv5_4 before activation (criterion from the authors' code); "
             "VGG-style D at 128x128. Data DF2K+OST in the paper, DIV2K here"),
        batch_size=16, lr_patch=32,
        pixel_loss="l1", pixel_iters=1_000_000, pixel_lr=2e-4, pixel_milestones=_every(200_000, 1_000_000),
        gan="ragan", d="esrgan_d", d_kw={"num_feat": 64},
        gan_iters=400_000, gan_lr=1e-4, gan_milestones=(50_000, 100_000, 200_000, 300_000),
        w_recon=1e-2, recon_loss="l1", w_percep=1.0, percep_layers=("conv5_4",), percep_criterion="l1",
        w_adv=5e-3)


def _srgan() -> Recipe:
    return Recipe(
        model="srgan", kw={"num_feat": 64, "num_block": 16},
        ref=("SRGAN (Ledig et al. 2017) Sec. 2-3: batch 16, 96x96 HR patches, Adam beta1 0.9 (beta2 not "
             "given: 0.999 assumed); SRResNet with MSE, lr 1e-4, 1e6 iterations; SRGAN from it, 1e5 "
             "iterations at 1e-4 then 1e5 at 1e-5, L = VGG54 MSE (phi_5,4 after activation, feature maps "
             "rescaled by 1/12.75) + 1e-3 adversarial (-log D). Data: 350k ImageNet images in the paper, "
             "DIV2K here; the paper's HR range [-1, 1] for the MSE is our [0, 1] (a factor 4 on the MSE)"),
        batch_size=16, lr_patch=24,
        pixel_loss="mse", pixel_iters=1_000_000, pixel_lr=1e-4,
        gan="vanilla", d="srgan_d", d_kw={"num_feat": 64},
        gan_iters=200_000, gan_lr=1e-4, gan_milestones=(100_000,), gan_gamma=0.1,
        w_recon=0.0, recon_loss="mse", w_percep=1.0, percep_layers=("relu5_4",), percep_criterion="mse",
        percep_feature_scale=1 / 12.75, w_adv=1e-3)


def _enhancenet() -> Recipe:
    return Recipe(
        model="enhancenet", kw={"num_feat": 64, "num_block": 10},
        ref=("EnhanceNet-PAT (Sajjadi et al. 2017) Sec. 3-4: L = L_P + L_T + L_A. The weights are not in "
             "the text we have; they are read from a third-party reimplementation (tensorpack "
             "examples/SuperResolution/enet-pat.py, 'see table 2 from appendix'): L_P MSE on VGG19 pool2 "
             "(2e-1) and pool5 (2e-2), L_T Gram matrices of 16x16 patches at conv1_1 (3e-7), conv2_1 (1e-6), "
             "conv3_1 (1e-6), L_A 2; Adam lr 1e-4, batch 16, 32x32 LR patches (MS-COCO in the paper). Not "
             "found: the iteration count (assumption 2e5), whether training starts from scratch (we start "
             "from a pixel-loss model, as every GAN of the suite: assumption), the D (SRGAN-style: assumption), "
             "the feature normalisation of L_P (none here)"),
        batch_size=16, lr_patch=32,
        pixel_loss="l1", pixel_iters=100_000, pixel_lr=1e-4,
        gan="vanilla", d="srgan_d", d_kw={"num_feat": 64},
        gan_iters=200_000, gan_lr=1e-4,
        w_recon=0.0, w_percep=1.0, percep_layers=("pool2", "pool5"), percep_layer_weights=(2e-1, 2e-2),
        percep_criterion="mse", w_texture=1.0, texture_layers=("conv1_1", "conv2_1", "conv3_1"),
        texture_layer_weights=(3e-7, 1e-6, 1e-6), texture_patch=16, w_adv=2.0)


def _psnr(model: str, ref: str, **k) -> Recipe:
    return Recipe(model=model, ref=ref, **k)


def _carn() -> Recipe:
    return _psnr("carn", "CARN (Ahn et al. 2018), nmhkahn/CARN-pytorch README + train.py @40d3514: L1, Adam lr "
                 "1e-4 (default betas), x0.5 every 4e5 of 6e5 steps, batch 64, 64x64 LR patches, DIV2K. Not "
                 "reproduced: multi-scale training (x2/x3/x4 drawn per step; ours is x4 only) and grad-norm "
                 "clipping at 10", batch_size=64, lr_patch=64, pixel_iters=600_000, pixel_lr=1e-4,
                 pixel_milestones=(400_000,))


def _carn_m() -> Recipe:
    return replace(_carn(), model="carn_m", ref="CARN-M: the CARN recipe with --group 4 (same README). "
                   + _carn().ref.split(": ", 1)[1])


def _rcan() -> Recipe:
    return _psnr("rcan", "RCAN (Zhang et al. 2018), yulunzhang/RCAN TrainRCAN_scripts.sh + option.py @f722e5d: "
                 "L1, Adam (0.9, 0.999, eps 1e-8), lr 1e-4 halved every 200 of 1000 epochs of 1000 "
                 "iterations, batch 16, 48x48 LR patches, DIV2K. Not reproduced: the x4 model starts from "
                 "the x2 one (ours from scratch)", batch_size=16, lr_patch=48, pixel_iters=1_000_000,
                 pixel_lr=1e-4, pixel_milestones=_every(200_000, 1_000_000))


def _imdn() -> Recipe:
    return _psnr("imdn", "IMDN (Hui et al. 2019), Zheng222/IMDN train_IMDN.py @4165511: L1, Adam lr 2e-4 "
                 "(default betas) halved every 200 of 1000 epochs of 1000 iterations, batch 16, 192x192 HR "
                 "patches, DIV2K", batch_size=16, lr_patch=48, pixel_iters=1_000_000, pixel_lr=2e-4,
                 pixel_milestones=_every(200_000, 1_000_000))


def _rfdn() -> Recipe:
    return _psnr("rfdn", "RFDN (Liu et al. 2020) Sec. 4.1 as summarised by a third party (the paper text was not "
                 "read): EDSR framework, DIV2K, Adam lr 5e-4 halved every 2e5 iterations, batch 64; L1 and "
                 "64x64 LR patches from memory (unverified); 1e6 iterations (assumption); the later L2 "
                 "fine-tuning is not reproduced", batch_size=64, lr_patch=64, pixel_iters=1_000_000,
                 pixel_lr=5e-4, pixel_milestones=_every(200_000, 1_000_000))


def _fmen() -> Recipe:
    return _psnr("fmen", "FMEN (Du et al. 2022, NTIRE 2022 ESR): its repository says only 'EDSR framework'; "
                 "every value here is an assumption (RFDN's recipe: L1, batch 64, 64x64 LR patches, Adam lr "
                 "5e-4 halved every 2e5 of 1e6 iterations); trained directly in the deploy form (its "
                 "re-parameterised training form is not in the zoo); its L2 fine-tuning is not reproduced",
                 batch_size=64, lr_patch=64, pixel_iters=1_000_000, pixel_lr=5e-4,
                 pixel_milestones=_every(200_000, 1_000_000))


def _feqe() -> Recipe:
    return _psnr("feqe", "FEQE (Vu et al. 2018), thangvubk/FEQE train.py @8283bb2: MSE, Adam lr 1e-4 halved at "
                 "epoch 1200 of 2000 (100 iterations each: 2e5 iterations, halving at 1.2e5), batch 8, "
                 "192x192 HR patches, DIV2K. Not reproduced: its x2 MSE pre-training before x4, and FEQE-P's "
                 "VGG fine-tuning", batch_size=8, lr_patch=48, pixel_loss="mse", pixel_iters=200_000,
                 pixel_lr=1e-4, pixel_milestones=(120_000,))


def _tpsr() -> Recipe:
    return _psnr("tpsr", "TPSR-NOGAN, the published cell (Lee et al. 2020): no training recipe is public "
                 "(royson/tpsr holds test code only; the supplementary material is not available). "
                 "Assumption: the EDSR framework's defaults it was built on (L1, Adam lr 1e-4 halved every "
                 "2e5 iterations, batch 16, 48x48 LR patches), 6e5 iterations", batch_size=16, lr_patch=48,
                 pixel_iters=600_000, pixel_lr=1e-4, pixel_milestones=_every(200_000, 600_000))


@register_section("baselines")
@dataclass(frozen=True)
class BaselinesConfig:
    """Every reference model of the four papers, trained once per profile and seed (srlib/baselines)."""
    val_every: int = 1_000        # validation PSNR logging of every baseline stage
    esrgan: Recipe = field(default_factory=_esrgan)
    srgan: Recipe = field(default_factory=_srgan)
    enhancenet: Recipe = field(default_factory=_enhancenet)
    carn: Recipe = field(default_factory=_carn)
    carn_m: Recipe = field(default_factory=_carn_m)
    rcan: Recipe = field(default_factory=_rcan)
    imdn: Recipe = field(default_factory=_imdn)
    rfdn: Recipe = field(default_factory=_rfdn)
    fmen: Recipe = field(default_factory=_fmen)
    feqe: Recipe = field(default_factory=_feqe)
    tpsr: Recipe = field(default_factory=_tpsr)

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls) if f.type in (Recipe, "Recipe"))

    def recipe(self, name: str) -> Recipe:
        if name not in self.names():
            raise KeyError(f"no reference model {name!r}; valid: {', '.join(self.names())}")
        return getattr(self, name)

    def validate(self, where: str, profile) -> None:
        check_positive(f"{where}.val_every", self.val_every)
        if self.val_every % profile.train.log_every:
            raise ConfigError(f"{where}.val_every={self.val_every} must be a multiple of "
                              f"train.log_every={profile.train.log_every}")
        for n in self.names():
            self.recipe(n).validate(f"{where}.{n}", profile)
