"""AGD's SR operators, each runnable at narrower widths on views of one weight set, with its MAC count.

From the authors' SR code (VITA-Group/AGD ``AGD_SR/search/operations.py``; shared/notes/agd.md and its
corrections). Every conv of a cell has no bias; BN modules exist in their code but are disabled
(``ENABLE_BN = False``) and are not built here. All convs are stride 1 with 'same' padding.

=============  ==============================================================================
``skip``       conv1x1 (c_in -> c_out) -> ReLU (a 1x1 conv in both supernet and derived net, not an identity)
``conv3x3``    conv3x3 (c_in -> c_out) -> ReLU
``residual``   ReLU( conv3x3 (c_out -> c_out) . ReLU . conv3x3 (c_in -> c_out) (x) + shortcut(x) )
``dwsblock``   ReLU( conv1x1 (hidden -> c_out) . ReLU . dw3x3 (hidden) . ReLU . conv1x1 (c_in -> hidden) (x)
               + shortcut(x) )
=============  ==============================================================================

Supernet form vs derived form (the notes' corrections):

* ``shortcut="conv"`` (supernet): ``residual`` and ``dwsblock`` always carry a 1x1-conv shortcut.
  ``shortcut="auto"`` (derived net): a 1x1 conv only where ``c_in != c_out``, else the identity.
* ``dwsblock``'s expanded width: the supernet keeps ``hidden = 4 x 64 = 256`` whatever the sampled widths
  (only the input and output sides are sliced); the derived net expands by 4 x its own input width
  (``hidden=None`` -> ``expansion * c_in``).

Elastic forward: ``op(x, c_out)`` runs the op at input width ``x.shape[1]`` and output width ``c_out``
(None: the op's full ``c_out``) on the first channels of every weight (``weight[:c_out, :c_in]``),
as the authors' slimmable ``USConv2d`` does. The derived net builds the same classes at its exact widths.

MACs: :meth:`AGDOp.macs` counts one op at ``(c_in, c_out)`` and ``hw = (H, W)`` under the op's own form;
:func:`op_macs` counts the *derived* form -- what the authors' FLOPs lookup table holds (their
``_flops`` builds the non-slimmable op and profiles it with thop). Convs only (ReLU, adds: 0 MACs), no
bias adds (no biases here). tests/test_agd_method.py checks every count against ``srlib.complexity``.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["OPS", "RELEASED_CODE_OPS", "SHORTCUTS", "AGDOp", "Skip", "Conv3x3", "Residual", "DwsBlock",
           "make_op", "op_macs", "make_divisible"]

#: The operator set of shared/notes/agd.md, in this order (alpha's last axis).
OPS: tuple[str, ...] = ("skip", "conv3x3", "residual", "dwsblock")
#: The public SR code's ``PRIMITIVES`` (``genotypes.py``): 'skip' is commented out there.
RELEASED_CODE_OPS: tuple[str, ...] = ("conv3x3", "residual", "dwsblock")
SHORTCUTS = ("conv", "auto")


def make_divisible(v: float, divisor: int = 8, min_value: int = 3) -> int:
    """The authors' channel rounding (slim's ``make_divisible``, ``min_value=3``): nearest multiple of
    ``divisor``, bumped up one step if that lost more than 10 %. ``64 x {4,6,8,10,12}/12`` -> 24, 32, 40, 56, 64."""
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    return new_v + divisor if new_v < 0.9 * v else new_v


def _conv(x: torch.Tensor, conv: nn.Conv2d, c_out: int) -> torch.Tensor:
    """``conv`` on the first ``x.shape[1]`` inputs and first ``c_out`` outputs of its weight."""
    w = conv.weight[:c_out, :x.shape[1]]
    return F.conv2d(x, w, None, padding=conv.padding)


def _dwconv(x: torch.Tensor, conv: nn.Conv2d) -> torch.Tensor:
    """A depthwise ``conv`` on the first ``x.shape[1]`` channels."""
    c = x.shape[1]
    return F.conv2d(x, conv.weight[:c], None, padding=conv.padding, groups=c)


def _c(c_in: int, c_out: int, k: int, groups: int = 1) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, k, padding=k // 2, bias=False, groups=groups)


class AGDOp(nn.Module):
    """Base of the four operators: widths ``c_in``/``c_out`` are the largest it runs at; ``kind`` its name."""

    kind = ""

    def __init__(self, c_in: int, c_out: int, shortcut: str = "auto"):
        super().__init__()
        if shortcut not in SHORTCUTS:
            raise ValueError(f"shortcut must be one of {SHORTCUTS}, got {shortcut!r}")
        if c_in < 1 or c_out < 1:
            raise ValueError(f"{self.kind}: widths must be positive, got c_in={c_in}, c_out={c_out}")
        self.c_in, self.c_out, self.shortcut_mode = int(c_in), int(c_out), shortcut

    def _width(self, x: torch.Tensor, c_out: int | None) -> int:
        c_out = self.c_out if c_out is None else int(c_out)
        if not (0 < x.shape[1] <= self.c_in and 0 < c_out <= self.c_out):
            raise ValueError(f"{self.kind}: asked for {x.shape[1]} -> {c_out} channels, built for at most "
                             f"{self.c_in} -> {self.c_out}")
        return c_out

    def per_pixel(self, c_in: int, c_out: int) -> int:  # pragma: no cover - overridden
        raise NotImplementedError

    def macs(self, c_in: int | None = None, c_out: int | None = None, hw: tuple[int, int] = (1, 1)) -> int:
        """MACs of one forward at ``(c_in, c_out)`` (default: the full widths) on an ``hw`` input."""
        c_in = self.c_in if c_in is None else int(c_in)
        c_out = self.c_out if c_out is None else int(c_out)
        return self.per_pixel(c_in, c_out) * int(hw[0]) * int(hw[1])

    def extra_repr(self) -> str:
        return f"{self.c_in} -> {self.c_out}, shortcut={self.shortcut_mode!r}"


class _ConvReLU(AGDOp):
    """A single conv of ``kernel`` x ``kernel`` + ReLU (``shortcut`` is accepted for a uniform signature and
    has no effect)."""

    kernel = 3

    def __init__(self, c_in: int, c_out: int, shortcut: str = "auto"):
        super().__init__(c_in, c_out, shortcut)
        self.conv = _c(c_in, c_out, self.kernel)

    def forward(self, x: torch.Tensor, c_out: int | None = None) -> torch.Tensor:
        return F.relu(_conv(x, self.conv, self._width(x, c_out)))

    def per_pixel(self, c_in: int, c_out: int) -> int:
        return self.kernel * self.kernel * c_in * c_out


class Skip(_ConvReLU):
    """``skip``: conv1x1 + ReLU (not an identity, as in the authors' code)."""

    kind, kernel = "skip", 1


class Conv3x3(_ConvReLU):
    """``conv3x3``: conv3x3 + ReLU."""

    kind, kernel = "conv3x3", 3


class _WithShortcut(AGDOp):
    """An op with a residual shortcut: a 1x1 conv (supernet: always; derived: where c_in != c_out)."""

    def __init__(self, c_in: int, c_out: int, shortcut: str = "auto"):
        super().__init__(c_in, c_out, shortcut)
        self.skip = _c(c_in, c_out, 1) if shortcut == "conv" or c_in != c_out else None

    def _has_conv_shortcut(self, c_in: int, c_out: int) -> bool:
        return self.shortcut_mode == "conv" or c_in != c_out

    def _shortcut(self, x: torch.Tensor, c_out: int) -> torch.Tensor:
        if self.skip is None:
            return x
        return _conv(x, self.skip, c_out)


class Residual(_WithShortcut):
    """``residual``: ReLU(conv3(ReLU(conv3(x))) + shortcut(x)); the inner width is ``c_out``."""

    kind = "residual"

    def __init__(self, c_in: int, c_out: int, shortcut: str = "auto"):
        super().__init__(c_in, c_out, shortcut)
        self.conv1 = _c(c_in, c_out, 3)
        self.conv2 = _c(c_out, c_out, 3)

    def forward(self, x: torch.Tensor, c_out: int | None = None) -> torch.Tensor:
        c_out = self._width(x, c_out)
        out = _conv(F.relu(_conv(x, self.conv1, c_out)), self.conv2, c_out)
        return F.relu(out + self._shortcut(x, c_out))

    def per_pixel(self, c_in: int, c_out: int) -> int:
        return 9 * c_in * c_out + 9 * c_out * c_out + (c_in * c_out if self._has_conv_shortcut(c_in, c_out) else 0)


class DwsBlock(_WithShortcut):
    """``dwsblock``: ReLU(conv1(ReLU(dw3(ReLU(conv1(x))))) + shortcut(x)).

    ``hidden``: the expanded width (supernet: 256 = 4 x 64, never sliced); None: ``expansion * c_in``
    (the derived net; the authors' ``C_in * 4``).
    """

    kind = "dwsblock"

    def __init__(self, c_in: int, c_out: int, shortcut: str = "auto", *, hidden: int | None = None,
                 expansion: int = 4):
        super().__init__(c_in, c_out, shortcut)
        self.fixed_hidden = hidden is not None
        self.expansion = int(expansion)
        self.hidden = int(hidden) if hidden is not None else self.expansion * self.c_in
        self.expand = _c(c_in, self.hidden, 1)
        self.dw = _c(self.hidden, self.hidden, 3, groups=self.hidden)
        self.project = _c(self.hidden, c_out, 1)

    def forward(self, x: torch.Tensor, c_out: int | None = None) -> torch.Tensor:
        c_out = self._width(x, c_out)
        h = F.relu(_conv(x, self.expand, self.hidden))
        out = _conv(F.relu(_dwconv(h, self.dw)), self.project, c_out)
        return F.relu(out + self._shortcut(x, c_out))

    def hidden_at(self, c_in: int) -> int:
        return self.hidden if self.fixed_hidden else self.expansion * c_in

    def per_pixel(self, c_in: int, c_out: int) -> int:
        h = self.hidden_at(c_in)
        sc = c_in * c_out if self._has_conv_shortcut(c_in, c_out) else 0
        return c_in * h + 9 * h + h * c_out + sc

    def extra_repr(self) -> str:
        return super().extra_repr() + f", hidden={self.hidden}"


_CLASSES: dict[str, type[AGDOp]] = {"skip": Skip, "conv3x3": Conv3x3, "residual": Residual, "dwsblock": DwsBlock}


def make_op(kind: str, c_in: int, c_out: int, *, shortcut: str = "auto", hidden: int | None = None) -> AGDOp:
    """One operator. Derived net: ``shortcut="auto"``, ``hidden=None``; supernet: ``shortcut="conv"`` and
    ``hidden=4 * num_feat`` (used by ``dwsblock`` only)."""
    if kind not in _CLASSES:
        raise KeyError(f"unknown AGD op {kind!r}; valid: {', '.join(OPS)}")
    if kind == "dwsblock":
        return DwsBlock(c_in, c_out, shortcut, hidden=hidden)
    return _CLASSES[kind](c_in, c_out, shortcut)


def op_macs(kind: str, c_in: int, c_out: int, hw: tuple[int, int]) -> int:
    """MACs of the *derived-form* op ``kind`` at ``(c_in, c_out)`` on an ``hw`` input (the FLOPs lookup's
    entry). The op is built on the meta device: no memory, no initialisation."""
    with torch.device("meta"):
        op = make_op(kind, c_in, c_out)
    return op.macs(c_in, c_out, hw)

