"""MFANet, MFAGAN's generator (x4), and its SubGenerators (MFAGAN Sec. 3.2, 3.4, 3.6; Fig. 3-4; Table 1).

What the paper states (Sec. 3.2):

* coarse feature extraction: one conv3; then three MFAMs "stacked in a chain"; global aggregation: concat
  of the MFAM outputs -> conv1; a global skip; a conv3 "to smooth the aggregated features";
  reconstruction = "a 3x3 convolution and a sub-pixel operation".
* MFAM = RFDB (RFDN, Fig. 3a) with its three 1x1 distillation convs removed and each SRB replaced by a CFAB.
* CFAB = "five 3x3 convolutions, a local feature aggregation layer, a CCA layer, a 1x1 convolution layer,
  and a local skip connection" (Fig. 3c).

What we build (``C`` = backbone width, ``g`` = a CFAB's inner width; C = g = ``num_feat`` by default)::

    fea  = conv3 3->C(x)
    t_i  = MFAM_i(t_{i-1}), t_0 = fea, i = 1..3
    body = conv3 F->C( LReLU(conv1 3C->F(cat(t1, t2, t3))) ) + fea          (F = C by default)
    out  = PixelShuffle(4)(conv3 C->48(body))
    MFAM(x):  h_1 = CFAB_1(x); h_2 = CFAB_2(h_1); h_3 = LReLU(conv3 C->C(h_2))
              return ESA(conv1 3C->C(cat(h_1, h_2, h_3)))                         (no block residual)
    CFAB(x):  o_1 = LReLU(conv3 C->g(x)); o_k = LReLU(conv3 g->g(o_{k-1})), k = 2..5
              return conv1 5g->C(CCA(cat(o_1..o_5))) + x

Assumptions where the paper is silent (each chosen, then checked against Table 1):

* **Two CFABs per MFAM** (``n_cfab=2``), each in the place of an RFDB refinement step, followed by RFDB's
  conv3 (``c4``, here C->C since no distilled half-width branch remains) and RFDB's conv1 + ESA
  (ESA from :mod:`srlib.models.rfdn`, kept because the text only removes the 1x1s and the SRBs). The text
  does not give the count. Three CFABs (one per RFDB step) with full-width convs give 2,238,852
  parameters and 34.25G MACs at C = 64 (``n_cfab=3``), +44% over Table 1; two give 1.572M / 23.98G
  (+0.7% / +1.1%), and the ratio G48/G64 then matches Table 1's (0.567 params, 0.566 MACs vs 0.567,
  0.567). Three CFABs at inner width 3C/4 (input also concatenated) come close too (1.554M / 23.23G) but
  need an unexplained 3/4 and leave no natural reading of the 8 searchable layers.
* The five convs are chained (VoVNet's one-shot aggregation; Sec. 3.2 cites VoVNet and avoids dense
  connections), "local feature aggregation" = concatenation of the five outputs (not of the input), and
  CCA acts on the concatenation before the conv1, in IMDN's order (concat -> CCA -> conv1 -> + x).
  Concatenating the input too would cost +3.7% parameters and +1.7% MACs.
* LReLU(0.05) after every 3x3 conv of a CFAB, after c4 and after the global conv1 (RFDN's activation and
  placement); none after a conv1 that feeds a skip or ESA. CCA reduction 16 (IMDN).
* No mean shift; input RGB in [0, 1], output ~[0, 1], not clamped (suite convention).

Counts (ours; Table 1 prints params in millions as "#Param. (MB)", "FLOPs" = MACs at a 128x128 LR input):

    =======  ==============  ===========  =========================  ==============
    model    params (ours)   printed      conv MACs @128x128 (ours)  printed FLOPs
    =======  ==============  ===========  =========================  ==============
    G64      1,571,592       1.56M        23.98 G                    23.72 G
    G48        890,562       0.884M       13.58 G                    13.45 G
    =======  ==============  ===========  =========================  ==============

All within +0.7% (params) and +1.1% (MACs), the same sign for both widths. MFAGAN's ESRGAN row (291 G)
is also 0.9% below ESRGAN's exact conv MACs (293.7 G), so its counting tool probably runs ~1% low.
Memory (fp32 conv inputs + outputs + weights at 128x128, the definition that gives 4.21 GB for ESRGAN
against MFAGAN's printed 4.29): 0.563 GB / 0.422 GB for G64 / G48 against printed 0.877 / 0.657 — the
printed ratio (0.749) matches ours (0.750), but the level is 1.56x ours. Counting every leaf module's inputs +
outputs + weights (module-hook tools such as torchstat; ``all_layers_io`` in :mod:`srlib.complexity`) gives
0.855 / 0.643 GB (-2.5% / -2.1%; 0.494 vs 0.515 for the searched model), but that definition puts ESRGAN
32% above its printed 4.29, so no single definition fits both rows; MFAGAN does not define its "Memory".

SuperGenerator space (Sec. 3.6): "SubGenerators of different channel numbers (i.e., 48, 32, 24)", "about
3^8". **Our reading of the 8 searchable layers** (``widths``, in this order): the widths that no residual
addition ties to another layer, grouped where one is, i.e.

    widths[0]    backbone C: coarse conv, every CFAB's conv1 output, c4, MFAM conv1 and ESA output,
                 and the smoothing conv3 (all tied by the local and global skips and the MFAM chain)
    widths[1:7]  inner width g of the six CFABs (MFAM1 CFAB1, MFAM1 CFAB2, MFAM2 CFAB1, ...)
    widths[7]    F, the output width of the global conv1 (before the smoothing conv3)

ESA's inner width follows C // 4 and CCA's hidden width 5g // 16. The full-width model (every entry
``num_feat``) is the SuperGenerator; SubGenerators take each entry from {48, 32, 24}. Under this reading the
searched model of Table 1 (0.551M, 8.41 G MACs) is reachable, e.g. ``widths = [32, 24, 32, 32, 48, 48,
48, 32]`` gives 552,552 / 8.41 G (conv-I/O memory 0.319 GB vs printed 0.515, the same 1.6x). 3^8 = 6561
(the paper prints "6581").

:meth:`MFANet.subnet` extracts a SubGenerator with the SuperGenerator's weights ("All SubGenerators share
the front portion of corresponding layer weights", Sec. 3.6): the first k output channels of every layer
and, for layers that read a concatenation, the first channels of *each* concatenated part.
:meth:`MFANet.sliced_parameters` gives the same tensors without copying (differentiable, for weight-sharing
training with ``torch.func.functional_call``).

Minimum input: ESA's stride-2 conv and 7x7 max-pool need an LR input of at least 15x15.
"""
from __future__ import annotations

