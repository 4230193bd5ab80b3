"""MFAGAN's profile section (``profile.mfagan``): Sec. 4.1 and Table 1 settings.

``paper.yaml`` holds the paper's values; mini/smoke shrink them and every table says so. Iterations the
paper leaves open are marked "assumption" in paper.yaml. The reference baselines MFAGAN compares with
(ESRGAN, SRGAN, EnhanceNet) are configured in the ``baselines`` section (srlib/baselines/config.py),
because four papers share them.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..config import ConfigError, check_choice, check_positive, register_section


@register_section("mfagan")
@dataclass(frozen=True)
class MFAGANConfig:
    """MFAGAN (Cheng et al.) Sec. 4.1 settings; widths from Table 1 (G64/D48 MFAGAN.L, G48/D32 distilled,
    SubGenerators from {48, 32, 24})."""
    teacher_g: int = 64
    student_g: int = 48
    teacher_d: int = 48
    student_d: int = 32
    width_choices: tuple[int, ...] = (48, 32, 24)
    esrgan_d_feat: int = 64        # ESRGAN's discriminator as MFAGAN.L's D in Fig. 6 (64 at paper)
    pretrain_iters: int = 500_000  # L1 pre-training, lr 2e-4
    pretrain_milestones: tuple[int, ...] = ()  # the paper gives none for the pre-training
    pretrain_batch_size: int | None = None     # None: data.batch_size (Sec. 4.1: 16 for every stage)
    pretrain_lr_patch: int | None = None       # None: data.lr_patch
    gan_iters: int = 15_000        # Eq. (1) training, lr 1e-4 halved at gan_milestones
    gan_milestones: tuple[int, ...] = (5_000, 10_000)
    supernet_iters: int = 800_000
    supernet_milestones: tuple[int, ...] = (200_000, 400_000, 600_000)
    finetune_iters: int = 10_000
    lr_pretrain: float = 2e-4
    lr_gan: float = 1e-4
    lambda_recon: float = 1.0      # lambda1
    lambda_distill_g: float = 0.05  # lambda2
    lambda_distill_d: float = 0.05  # lambda3
    lambda_percep: float = 1.0     # lambda4
    lambda_adv: float = 10.0       # lambda5
    distill_norm: str = "l2"       # Eqs. (3)-(4) as printed: unsquared L2 norm per sample; "mse" an option
    supernet_random_samples: int = 2  # sandwich rule: largest + smallest + this many random
    search_population: int = 100
    search_generations: int = 50
    search_parent_ratio: float = 0.25
    search_mutate_prob: float = 0.1
    search_constraint: str = "latency"  # latency (LUT) | macs | memory: the search's budget
    search_latency_ratio: float = 0.6  # budget = ratio x the largest SubGenerator's cost
    val_every: int = 1_000         # validation PSNR logging (Fig. 6)
    fig6_iters: int = 15_000
    fig6_seeds: tuple[int, ...] = (0, 1, 2)
    seeds: tuple[int, ...] = (0, 1)   # seeds of Tables 1-2 (paired claim verdicts need >= 2)

    def validate(self, where: str, profile) -> None:
        for k in ("teacher_g", "student_g", "teacher_d", "student_d", "pretrain_iters", "gan_iters",
                  "supernet_iters", "finetune_iters", "val_every", "fig6_iters", "search_population",
                  "search_generations", "esrgan_d_feat"):
            check_positive(f"{where}.{k}", getattr(self, k))
        if not self.width_choices or max(self.width_choices) > self.student_g:
            raise ConfigError(f"{where}.width_choices {list(self.width_choices)} must be non-empty and "
                              f"at most student_g={self.student_g} (SubGenerators slice the SuperGenerator)")
        check_choice(f"{where}.search_constraint", self.search_constraint, ("latency", "macs", "memory"))
        check_choice(f"{where}.distill_norm", self.distill_norm, ("l2", "mse", "l1"))
        if not 0 < self.search_latency_ratio <= 1:
            raise ConfigError(f"{where}.search_latency_ratio must be in (0, 1]")
        if len(self.fig6_seeds) < 1 or len(self.seeds) < 1:
            raise ConfigError(f"{where}.seeds and {where}.fig6_seeds must list at least one seed")
        for k in ("seeds", "fig6_seeds"):
            v = getattr(self, k)
            if len(set(v)) != len(v):
                raise ConfigError(f"{where}.{k} {list(v)} lists a seed twice (a paired verdict would count it twice)")
        if self.student_g > self.teacher_g or self.student_d > self.teacher_d:
            raise ConfigError(f"{where}: the student (G{self.student_g}/D{self.student_d}) must not be wider than "
                              f"the teacher (G{self.teacher_g}/D{self.teacher_d}) it is distilled from (Sec. 3.4)")
        if not 0 < self.search_parent_ratio <= 1:
            raise ConfigError(f"{where}.search_parent_ratio must be in (0, 1], got {self.search_parent_ratio}")
        if not 0 <= self.search_mutate_prob <= 1:
            raise ConfigError(f"{where}.search_mutate_prob must be in [0, 1], got {self.search_mutate_prob}")
        if self.supernet_random_samples < 0:
            raise ConfigError(f"{where}.supernet_random_samples must be >= 0, got {self.supernet_random_samples}")
        for k in ("lambda_recon", "lambda_distill_g", "lambda_distill_d", "lambda_percep", "lambda_adv",
                  "lr_pretrain", "lr_gan"):
            if getattr(self, k) < 0 or (k.startswith("lr") and getattr(self, k) == 0):
                raise ConfigError(f"{where}.{k} must be {'> 0' if k.startswith('lr') else '>= 0'}, "
                                  f"got {getattr(self, k)}")
        for k in ("pretrain_batch_size", "pretrain_lr_patch"):
            if getattr(self, k) is not None:
                check_positive(f"{where}.{k}", getattr(self, k))
        for ms, total in (("gan_milestones", "gan_iters"), ("supernet_milestones", "supernet_iters"),
                          ("pretrain_milestones", "pretrain_iters")):
            v, n = list(getattr(self, ms)), getattr(self, total)
            if v != sorted(set(v)) or any(x <= 0 or x >= n for x in v):
                raise ConfigError(f"{where}.{ms} {v} must increase strictly and lie inside (0, {total}={n})")
        hr = profile.data.lr_patch * profile.data.scale
        if hr % 32:
            raise ConfigError(f"data.lr_patch={profile.data.lr_patch}: the HR patch ({hr}) must be a multiple of "
                              f"32 for ESRGAN's discriminator in {where} (Fig. 6) and the 3 stride-2 PatchGAN stages")
        if self.val_every % profile.train.log_every:
            raise ConfigError(f"{where}.val_every={self.val_every} must be a multiple of "
                              f"train.log_every={profile.train.log_every} (each validation on its own log line)")
