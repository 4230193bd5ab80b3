"""AGD's derived SR generator (``agd`` in the zoo) and its genotype.

Skeleton (shared/notes/agd.md; the authors' ``model_infer.py`` ``NAS_GAN_Infer``): ESRGAN's -- ``conv_first``
conv3 3->64, the body, ``conv_body`` (their ``trunk_conv``) conv3 64->64 + the global skip from
``conv_first``, two [nearest x2 -> conv3 64->64 -> LReLU(0.2)] (``conv_up1``/``conv_up2``, their
``upconv1/2``), ``conv_hr`` conv3 -> LReLU(0.2), ``conv_last`` conv3 64->3; these six convs carry biases.
The 23 RRDBs are replaced by 5 cells of 5 layers; cell ``c`` with inner widths ``w_0..w_3`` runs
``op_0: 64 -> w_0, op_i: w_{i-1} -> w_i, op_4: w_3 -> 64`` and returns ``out * 0.2 + x``. Output
``(tanh(out) + 1) / 2`` (their ``ENABLE_TANH = True`` in the search and train configs). x4 only.

Derived form (the notes' corrections): residual / dwsblock shortcuts are a 1x1 conv only where a layer's
input and output widths differ (identity otherwise); dwsblock expands by 4 x its own input width; cell
convs have no bias. State-dict keys follow srlib's ESRGAN (``conv_first``, ``body.C.layers.L...``,
``conv_body``, ``conv_up1/2``, ``conv_hr``, ``conv_last``), not the authors' names.

:class:`Genotype` is plain data (``to_dict`` / ``from_dict`` round-trip through JSON): per cell the op names
and the inner widths -- the authors' derived-architecture file holds ``alpha`` and ``ratio`` and takes
argmaxes; :meth:`srlib.agd.supernet.AGDSupernet.derive` does that.

No searched AGD SR architecture is published (the repository links a drive only): :data:`PLACEHOLDER_GENOTYPE`
exists so that ``build("agd")`` works, and is NOT AGD's result. assumption: it is uniform (``conv3x3``
everywhere, inner widths 32), sized near the README's 108.06 GFLOPs at 256x256 (ours 112.6 G with bias
adds) only so that a default build has a plausible cost; our AGD row comes from our own search.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from srlib.models import register
from srlib.models.common import conv

from .operations import OPS, make_op

__all__ = ["Genotype", "PLACEHOLDER_GENOTYPE", "DerivedCell", "AGDGenerator", "RES_SCALE",
           "add_skeleton", "skeleton_forward", "skeleton_macs"]

#: A cell returns ``out * RES_SCALE + x`` (ESRGAN's residual scaling, kept by AGD's cells).
RES_SCALE = 0.2


@dataclass(frozen=True)
class Genotype:
    """``ops[c][l]``: the op of layer ``l`` of cell ``c`` (one of :data:`~srlib.agd.operations.OPS`);
    ``widths[c][j]``: the inner width after layer ``j`` of cell ``c`` (one fewer than layers);
    ``num_feat``: the trunk width (cell input and output)."""

    ops: tuple[tuple[str, ...], ...]
    widths: tuple[tuple[int, ...], ...]
    num_feat: int = 64

    def __post_init__(self) -> None:
        ops = tuple(tuple(str(o) for o in cell) for cell in self.ops)
        widths = tuple(tuple(int(w) for w in cell) for cell in self.widths)
        object.__setattr__(self, "ops", ops)
        object.__setattr__(self, "widths", widths)
        object.__setattr__(self, "num_feat", int(self.num_feat))
        if not ops or len(ops) != len(widths):
            raise ValueError(f"genotype: {len(ops)} cells of ops but {len(widths)} cells of widths")
        for c, (o, w) in enumerate(zip(ops, widths)):
            if len(o) < 1 or len(w) != len(o) - 1:
                raise ValueError(f"genotype cell {c}: {len(o)} ops need {max(len(o) - 1, 0)} inner widths, "
                                 f"got {len(w)}")
            bad = [k for k in o if k not in OPS]
            if bad:
                raise KeyError(f"genotype cell {c}: unknown ops {bad}; valid: {', '.join(OPS)}")
            if any(x < 1 for x in w):
                raise ValueError(f"genotype cell {c}: widths must be positive, got {w}")
        if self.num_feat < 1:
            raise ValueError(f"num_feat must be positive, got {self.num_feat}")

    def channels(self, cell: int) -> tuple[int, ...]:
        """Widths along cell ``cell``: ``(num_feat, w_0, ..., w_{L-2}, num_feat)``; layer l maps entry l -> l+1."""
        return (self.num_feat, *self.widths[cell], self.num_feat)

    def to_dict(self) -> dict[str, Any]:
        return {"ops": [list(c) for c in self.ops], "widths": [list(c) for c in self.widths],
                "num_feat": self.num_feat}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Genotype":
        extra = set(d) - {"ops", "widths", "num_feat"}
        if extra or not {"ops", "widths"} <= set(d):
            raise ValueError(f"a genotype dict has keys ops, widths[, num_feat]; got {sorted(d)}")
        return cls(d["ops"], d["widths"], d.get("num_feat", 64))


#: NOT AGD's searched architecture (unpublished): a labelled placeholder so ``build("agd")`` works
#: (module docstring).
PLACEHOLDER_GENOTYPE = Genotype(ops=(("conv3x3",) * 5,) * 5, widths=((32,) * 4,) * 5)


# ------------------------------------------------------------------------------------------------------
# The ESRGAN skeleton shared by the derived net and the supernet (described once, here)
# ------------------------------------------------------------------------------------------------------
def add_skeleton(module: nn.Module, num_feat: int, in_ch: int = 3, out_ch: int = 3) -> None:
    """Give ``module`` the six skeleton convs (all with bias), named as in srlib's ESRGAN."""
    module.conv_first = conv(in_ch, num_feat, 3)
    module.conv_body = conv(num_feat, num_feat, 3)
    module.conv_up1 = conv(num_feat, num_feat, 3)
    module.conv_up2 = conv(num_feat, num_feat, 3)
    module.conv_hr = conv(num_feat, num_feat, 3)
    module.conv_last = conv(num_feat, out_ch, 3)


