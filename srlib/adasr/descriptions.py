"""Block descriptions of the generators AdaSR adapts (Sec. 4: CARN, ESRGAN, RCAN, FMEN).

Each function takes a built zoo model (``srlib.models.build(name, **kw)``, any size) and returns the
:class:`~srlib.adasr.adaptable.BlockDescription` that lets :class:`~srlib.adasr.adaptable.Adaptable` run
its (depth, width) sub-models. A description states only the exceptions to the default rule -- a dense
conv narrows its output and input in proportion to the width (``C -> W``, ``4C -> 4W`` before a
pixel-shuffle, ESRGAN's growth ``32 -> W/2``, RCAN's attention ``C/16 -> W/16``): the RGB sides, the
frozen mean shifts and the consumers of concatenations (sliced per segment).

What a "block" is (the unit of depth and the distillation anchor, Sec. 3.2.3):

* CARN: a cascading block *with* its global fusion ``fuse.i`` (1x1 over ``[x | b1 | ... | b_i]``); the
  anchor is the fusion output (the next block's input, always C channels). M = 3.
* ESRGAN: an RRDB (``body.i``); the anchor is its output. M = 23.
* RCAN: a residual group (``body.i``, 20 RCABs + conv); the anchor is its output. M = 10. (Choice: the
  groups, not the RCABs: Table 1's "RCAN-1_0.75" keeps depth ratio 1 at group granularity.)
* FMEN: an (ERB, HFAB) pair after the warm-up (notes/adasr.md); the anchor is the HFAB output. M = 4.

CARN-M is refused: its residual-E units and upsampler are grouped convs, which slicing cannot narrow.
"""
from __future__ import annotations

from typing import Mapping

import torch
import torch.nn as nn
import torch.nn.functional as F

from .adaptable import BlockDescription, Narrow, fixed, scaled

__all__ = ["describe", "carn", "esrgan", "rcan", "fmen", "proportional_convs"]


def proportional_convs(model: nn.Module, special: Mapping[str, Narrow]) -> dict[str, Narrow]:
    """``special`` plus, for every other module owning parameters, the default rule: a dense conv or
    linear layer narrows its output and input in proportion to the width. Anything else must be special."""
    out: dict[str, Narrow] = {}
    for name, mod in model.named_modules():
        if not list(mod.parameters(recurse=False)):
            continue
        if name in special:
            out[name] = special[name]
        elif isinstance(mod, nn.Conv2d):
            out[name] = Narrow((scaled(mod.weight.shape[0]),), (scaled(mod.weight.shape[1]),))
        elif isinstance(mod, nn.Linear):
            out[name] = Narrow((scaled(mod.out_features),), (scaled(mod.in_features),))
        else:
            raise ValueError(f"module {name!r} ({type(mod).__name__}) needs an explicit Narrow rule")
    missing = set(special) - set(out)
    if missing:
        raise ValueError(f"special rules name modules without parameters or absent: {sorted(missing)}")
    return out


# ------------------------------------------------------------------------------------------------------
def carn(model: nn.Module) -> BlockDescription:
    """CARN (``srlib.models.carn``, ``mobile=False``); the x4 branch of the upsampler is wired."""
    if getattr(model.blocks[0], "mobile", False):
        raise ValueError("CARN-M's grouped convs cannot be narrowed by slicing; describe CARN instead")
    C, M = model.entry.out_channels, model.num_block
    special = {"sub_mean": Narrow(), "add_mean": Narrow(),
               "entry": Narrow((scaled(C),), (fixed(3),)),
               "exit": Narrow((fixed(3),), (scaled(C),))}
    for i in range(M):                                    # global cascade: fuse.i reads [x | b1 .. b_{i+1}]
        special[f"fuse.{i}.0"] = Narrow((scaled(C),), (scaled(C),) * (i + 2))
        for k in range(model.blocks[i].num_unit):         # local cascade inside block i
            special[f"blocks.{i}.fuse.{k}.0"] = Narrow((scaled(C),), (scaled(C),) * (k + 2))

    def stem(m, x):
        h = m.entry(m.sub_mean(x))
        return h, h                                       # (concatenation so far, current output)

    def block(m, i, s):
        cat = torch.cat((s[0], m.blocks[i](s[1])), dim=1)
        return cat, m.fuse[i](cat)

    def tail(m, s):
        return m.add_mean(m.exit(m.upsample["x4"](s[1])))

    return BlockDescription(
        width=C, stem=("sub_mean", "entry"), blocks=tuple((f"blocks.{i}", f"fuse.{i}") for i in range(M)),
        tail=("upsample", "exit", "add_mean"), convs=proportional_convs(model, special),
        run_stem=stem, run_block=block, run_tail=tail, name="carn",
        notes=("block i = cascading block i + global fusion i; anchor = fusion output",))


