"""TPSR's discriminator search space: any point of it as a network, registered as ``tpsr_d``.

Lee et al., "Journey Towards Tiny Perceptual Super-Resolution", ECCV 2020, Sec. 3.3 (Eq. 7, Fig. 1 right,
Fig. 5 caption): S_D is 5 reduction blocks, each an operation from Op (the generator's set,
:data:`srlib.tpsr.cell.OPS`) followed by a reduction from ROp (:data:`ROPS`). Like every discriminator of
the zoo (:mod:`srlib.models.discriminators`), it takes an RGB batch (N, 3, H, W) at HR size in [0, 1] and
returns raw logits, here (N, 1).

As a controller sees S_D (the discriminator search, Alg. 1 lines 27-31): :func:`decisions` gives the sizes of
Eq. 7's 10 decisions (op, then reduction, per block; plus one for the optional bottleneck when it is searched),
:func:`config` turns one index per decision into a :class:`TPSRDConfig` and :func:`actions` back.
"""
from __future__ import annotations

import dataclasses
import random
from typing import Any, Mapping, Sequence

import torch
import torch.nn as nn

from srlib.models import register
from srlib.models.common import conv
from srlib.tpsr.cell import OPS, make_op

#: ROp (Sec. 3.3): standard convolutions with stride 2 and twice the channels: Conv(k, 2n, 1, 2) for
#: k = 1, 3, 5, 7 and Conv(k, 2n, 4, 2) (4 groups) for k = 3, 5, 7.
ROPS: tuple[str, ...] = ("rconv1", "rconv3", "rconv5", "rconv7", "rgconv3", "rgconv5", "rgconv7")


@dataclasses.dataclass(frozen=True)
class TPSRDConfig:
    """One point of TPSR's discriminator space plus the fixed hyper-parameters around it.

    ``ops``: 5 names from Op (the generator's set, ``srlib.tpsr.cell.OPS``: conv1/3/5/7, gconv3/5/7
    (4 groups), sep3/5/7 (depthwise-separable), inv3/5/7 (inverted bottleneck, expansion 2), se, ca,
    identity). ``reductions``: 5 names from :data:`ROPS`. Together they are the 10 searched elements of
    S_D (Eq. 7). ``bottleneck``: width m of the optional Linear before the final Linear -> 1 (None or 0 = no
    bottleneck; not part of Eq. 7, so fixed per experiment). ``base_channels``: n of block 1's op; block i
    works at n * 2^(i-1) and its reduction outputs twice that ("increasing the number of channels by the
    same factor", Sec. 3.3).
    Defaults (ours; D2's layers are only in Fig. 5, which our text copy lacks): conv3 + rconv3 in every
    block, no bottleneck, base 16 (the generator's Op width), so the head sees 512 x 4 x 4 at 128x128,
    as ESRGAN's does.
    """

    ops: tuple[str, ...] = ("conv3",) * 5
    reductions: tuple[str, ...] = ("rconv3",) * 5
    bottleneck: int | None = None
    base_channels: int = 16

    def __post_init__(self):
        object.__setattr__(self, "ops", tuple(self.ops))
        object.__setattr__(self, "reductions", tuple(self.reductions))
        if len(self.ops) != 5 or len(self.reductions) != 5:
            raise ValueError("TPSR's discriminator has 5 reduction blocks: give 5 ops and 5 reductions")
        for op in self.ops:
            if op not in OPS:
                raise KeyError(f"unknown Op {op!r}; valid: {', '.join(OPS)}")
        for r in self.reductions:
            if r not in ROPS:
                raise KeyError(f"unknown reduction {r!r}; valid: {', '.join(ROPS)}")
        if self.base_channels % 4:
            raise ValueError("base_channels must be divisible by 4 (the grouped ops use 4 groups)")

    @classmethod
    def coerce(cls, config: "TPSRDConfig | Mapping[str, Any] | None") -> "TPSRDConfig":
        if config is None:
            return cls()
        if isinstance(config, cls):
            return config
        return cls(**dict(config))

    @classmethod
    def sample(cls, rng: random.Random, **fixed: Any) -> "TPSRDConfig":
        """A uniformly random point of S_D (the 10 searched elements); ``fixed`` sets the rest."""
        return cls(ops=tuple(rng.choice(OPS) for _ in range(5)),
                   reductions=tuple(rng.choice(ROPS) for _ in range(5)), **fixed)

    @staticmethod
    def space_size() -> int:
        """|S_D| = (|Op| x |ROp|)^5."""
        return (len(OPS) * len(ROPS)) ** 5


def _reduction(name: str, c: int) -> nn.Conv2d:
    kind = name.rstrip("0123456789")
    k = int(name[len(kind):])
    return conv(c, 2 * c, k, stride=2, groups=4 if kind == "rgconv" else 1)