import itertools
import random
from typing import Sequence

import torch
import torch.nn as nn

from srlib.models import register
from srlib.models.common import CCALayer, conv
from srlib.models.rfdn import ESA

#: Per-layer width choices of the SuperGenerator space (Sec. 3.6).
WIDTH_CHOICES: tuple[int, ...] = (48, 32, 24)


def _act() -> nn.LeakyReLU:
    return nn.LeakyReLU(0.05, inplace=True)


class CFAB(nn.Module):
    """Concatenative feature aggregation block (Fig. 3c): 5 chained conv3 -> concat -> CCA -> conv1, + x."""

    def __init__(self, channels: int, inner: int):
        super().__init__()
        self.convs = nn.ModuleList([conv(channels, inner, 3)] + [conv(inner, inner, 3) for _ in range(4)])
        self.act = _act()
        self.cca = CCALayer(5 * inner)
        self.c_out = conv(5 * inner, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outs, h = [], x
        for c in self.convs:
            h = self.act(c(h))
            outs.append(h)
        return self.c_out(self.cca(torch.cat(outs, dim=1))) + x


class MFAM(nn.Module):
    """Multi-scale feature aggregation module (Fig. 3b): CFABs -> conv3 -> concat all -> conv1 -> ESA."""

    def __init__(self, channels: int, inner: Sequence[int]):
        super().__init__()
        self.cfabs = nn.ModuleList(CFAB(channels, g) for g in inner)
        self.c4 = conv(channels, channels, 3)
        self.act = _act()
        self.c5 = conv(channels * (len(inner) + 1), channels, 1)
        self.esa = ESA(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outs, h = [], x
        for cfab in self.cfabs:
            h = cfab(h)
            outs.append(h)
        outs.append(self.act(self.c4(h)))
        return self.esa(self.c5(torch.cat(outs, dim=1)))


@register("mfanet")
class MFANet(nn.Module):
    """MFANet at x4. ``num_feat`` sets every width; ``widths`` (length 2 + 3 * n_cfab, i.e. 8) overrides them
    per searchable layer: [backbone C, the CFAB inner widths MFAM by MFAM, global-fusion width F].

    ``forward(x, return_features=True)`` also returns [t1, t2, t3], the three MFAM outputs (Sec. 3.4).
    """

    scale = 4
    num_mfam = 3

    def __init__(self, num_feat: int = 64, widths: Sequence[int] | None = None, n_cfab: int = 2):
        super().__init__()
        n_widths = 2 + self.num_mfam * n_cfab
        if widths is None:
            widths = [num_feat] * n_widths
        widths = [int(w) for w in widths]
        if len(widths) != n_widths:
            raise ValueError(f"widths needs {n_widths} entries (backbone, {self.num_mfam * n_cfab} CFAB inner "
                             f"widths, fusion), got {len(widths)}")
        if widths[0] < 4 or min(widths) < 1:
            raise ValueError(f"widths too small: {widths} (the backbone needs >= 4 for ESA)")
        self.n_cfab = n_cfab
        self.widths = tuple(widths)
        c, fusion = widths[0], widths[-1]
        inner = widths[1:-1]
        self.fea_conv = conv(3, c, 3)
        self.mfams = nn.ModuleList(MFAM(c, inner[i * n_cfab:(i + 1) * n_cfab]) for i in range(self.num_mfam))
        self.fuse = nn.Sequential(conv(c * self.num_mfam, fusion, 1), _act())
        self.lr_conv = conv(fusion, c, 3)
        self.upsampler = nn.Sequential(conv(c, 3 * 16, 3), nn.PixelShuffle(4))

    def forward(self, x: torch.Tensor, return_features: bool = False):
        fea = self.fea_conv(x)
        feats, h = [], fea
        for mfam in self.mfams:
            h = mfam(h)
            feats.append(h)
        out = self.upsampler(self.lr_conv(self.fuse(torch.cat(feats, dim=1))) + fea)
        return (out, feats) if return_features else out

    # ---- SubGenerators ---------------------------------------------------------------------------------
    def _channel_plan(self, widths: Sequence[int]) -> dict[str, tuple[torch.Tensor | None, torch.Tensor | None]]:
        """For every conv: (output-channel indices, input-channel indices) of a SubGenerator in this net."""
        sub = [int(w) for w in widths]
        if len(sub) != len(self.widths):
            raise ValueError(f"widths needs {len(self.widths)} entries, got {len(sub)}")
        if any(s > w for s, w in zip(sub, self.widths)) or sub[0] < 4 or min(sub) < 1:
            raise ValueError(f"SubGenerator widths {sub} must lie between 1 (4 for the backbone) "
                             f"and {list(self.widths)}")
        C, b = self.widths[0], sub[0]
        f = sub[-1]

        def first(n: int) -> torch.Tensor:
            return torch.arange(n)

        def cat(part: int, keep: int, parts: int) -> torch.Tensor:
            return torch.cat([torch.arange(keep) + i * part for i in range(parts)])

        plan: dict[str, tuple[torch.Tensor | None, torch.Tensor | None]] = {"fea_conv": (first(b), None)}
        for m, mfam in enumerate(self.mfams):
            pre = f"mfams.{m}"
            for j, cfab in enumerate(mfam.cfabs):
                G, g = self.widths[1 + m * self.n_cfab + j], sub[1 + m * self.n_cfab + j]
                q = f"{pre}.cfabs.{j}"
                plan[f"{q}.convs.0"] = (first(g), first(b))
                for k in range(1, 5):
                    plan[f"{q}.convs.{k}"] = (first(g), first(g))
                idx = cat(G, g, 5)
                hidden = first(max(1, 5 * g // 16))
                plan[f"{q}.cca.conv_du.0"] = (hidden, idx)
                plan[f"{q}.cca.conv_du.2"] = (idx, hidden)
                plan[f"{q}.c_out"] = (first(b), idx)
            plan[f"{pre}.c4"] = (first(b), first(b))
            plan[f"{pre}.c5"] = (first(b), cat(C, b, self.n_cfab + 1))
            for name, mod in mfam.esa.named_modules():
                if isinstance(mod, nn.Conv2d):  # ESA: C <-> C // 4 channels
                    o = first(b) if mod.out_channels == C else first(b // 4)
                    i = first(b) if mod.in_channels == C else first(b // 4)
                    plan[f"{pre}.esa.{name}"] = (o, i)
        plan["fuse.0"] = (first(f), cat(C, b, self.num_mfam))
        plan["lr_conv"] = (first(b), first(f))
        plan["upsampler.0"] = (None, first(b))
        return plan

    def sliced_parameters(self, widths: Sequence[int]) -> dict[str, torch.Tensor]:
        """The SubGenerator ``widths``'s state as index-selected (differentiable) views of this net's weights."""
        plan = self._channel_plan(widths)
        out = {}
        for name, p in itertools.chain(self.named_parameters(), self.named_buffers()):
            mod = name.rsplit(".", 1)[0]
            o, i = plan[mod]
            t = p if o is None else p.index_select(0, o)
            if t.dim() > 1 and i is not None:
                t = t.index_select(1, i)
            out[name] = t
        return out

    @torch.no_grad()
    def subnet(self, widths: Sequence[int]) -> "MFANet":
        """A standalone SubGenerator with ``widths``, initialised from this (Super)Generator's weights."""
        net = MFANet(widths=widths, n_cfab=self.n_cfab)
        net.load_state_dict({k: v.detach().clone() for k, v in self.sliced_parameters(widths).items()})
        return net.to(next(self.parameters()).device)


def search_space(choices: Sequence[int] = WIDTH_CHOICES, n_layers: int = 8) -> list[tuple[int, ...]]:
    """Every SubGenerator width vector of the Sec. 3.6 space (3^8 = 6561 by default)."""
    return list(itertools.product(choices, repeat=n_layers))


def sample_widths(rng: random.Random, choices: Sequence[int] = WIDTH_CHOICES, n_layers: int = 8) -> list[int]:
    """One uniformly random SubGenerator width vector."""
    return [rng.choice(list(choices)) for _ in range(n_layers)]