def esrgan(model: nn.Module) -> BlockDescription:
    """ESRGAN's RRDBNet (``srlib.models.esrgan``): dense-block convs sliced per segment ``[x | x1 .. x4]``."""
    C, M = model.conv_first.out_channels, len(model.body)
    G = model.body[0].rdb1.conv1.out_channels
    special = {"conv_first": Narrow((scaled(C),), (fixed(model.conv_first.in_channels),)),
               "conv_last": Narrow((fixed(model.conv_last.out_channels),), (scaled(C),))}
    for i in range(M):
        for r in (1, 2, 3):
            for k in range(1, 6):
                out = scaled(C) if k == 5 else scaled(G)
                special[f"body.{i}.rdb{r}.conv{k}"] = Narrow((out,), (scaled(C),) + (scaled(G),) * (k - 1))

    def stem(m, x):
        f = m.conv_first(x)
        return f, f                                       # (long skip, current)

    def block(m, i, s):
        return s[0], m.body[i](s[1])

    def tail(m, s):
        feat = s[0] + m.conv_body(s[1])
        feat = m.lrelu(m.conv_up1(F.interpolate(feat, scale_factor=2, mode="nearest")))
        feat = m.lrelu(m.conv_up2(F.interpolate(feat, scale_factor=2, mode="nearest")))
        return m.conv_last(m.lrelu(m.conv_hr(feat)))

    return BlockDescription(
        width=C, stem=("conv_first",), blocks=tuple((f"body.{i}",) for i in range(M)),
        tail=("conv_body", "conv_up1", "conv_up2", "conv_hr", "conv_last"),
        convs=proportional_convs(model, special), run_stem=stem, run_block=block, run_tail=tail,
        name="esrgan", notes=(f"growth {G} narrows with the width (kept = {G} W / {C})",))


def rcan(model: nn.Module) -> BlockDescription:
    """RCAN (``srlib.models.rcan``): blocks = residual groups; the body's last conv belongs to the tail."""
    C = model.head[0].out_channels
    M = len(model.body) - 1
    special = {"sub_mean": Narrow(), "add_mean": Narrow(),
               "head.0": Narrow((scaled(C),), (fixed(3),)),
               "tail.1": Narrow((fixed(3),), (scaled(C),))}

    def stem(m, x):
        h = m.head(m.sub_mean(x * m.rgb_range))
        return h, h

    def block(m, i, s):
        return s[0], m.body[i](s[1])

    def tail(m, s):
        y = m.body[len(m.body) - 1](s[1]) + s[0]
        return m.add_mean(m.tail(y)) / m.rgb_range

    return BlockDescription(
        width=C, stem=("sub_mean", "head"), blocks=tuple((f"body.{i}",) for i in range(M)),
        tail=(f"body.{M}", "tail", "add_mean"), convs=proportional_convs(model, special),
        run_stem=stem, run_block=block, run_tail=tail, name="rcan",
        notes=("block = residual group; channel-attention hidden width C/16 narrows to max(1, W/16)",))


def fmen(model: nn.Module) -> BlockDescription:
    """FMEN deploy form (``srlib.models.fmen``): blocks = (ERB, HFAB) pairs; the warm-up is the stem."""
    C, M = model.head.out_channels, len(model.erbs)
    special = {"head": Narrow((scaled(C),), (fixed(3),)),
               "tail.0": Narrow((fixed(model.tail[0].out_channels),), (scaled(C),))}

    def stem(m, x):
        x0 = m.head(x)
        return x0, m.warmup(x0)

    def block(m, i, s):
        return s[0], m.hfabs[i](m.erbs[i](s[1]))

    def tail(m, s):
        return m.tail(m.lr_conv(s[1]) + s[0])

    return BlockDescription(
        width=C, stem=("head", "warmup"), blocks=tuple((f"erbs.{i}", f"hfabs.{i}") for i in range(M)),
        tail=("lr_conv", "tail"), convs=proportional_convs(model, special),
        run_stem=stem, run_block=block, run_tail=tail, name="fmen",
        notes=("block = (ERB, HFAB) pair; HFAB mid width narrows as max(1, mid W / C)",
               "C = 50: widths 8..48 by 8, plus 50"))


_BY_CLASS = {"CARN": carn, "RRDBNet": esrgan, "RCAN": rcan, "FMEN": fmen}


def describe(model: nn.Module) -> BlockDescription:
    """The description of a zoo model, by its class."""
    fn = _BY_CLASS.get(type(model).__name__)
    if fn is None:
        raise KeyError(f"no AdaSR description for {type(model).__name__}; described: {', '.join(_BY_CLASS)} "
                       "(write a BlockDescription for another block-based generator)")
    return fn(model)
