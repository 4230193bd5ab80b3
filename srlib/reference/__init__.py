"""The papers' printed numbers, as data (design.md, ``srlib/reference/``).

Every number here was typed by hand from the plain-text papers in ``shared/papers`` (AGD: from the
authors' README as recorded in ``shared/notes/agd.md``) and checked a second time against the text.
They are *targets* that :mod:`srlib.report` puts beside our own measurements ("paper | ours |
difference"); they are never results and must never be written into a results table.

Files (one per paper, packaged next to this module)
---------------------------------------------------
Columns, exactly: ``paper, table, model, dataset, metric, value, unit, convention, source, note``.

- ``value`` is the number as printed (thousands separators removed); ``unit`` what it means
  ("dB", "M" = millions, "K" = thousands, "G", "ms", "MB", "x" = ratio, "%", "" for unitless scores).
- ``convention`` says what the number counts (input size, colour channel, device ...); "unknown"
  or "not stated" where nobody knows. ``source`` names table/figure/section, row and column.
- A cell printed as "—" is a row with an empty ``value`` and a ``note`` saying so (the table shape
  stays visible). An empty value without a note is an error.
- ``dataset`` is one of Set5, Set14, B100, Urban100, DIV2K_valid for quality metrics and empty for
  everything else (AdaSR's "BSD100" is stored as B100).
- ``table`` is ``table1``/``table2``/``table3``, ``readme`` (AGD), or, for numbers stated in the
  running text, where they are printed: ``abstract``, ``sec1``, ``sec4.2`` ..., ``table1_caption``.
  Text ratios use model ids ``<model>_vs_<baseline>`` and metrics ``ratio_*`` (baseline / model),
  ``saving_memory`` or ``fraction_params`` (percent).

Metrics: psnr, ssim, lpips, niqe, pi (quality); params, flops_printed (whatever the paper calls
FLOPs / Mult-Adds: the ``convention`` column says what it counts), memory, latency, model_size
(complexity); ratio_memory, ratio_compute, ratio_latency, saving_memory, fraction_params (text claims).

``mfagan.csv`` (MFAGAN, Cheng et al.)
    table1 (ablation, Set5; printed column -> id):
        "Baseline (ESRGAN)" -> esrgan; "1st" (MFAGAN.L, G64/D48) -> mfagan_l_g64_d48;
        "2nd" (distill G and D, G48/D32) -> mfagan_distill_gd_g48_d32;
        "3rd" (distill G only, G48/D48) -> mfagan_distill_g_g48_d48;
        "4th" (NAS pruning, G32/D48) -> mfagan_nas_g32_d48;
        "5th" (distill G and D + NAS pruning, G32/D32) -> mfagan_distill_nas_g32_d32.
        The table's "generator/discriminator channels" and check-mark rows are encoded in the ids.
    table2 (comparison): SRGAN -> srgan, EnhanceNet -> enhancenet, ESRGAN -> esrgan, AGD -> agd (AGD as
        printed by MFAGAN), "MFAGAN (ours)" -> mfagan (the searched, fine-tuned MFANet SubGenerator,
        i.e. Table 1's 5th column).
    table3 (Snapdragon 865 GPU latency): ESRGAN -> esrgan, "MFAGAN(ours)" -> mfagan.
    abstract, sec1, sec4.3, sec4.4, sec4.5: ratios stated in the text (mfagan_vs_esrgan,
        mfagan_vs_agd, mfagan_l_g64_d48_vs_esrgan, mfagan_distill_gd_g48_d32_vs_mfagan_l_g64_d48) and
        ESRGAN's "over 4000MB" (sec1, esrgan). Figs. 5 and 6 print no numbers.
``tpsr.csv`` (TPSR, Lee et al.)
    table1: ESRGAN -> esrgan, SRGAN -> srgan, EnhanceNet -> enhancenet, FEQE -> feqe,
        "TPSR-D2" -> tpsr (the TPSR generator trained with the searched discriminator D2).
    table1_caption, sec4.2: the "26.4x / 33.6x" claims (tpsr_vs_srgan, tpsr_vs_enhancenet), which the
        caption and sec. 4.2 attribute to opposite baselines. Fig. 3 prints no numbers.
``adasr.csv`` (AdaSR, anonymous)
    table1 (rows in printed order; size groups L/M/S):
        RCAN -> rcan; ESRGAN-Prune -> esrgan_pruned; AGD-L -> agd_l; MDDC-L -> mddc_l;
        "RCAN-1_0.75 (Ours)" -> adasr_rcan_1_0.75; CARN-M -> carn_m; AGD-M -> agd_m;
        "Tri-Level NAS - B" -> trilevel_nas_b; MDDC-M -> mddc_m; "CARN-0.6_0.5 (Ours)" -> adasr_carn_0.6_0.5;
        DRRN -> drrn; "Tri-Level NAS - A" -> trilevel_nas_a; MDDC-S -> mddc_s;
        "FMEN-0.75_0.8 (Ours)" -> adasr_fmen_0.75_0.8  (AdaSR ids: adasr_<model>_<depth ratio>_<width ratio>).
    sec1, sec4.2: the memory claims (adasr_carn_vs_ensemble). Figs. 3 and 4 print no numbers.
``agd.csv`` (AutoGAN-Distiller, Fu et al.)
    readme: ESRGAN -> esrgan, "ESRGAN pruned" -> esrgan_pruned, SRGAN -> srgan, VDSR -> vdsr, AGD -> agd.
    MFAGAN's numbers for AGD are in mfagan.csv (table2, model agd), not here.

API
---
``load(paper=None, table=None)`` -> DataFrame with the columns above (``value`` float, NaN where not
reported); ``papers()``; ``read_csv(path)`` (one file, validated); ``lookup(...)`` for one value.
Any malformed row raises ValueError naming the file and line.
"""
from __future__ import annotations

