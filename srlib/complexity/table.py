"""Every printed complexity number of the four papers, recomputed under that paper's convention.

For each complexity row of ``srlib.reference`` (params, FLOPs/Mult-Adds, memory, model size) whose
architecture we can build, :func:`paper_rows` measures the full paper architecture (never a profile's
shrunk one) under :func:`srlib.complexity.conventions.convention` of that table and returns tidy rows;
rows we cannot build carry the reason instead of a number. :data:`EXPLANATIONS` says why a row differs
from the printed value by more than 2 %.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any

import pandas as pd

from .. import reference, results
from ..models import build
from .conventions import convention, printed_flops, printed_memory, printed_params
from .counters import Complexity, measure

COMPLEXITY_METRICS = ("params", "flops_printed", "memory", "model_size")

# reference model id -> (registry name, build kwargs, how the row is built)
BUILDS: dict[str, tuple[str, dict[str, Any], str]] = {
    "esrgan": ("esrgan", {}, "RRDBNet, 23 RRDB, 64 ch"),
    "srgan": ("srgan", {}, "SRResNet, 16 blocks, BN, one PReLU slope"),
    "enhancenet": ("enhancenet", {}, "EnhanceNet-PAT generator"),
    "feqe": ("feqe", {}, "FEQE, 20 residual blocks of 16 ch"),
    "tpsr": ("tpsr", {}, "the published searched TPSR generator"),
    "rcan": ("rcan", {}, "RCAN, 10 groups x 20 RCAB"),
    "vdsr": ("vdsr", {}, "VDSR, 20 layers of 64 ch on the bicubic-upsampled input"),
    "carn_m": ("carn_m", {"multi_scale": True},
               "CARN-M with its x2/x3/x4 upsamplers (the published multi-scale weights)"),
    "mfagan_l_g64_d48": ("mfanet", {"num_feat": 64}, "MFANet-64 (srlib/mfagan/mfanet.py)"),
    "mfagan_distill_gd_g48_d32": ("mfanet", {"num_feat": 48}, "MFANet-48"),
    "mfagan_distill_g_g48_d48": ("mfanet", {"num_feat": 48}, "MFANet-48"),
}

NOT_BUILDABLE: dict[str, str] = {
    "mfagan": "the searched SubGenerator's widths are not published; our own search fills this row "
              "(MFAGAN pipeline, srlib/mfagan)",
    "mfagan_nas_g32_d48": "searched SubGenerator (widths not published); filled by our MFAGAN search",
    "mfagan_distill_nas_g32_d32": "searched SubGenerator (widths not published); filled by our MFAGAN search",
    "agd": "AGD's searched SR architecture is not published; our AGD search fills this row",
    "agd_l": "AGD-L's searched architecture is not published",
    "agd_m": "AGD-M's searched architecture is not published",
    "esrgan_pruned": "the pruned ESRGAN's channel configuration is not published",
    "mddc_l": "MDDC's architectures are not published", "mddc_m": "MDDC's architectures are not published",
    "mddc_s": "MDDC's architectures are not published",
    "trilevel_nas_a": "Tri-Level NAS's searched architectures are not published",
    "trilevel_nas_b": "Tri-Level NAS's searched architectures are not published",
    "drrn": "DRRN is not in the model zoo (no table we replicate needs more than its printed numbers)",
    "adasr_rcan_1_0.75": "AdaSR's adapted sub-model: built by the AdaSR pipeline",
    "adasr_carn_0.6_0.5": "AdaSR's adapted sub-model: built by the AdaSR pipeline",
    "adasr_fmen_0.75_0.8": "AdaSR's adapted sub-model: built by the AdaSR pipeline",
}

# (paper, table, model, metric) -> why ours differs from the printed number by more than 2 %.
_MFANET_MEM = ("MFAGAN's memory access cost is not defined in the paper; with the definition that fits "
               "ESRGAN (conv + resampling I/O and weights, fp32) MFANet comes out ~35 % below the printed "
               "value, while counting every layer's I/O fits MFANet within 2-4 % but puts ESRGAN 32 % "
               "too high: no single definition fits both (the G48/G64 ratio does match: 0.750 vs 0.749)")
EXPLANATIONS: dict[tuple[str, str, str, str], str] = {
    **{("mfagan", t, m, "memory"): _MFANET_MEM
       for t in ("table1",) for m in ("mfagan_l_g64_d48", "mfagan_distill_gd_g48_d32", "mfagan_distill_g_g48_d48")},
    **{("mfagan", t, "enhancenet", "flops_printed"): (
        "MFAGAN prints 30.2 G; EnhanceNet as published gives 34.3 G at 128x128 LR, and TPSR's 121.0 G at "
        "720p agrees with our build (120.8 G): MFAGAN's row used a different count or variant")
       for t in ("table2",)},
    ("mfagan", "table2", "enhancenet", "memory"): (
        "MFAGAN's memory for EnhanceNet (0.91) does not follow from the published architecture under any "
        "definition that fits ESRGAN; its FLOPs row is off too (30.2 vs 34.3 G)"),
    ("mfagan", "table2", "srgan", "memory"): (
        "SRGAN's BN/PReLU/elementwise traffic is not in the conv-I/O definition that fits ESRGAN; "
        "counting every layer's I/O overshoots ESRGAN: no single definition fits every row"),
    ("tpsr", "table1", "srgan", "params"): (
        "TPSR's SRGAN row (1,513 K, 113.2 G) fits no SRGAN variant we know (ours: 1,549 K with BN and "
        "9x9 end convs)"),
    ("tpsr", "table1", "srgan", "flops_printed"): (
        "TPSR's SRGAN row (113.2 G) fits no SRGAN variant we know (ours 127.97 G at 720p)"),
    ("agd", "readme", "srgan", "flops_printed"): (
        "AGD's README SRGAN (166.66 G) is not reproduced by the SRResNet of Ledig et al. (145.6 G): "
        "their SRGAN variant is not documented"),
    ("adasr", "table1", "carn_m", "flops_printed"): (
        "AdaSR Table 1 fits no single convention: CARN-M's 74.32 G is 2 x MACs at a 256x256 LR input "
        "(74.19 G with bias adds), RCAN's 130.2 G is 2 x MACs at 64x64 LR; we use the caption's reading "
        "(256x256 = HR patch) for every row"),
    ("adasr", "table1", "rcan", "params"): (
        "AdaSR prints RCAN's parameters rounded to 16 M (15.59 M)"),
    ("adasr", "table1", "carn_m", "params"): (
        "AdaSR prints 0.4 M, one decimal: 0.41 M with the published multi-scale upsamplers (0.29 M x4-only)"),
}


@lru_cache(maxsize=None)
def _measure(name: str, kw: tuple, lr_hw: tuple[int, int], bias: bool) -> Complexity:
    return measure(build(name, **dict(kw)), lr_hw, bias=bias)


def _ours(ref_row: pd.Series, name: str, kw: dict) -> tuple[float, str]:
    conv = convention(ref_row.paper, ref_row.table)
    c = _measure(name, tuple(sorted(kw.items())), tuple(conv.lr_hw), conv.bias)
    desc = (f"{conv.quantity} at {conv.lr_hw[0]}x{conv.lr_hw[1]} LR"
            f"{', bias adds' if conv.bias else ''}")
    if ref_row.metric == "params":
        return printed_params(c, conv), f"all parameters / {conv.params_divisor:g}"
    if ref_row.metric == "flops_printed":
        return printed_flops(c, conv), desc
    if ref_row.metric == "memory":
        return printed_memory(c, conv), f"memory access cost ({conv.memory_definition}, fp32, 1e9 B) at {conv.lr_hw[0]}x{conv.lr_hw[1]} LR"
    if ref_row.metric == "model_size":
        return c.params_all * 4 / 1e6, "fp32 bytes of all parameters / 1e6"
    raise ValueError(f"not a complexity metric: {ref_row.metric}")


def paper_rows(profile: str) -> list[dict]:
    """Tidy rows (ours) for every printed complexity number of tables 1-3 / README of the papers."""
    ref = reference.load()
    ref = ref[ref.metric.isin(COMPLEXITY_METRICS) & ref.table.str.match(r"^(table\d|readme)$")]
    rows = []
    for r in ref.itertuples():
        common = dict(paper=r.paper, table=r.table, model=r.model, metric=r.metric, unit=r.unit,
                      profile=profile, stage="complexity")
        if r.model in BUILDS:
            name, kw, what = BUILDS[r.model]
            value, how = _ours(r, name, kw)
            note = f"{what}; {how}"
            why = EXPLANATIONS.get((r.paper, r.table, r.model, r.metric))
            rows.append(results.row(**common, value=value, note=note + (f"; differs: {why}" if why else "")))
        else:
            why = NOT_BUILDABLE.get(r.model, "architecture not in the model zoo")
            rows.append(results.row(**common, value=None, note=f"not measured: {why}"))
    return rows


# MFAGAN Fig. 5 axes for every generator we can build (FLOPs = MACs at 128x128 LR, memory GB).
FIG5_MODELS: dict[str, tuple[str, dict]] = {
    "esrgan": ("esrgan", {}), "srgan": ("srgan", {}), "enhancenet": ("enhancenet", {}),
    "feqe": ("feqe", {}), "imdn": ("imdn", {}), "rfdn": ("rfdn", {}), "carn": ("carn", {}),
    "carn_m": ("carn_m", {}), "fmen": ("fmen", {}), "rcan": ("rcan", {}), "tpsr": ("tpsr", {}),
    "mfanet_64": ("mfanet", {"num_feat": 64}), "mfanet_48": ("mfanet", {"num_feat": 48}),
    "mfanet_32": ("mfanet", {"num_feat": 32}), "mfanet_24": ("mfanet", {"num_feat": 24}),
}


def fig5_rows(profile: str) -> list[dict]:
    """Memory access cost, FLOPs and params of every buildable generator, MFAGAN's convention."""
    conv = convention("mfagan", "fig5")
    rows = []
    for model, (name, kw) in FIG5_MODELS.items():
        c = _measure(name, tuple(sorted(kw.items())), tuple(conv.lr_hw), conv.bias)
        for metric, value, unit in (("memory", printed_memory(c, conv), "G"),
                                    ("flops_printed", printed_flops(c, conv), "G"),
                                    ("params", printed_params(c, conv), "M")):
            rows.append(results.row(paper="mfagan", table="fig5", model=model, metric=metric, value=value,
                                    unit=unit, profile=profile, stage="complexity",
                                    note="x4, full architecture, MFAGAN convention (MACs / memory at 128x128 LR)"))
    return rows
