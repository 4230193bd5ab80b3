"""The TPSR generator: one searched cell in a fixed template; the published x4 model by default.

Lee, Dudziak, Abdelfattah, Venieris, Kim, Wen, Lane, "Journey Towards Tiny Perceptual Super-Resolution",
ECCV 2020: Sec. 3.2 (generator search space: a single cell of 10 nodes, each node an operation from Op and
one input among the cell input and earlier nodes; leaf nodes are summed), Fig. 1 (template), Fig. 2 (the
discovered cell; "each operation is followed by a PReLU"), Table 1 (TPSR: 61K parameters, 3.6G Mult-Adds
at x4). Structural details not in the paper are read from the authors' test code (architectures.md).

Template: ``x * 255`` -> ``sub_mean`` -> stem conv3 3->16 (no activation) = cell input ``i`` -> cell ->
PReLU on the leaf sum -> upsampler -> ``add_mean`` -> ``/ 255``. Upsampler x4: conv3 16->12 ->
PixelShuffle(2) (3 channels) -> conv3 3->12 -> PixelShuffle(2); x2 (the search proxy) stops after the
first stage. No global image skip.

Genotype: a tuple of ``(op, input)`` per node; ``input`` 0 is the cell input ``i`` and ``k >= 1`` the
output of node ``k - 1`` (so node ``m`` may take inputs ``0..m``, the paper's Z_{m+1}). Nodes no other node
consumes are leaves and are summed (one leaf: its output is the cell's output). As a controller sees it
(Eq. 4, S_G = Op x Z_1 x ... x Op x Z_10): :func:`decisions` gives the 20 decision sizes (op, then input,
per node), :func:`genotype` turns one index per decision into a Genotype and :func:`actions` back.

The published cell (:data:`TPSR_GENOTYPE`), nodes 0-9:

    n0 = sep5(i)   n1 = conv7(n0)  n2 = conv7(n1)  n3 = conv3(n2)  n4 = conv3(n2)
    n5 = conv5(n4) n6 = sep3(n5)   n7 = conv5(n3)  n8 = conv3(n7)  n9 = conv7(i)
    leaves n6, n8, n9 -> sum -> PReLU

Operations (16 channels in and out everywhere; PReLU has ONE slope, which the parameter count confirms):

* ``convK`` (K = 1, 3, 5, 7): conv K x K (bias) + PReLU.
* ``sepK`` (K = 3, 5, 7): depthwise K x K (no bias) -> PReLU -> conv1 (bias) -> PReLU.
* The rest of the paper's Op set, which the published cell does not use and whose internals the paper does
  not give (our assumptions, for the search): ``gconvK`` = conv K x K with 4 groups + PReLU; ``invK`` =
  MobileNetV2 inverted bottleneck without BN (conv1 n->2n + PReLU -> depthwise K + PReLU -> conv1 2n->n,
  + x) + PReLU; ``se`` = squeeze-and-excitation (avg pool -> conv1 n->n/4 -> ReLU -> conv1 -> sigmoid,
  x * s) + PReLU; ``ca`` = RCAN's residual channel-attention block (conv3 -> ReLU -> conv3 -> channel
  attention with reduction 4, + x) + PReLU; ``identity`` (no PReLU).

Units: the authors' code works in 0-255 with a mean shift of 255 x the DIV2K mean (std 1); ``forward``
takes [0, 1], converts to 0-255 and back, and does not clamp (their evaluation clamps to [0, 255]).

Parameters: 61,097 trainable at the defaults (+24 frozen mean-shift parameters, ``requires_grad=False``,
which appear in ``parameters()`` and the state dict).
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn

from srlib.models import register
from srlib.models.common import MeanShift, conv
from srlib.models.rcan import CALayer

Genotype = tuple[tuple[str, int], ...]

#: The published TPSR cell (Fig. 2 / the authors' test code), in the (op, input) form above.
TPSR_GENOTYPE: Genotype = (
    ("sep5", 0), ("conv7", 1), ("conv7", 2), ("conv3", 3), ("conv3", 3),
    ("conv5", 5), ("sep3", 6), ("conv5", 4), ("conv3", 8), ("conv7", 0),
)

#: The paper's generator operation set Op (Sec. 3.2).
OPS: tuple[str, ...] = (
    "conv1", "conv3", "conv5", "conv7", "gconv3", "gconv5", "gconv7", "sep3", "sep5", "sep7",
    "inv3", "inv5", "inv7", "se", "ca", "identity",
)


class _SE(nn.Module):
    def __init__(self, c: int, reduction: int = 4):
        super().__init__()
        hidden = max(1, c // reduction)
        self.body = nn.Sequential(nn.AdaptiveAvgPool2d(1), conv(c, hidden, 1), nn.ReLU(inplace=True),
                                  conv(hidden, c, 1), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.body(x)


class _Residual(nn.Module):
    def __init__(self, body: nn.Module):
        super().__init__()
        self.body = body

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


def make_op(name: str, c: int) -> nn.Module:
    """One cell operation with ``c`` channels in and out, including its trailing PReLU(s)."""
    if name == "identity":
        return nn.Identity()
    kind = name.rstrip("0123456789")
    k = int(name[len(kind):] or 0)
    if kind == "conv":
        return nn.Sequential(conv(c, c, k), nn.PReLU())
    if kind == "gconv":
        return nn.Sequential(conv(c, c, k, groups=4), nn.PReLU())
    if kind == "sep":
        return nn.Sequential(conv(c, c, k, bias=False, groups=c), nn.PReLU(), conv(c, c, 1), nn.PReLU())
    if kind == "inv":
        e = 2 * c
        return nn.Sequential(_Residual(nn.Sequential(
            conv(c, e, 1), nn.PReLU(), conv(e, e, k, groups=e), nn.PReLU(), conv(e, c, 1))), nn.PReLU())
    if kind == "se":
        return nn.Sequential(_SE(c), nn.PReLU())
    if kind == "ca":
        return nn.Sequential(_Residual(nn.Sequential(
            conv(c, c, 3), nn.ReLU(inplace=True), conv(c, c, 3), CALayer(c, reduction=4))), nn.PReLU())
    raise KeyError(f"unknown TPSR op {name!r}; valid: {', '.join(OPS)}")


#: Nodes of TPSR's cell (Sec. 3.2: "selecting 10 operations ... to assign to 10 nodes").
NUM_NODES = 10


def decisions(num_nodes: int = NUM_NODES) -> tuple[int, ...]:
    """The sizes of S_G's decisions in Eq. 4's order: node m's op (|Op| = 16 options), then its input
    (m + 1 options: the cell input or one of nodes 0..m-1; the paper's Z_{m+1}). 20 decisions for 10 nodes."""
    return tuple(n for m in range(num_nodes) for n in (len(OPS), m + 1))


def genotype(actions: Sequence[int]) -> Genotype:
    """The cell a controller sample describes: ``actions`` = one index per :func:`decisions` entry."""
    if len(actions) % 2:
        raise ValueError(f"expected (op, input) index pairs, got {len(actions)} actions")
    out = []
    for m in range(len(actions) // 2):
        op, inp = int(actions[2 * m]), int(actions[2 * m + 1])
        if not 0 <= op < len(OPS) or not 0 <= inp <= m:
            raise ValueError(f"node {m}: op index {op} not in 0..{len(OPS) - 1} or input {inp} not in 0..{m}")
        out.append((OPS[op], inp))
    return tuple(out)


def actions(genotype: Sequence[tuple[str, int]]) -> tuple[int, ...]:
    """The inverse of :func:`genotype`: the decision indices of a cell."""
    return tuple(i for op, inp in genotype for i in (OPS.index(op), int(inp)))


def leaves(genotype: Sequence[tuple[str, int]]) -> list[int]:
    """Indices of the nodes whose output no other node consumes."""
    used = {inp - 1 for _, inp in genotype if inp >= 1}
    return [i for i in range(len(genotype)) if i not in used]


class Cell(nn.Module):
    """A searched cell: node ``m`` applies its op to input 0 (cell input) or node ``input - 1``."""

    def __init__(self, genotype: Sequence[tuple[str, int]], num_feat: int):
        super().__init__()
        for m, (op, inp) in enumerate(genotype):
            if not 0 <= inp <= m:
                raise ValueError(f"node {m}: input {inp} not in 0..{m}")
            if op not in OPS:
                raise KeyError(f"unknown TPSR op {op!r}; valid: {', '.join(OPS)}")
        self.genotype: Genotype = tuple((str(op), int(inp)) for op, inp in genotype)
        self.leaves = leaves(self.genotype)
        self.nodes = nn.ModuleList(make_op(op, num_feat) for op, _ in self.genotype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        states = [x]
        for (_, inp), node in zip(self.genotype, self.nodes):
            states.append(node(states[inp]))
        out = states[self.leaves[0] + 1]
        for i in self.leaves[1:]:
            out = out + states[i + 1]
        return out


@register("tpsr")
class TPSRGenerator(nn.Module):
    """TPSR generator; defaults build the published x4 model (16 channels, :data:`TPSR_GENOTYPE`)."""

    def __init__(self, num_feat: int = 16, genotype: Sequence[tuple[str, int]] = TPSR_GENOTYPE, scale: int = 4,
                 rgb_range: float = 255.0):
        super().__init__()
        if scale not in (2, 4):
            raise ValueError("TPSR's template upsamples x2 (search proxy) or x4")
        self.scale = scale
        self.rgb_range = rgb_range
        self.sub_mean = MeanShift(rgb_range, sign=-1)
        self.stem = conv(3, num_feat, 3)
        self.cell = Cell(genotype, num_feat)
        self.act = nn.PReLU()
        up = [conv(num_feat, 12, 3), nn.PixelShuffle(2)]
        if scale == 4:
            up += [conv(3, 12, 3), nn.PixelShuffle(2)]
        self.upsample = nn.Sequential(*up)
        self.add_mean = MeanShift(rgb_range, sign=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        i = self.stem(self.sub_mean(x * self.rgb_range))  # [0, 1] -> the authors' 0-255 units
        out = self.upsample(self.act(self.cell(i)))
        return self.add_mean(out) / self.rgb_range
