"""AdaSR's profile section (``profile.adasr``): Sec. 3.2 and Sec. 4 settings.

The paper gives: the original models CARN, ESRGAN, RCAN, FMEN pre-trained "as explained in their
corresponding papers" (here: the ``baselines`` stages), frozen; depth options in steps of 1 block from 1
and width options in steps of 8 channels from 8 (Sec. 3.2.1); batch 16, 64x64 patches, random rotation and
horizontal flips, Adam (0.9, 0.99), each model's own learning rate with exponential decay, "50 to 200
rounds" (Sec. 4); max-norm c = 0.0002 (Sec. 3.2.2); lambda by BO with EI on a 0.01 grid, stop after 20
trials without PSNR gain (Sec. 3.2.4); one CARN for the dynamic runtime (Sec. 4.2). Everything else is
marked "assumption" next to its field; mini/smoke shrink budgets and say so in their YAML. Importing this
module is light (dataclasses only).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..config import ConfigError, check_choice, check_positive, register_section

TEACHERS = ("carn", "esrgan", "rcan", "fmen")   # the described generators (srlib.adasr.descriptions)
ABLATIONS = ("output", "none", "no_maxnorm")    # issue 13 item 6 (progressive_kd modes / max_norm=None)
RUNTIMES = ("litert-xnnpack_t1", "litert-xnnpack_t2", "onnxruntime_t1")   # Fig. 4a-c on this machine


@dataclass(frozen=True)
class LambdaBOConfig:
    """Sec. 3.2.4's Bayesian optimisation of Eq. 6's lambda, per anchor (srlib.adasr.loss_tuning)."""
    enabled: bool = True
    grid: float = 0.01               # "0.0 - 1.0 with a 0.01 granularity"
    patience: int = 20               # "the last 20 trials do not improve PSNR value"
    n_init: int = 3                  # assumption: random trials before EI (the paper does not say)
    max_trials: int = 500            # safety cap; assumption
    xi: float = 0.0                  # plain EI ("does not require hyperparameter tuning")
    trial_steps: int = 1_000         # assumption: progressive-KD steps per trial from the current weights
    trial_after: int = 0             # assumption: the search runs after this many steps of training
    #                                  (0: before training, from the initial student)

    def validate(self, where: str) -> None:
        for k in ("patience", "n_init", "max_trials", "trial_steps"):
            check_positive(f"{where}.{k}", getattr(self, k))
        if not 0 < self.grid <= 1 or abs(round(1 / self.grid) * self.grid - 1) > 1e-9:
            raise ConfigError(f"{where}.grid={self.grid} must divide [0, 1] into whole steps")
        if self.xi < 0 or self.trial_after < 0:
            raise ConfigError(f"{where}.xi and {where}.trial_after must be >= 0")


@register_section("adasr")
@dataclass(frozen=True)
class AdaSRConfig:
    """AdaSR (ICLR 2024 submission, Zrr6kH1cSh) Sec. 3-4 settings."""
    teachers: tuple[str, ...] = TEACHERS          # Sec. 4: the original models adapted
    dynamic_teacher: str = "carn"                 # Sec. 4.2: "we take a single CARN model"
    # teacher -> {depths: [...], widths: [...]}; a missing teacher or key = every depth 1..M and every
    # width 8, 16, ..., C (Sec. 3.2.1). Both lists are written in each profile.
    grid: dict[str, Any] = field(default_factory=dict)
    init: str = "scratch"                         # Sec. 3.2.1: "the untrained adaptable student model";
    #                                               "teacher" (copy T's weights) is an option
    iterations: int = 200_000                     # assumption: "50 to 200 rounds" read as 200 epochs of
    #                                               1,000 batches (the EDSR/RCAN code base's epoch)
    batch: int = 16                               # Sec. 4
    lr_patch: int = 64                            # Sec. 4 "patch sizes 64x64"; assumption: the LR side
    lr: float | None = None                       # None: the teacher's own recipe rate (Sec. 4: "learning
    #                                               rates ... as described in their corresponding papers")
    betas: tuple[float, ...] = (0.9, 0.99)        # Sec. 4
    lr_final_ratio: float = 0.1                   # "exponential learning rate scheduling"; assumption:
    #                                               gamma per step such that the rate ends at 0.1 x
    max_norm: float = 2e-4                        # Sec. 3.2.2: c = 0.0002
    mapping_kernel: int = 3                       # Sec. 3.2.2: the original model's kernel size
    mapping_identity: bool = True                 # assumption (srlib/adasr/matching.py)
    kl_temperature: float = 1.0                   # assumption: spatial softmax, tau = 1 (matching.py)
    output_weight: float = 1.0                    # assumption: output KD term (progressive_kd.py)
    pixel_weight: float = 0.0                     # assumption: no HR term in AdaSR's own loss
    lambda_init: float = 0.5                      # assumption: lambda before / without BO
    bo: LambdaBOConfig = field(default_factory=LambdaBOConfig)
    separate_iterations: int | None = None        # the ensemble's separately trained (D, W) models;
    #                                               None: the same budget as the adaptable model
    ablations: tuple[str, ...] = ABLATIONS        # issue 13 item 6
    latency_runtimes: tuple[str, ...] = RUNTIMES  # Fig. 4a-c desktop proxies: "<runtime>_t<threads>"
    lut_runtimes: tuple[str, ...] | None = None   # those of latency_runtimes with a lookup table beside
    #                                               (LiteRT only); None: every LiteRT one
    dynamic_trials: int = 200                     # Fig. 4e: switch / reload trials per distribution
    dynamic_frames: int = 600                     # frames of the simulated budget trace (Sec. 4.2)
    val_every: int = 1_000
    seeds: tuple[int, ...] = (0,)

    def lut_configurations(self) -> tuple[str, ...]:
        """The configurations of Fig. 4a-c that get a lookup table (``lut_runtimes``, default every LiteRT one)."""
        if self.lut_runtimes is not None:
            return tuple(self.lut_runtimes)
        return tuple(r for r in self.latency_runtimes if r.startswith("litert"))

    def grid_for(self, teacher: str) -> tuple[tuple[int, ...] | None, tuple[int, ...] | None]:
        """``(depths, widths)`` for ``teacher``; None = the full range (Sec. 3.2.1)."""
        g = self.grid.get(teacher) or {}
        d, w = g.get("depths"), g.get("widths")
        return (tuple(int(x) for x in d) if d else None, tuple(int(x) for x in w) if w else None)

    def validate(self, where: str, profile) -> None:
        for k in ("iterations", "batch", "lr_patch", "mapping_kernel", "val_every", "dynamic_trials", "dynamic_frames"):
            check_positive(f"{where}.{k}", getattr(self, k))
        if not self.teachers or len(set(self.teachers)) != len(self.teachers):
            raise ConfigError(f"{where}.teachers {list(self.teachers)} must list distinct models")
        for t in self.teachers:
            check_choice(f"{where}.teachers", t, TEACHERS)
        check_choice(f"{where}.dynamic_teacher", self.dynamic_teacher, self.teachers)
        check_choice(f"{where}.init", self.init, ("scratch", "teacher"))
        for a in self.ablations:
            check_choice(f"{where}.ablations", a, ABLATIONS)
        for r in self.latency_runtimes:
            check_choice(f"{where}.latency_runtimes", r, RUNTIMES)
        for r in self.lut_runtimes or ():
            check_choice(f"{where}.lut_runtimes", r, tuple(x for x in self.latency_runtimes if x.startswith("litert")))
        for t, g in self.grid.items():
            check_choice(f"{where}.grid", t, self.teachers)
            if not isinstance(g, dict) or set(g) - {"depths", "widths"}:
                raise ConfigError(f"{where}.grid.{t} must be a mapping with keys depths, widths; got {g!r}")
            for k, v in g.items():
                if not isinstance(v, (list, tuple)) or not v or any(not isinstance(x, int) or x < 1 for x in v):
                    raise ConfigError(f"{where}.grid.{t}.{k} must be a non-empty list of positive integers")
        if self.lr is not None and self.lr <= 0:
            raise ConfigError(f"{where}.lr must be > 0 (or null: the teacher's recipe rate)")
        if len(self.betas) != 2 or not all(0 <= b < 1 for b in self.betas):
            raise ConfigError(f"{where}.betas must be two numbers in [0, 1), got {list(self.betas)}")
        if not 0 < self.lr_final_ratio <= 1:
            raise ConfigError(f"{where}.lr_final_ratio must be in (0, 1]")
        if self.max_norm <= 0 or self.kl_temperature <= 0:
            raise ConfigError(f"{where}.max_norm and {where}.kl_temperature must be > 0")
        if self.output_weight < 0 or self.pixel_weight < 0:
            raise ConfigError(f"{where}.output_weight and {where}.pixel_weight must be >= 0")
        if not 0 <= self.lambda_init <= 1:
            raise ConfigError(f"{where}.lambda_init must be in [0, 1]")
        if self.separate_iterations is not None:
            check_positive(f"{where}.separate_iterations", self.separate_iterations)
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise ConfigError(f"{where}.seeds {list(self.seeds)} must list distinct seeds")
        if self.val_every % profile.train.log_every:
            raise ConfigError(f"{where}.val_every={self.val_every} must be a multiple of "
                              f"train.log_every={profile.train.log_every}")
        self.bo.validate(f"{where}.bo")