@register("tpsr_d")
class TPSRDiscriminator(nn.Module):
    """A discriminator from TPSR's search space (Sec. 3.3, Eq. 7; Fig. 1 right; Fig. 5 caption).

    stem conv3 3->n (fixed, no activation: our assumption, mirroring the generator's template) ->
    5 x [op (from Op, n -> n, with its own PReLU as in the generator) -> reduction conv (from ROp, n -> 2n,
    stride 2) -> BN -> PReLU] -> flatten -> [Linear -> m -> PReLU] (optional bottleneck) -> Linear -> 1.
    "Convolutions are followed by batch normalization and PReLU" (Fig. 5): we put BN + PReLU after each
    block's reduction conv (Sec. 3.3 places BN after the pair). PReLUs have one slope (generator convention).
    The head's width is 32n x (s/32)^2, so ``input_size`` (a multiple of 32) is fixed at build time.
    ``spectral_norm`` (default True): Sec. 4.2 applies spectral normalisation to the discriminator on both
    the proxy and the full task; we wrap every conv and linear weight (BN untouched).

    Pass ``config`` (a :class:`TPSRDConfig` or a dict with its fields) or the fields as keywords.
    """

    def __init__(self, config: TPSRDConfig | Mapping[str, Any] | None = None, *, input_size: int = 128,
                 in_channels: int = 3, spectral_norm: bool = True, **fields: Any):
        super().__init__()
        if config is not None and fields:
            raise TypeError("give either config or its fields, not both")
        cfg = TPSRDConfig.coerce(config if config is not None else (fields or None))
        if input_size % 32:
            raise ValueError(f"tpsr_d needs an input size divisible by 32, got {input_size}")
        self.config = cfg
        self.input_size = input_size
        n = cfg.base_channels
        self.stem = conv(in_channels, n, 3)
        blocks = []
        for op, red in zip(cfg.ops, cfg.reductions):
            blocks.append(nn.Sequential(make_op(op, n), _reduction(red, n), nn.BatchNorm2d(2 * n), nn.PReLU()))
            n *= 2
        self.blocks = nn.Sequential(*blocks)
        flat = n * (input_size // 32) ** 2
        if cfg.bottleneck:
            self.head = nn.Sequential(nn.Linear(flat, cfg.bottleneck), nn.PReLU(), nn.Linear(cfg.bottleneck, 1))
        else:
            self.head = nn.Sequential(nn.Linear(flat, 1))
        if spectral_norm:
            sn = torch.nn.utils.parametrizations.spectral_norm
            for mod in list(self.modules()):
                if isinstance(mod, (nn.Conv2d, nn.Linear)):
                    sn(mod)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-2:] != (self.input_size, self.input_size):
            raise ValueError(f"tpsr_d was built for {self.input_size}x{self.input_size}, got {tuple(x.shape[-2:])}")
        return self.head(torch.flatten(self.blocks(self.stem(x)), 1))


def tpsr_d_configs(n: int, seed: int = 0, **fixed: Any) -> list[TPSRDConfig]:
    """``n`` random points of S_D (for tests and random-search baselines)."""
    rng = random.Random(seed)
    return [TPSRDConfig.sample(rng, **fixed) for _ in range(n)]


# ---- S_D as a controller sees it (Eq. 7) ----------------------------------------------------------------
#: Width m of the optional bottleneck Linear (Fig. 1 right: "an optional bottleneck with m outputs"; m is not
#: printed). Assumption: 100, the hidden width of ESRGAN's VGG-style discriminator head (Linear -> 100 -> 1).
BOTTLENECK_M = 100


def decisions(bottleneck_options: Sequence[int] = (0,)) -> tuple[int, ...]:
    """The sizes of S_D's decisions in Eq. 7's order: block b's op (|Op| = 16), then its reduction
    (|ROp| = 7), for 5 blocks: 10 decisions. With more than one ``bottleneck_options`` (0 = none) an 11th
    decision picks the bottleneck width (the "optional bottleneck" of Fig. 1 as a searched choice; Eq. 7
    itself lists only the 10 block elements)."""
    opts = tuple(int(m) for m in bottleneck_options)
    if not opts or min(opts) < 0 or len(set(opts)) != len(opts):
        raise ValueError(f"bottleneck_options must be distinct widths >= 0 (0 = none), got {list(opts)}")
    return (len(OPS), len(ROPS)) * 5 + ((len(opts),) if len(opts) > 1 else ())


def config(actions: Sequence[int], bottleneck_options: Sequence[int] = (0,), **fixed: Any) -> TPSRDConfig:
    """The discriminator a controller sample describes: one index per :func:`decisions` entry; ``fixed``
    sets the rest of :class:`TPSRDConfig` (``base_channels``; ``bottleneck`` when it is not searched)."""
    sizes = decisions(bottleneck_options)
    if len(actions) != len(sizes) or any(not 0 <= int(a) < n for a, n in zip(actions, sizes)):
        raise ValueError(f"expected {len(sizes)} actions within {list(sizes)}, got {list(actions)}")
    a = [int(x) for x in actions]
    kw = dict(fixed)
    if len(sizes) == 11:
        kw["bottleneck"] = int(bottleneck_options[a[10]]) or None
    elif "bottleneck" not in kw:
        kw["bottleneck"] = int(bottleneck_options[0]) or None
    return TPSRDConfig(ops=tuple(OPS[i] for i in a[0:10:2]), reductions=tuple(ROPS[i] for i in a[1:10:2]), **kw)


def actions(cfg: TPSRDConfig | Mapping[str, Any], bottleneck_options: Sequence[int] = (0,)) -> tuple[int, ...]:
    """The inverse of :func:`config`: the decision indices of a discriminator."""
    cfg = TPSRDConfig.coerce(cfg)
    out = tuple(i for op, r in zip(cfg.ops, cfg.reductions) for i in (OPS.index(op), ROPS.index(r)))
    if len(bottleneck_options) > 1:
        out += (list(bottleneck_options).index(cfg.bottleneck or 0),)
    return out


def spec_kwargs(cfg: TPSRDConfig | Mapping[str, Any]) -> dict[str, Any]:
    """``tpsr_d`` keyword arguments of a config as plain JSON (for stage keys and registry specs)."""
    cfg = TPSRDConfig.coerce(cfg)
    return {"ops": list(cfg.ops), "reductions": list(cfg.reductions), "bottleneck": cfg.bottleneck,
            "base_channels": cfg.base_channels}


__all__: Sequence[str] = ("TPSRDConfig", "TPSRDiscriminator", "ROPS", "tpsr_d_configs", "BOTTLENECK_M",
                          "decisions", "config", "actions", "spec_kwargs")