def skeleton_forward(module: nn.Module, x: torch.Tensor, body: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """The skeleton around ``body`` (the cells), ending in ``(tanh(out) + 1) / 2``."""
    feat = module.conv_first(x)
    feat = feat + module.conv_body(body(feat))
    feat = F.leaky_relu(module.conv_up1(F.interpolate(feat, scale_factor=2, mode="nearest")), 0.2)
    feat = F.leaky_relu(module.conv_up2(F.interpolate(feat, scale_factor=2, mode="nearest")), 0.2)
    out = module.conv_last(F.leaky_relu(module.conv_hr(feat), 0.2))
    return (torch.tanh(out) + 1) / 2


def skeleton_macs(num_feat: int, hw: tuple[int, int], *, bias: bool, in_ch: int = 3, out_ch: int = 3) -> int:
    """MACs of the six skeleton convs at LR size ``hw`` (``bias``: + one add per output element)."""
    n = int(hw[0]) * int(hw[1])
    f = num_feat
    macs = 9 * (in_ch * f + f * f) * n + 9 * f * f * (4 * n + 16 * n + 16 * n) + 9 * f * out_ch * 16 * n
    adds = (f + f) * n + f * (4 + 16 + 16) * n + out_ch * 16 * n
    return macs + (adds if bias else 0)


# ------------------------------------------------------------------------------------------------------
# The derived generator
# ------------------------------------------------------------------------------------------------------
class DerivedCell(nn.Module):
    """One derived cell: its layers in sequence, then ``out * 0.2 + x``."""

    def __init__(self, ops: Sequence[str], channels: Sequence[int]):
        super().__init__()
        if len(channels) != len(ops) + 1:
            raise ValueError(f"{len(ops)} ops need {len(ops) + 1} channel entries, got {len(channels)}")
        self.layers = nn.ModuleList(make_op(k, channels[i], channels[i + 1]) for i, k in enumerate(ops))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x
        for layer in self.layers:
            out = layer(out)
        return out * RES_SCALE + x


@register("agd")
class AGDGenerator(nn.Module):
    """The derived AGD generator of ``genotype`` (a :class:`Genotype` or its dict; default the labelled
    :data:`PLACEHOLDER_GENOTYPE`). ``forward(x)``: RGB [0, 1] LR -> x4 RGB in (0, 1)."""

    scale = 4

    def __init__(self, genotype: Genotype | Mapping[str, Any] | None = None):
        super().__init__()
        if genotype is None:
            genotype = PLACEHOLDER_GENOTYPE
        elif not isinstance(genotype, Genotype):
            genotype = Genotype.from_dict(genotype)
        self.genotype = genotype
        add_skeleton(self, genotype.num_feat)
        self.body = nn.ModuleList(DerivedCell(ops, genotype.channels(c)) for c, ops in enumerate(genotype.ops))

    def _body(self, x: torch.Tensor) -> torch.Tensor:
        for cell in self.body:
            x = cell(x)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return skeleton_forward(self, x, self._body)
