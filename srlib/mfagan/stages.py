"""MFAGAN's pipeline as cached stages (Fig. 2 and Sec. 4.1), in the paper's vocabulary.

    pretrain      MFANet with L1, lr 2e-4 (Sec. 4.1 stage 1)
    mfagan_l      MFAGAN.L: MFANet-64 + PatchGAN-48 with Eq. (1), lambda1=1, lambda4=1, lambda5=10
    distill       student G48 (+ student D32) distilled from MFAGAN.L (Sec. 3.4; lambda2=lambda3=0.05),
                  or "distill G only" (G48 with a fresh D48) for Table 1's 3rd column
    supergenerator, search, finetune   Sec. 3.6 (srlib/mfagan/nas.py)

The reference baselines of Tables 1-2 (ESRGAN, SRGAN, EnhanceNet) are the shared stages of
:mod:`srlib.baselines`, trained once per profile and seed for every paper that needs them.

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
from ..training import gan, losses, runs
from ..training.runs import load_model, spec
from . import distillation

PAPER = "mfagan"


def g_spec(width: int | None = None, widths=None) -> dict:
    return spec("mfanet", widths=list(widths)) if widths is not None else spec("mfanet", num_feat=width)


def d_spec(width: int) -> dict:
    return spec("patchgan_mfagan", num_feat=width)


def perceptual(criterion: str = "mse"):
    """(loss module, description): VGG19 conv5_4, or offline the labelled pixel-space stand-in
    (:func:`srlib.training.losses.perceptual_or_stand_in`) -- never a random VGG."""
    return losses.perceptual_or_stand_in(criterion)


def pretrain(profile, width: int, seed: int) -> pipeline.StageResult:
    """Stage 1 of Sec. 4.1: MFANet-``width`` trained with the L1 loss (lr 2e-4, Adam (0.5, 0.999))."""
    m = profile.mfagan
    return runs.pixel_stage(profile, f"mfagan_pretrain_g{width}_s{seed}", g=g_spec(width), seed=seed,
                            iters=m.pretrain_iters, lr=m.lr_pretrain, loss="l1", betas=(0.5, 0.999),
                            milestones=m.pretrain_milestones, val_every=m.val_every,
                            batch_size=m.pretrain_batch_size, lr_patch=m.pretrain_lr_patch)


def gan_stage(profile, name: str, *, g: dict, d: dict, init_g: pipeline.StageResult, seed: int,
              weights: gan.GANWeights, lambda_g: float = 0.0, lambda_d: float = 0.0,
              teacher: pipeline.StageResult | None = None, iters: int | None = None, milestones=None,
              init_d: pipeline.StageResult | None = None, distill_norm: str = "l2") -> pipeline.StageResult:
    """A GAN stage with Eq. (1): the shared GAN step, plus MFAGAN's distillation of G (``lambda_g``) and D
    (``lambda_d``) from ``teacher`` (a finished MFAGAN.L) -- :class:`srlib.mfagan.distillation.DistillationStep`.
    Adam (0.5, 0.999), lr 1e-4 halved at ``mfagan.gan_milestones`` (Sec. 4.1); perceptual MSE (Eq. 5).
    ``distill_norm``: the distance of Eqs. (3)-(4), "l2" as printed (srlib.training.distill) or "mse"."""
    m = profile.mfagan

    def make_step(nets, percep, texture, validate):
        kw, extra = {}, {}
        device = next(nets["G"].parameters()).device
        if lambda_g or lambda_d:
            tg, td = load_model(teacher, "G").to(device), load_model(teacher, "D").to(device)
            for p in list(tg.parameters()) + list(td.parameters()):
                p.requires_grad_(False)
            if lambda_g:
                dg = distill_mod.FeatureDistiller(_mfam_widths(nets["G"]), _mfam_widths(tg),
                                                  criterion=distill_norm).to(device)
                kw.update(teacher_g=tg, distill_g=dg)
                extra["G"] = list(dg.parameters())
            if lambda_d:
                dd = distill_mod.FeatureDistiller(_d_widths(nets["D"]), _d_widths(td),
                                                  criterion=distill_norm).to(device)
                kw.update(teacher_d=td, distill_d=dd)
                extra["D"] = list(dd.parameters())
        step = distillation.DistillationStep(weights, losses.GANLoss("vanilla"), percep, lambda_g=lambda_g,
                                             lambda_d=lambda_d, validate=validate, val_every=m.val_every, **kw)
        return step, extra

    params = {"distill": {"lambda_g": lambda_g, "lambda_d": lambda_d,
                          **({"norm": distill_norm} if lambda_g or lambda_d else {})},
              "teacher": [teacher.name, teacher.key] if teacher else None}
    return runs.gan_stage(profile, name, g=g, d=d, init_g=init_g, init_d=init_d, seed=seed, weights=weights,
                          gan_kind="vanilla", percep={"criterion": "mse"}, iters=iters or m.gan_iters,
                          lr=m.lr_gan, milestones=m.gan_milestones if milestones is None else milestones, betas=(0.5, 0.999), val_every=m.val_every,
                          make_step=make_step, params=params, code=[distillation, distill_mod])


def _mfam_widths(g) -> list[int]:
    """Channel counts of t1..t3 (the MFAM outputs = the backbone width)."""
    return [g.widths[0]] * g.num_mfam


def _d_widths(d) -> list[int]:
    nf = d.layers[0][0].out_channels
    return [nf, 2 * nf, 4 * nf]


def eq1_weights(profile) -> gan.GANWeights:
    """lambda1, lambda4, lambda5 of Eq. (1); the distillation weights are passed to :func:`gan_stage`."""
    m = profile.mfagan
    return gan.GANWeights(recon=m.lambda_recon, percep=m.lambda_percep, adv=m.lambda_adv)


# ------------------------------------------------------------------------------------------------------
# Table 1 columns 1-3
# ------------------------------------------------------------------------------------------------------
def mfagan_l(profile, seed: int, disc: str = "patchgan", iters: int | None = None,
             pretrain_seed: int | None = None) -> pipeline.StageResult:
    """MFAGAN.L (Table 1, 1st): MFANet-64 + the 7-layer PatchGAN-48 (``disc="esrgan"``: ESRGAN's D, Fig. 6).

    ``pretrain_seed``: start from that seed's L1 pre-training instead of ``seed``'s (Fig. 6 varies only the
    GAN stage); ``iters``: other than ``mfagan.gan_iters``. Either one goes into the stage name, so Table 1's
    ``mfagan_l_s<seed>`` is never shared by a stage with other parameters."""
    m = profile.mfagan
    pre_seed = seed if pretrain_seed is None else pretrain_seed
    pre = pretrain(profile, m.teacher_g, pre_seed)
    if disc == "patchgan":
        d = d_spec(m.teacher_d)
    elif disc == "esrgan":  # Fig. 6: ESRGAN's VGG-style discriminator in place of the PatchGAN
        d = spec("esrgan_d", num_feat=m.esrgan_d_feat, input_size=profile.data.lr_patch * profile.data.scale)
    else:
        raise ValueError(f"disc must be 'patchgan' or 'esrgan', got {disc!r}")
    suffix = "" if disc == "patchgan" else "_esrgand"
    suffix += "" if iters is None or iters == m.gan_iters else f"_it{iters}"
    suffix += "" if pre_seed == seed else f"_pre{pre_seed}"
    return gan_stage(profile, f"mfagan_l{suffix}_s{seed}", g=g_spec(m.teacher_g), d=d, init_g=pre, seed=seed,
                     weights=eq1_weights(profile), iters=iters)


def distill(profile, seed: int, distill_d: bool = True, norm: str | None = None) -> pipeline.StageResult:
    """Table 1 2nd (distil G and D: G48/D32) or 3rd (distil G only: G48 with a fresh D48).
    ``norm``: the distillation distance (default ``mfagan.distill_norm``, "l2" as Eqs. 3-4 print it)."""
    m = profile.mfagan
    norm = norm or m.distill_norm
    teacher = mfagan_l(profile, seed)
    pre = pretrain(profile, m.student_g, seed)
    d = d_spec(m.student_d if distill_d else m.teacher_d)
    tag = "" if norm == "l2" else f"_{norm}"
    name = f"mfagan_distill_{'gd' if distill_d else 'g'}{tag}_s{seed}"
    return gan_stage(profile, name, g=g_spec(m.student_g), d=d, init_g=pre, seed=seed, teacher=teacher,
                     weights=eq1_weights(profile), lambda_g=m.lambda_distill_g,
                     lambda_d=m.lambda_distill_d if distill_d else 0.0, distill_norm=norm)
