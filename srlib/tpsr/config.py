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


@dataclass(frozen=True)
class DSearchConfig:
    """Alg. 1 lines 27-31: the discriminator search (Sec. 3.3, 4.2). Printed: S_D (Eq. 7), E_D = the
    perceptual metric (LPIPS) of TPSR-NOGAN x4 after a short GAN fine-tune with Eq. 8, best of the last
    three evaluations, spectral norm, no weight sharing, no Mult-Adds limit, an earlier VGG layer, "a lower
    patch size, fewer epochs, and a bigger batch size". Every number below is an assumption."""
    steps: int = 200                 # T_D: not printed; assumption (a tenth of T_G's order)
    generator: str = "searched"      # TPSR-NOGAN = our searched cell's full task ("published": theirs)
    bottleneck_options: tuple[int, ...] = (0, 100)  # optional bottleneck (Fig. 1) searched: none or m = 100
    base_channels: int = 16          # n of block 1 (the generator's Op width; Sec. 3.3 reuses Op)
    iterations: int = 2_000          # GAN steps per candidate; assumption
    eval_every: int = 500            # an "epoch" of the proxy: the reward is the best of the last 3 evaluations
    batch: int = 32                  # assumption: 2x the full task's 16 ("bigger batch")
    patch: int = 24                  # LR side (HR 96, a multiple of 32); assumption: smaller than the full 32
    lr: float = 1e-4                 # Adam for G and D (ESRGAN's GAN stage); assumption
    alpha: float = 1e-2              # Eq. 8 L1 weight; assumption: ESRGAN's eta
    lam: float = 1.0                 # Eq. 8 L_vgg weight; assumption: ESRGAN's perceptual weight
    gamma: float = 5e-3              # Eq. 8 L_adv weight; assumption: ESRGAN's lambda
    vgg_layer: str = "conv2_2"       # "an earlier layer" (Sec. 3.3); assumption: conv2_2 before activation

    def validate(self, where: str, scale: int) -> None:
        for k in ("steps", "base_channels", "iterations", "eval_every", "batch", "patch"):
            check_positive(f"{where}.{k}", getattr(self, k))
        if self.generator not in ("searched", "published"):
            raise ConfigError(f"{where}.generator must be 'searched' or 'published', got {self.generator!r}")
        opts = list(self.bottleneck_options)
        if not opts or min(opts) < 0 or len(set(opts)) != len(opts):
            raise ConfigError(f"{where}.bottleneck_options {opts} must be distinct widths >= 0 (0 = none)")
        if self.base_channels % 4:
            raise ConfigError(f"{where}.base_channels={self.base_channels} must be divisible by 4 (grouped ops)")
        if self.iterations < 3 * self.eval_every:
            raise ConfigError(f"{where}: iterations={self.iterations} must allow 3 evaluations every "
                              f"eval_every={self.eval_every} (the reward is the best of the last three)")
        if (self.patch * scale) % 32:
            raise ConfigError(f"{where}.patch={self.patch}: the HR patch ({self.patch * scale}) must be a "
                              "multiple of 32 (5 stride-2 reductions before the linear head)")
        for k in ("lr", "alpha", "lam", "gamma"):
            if getattr(self, k) <= 0:
                raise ConfigError(f"{where}.{k} must be > 0, got {getattr(self, k)}")


@dataclass(frozen=True)
class DStudyConfig:
    """Sec. 4.2 / Fig. 3: the best searched Ds and the fixed ones (SRGAN's, ESRGAN's with RaGAN; JAGAN's is
    not public) each fine-tune TPSR-NOGAN on the full perceptual task ``runs`` times (paper: 5); the run with
    the best validation perceptual metric is measured on the test sets. The full-task schedule is not
    printed: assumption, ESRGAN's GAN stage (400k steps, lr 1e-4 halved at 50k/100k/200k/300k, batch 16,
    128x128 HR patches), with Eq. 8's weights of ``d_search`` and VGG19 conv5_4."""
    top_k: int = 3                   # "the three best performing discriminator candidates"
    runs: int = 5                    # "Each GAN training was performed 5 times"
    iters: int = 400_000
    milestones: tuple[int, ...] = (50_000, 100_000, 200_000, 300_000)
    batch: int = 16
    patch: int = 32                  # LR side (HR 128)
    lr: float = 1e-4
    val_every: int = 5_000
    vgg_layer: str = "conv5_4"

    def validate(self, where: str, scale: int) -> None:
        for k in ("top_k", "runs", "iters", "batch", "patch", "val_every"):
            check_positive(f"{where}.{k}", getattr(self, k))
        if self.iters % self.val_every:
            raise ConfigError(f"{where}.iters={self.iters} must be a multiple of val_every={self.val_every} "
                              "(the final model is the validated one that picks the best run)")
        if (self.patch * scale) % 32:
            raise ConfigError(f"{where}.patch={self.patch}: the HR patch must be a multiple of 32")
        v = list(self.milestones)
        if v != sorted(set(v)) or any(x <= 0 for x in v):
            raise ConfigError(f"{where}.milestones {v} must increase strictly and be positive")
        if self.lr <= 0:
            raise ConfigError(f"{where}.lr must be > 0")


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
    # The cache rule within one policy update (srlib/tpsr/search_loop.py). false: serial, candidate j starts
    # from the cache as candidates < j of its update left it. true: batch-synchronous -- assumption, ours: the
    # k = controller.update_every candidates of one update all start from the cache as it stood when the
    # update's batch began (Alg. 1 line 16) and their Eq. 5 updates (line 22) are applied after the batch, in
    # candidate order; this makes them independent, so under torchrun (python -m srlib.tpsr) candidate i trains
    # on rank i mod R (Sec. 3.2 trains several candidates at once; how their cache was shared is not printed).
    # One process with true gives the same history as R ranks. Also runs the D search (no cache: same history
    # as serial) across ranks. Part of both search stages' keys.
    parallel_candidates: bool = False
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
    d_search: DSearchConfig = field(default_factory=DSearchConfig)
    d_study: DStudyConfig = field(default_factory=DStudyConfig)

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
        self.d_search.validate(f"{where}.d_search", profile.data.scale)
        self.d_study.validate(f"{where}.d_study", profile.data.scale)