import csv
import math
import re
from pathlib import Path

import pandas as pd

COLUMNS = ("paper", "table", "model", "dataset", "metric", "value", "unit", "convention", "source", "note")
PAPERS = ("mfagan", "tpsr", "adasr", "agd")
QUALITY_METRICS = ("psnr", "ssim", "lpips", "niqe", "pi")
COMPLEXITY_METRICS = ("params", "flops_printed", "memory", "latency", "model_size")
TEXT_METRICS = ("ratio_memory", "ratio_compute", "ratio_latency", "saving_memory", "fraction_params")
METRICS = QUALITY_METRICS + COMPLEXITY_METRICS + TEXT_METRICS
DATASETS = ("Set5", "Set14", "B100", "Urban100", "DIV2K_valid")
KEY = ("paper", "table", "model", "dataset", "metric")

_DIR = Path(__file__).parent
_ID = re.compile(r"^[a-z0-9][a-z0-9_.]*$")


def papers() -> list[str]:
    """The papers that have a reference CSV, in a fixed order."""
    return list(PAPERS)


def csv_path(paper: str) -> Path:
    """Path of the packaged CSV for ``paper``."""
    _check_paper(paper)
    return _DIR / f"{paper}.csv"


def _check_paper(paper: str) -> None:
    if paper not in PAPERS:
        raise ValueError(f"unknown paper {paper!r}; valid: {', '.join(PAPERS)}")


