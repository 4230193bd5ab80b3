"""TPSR's profile section (``profile.tpsr``): the generator search (Alg. 1, Sec. 3.1-3.2, 4.1) and the
full distortion task.

The paper gives: T_G = 2,500 generator-search steps, the x2 proxy with n = 16 feature maps, the L1 loss
(Eq. 6), validation by PSNR, a normalised-PSNR reward, the cache-initialised final training x2 then x4
(Sec. 4.1). Everything else is in the supplementary material we do not have (shared/notes/tpsr.md) and is
marked "assumption" with its source next to the field; mini/smoke shrink budgets and say so in their YAML.
Importing this module is light (dataclasses only).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..config import ConfigError, check_positive, register_section


@dataclass(frozen=True)
class ControllerConfig:
    """pi_theta and its REINFORCE update (srlib.search.reinforce); every value an assumption: ENAS
    official micro-search defaults (shared/notes/tpsr.md) unless said otherwise."""
    hidden: int = 64                 # LSTM units (ENAS official)
    tanh_constant: float = 1.10      # logits -> c tanh(logits) (ENAS official)
    op_temperature: float = 2.5      # op logits / 2.5 before the tanh (ENAS official op_tanh_reduce)
    input_temperature: float = 1.0   # input-choice logits unscaled (ENAS official)
    lr: float = 0.0035               # Adam (ENAS official)
    baseline_decay: float = 0.99     # b <- b - (1 - decay)(b - R) (ENAS official)
    entropy_weight: float = 1e-4     # entropy bonus added to the reward (ENAS)
    update_every: int = 10           # k: architectures per policy update (ENAS aggregates 10)

    def validate(self, where: str) -> None:
        for k in ("hidden", "update_every"):
            check_positive(f"{where}.{k}", getattr(self, k))
        for k in ("tanh_constant", "op_temperature", "input_temperature", "lr"):
            if getattr(self, k) <= 0:
                raise ConfigError(f"{where}.{k} must be > 0, got {getattr(self, k)}")
        if not 0 <= self.baseline_decay < 1:
            raise ConfigError(f"{where}.baseline_decay must be in [0, 1), got {self.baseline_decay}")
        if self.entropy_weight < 0:
            raise ConfigError(f"{where}.entropy_weight must be >= 0, got {self.entropy_weight}")


@dataclass(frozen=True)
class ProxyConfig:
    """E_G's x2 proxy task (Sec. 3.2: "fewer epochs with higher batch sizes", "smaller training patch
    sizes"; the numbers are assumptions)."""
    iterations: int = 1_000          # assumption: ~1/600 of the full task's 6e5 steps
    batch: int = 64                  # assumption: 4x the full task's 16 ("higher batch sizes")
    patch: int = 24                  # LR side; assumption: half the full task's 48 ("smaller patches")
    lr: float = 1e-3                 # Adam, constant; assumption: a short schedule needs a high rate
    reward_span_db: float = 5.0      # R = (PSNR - bicubic PSNR) / span; assumption (rewards ~[0, 1])
    share_template: bool = True      # the cache also keeps stem/upsampler weights (weight_cache.py)

    def validate(self, where: str) -> None:
        for k in ("iterations", "batch", "patch"):
            check_positive(f"{where}.{k}", getattr(self, k))
        for k in ("lr", "reward_span_db"):
            if getattr(self, k) <= 0:
                raise ConfigError(f"{where}.{k} must be > 0, got {getattr(self, k)}")


@register_section("tpsr")
@dataclass(frozen=True)
class TPSRConfig:
    """Lee et al. (ECCV 2020): generator search and full distortion task."""
    num_feat: int = 16               # n (Sec. 4.1)
    search_steps: int = 2_500        # T_G (Sec. 4.1)
    mult_adds_limit_g: float = 3.6   # f in G (TPSR Table 1 convention, x4, 720p output); assumption: f is
    #                                  not printed; the found model's 3.6 G (Sec. 4.1, Table 1) as the limit
    max_rejections: int = 10_000     # consecutive over-limit samples before the search gives up
    search_seeds: tuple[int, ...] = (0,)
    controller: ControllerConfig = field(default_factory=ControllerConfig)
    proxy: ProxyConfig = field(default_factory=ProxyConfig)
    # Full task (Alg. 1 line 26, Sec. 4.1: x2, then x4 from the x2 model). Assumption: the recipe of
    # baselines.tpsr (EDSR defaults: L1, Adam lr 1e-4 halved every 2e5 steps, batch 16, 48x48 LR patches)
    # for each scale.
    full_iters_x2: int = 600_000
    full_iters_x4: int = 600_000
    full_lr: float = 1e-4
    full_milestones: tuple[int, ...] = (200_000, 400_000)
    full_batch: int = 16
    full_patch: int = 48
    full_val_every: int = 10_000

    def validate(self, where: str, profile) -> None:
        for k in ("num_feat", "search_steps", "max_rejections", "full_iters_x2", "full_iters_x4", "full_batch",
                  "full_patch", "full_val_every"):
            check_positive(f"{where}.{k}", getattr(self, k))
        if self.num_feat % 4:
            raise ConfigError(f"{where}.num_feat={self.num_feat} must be divisible by 4 (gconv uses 4 groups)")
        if self.mult_adds_limit_g <= 0 or self.full_lr <= 0:
            raise ConfigError(f"{where}.mult_adds_limit_g and {where}.full_lr must be > 0")
        if not self.search_seeds or len(set(self.search_seeds)) != len(self.search_seeds):
            raise ConfigError(f"{where}.search_seeds {list(self.search_seeds)} must list distinct seeds")
        v = list(self.full_milestones)
        if v != sorted(set(v)) or any(x <= 0 for x in v):
            raise ConfigError(f"{where}.full_milestones {v} must increase strictly and be positive")
        self.controller.validate(f"{where}.controller")
        self.proxy.validate(f"{where}.proxy")
