"""MFAGAN's pipeline as cached stages (Fig. 2 and Sec. 4.1), in the paper's vocabulary.

    baselines     ESRGAN / SRGAN / EnhanceNet, each L1/MSE pre-trained then GAN-trained (Table 2)
    pretrain      MFANet with L1, lr 2e-4 (Sec. 4.1 stage 1)
    mfagan_l      MFAGAN.L: MFANet-64 + PatchGAN-48 with Eq. (1), lambda1=1, lambda4=1, lambda5=10
    distill       student G48 (+ student D32) distilled from MFAGAN.L (Sec. 3.4; lambda2=lambda3=0.05),
                  or "distill G only" (G48 with a fresh D48) for Table 1's 3rd column
    supergenerator, search, finetune   Sec. 3.6 (srlib/mfagan/nas.py)

Widths and schedules come from ``profile.mfagan`` (paper values in paper.yaml; mini/smoke shrink them,
and every table says so). Assumptions where the paper is silent:
- every generator is L1 pre-trained before its GAN stage (students too; the paper only says so for
  MFAGAN.L's MFANet);
- distillation projections: learnable 1x1 convs from the student's to the teacher's width
  (srlib/training/distill.py);
- the perceptual term needs ImageNet VGG19 weights; offline a pixel-space distance stands in for it at
  the same weight (:class:`srlib.training.losses.PixelStandIn`) and each stage's manifest records
  ``perceptual: "stand-in: identity features ..."`` with the reason.
"""
from __future__ import annotations

from .. import pipeline
from ..training import distill as distill_mod
from ..training import gan, losses
from ..training.runs import spec, train_stage, val_psnr

PAPER = "mfagan"


def g_spec(width: int | None = None, widths=None) -> dict:
    return spec("mfanet", widths=list(widths)) if widths is not None else spec("mfanet", num_feat=width)


def d_spec(width: int) -> dict:
    return spec("patchgan_mfagan", num_feat=width)


def perceptual(criterion: str = "mse"):
    """(loss module, description): VGG19 conv5_4, or offline the labelled pixel-space stand-in
    (:func:`srlib.training.losses.perceptual_or_stand_in`) -- never a random VGG."""
    return losses.perceptual_or_stand_in(criterion)


def pretrain(profile, width: int, seed: int, *, name: str | None = None, g: dict | None = None,
             iters: int | None = None, recon_kind: str = "l1", lr: float | None = None) -> pipeline.StageResult:
    """Stage 1 of Sec. 4.1: a generator trained with the L1 loss (lr 2e-4)."""
    m = profile.mfagan
    g = g or g_spec(width)
    name = name or f"mfagan_pretrain_g{width}_s{seed}"

    def make_step(nets):
        return gan.PixelStep(recon_kind, validate=val_psnr(profile), val_every=m.val_every), {}

    return train_stage(profile, name, models={"G": g}, params={"recon": recon_kind, "val_every": m.val_every},
                       make_step=make_step,
                       lrs={"G": lr or m.lr_pretrain}, total=iters or m.pretrain_iters, seed=seed,
                       code=[gan])


def gan_stage(profile, name: str, *, g: dict, d: dict, init_g: pipeline.StageResult, seed: int,
              weights: gan.GANWeights, gan_kind: str = "vanilla", teacher: pipeline.StageResult | None = None,
              iters: int | None = None, lr: float | None = None, milestones=None, betas=(0.5, 0.999),
              init_d: pipeline.StageResult | None = None, percep_criterion: str = "mse") -> pipeline.StageResult:
    """A GAN stage with Eq. (1) (srlib/training/gan.py); ``teacher`` = a finished MFAGAN.L for distillation."""
    from ..training.runs import load_model

    m = profile.mfagan
    percep, percep_desc = perceptual(percep_criterion)
    params = {"weights": weights.__dict__, "gan": gan_kind, "perceptual": percep_desc,
              "teacher": [teacher.name, teacher.key] if teacher else None, "val_every": m.val_every}

    def make_step(nets):
        kw, extra = {}, {}
        device = next(nets["G"].parameters()).device
        if weights.distill_g or weights.distill_d:
            tg, td = load_model(teacher, "G").to(device), load_model(teacher, "D").to(device)
            for p in list(tg.parameters()) + list(td.parameters()):
                p.requires_grad_(False)
            if weights.distill_g:
                dg = distill_mod.FeatureDistiller(_mfam_widths(nets["G"]), _mfam_widths(tg)).to(device)
                kw.update(teacher_g=tg, distill_g=dg)
                extra["G"] = list(dg.parameters())
            if weights.distill_d:
                dd = distill_mod.FeatureDistiller(_d_widths(nets["D"]), _d_widths(td)).to(device)
                kw.update(teacher_d=td, distill_d=dd)
                extra["D"] = list(dd.parameters())
        step = gan.GANStep(weights, losses.GANLoss(gan_kind), percep.to(device),
                           validate=val_psnr(profile),
                           val_every=m.val_every, **kw)
        return step, extra

    init = {"G": (init_g, "G")}
    if init_d is not None:
        init["D"] = (init_d, "D")
    return train_stage(profile, name, models={"G": g, "D": d}, params=params, make_step=make_step,
                       lrs={"G": lr or m.lr_gan, "D": lr or m.lr_gan}, total=iters or m.gan_iters,
                       milestones=m.gan_milestones if milestones is None else milestones, seed=seed,
                       init=init, betas=betas, code=[gan, losses, distill_mod])


def _mfam_widths(g) -> list[int]:
    """Channel counts of t1..t3 (the MFAM outputs = the backbone width)."""
    return [g.widths[0]] * g.num_mfam