def read_csv(path: str | Path, paper: str | None = None) -> pd.DataFrame:
    """Read and validate one reference CSV.

    ``paper``, if given, is the paper every row must belong to (the packaged files are named after it).
    Raises ValueError naming the file and line for a bad header, a bad row or a duplicate key.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: reference CSV not found")
    records: list[dict] = []
    seen: dict[tuple, int] = {}
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        try:
            header = next(reader)
        except StopIteration:
            raise ValueError(f"{path}: empty file; expected the header {','.join(COLUMNS)}") from None
        if tuple(header) != COLUMNS:
            raise ValueError(f"{path}, line 1: columns {header} are not exactly {list(COLUMNS)}")
        for fields in reader:
            line = reader.line_num
            if not fields or all(not x.strip() for x in fields):
                continue  # blank line
            if len(fields) != len(COLUMNS):
                raise ValueError(f"{path}, line {line}: {len(fields)} fields, expected {len(COLUMNS)} "
                                 f"({','.join(COLUMNS)}); quote fields that contain commas")
            r = dict(zip(COLUMNS, fields))
            _validate_row(r, path, line, paper)
            key = tuple(r[k] for k in KEY)
            if key in seen:
                raise ValueError(f"{path}, line {line}: duplicate key {dict(zip(KEY, key))} "
                                 f"(first on line {seen[key]})")
            seen[key] = line
            records.append(r)
    df = pd.DataFrame(records, columns=list(COLUMNS))
    df["value"] = pd.Series([float(v) if v else math.nan for v in df["value"]], index=df.index, dtype=float)
    return df


def _validate_row(r: dict, path: Path, line: int, paper: str | None) -> None:
    def bad(msg: str) -> ValueError:
        return ValueError(f"{path}, line {line}: {msg}")

    if r["paper"] not in PAPERS:
        raise bad(f"paper {r['paper']!r} is not one of {', '.join(PAPERS)}")
    if paper is not None and r["paper"] != paper:
        raise bad(f"paper {r['paper']!r} in the file for {paper!r}")
    for col in ("table", "model", "metric", "convention", "source"):
        if not r[col].strip():
            raise bad(f"empty {col!r}")
    for col in ("table", "model"):
        if not _ID.match(r[col]):
            raise bad(f"{col} {r[col]!r} must be a lower-case id (a-z, 0-9, '_', '.')")
    if r["metric"] not in METRICS:
        raise bad(f"metric {r['metric']!r} is not one of {', '.join(METRICS)}")
    if r["metric"] in QUALITY_METRICS:
        if r["dataset"] not in DATASETS:
            raise bad(f"quality metric {r['metric']!r} needs a dataset in {', '.join(DATASETS)}, "
                      f"got {r['dataset']!r}")
    elif r["dataset"]:
        raise bad(f"metric {r['metric']!r} takes no dataset, got {r['dataset']!r}")
    v = r["value"].strip()
    if v == "":
        if not r["note"].strip():
            raise bad("empty value needs a note saying why (e.g. 'not reported in the paper')")
    else:
        try:
            x = float(v)
        except ValueError:
            raise bad(f"value {r['value']!r} is not a number") from None
        if not math.isfinite(x):
            raise bad(f"value {r['value']!r} is not finite")
    r["value"] = v


def load(paper: str | None = None, table: str | None = None) -> pd.DataFrame:
    """The reference numbers of one paper (or all), optionally of one table.

    Returns a DataFrame with :data:`COLUMNS`; ``value`` is float (NaN where the paper printed "—").
    Unknown papers, and tables with no rows, raise ValueError listing the valid choices.
    """
    if paper is not None:
        _check_paper(paper)
    wanted = [paper] if paper is not None else list(PAPERS)
    df = pd.concat([read_csv(csv_path(p), paper=p) for p in wanted], ignore_index=True)
    if table is not None:
        sub = df[df["table"] == table]
        if sub.empty:
            raise ValueError(f"no reference rows for table {table!r}"
                             + (f" of paper {paper!r}" if paper else "")
                             + f"; valid: {', '.join(sorted(df['table'].unique()))}")
        df = sub.reset_index(drop=True)
    return df


def lookup(paper: str, table: str, model: str, metric: str, dataset: str = "") -> float:
    """One printed value (NaN where the paper printed "—"); a missing key raises KeyError."""
    df = load(paper, table)
    hit = df[(df["model"] == model) & (df["metric"] == metric) & (df["dataset"] == dataset)]
    if hit.empty:
        raise KeyError(f"no reference value for {paper}/{table}/{model}/{dataset or '-'}/{metric}; "
                       f"models in this table: {', '.join(sorted(df['model'].unique()))}")
    return float(hit["value"].iloc[0])
