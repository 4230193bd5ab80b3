"""How each paper's table prints complexity, as data: quantity, input size, bias adds, units.

Every entry was chosen by reproducing the printed numbers of models we can build (counts from
:func:`srlib.complexity.measure`; architectures as in shared/notes/architectures.md). ``checked`` gives
the evidence, ``unmatched`` the printed rows that no build reproduces under the convention.

* MFAGAN (Cheng et al.), Tables 1-3 and Fig. 5: "#FLOPs (G)" = MACs at a 128x128 LR input (Fig. 5:
  "calculated on 512x512 HR image"); "Memory (G)" = memory access cost in 1e9 bytes (GB, not GiB: ESRGAN's
  4.29 is 4.21-4.32 GB but 3.92-4.02 GiB under the two conv-based definitions); "#Param. (MB)" = millions of parameters.
* TPSR (Lee et al.), Table 1: "Mult-Adds (G)" = MACs for a 1280x720 output (320x180 LR), bias adds
  included (closer on all three reproducible rows); "Params (K)" = thousands.
* AGD (Fu et al.): the authors' README "GFLOPs" = MACs incl. bias adds at a 256x256 LR input; "size" =
  fp32 MB of parameters (our text copy of the paper is only its abstract, shared/notes/agd.md).
* AdaSR, Table 1 ("Patch size is 256x256", column "FLOPS"): no single convention fits. RCAN's 130.2G is
  2 x MACs at a 64x64 LR input (the 256x256 patch read as the HR image: 130.40G); CARN-M's 74.32 is
  2 x MACs at a 256x256 LR input (73.93G, 74.19G with bias adds as one FLOP each); the two differ 16x in
  input pixels. ESRGAN-Prune's 113.1G is AGD's README number (AGD's convention) copied over. The table
  entry takes the caption's reading with RCAN (the HR-patch reading); :func:`convention` with ``row``
  gives the per-row fits.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch.nn as nn

from srlib.complexity.counters import DEFAULT_MEMORY_DEFINITION, Complexity, measure

__all__ = ["Convention", "CONVENTIONS", "convention", "conventions", "printed_flops", "printed_params",
           "printed_memory"]


@dataclass(frozen=True)
class Convention:
    """How one paper table prints complexity.

    ``quantity``: "MACs" (multiply-accumulates) or "2xMACs" (FLOPs proper). ``lr_hw``: the (height,
    width) of the LR input it is computed at. ``bias``: bias adds included (one per output element of a
    layer with bias; one FLOP, or one "MAC" under "MACs"). Printed value = count / ``flops_divisor``
    in ``flops_unit``; parameters / ``params_divisor`` in ``params_unit``; memory access cost (bytes,
    ``memory_definition``) / ``memory_divisor`` (None: the table prints no memory).
    """

    paper: str
    table: str
    printed_name: str
    quantity: str
    lr_hw: tuple[int, int]
    bias: bool
    flops_divisor: float
    flops_unit: str
    params_divisor: float
    params_unit: str
    memory_divisor: float | None
    memory_definition: str | None
    source: str
    checked: str
    unmatched: str = ""
    single_fit: bool = True
    row: str | None = None

    def __post_init__(self) -> None:
        if self.quantity not in ("MACs", "2xMACs"):
            raise ValueError(f"quantity must be 'MACs' or '2xMACs', not {self.quantity!r}")


def _mfagan(table: str, source: str) -> Convention:
    return Convention(
        "mfagan", table, "#FLOPs (G)", "MACs", (128, 128), False, 1e9, "G", 1e6, "M ('MB' in the table)",
        1e9, DEFAULT_MEMORY_DEFINITION, source,
        checked="ESRGAN 293.71 G vs 291 (-0.9 %; 293.97 G with bias adds); SRGAN 36.34 G vs 36.5. Memory "
                "(conv_io_weights_resample, 1e9 B): ESRGAN 4.319 vs 4.29, SRGAN 0.630 vs 0.7. Params: "
                "ESRGAN 16.70 M vs 16.67 (a rounding slip), SRGAN 1.55, EnhanceNet 0.85.",
        unmatched="EnhanceNet 30.2 G / 0.91 GB (ours 34.30 G / 0.656 GB): its build differs from ours.")


_AGD_README = Convention(
    "agd", "readme", "GFLOPs", "MACs", (256, 256), True, 1e9, "G", 2.5e5, "MB (fp32 bytes / 1e6)",
    None, None,
    "authors' repository README (VITA-Group/AGD, SR part; shared/notes/agd.md); the paper's SR table "
    "is not in our text copy",
    checked="ESRGAN 1175.89 G with bias adds vs 1176.61 (1174.85 G without); size 66.79 MB vs 66.8.",
    unmatched="SRGAN 166.66 G (ours 145.60 G): not reproduced.")

_ADASR_NOTE = ("AdaSR Table 1 fits no single convention: RCAN = 2xMACs at 64x64 LR, CARN-M = 2xMACs at "
               "256x256 LR, ESRGAN-Prune = AGD's README number (MACs + bias at 256x256 LR).")
_ADASR_UNVERIFIED = ("AGD-L, AGD-M, MDDC-*, Tri-Level NAS-*, DRRN and the three '(Ours)' rows: models we "
                     "do not build at the exact configuration; not checked.")

CONVENTIONS: tuple[Convention, ...] = (
    _mfagan("table1", "MFAGAN Table 1 (ablation); same columns as Table 2"),
    _mfagan("table2", "MFAGAN Table 2; Fig. 5 caption: FLOPs calculated on a 512x512 HR image"),
    _mfagan("table3", "MFAGAN Table 3 (mobile latency; same numbers as Table 2)"),
    _mfagan("fig5", "MFAGAN Fig. 5 (memory access cost vs LPIPS; circle size = FLOPs at 512x512 HR)"),
    Convention(
        "tpsr", "table1", "Mult-Adds (G)", "MACs", (180, 320), True, 1e9, "G", 1e3, "K",
        None, None, "TPSR Table 1 and Sec. 4 (Mult-Adds for a 1280x720 output, x4)",
        checked="with bias adds / without: ESRGAN 1033.49 / 1032.59 G vs 1034.1; EnhanceNet 120.81 / "
                "120.60 vs 121.0; FEQE 5.60 / 5.56 vs 5.64; TPSR 3.59 / 3.57 vs 3.6. Params (K): 16,697, "
                "852, 96, 61 all match.",
        unmatched="SRGAN 1,513 K / 113.2 G (ours 1,549 K / 127.97 G): fits no SRGAN variant."),
    _AGD_README,
    Convention(
        "adasr", "table1", "FLOPS", "2xMACs", (64, 64), False, 1e9, "G", 1e6, "M",
        None, None, "AdaSR Table 1, caption 'Patch size is 256x256' read as the HR patch (64x64 LR)",
        checked="RCAN 130.40 G (130.51 G with bias adds) vs 130.2; params 15.59 M vs 16.",
        unmatched="CARN-M 74.32 (ours here 4.62 G; it fits 2xMACs at 256x256 LR, see row 'CARN-M'); "
                  "ESRGAN-Prune 113.1G (AGD's number, row 'ESRGAN-Prune'). " + _ADASR_UNVERIFIED,
        single_fit=False),
    Convention(
        "adasr", "table1", "FLOPS", "2xMACs", (256, 256), True, 1e9, "G", 1e6, "M",
        None, None, "AdaSR Table 1, CARN-M row: the 256x256 patch read as the LR input",
        checked="CARN-M 74.19 G (2 x 36.97 G MACs + 0.26 G bias adds; 73.93 G without) vs 74.32; params "
                "0.41 M multi-scale (0.29 M x4-only) vs 0.4.",
        unmatched=_ADASR_NOTE, single_fit=False, row="carn-m"),
    Convention(
        "adasr", "table1", "FLOPS", "MACs", (256, 256), True, 1e9, "G", 1e6, "M",
        None, None, "AdaSR Table 1, ESRGAN-Prune row = AGD README's 'ESRGAN pruned' (113.07 GFLOPs, 1.6 M)",
        checked="the printed pair equals AGD's README row; the pruned ESRGAN itself is not public.",
        unmatched=_ADASR_NOTE, single_fit=False, row="esrgan-prune"),
)


def _key(s: str | None) -> str | None:
    return None if s is None else "".join(ch for ch in s.lower() if ch.isalnum())


def conventions() -> tuple[Convention, ...]:
    """Every known convention (one per paper table, plus AdaSR's per-row fits)."""
    return CONVENTIONS


def convention(paper: str, table: str, row: str | None = None) -> Convention:
    """The convention of ``paper``'s ``table`` ("Table 2", "table2" and "T2" are the same).

    ``row``: a model row of a table that fits no single convention (AdaSR Table 1: "CARN-M",
    "ESRGAN-Prune"); other rows, or ``None``, get the table's own entry.
    """
    p, t = _key(paper), _key(table)
    if t and t[0] == "t" and not t.startswith("table"):
        t = "table" + t[1:]
    matches = [c for c in CONVENTIONS if c.paper == p and _key(c.table) == t]
    if not matches:
        valid = ", ".join(f"{c.paper}/{c.table}" for c in CONVENTIONS if c.row is None)
        raise KeyError(f"no convention for paper {paper!r} table {table!r}; valid: {valid}")
    r = _key(row)
    for c in matches:
        if r is not None and _key(c.row) == r:
            return c
    return next(c for c in matches if c.row is None)


def _complexity(model: nn.Module | Complexity, conv: Convention) -> Complexity:
    if isinstance(model, Complexity):
        if model.lr_hw != tuple(conv.lr_hw) or model.bias != conv.bias:
            raise ValueError(f"Complexity measured at lr_hw={model.lr_hw}, bias={model.bias}; "
                             f"{conv.paper}/{conv.table} needs lr_hw={conv.lr_hw}, bias={conv.bias}")
        return model
    return measure(model, conv.lr_hw, bias=conv.bias)


def printed_flops(model: nn.Module | Complexity, conv: Convention) -> float:
    """The model's complexity as ``conv``'s table prints it (e.g. 293.71 for ESRGAN in MFAGAN's "G")."""
    c = _complexity(model, conv)
    return (c.macs if conv.quantity == "MACs" else c.flops) / conv.flops_divisor


def printed_params(model: nn.Module | Complexity, conv: Convention) -> float:
    """Parameters in ``conv.params_unit``: all parameters, frozen ones included (the model's size, as
    a checkpoint stores it; a frozen teacher still counts)."""
    n = model.params_all if isinstance(model, Complexity) else sum(p.numel() for p in model.parameters())
    return n / conv.params_divisor


def printed_memory(model: nn.Module | Complexity, conv: Convention) -> float:
    """Memory access cost in the table's unit (``conv.memory_definition``; GB = 1e9 bytes)."""
    if conv.memory_divisor is None or conv.memory_definition is None:
        raise ValueError(f"{conv.paper}/{conv.table} prints no memory column")
    c = _complexity(model, conv)
    return c.memory_as(conv.memory_definition) / conv.memory_divisor