def _d_widths(d) -> list[int]:
    nf = d.layers[0][0].out_channels
    return [nf, 2 * nf, 4 * nf]


def eq1_weights(profile, distill_g: bool = False, distill_d: bool = False) -> gan.GANWeights:
    m = profile.mfagan
    return gan.GANWeights(recon=m.lambda_recon, percep=m.lambda_percep, adv=m.lambda_adv,
                          distill_g=m.lambda_distill_g if distill_g else 0.0,
                          distill_d=m.lambda_distill_d if distill_d else 0.0)


# ------------------------------------------------------------------------------------------------------
# Table 1 columns 1-3
# ------------------------------------------------------------------------------------------------------
def mfagan_l(profile, seed: int, disc: str = "patchgan", iters: int | None = None) -> pipeline.StageResult:
    """MFAGAN.L (Table 1, 1st): MFANet-64 + the 7-layer PatchGAN-48 (``disc="esrgan"``: ESRGAN's D, Fig. 6)."""
    m = profile.mfagan
    pre = pretrain(profile, m.teacher_g, seed)
    if disc == "patchgan":
        d = d_spec(m.teacher_d)
    elif disc == "esrgan":
        d = spec("esrgan_d", num_feat=m.esrgan_d_feat, input_size=profile.data.lr_patch * profile.data.scale)
    else:
        raise ValueError(f"disc must be 'patchgan' or 'esrgan', got {disc!r}")
    suffix = "" if disc == "patchgan" else "_esrgand"
    return gan_stage(profile, f"mfagan_l{suffix}_s{seed}", g=g_spec(m.teacher_g), d=d, init_g=pre, seed=seed,
                     weights=eq1_weights(profile), iters=iters)


def distill(profile, seed: int, distill_d: bool = True) -> pipeline.StageResult:
    """Table 1 2nd (distil G and D: G48/D32) or 3rd (distil G only: G48 with a fresh D48)."""
    m = profile.mfagan
    teacher = mfagan_l(profile, seed)
    pre = pretrain(profile, m.student_g, seed)
    d = d_spec(m.student_d if distill_d else m.teacher_d)
    name = f"mfagan_distill_{'gd' if distill_d else 'g'}_s{seed}"
    return gan_stage(profile, name, g=g_spec(m.student_g), d=d, init_g=pre, seed=seed, teacher=teacher,
                     weights=eq1_weights(profile, distill_g=True, distill_d=distill_d))


# ------------------------------------------------------------------------------------------------------
# Table 2 baselines
# ------------------------------------------------------------------------------------------------------
def esrgan(profile, seed: int) -> pipeline.StageResult:
    """ESRGAN (Wang et al. 2018): RRDBNet L1-pre-trained, then RaGAN with L1 1e-2, perceptual 1, adv 5e-3,
    Adam (0.9, 0.99) — ESRGAN Sec. 4.1. Shrunk at mini (``mfagan.esrgan_feat/blocks``)."""
    m = profile.mfagan
    g = spec("esrgan", num_feat=m.esrgan_feat, num_block=m.esrgan_blocks)
    pre = pretrain(profile, 0, seed, name=f"esrgan_pretrain_s{seed}", g=g)
    d = spec("esrgan_d", num_feat=m.esrgan_d_feat, input_size=profile.data.lr_patch * profile.data.scale)
    w = gan.GANWeights(recon=1e-2, percep=1.0, adv=5e-3)
    return gan_stage(profile, f"esrgan_s{seed}", g=g, d=d, init_g=pre, seed=seed, weights=w, gan_kind="ragan",
                     betas=(0.9, 0.99), percep_criterion="l1")


def srgan(profile, seed: int) -> pipeline.StageResult:
    """SRGAN (Ledig et al. 2017): SRResNet MSE-pre-trained, then VGG54 content + 1e-3 adversarial.
    Offline (no VGG19) the content term's pixel-space stand-in is MSE: the paper's SRGAN-MSE variant."""
    m = profile.mfagan
    g = spec("srgan", num_feat=m.baseline_feat, num_block=m.srgan_blocks)
    pre = pretrain(profile, 0, seed, name=f"srgan_pretrain_s{seed}", g=g, recon_kind="mse")
    d = spec("srgan_d", num_feat=m.baseline_d_feat, input_size=profile.data.lr_patch * profile.data.scale)
    w = gan.GANWeights(recon=0.0, percep=1.0, adv=1e-3, recon_kind="mse")
    return gan_stage(profile, f"srgan_s{seed}", g=g, d=d, init_g=pre, seed=seed, weights=w,
                     betas=(0.9, 0.999), percep_criterion="mse")


def enhancenet(profile, seed: int) -> pipeline.StageResult:
    """EnhanceNet-PAT (Sajjadi et al. 2017): perceptual + texture + adversarial losses. Assumption: we
    train it with our Eq. (1) machinery (L1 + perceptual + 1e-3 adversarial, SRGAN-style D); its Gram
    texture loss is not reproduced (documented in the notebook)."""
    m = profile.mfagan
    g = spec("enhancenet", num_feat=m.baseline_feat, num_block=m.enhancenet_blocks)
    pre = pretrain(profile, 0, seed, name=f"enhancenet_pretrain_s{seed}", g=g)
    d = spec("srgan_d", num_feat=m.baseline_d_feat, input_size=profile.data.lr_patch * profile.data.scale)
    w = gan.GANWeights(recon=1.0, percep=1.0, adv=1e-3)
    return gan_stage(profile, f"enhancenet_s{seed}", g=g, d=d, init_g=pre, seed=seed, weights=w,
                     betas=(0.9, 0.999))
