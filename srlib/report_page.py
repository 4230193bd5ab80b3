"""The suite's front page: ``results/<profile>/report.html`` (self-contained) and ``report.md``.

Built only from what a run leaves behind, so a paper's notebooks add their section by writing tables --
no report code per paper:

- ``tables/*.csv``: tidy rows (srlib.results) and ``claims_*.csv`` (srlib.report.write_claims);
- ``figures/*.png`` with their sidecar ``<name>.json`` (srlib.notebook.save_figure: caption, axes);
- ``srlib/reference/*.csv``: the printed numbers, their units, conventions and printed decimals;
- ``artifacts/*/manifest.json``: precision, wall time, device, packages and every stand-in a stage used;
- ``notebooks/*.ipynb``: the executed notebooks (papermill's duration of each notebook and cell).

The page (``build``): a header (profile, commit, machine, packages, each notebook's time against its
share of the profile's budget, :data:`BUDGETS`), a summary per paper (printed numbers with an "ours",
within tolerance, unavailable and why; claims by verdict), one section per paper that has rows (each
printed table in the paper's layout, every cell ``paper | ours | difference``, the convention of each
column, our dataset stand-in, each row's note one click away; the numbers stated in the text; the
claims with their verdict, difference, spread and seeds; the paper's figures), the released weights,
the training runs (``tables/<profile>_training.csv``, the concatenation of ``tables/training_*.csv``),
the other shared results and figures, one list of every stand-in and limit of the run with where it
shows, the plan of the ``paper`` profile (:mod:`srlib.plan`), and the raw tables, collapsed.

:func:`render_check` opens the page in headless Chromium and checks that every section, figure and
table is there (``srlib report PROFILE --check-render``; tests/test_report_render.py).

A "difference" is only judged against a tolerance where the two numbers measure the same thing: the same
dataset, the paper's convention, the paper's scale. Elsewhere (at ``mini`` every quality number: another
dataset, shrunk models) the difference is shown greyed with the reason, and counted as "stand-in only".
"""
from __future__ import annotations

import base64
import csv
import html
import json
import math
import os
import platform
import re
import shutil
import subprocess
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import pandas as pd

from . import config, io, pipeline, reference, results

# ------------------------------------------------------------------------------------------------------
# Settings (data, not code per paper)
# ------------------------------------------------------------------------------------------------------
#: Run-time budget of a profile (minutes) shared out by notebook group: group -> (notebook-name prefixes,
#: minutes; None = what the other groups leave). A notebook in no group is listed without a share.
BUDGETS: dict[str, dict[str, Any]] = {
    "mini": {"total_min": 60.0, "groups": {
        "data, metrics, complexity (00, 01)": (("00_", "01_"), None),
        "shared baselines (02, 03)": (("02_", "03_"), 10.0),
        "MFAGAN (1x)": (("1",), 12.0),
        "TPSR (3x)": (("3",), 8.0),
        "AdaSR (4x)": (("4",), 8.0),
        "AGD (5x)": (("5",), 8.0),
        "latency (9x)": (("9",), 6.0),
    }},
}

#: Tolerance of a printed number by metric, (kind, value): "abs" in the metric's unit or "rel" (fraction).
#: srlib/reference records none; a ``tolerance`` column there (same form, e.g. "abs 0.05") would win.
TOLERANCES: dict[str, tuple[str, float]] = {
    "psnr": ("abs", 0.1), "ssim": ("abs", 0.005), "lpips": ("abs", 0.01), "pi": ("abs", 0.1),
    "niqe": ("abs", 0.1), "params": ("rel", 0.02), "flops_printed": ("rel", 0.02), "memory": ("rel", 0.02),
    "model_size": ("rel", 0.02), "latency": ("rel", 0.10), "ratio_memory": ("rel", 0.10),
    "ratio_compute": ("rel", 0.10), "ratio_latency": ("rel", 0.10), "saving_memory": ("abs", 2.0),
    "fraction_params": ("abs", 2.0),
}

#: Phrases in our rows' notes that make a number not comparable with the printed one.
NOT_COMPARABLE: tuple[tuple[str, str], ...] = (
    (r"desktop CPU proxy", "desktop-CPU proxy, not the paper's device"),
    (r"stand-in", "a pixel-space stand-in replaced a VGG term of the training loss"),
    (r"shrunk", "shrunk at this profile"),
)

#: Why a number is missing, grouped: (pattern on the note, label; ``{why}`` = the pattern's group).
REASONS: tuple[tuple[str, str], ...] = (
    (r"LPIPS.*unavailable|alexnet-owt|vgg16-397923af", "LPIPS: ImageNet backbones absent "
                                                       "(python -m srlib.weights fetch alexnet vgg16)"),
    (r"weights absent", "released weights absent (python -m srlib.weights list)"),
    (r"^pending:?\s*(?P<why>[^;(]+)", "pending: {why}"),
    (r"^not measured:?\s*(?P<why>[^;(]+)", "not measured: {why}"),
)

METRIC_LABELS = {"psnr": "PSNR", "ssim": "SSIM", "lpips": "LPIPS", "pi": "PI", "niqe": "NIQE",
                 "params": "Params", "flops_printed": "FLOPs", "memory": "Memory", "latency": "Latency",
                 "model_size": "Size", "ratio_memory": "memory ratio", "ratio_compute": "compute ratio",
                 "ratio_latency": "latency ratio", "saving_memory": "memory saving",
                 "fraction_params": "parameter fraction"}
PAPER_TITLES = {"mfagan": "MFAGAN (Cheng et al.)", "tpsr": "TPSR (Lee et al.)", "adasr": "AdaSR",
                "agd": "AutoGAN-Distiller (Fu et al.)"}
VERDICT_CLASSES = (("does not hold", "no"), ("holds", "yes"), ("inconclusive", "maybe"), ("not measured", "nm"))
VERDICT_MARKS = {"yes": "✔", "no": "✘", "maybe": "?", "nm": "–", "other": "·"}
_PRINTED_TABLE = re.compile(r"^(table\d+|readme)$")


# ------------------------------------------------------------------------------------------------------
# The run: everything read from disk
# ------------------------------------------------------------------------------------------------------
@dataclass
class Run:
    profile: str
    root: Path
    rows: pd.DataFrame                      # every tidy row + 'source' (file stem)
    tables: dict[str, pd.DataFrame]         # file stem -> tidy rows (claims and the training concat excluded)
    claims: pd.DataFrame                    # report.CLAIM_COLUMNS + 'source'
    figures: list[dict]                     # name, path, caption, axes, notebook
    notebooks: list[dict]                   # name, title, duration, status, cells, ...
    manifests: list[dict]
    cfg: Any = None                          # the loaded profile (None when its YAML is gone)
    training_path: Path | None = None


def collect(profile: str) -> Run:
    """Read tables, claims, figures, manifests and executed notebooks of ``results/<profile>/``."""
    root = config.results_dir(profile)
    if not root.is_dir():
        raise FileNotFoundError(f"{root} does not exist: run `make reproduce SRLIB_PROFILE={profile}` first")
    try:
        cfg = config.load(profile)
    except config.ConfigError:
        cfg = None
    tdir = root / "tables"
    training_path = _write_training(tdir, profile)
    tables, claims = {}, []
    for p in sorted(tdir.glob("*.csv")) if tdir.is_dir() else []:
        if p.stem.startswith("claims_"):
            c = pd.read_csv(p, keep_default_na=False, na_values={k: [""] for k in ("difference", "std", "n_seeds",
                                                                                  "interval_low", "interval_high",
                                                                                  "margin")})
            claims.append(c.assign(source=p.stem))
        elif training_path is None or p != training_path:
            try:
                tables[p.stem] = results.read_table(p.stem, profile)
            except ValueError:
                continue  # not a tidy table (listed raw in the appendix)
    rows = (pd.concat([t.assign(source=s) for s, t in tables.items()], ignore_index=True) if tables
            else pd.DataFrame(columns=list(results.COLUMNS) + ["source"]))
    for c in ("dataset", "unit", "note", "stage"):
        rows[c] = rows[c].fillna("").astype(str)
    from .report import CLAIM_COLUMNS

    claims_df = (pd.concat(claims, ignore_index=True) if claims
                 else pd.DataFrame(columns=list(CLAIM_COLUMNS) + ["source"]))
    for c in CLAIM_COLUMNS:
        if c not in claims_df:
            claims_df[c] = np.nan
    notebooks = _notebooks(root / "notebooks")
    return Run(profile=profile, root=root, rows=rows, tables=tables, claims=claims_df,
               figures=_figures(root / "figures", notebooks), notebooks=notebooks,
               manifests=_manifests(root / "artifacts"), cfg=cfg, training_path=training_path)


def _write_training(tdir: Path, profile: str) -> Path | None:
    """``tables/<profile>_training.csv``: every ``tables/training_*.csv`` one after another."""
    parts = sorted(tdir.glob("training_*.csv")) if tdir.is_dir() else []
    if not parts:
        return None
    df = pd.concat([results.read_table(p.stem, profile) for p in parts], ignore_index=True)
    path = tdir / f"{profile}_training.csv"
    with io.atomic_write(path, "w") as f:
        df.to_csv(f, index=False)
    return path


def _notebooks(d: Path) -> list[dict]:
    out = []
    for p in sorted(d.glob("*.ipynb")) if d.is_dir() else []:
        try:
            nb = json.loads(p.read_text())
        except (OSError, ValueError):
            continue
        pm = nb.get("metadata", {}).get("papermill", {}) or {}
        title, text, cells = p.stem, [], []
        for c in nb.get("cells", []):
            src = "".join(c.get("source", []))
            text.append(src)
            for o in c.get("outputs", []) or []:
                text.append("".join(o.get("text", [])) if isinstance(o.get("text"), list) else str(o.get("text", "")))
            if c.get("cell_type") == "markdown" and title == p.stem:
                m = re.search(r"^#\s+(.+)$", src, re.M)
                if m:
                    title = m.group(1).strip()
            cpm = c.get("metadata", {}).get("papermill", {}) or {}
            if c.get("cell_type") == "code" and cpm.get("duration") is not None:
                lines = [ln for ln in src.splitlines() if ln.strip() and not ln.startswith("#")]
                work = [ln for ln in lines if not re.match(r"(import|from)\s+\S+", ln)]   # name a cell by its work
                first = (work or lines or [""])[0]
                cells.append({"duration": float(cpm["duration"]), "first_line": first[:90],
                              "status": cpm.get("status", "")})
        failed = bool(pm.get("exception")) or any(c["status"] == "failed" for c in cells)
        out.append({"name": p.stem, "title": title, "duration": pm.get("duration"), "start": pm.get("start_time"),
                    "end": pm.get("end_time"), "status": "failed" if failed else "completed",
                    "cells": cells, "text": "\n".join(text), "parameters": pm.get("parameters", {})})
    return out


def _figures(d: Path, notebooks: list[dict]) -> list[dict]:
    out = []
    for p in sorted(d.glob("*.png")) if d.is_dir() else []:
        side = {}
        j = p.with_suffix(".json")
        if j.is_file():
            try:
                side = json.loads(j.read_text())
            except ValueError:
                side = {}
        nb = next((n for n in notebooks if re.search(rf"['\"]{re.escape(p.stem)}['\"]", n["text"])), None)
        out.append({"name": p.stem, "path": p, "caption": side.get("caption"), "axes": side.get("axes") or [],
                    "notebook": nb["name"] if nb else None, "notebook_title": nb["title"] if nb else None})
    return out


def _manifests(d: Path) -> list[dict]:
    out = []
    for p in sorted(d.glob("*/manifest.json")) if d.is_dir() else []:
        try:
            m = json.loads(p.read_text())
        except ValueError:
            continue
        if m.get("complete"):
            out.append(m)
    return out


# ------------------------------------------------------------------------------------------------------
# Paper | ours | difference
# ------------------------------------------------------------------------------------------------------
def printed_decimals(paper: str) -> dict[tuple, int]:
    """(table, model, dataset, metric) -> decimals of the value as printed (from the CSV text)."""
    out = {}
    with open(reference.csv_path(paper), newline="", encoding="utf-8") as f:
        for r in csv.DictReader(f):
            v = r["value"].strip()
            out[(r["table"], r["model"], r["dataset"], r["metric"])] = len(v.split(".")[1]) if "." in v else 0
    return out


def dataset_map(cfg) -> dict[str, str]:
    """Our evaluation sets -> the paper dataset each stands in for (empty at ``paper``: the same sets)."""
    if cfg is None or cfg.data.source == "paper":
        return {}
    return {ours: theirs for ours, theirs in zip(cfg.data.test_sets, reference.DATASETS)}


def describe_set(cfg, name: str) -> str:
    """``skimage_test (astronaut, chelsea; HR centre crops <= 256 px)``."""
    from .data.datasets import SKIMAGE_SPLIT

    imgs = SKIMAGE_SPLIT.get(name)
    crop = f"HR centre crops <= {cfg.data.max_eval_hr} px" if cfg is not None and cfg.data.max_eval_hr else ""
    inner = "; ".join(x for x in (", ".join(imgs) if imgs else "", crop) if x)
    return f"{name} ({inner})" if inner else name


def metric_map(paper: str) -> dict[str, str]:
    """Our metric name -> the paper's (its LPIPS variant is the paper's "lpips")."""
    from .metrics.conventions import METRICS

    conv = METRICS.get(paper)
    return {conv.lpips_metric: "lpips"} if conv is not None and conv.lpips_metric else {}


def _tolerance(metric: str, ref_row: Any = None) -> tuple[str, float] | None:
    t = getattr(ref_row, "tolerance", None) if ref_row is not None else None
    if isinstance(t, str) and t.strip():
        kind, _, v = t.strip().partition(" ")
        try:
            return kind, float(v)
        except ValueError:
            pass
    return TOLERANCES.get(metric)


def dedupe(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per (paper, table, model, dataset, metric, seed): a measured row beats an empty one; among
    several, the file named after the paper (its own notebook) beats a shared one (e.g. complexity)."""
    if rows.empty:
        return rows
    r = rows.copy()
    r["_measured"] = r["value"].notna()
    r["_own"] = [str(s).startswith(str(p)) for s, p in zip(r["source"], r["paper"])]
    r["_seed"] = r["seed"].astype("float").fillna(-1)
    r = r.sort_values(["_measured", "_own"], ascending=False, kind="stable")
    key = ["paper", "table", "model", "dataset", "metric", "_seed"]
    dup = r.duplicated(key, keep="first")
    kept = r[~dup].copy()
    # a dropped row with the same value is the same number from another notebook: keep its note too
    # (e.g. the complexity notebook's explanation of a difference beside MFAGAN's own row)
    extra = r[dup]
    if len(extra):
        first = kept.set_index(key)
        for k, g in extra.groupby(key, sort=False):
            v = first.at[k, "value"] if k in first.index else math.nan
            same = [n for n, x in zip(g["note"], g["value"]) if n and (np.isclose(x, v, rtol=1e-9) or
                                                                       (math.isnan(v) and math.isnan(x)))]
            if same:
                idx = kept.index[(kept[key] == pd.Series(k, index=key)).all(axis=1)]
                for i in idx:
                    kept.at[i, "note"] = "; ".join(dict.fromkeys([kept.at[i, "note"]] + same))
    return kept.drop(columns=["_measured", "_own", "_seed"]).sort_index()


def reason_label(note: str) -> str:
    """The group a missing value's note falls in (e.g. "LPIPS: ImageNet backbones absent")."""
    note = (note or "").strip()
    for pat, label in REASONS:
        m = re.search(pat, note, re.I | re.S)
        if m:
            return label.format(why=m.groupdict().get("why", "").strip()) if "{why}" in label else label
    first = re.split(r";", note)[0].strip()
    return (first[:90] + "...") if len(first) > 90 else (first or "no reason recorded")


@dataclass
class CellResult:
    paper_value: float
    ours: float
    std: float
    n: int
    decimals: int
    unit: str
    status: str               # ok | off | nc | na | nm | pend | printed-dash | ours-only
    reasons: list[str] = field(default_factory=list)
    note: str = ""
    difference: float = math.nan

    def fmt(self, x: float, extra: int = 0) -> str:
        if x is None or (isinstance(x, float) and math.isnan(x)):
            return "—"
        d = self.decimals + extra
        return f"{x:.{d}f}" if d >= 0 else f"{x:g}"

    def diff_text(self) -> str:
        if math.isnan(self.difference):
            return ""
        s = self.fmt(self.difference)
        if float(s.replace("−", "-")) == 0 and self.difference != 0:
            s = "±0"
        elif not s.startswith("-") and s != "±0":
            s = "+" + s
        s = s.replace("-", "−")
        if self.status in ("ok", "off", "nc") and self.paper_value and TOLERANCES.get(self._metric, ("", 0))[0] == "rel":
            s += f" ({100 * self.difference / abs(self.paper_value):+.1f}%)".replace("-", "−")
        return s

    _metric: str = ""


def compare_paper(run: Run, paper: str) -> pd.DataFrame:
    """Every printed number of ``paper`` beside ours: the reference rows plus ``ours, ours_std, n_seeds,
    our_dataset, our_note, status, reasons, source`` (status: ok | off | nc | na | nm | pend | dash)."""
    ref = reference.load(paper).copy()
    ref["dataset"] = ref["dataset"].fillna("")
    rows = dedupe(run.rows[run.rows["paper"] == paper])
    mm = metric_map(paper)
    rows = rows.assign(metric=rows["metric"].map(lambda m: mm.get(m, m)))
    dmap = dataset_map(run.cfg)
    rows = rows.assign(our_dataset=rows["dataset"], dataset=rows["dataset"].map(lambda d: dmap.get(d, d)))
    out = []
    for r in ref.itertuples(index=False):
        text = not _PRINTED_TABLE.match(r.table)
        sel = rows[(rows.model == r.model) & (rows.metric == r.metric) & (rows.dataset == r.dataset)]
        if not text:
            sel = sel[sel.table == r.table]
        else:  # a number stated in the text: ours from whichever of our tables measured it
            sel = sel.drop_duplicates(["model", "dataset", "metric", "seed"])
        rec = dict(r._asdict())
        if text and sel["value"].notna().sum() == 0 and (derived := _derive(rows, r)) is not None:
            rec.update(derived)
        else:
            factor = _unit_factor(sel["unit"].iloc[0] if len(sel) else "", r.unit)
            vals = sel["value"].dropna() * (factor or 1.0)
            note = "; ".join(dict.fromkeys(n for n in sel["note"] if n))
            if factor is None:
                vals, note = vals.iloc[0:0], f"not comparable: our unit {sel['unit'].iloc[0]!r} vs the paper's {r.unit!r}"
            rec.update(ours=float(vals.mean()) if len(vals) else math.nan,
                       ours_std=float(vals.std(ddof=1)) if len(vals) > 1 else math.nan, n_seeds=int(len(vals)),
                       our_dataset=", ".join(dict.fromkeys(sel["our_dataset"])) if len(sel) else "",
                       our_note=note, source=", ".join(dict.fromkeys(sel["source"])), _used=list(sel.index),
                       _has_rows=len(sel) > 0)
        rec.update(_status(rec, run, has_rows=rec.pop("_has_rows")))
        out.append(rec)
    return pd.DataFrame(out)


#: Unit prefixes of counts and bytes (our "G" memory is 1e9 bytes, the text's "MB" 1e6).
_UNIT = {"": 1.0, "K": 1e3, "M": 1e6, "G": 1e9, "KB": 1e3, "MB": 1e6, "GB": 1e9}
#: Ratios and savings stated in the text, from our numbers of the two models (srlib/reference: model ids
#: ``<model>_vs_<baseline>``; ratio = baseline / model; saving = 1 - model / baseline; fraction = model / baseline).
_DERIVED = {"ratio_memory": ("memory", "ratio"), "ratio_compute": ("flops_printed", "ratio"),
            "ratio_latency": ("latency", "ratio"), "saving_memory": ("memory", "saving"),
            "fraction_params": ("params", "fraction")}


def _unit_factor(ours: str, paper: str) -> float | None:
    """Multiply our value by this to get the paper's unit; None when the units cannot be related."""
    ours, paper = (ours or "").strip(), (paper or "").strip()
    if ours == paper or not ours:
        return 1.0
    if ours in _UNIT and paper in _UNIT:
        return _UNIT[ours] / _UNIT[paper]
    return None


def _derive(rows: pd.DataFrame, r: Any) -> dict | None:
    """A ratio the paper states in its text, computed from our own numbers of its two models (the first
    of our tables that has both, per seed where both have seeds)."""
    m = re.match(r"^(.+)_vs_(.+)$", r.model)
    if not m or r.metric not in _DERIVED:
        return None
    a, b = m.group(1), m.group(2)
    base, how = _DERIVED[r.metric]
    sub = rows[(rows["metric"] == base) & (rows["dataset"] == "")]
    missing = None
    for table in dict.fromkeys(sub["table"]):
        t = sub[sub["table"] == table]
        va, vb = t[t["model"] == a], t[t["model"] == b]
        if va.empty or vb.empty:
            continue
        x, y = va["value"].mean(), vb["value"].mean()
        notes = "; ".join(dict.fromkeys(n for n in list(va["note"]) + list(vb["note"]) if n))
        used = list(va.index) + list(vb.index)
        if math.isnan(x) or math.isnan(y) or x == 0 or y == 0:
            missing = missing or {"ours": math.nan, "ours_std": math.nan, "n_seeds": 0, "our_dataset": "",
                                  "source": table, "_used": [], "_has_rows": True,
                                  "our_note": f"{reason_label(notes)} ({a} or {b} has no {base} in our {table})"}
            continue
        val = {"ratio": y / x, "saving": 100 * (1 - x / y), "fraction": 100 * x / y}[how]
        return {"ours": float(val), "ours_std": math.nan, "n_seeds": 1, "our_dataset": "",
                "source": f"derived from our {table}", "_used": used, "_has_rows": True,
                "our_note": f"derived: {b} / {a} {base} of our {table} rows; {notes}"}
    return missing


def _status(rec: dict, run: Run, has_rows: bool) -> dict:
    pv, ov, metric = rec["value"], rec["ours"], rec["metric"]
    reasons: list[str] = []
    if math.isnan(ov):
        if has_rows:
            label = reason_label(rec["our_note"])
            return {"status": "pend" if label.startswith("pending") else "na", "reasons": [label],
                    "difference": math.nan}
        if rec["dataset"] and dataset_map(run.cfg) and rec["dataset"] not in dataset_map(run.cfg).values():
            label = (f"no stand-in at {run.profile} for this dataset (our test split stands in for "
                     f"{', '.join(dataset_map(run.cfg).values())} only)")
        else:
            label = "not in this run's tables (no notebook of this run wrote it)"
        return {"status": "nm", "reasons": [label], "difference": math.nan}
    if math.isnan(pv):
        return {"status": "dash", "reasons": [], "difference": math.nan}
    diff = ov - pv
    if rec["dataset"] and rec["our_dataset"] and rec["our_dataset"] != rec["dataset"]:
        reasons.append(f"our {rec['our_dataset']} stands in for {rec['dataset']}")
    if metric in reference.QUALITY_METRICS and run.profile != "paper":
        reasons.append(f"models and schedules shrunk at {run.profile}")
    for pat, label in NOT_COMPARABLE:
        if re.search(pat, rec["our_note"], re.I) and label not in reasons:
            reasons.append(label)
    if reasons:
        return {"status": "nc", "reasons": reasons, "difference": diff}
    tol = _tolerance(metric, None)
    if tol is None:
        return {"status": "nc", "reasons": ["no tolerance stated for this metric"], "difference": diff}
    kind, t = tol
    ok = abs(diff) <= (t if kind == "abs" else t * abs(pv)) + 1e-12
    if ok:
        return {"status": "ok", "reasons": [], "difference": diff}
    m = re.search(r"differs:\s*(.+)$", rec["our_note"])
    return {"status": "off", "reasons": [f"explained: {m.group(1).strip()}"] if m else [], "difference": diff}


def tolerance_text(metric: str) -> str:
    t = TOLERANCES.get(metric)
    if t is None:
        return "none"
    return f"±{t[1]:g}" if t[0] == "abs" else f"±{100 * t[1]:g} %"


# ------------------------------------------------------------------------------------------------------
# Page model: blocks rendered to both HTML and Markdown
# ------------------------------------------------------------------------------------------------------
@dataclass
class Cell:
    text: str = ""
    html: str | None = None
    cls: str = ""
    title: str = ""
    header: bool = False

    def h(self) -> str:
        return self.html if self.html is not None else html.escape(self.text)


@dataclass
class Table:
    head: list[Cell]
    body: list[list[Cell]]
    caption: str = ""
    notes: list[str] = field(default_factory=list)      # footnotes under the table
    cls: str = ""
    collapsed: str | None = None                        # summary line: the table sits in a <details>
    id: str = ""
    md_caption: str = ""                                # Markdown only (the HTML has it in the header)
    md_link: str = ""                                   # Markdown: only a link to this file (raw tables)


@dataclass
class Figure:
    name: str
    path: Path
    caption: str


@dataclass
class Text:
    md: str
    html: str | None = None


@dataclass
class Section:
    id: str
    title: str
    blocks: list = field(default_factory=list)
    children: list["Section"] = field(default_factory=list)


def _e(s: Any) -> str:
    return html.escape(str(s))


def _md(s: Any) -> str:
    return str(s).replace("|", "\\|").replace("\n", " ")


# ------------------------------------------------------------------------------------------------------
# Sections
# ------------------------------------------------------------------------------------------------------
def papers_present(run: Run) -> list[str]:
    present = set(run.rows["paper"]) | set(run.claims["paper"])
    return [p for p in reference.papers() if p in present]


def header_section(run: Run) -> Section:
    s = Section("run", "The run")
    cfg = run.cfg
    mans = run.manifests
    commits = Counter(m.get("git_commit") for m in mans if m.get("git_commit"))
    now = pipeline.git_commit()
    pk = Counter(json.dumps(m.get("packages", {}), sort_keys=True) for m in mans if m.get("packages"))
    packages = json.loads(pk.most_common(1)[0][0]) if pk else pipeline.package_versions()
    prec = Counter(m["params"].get("precision", "fp32") for m in mans
                   if isinstance(m.get("params"), dict) and "total" in m["params"])
    cl = sum(1 for m in mans if isinstance(m.get("params"), dict) and m["params"].get("channels_last"))
    devices = Counter(m.get("device") for m in mans if m.get("device"))
    starts = [n["start"] for n in run.notebooks if n.get("start")]
    ends = [n["end"] for n in run.notebooks if n.get("end")]
    total = sum(n["duration"] or 0 for n in run.notebooks)
    facts = [
        ("profile", f"{run.profile}" + (f" — {cfg.description}" if cfg is not None and cfg.description else "")),
        ("commit", ", ".join(f"{c} ({k} stages)" for c, k in commits.most_common()) or "no stage manifests"
         + (f"; report built at {now}" if now else "")),
        ("date", (f"notebooks ran {min(starts)[:19]} to {max(ends)[:19]} UTC; " if starts and ends else "")
         + f"page built {datetime.now(timezone.utc).isoformat(timespec='seconds')}"),
        ("machine", machine_text(devices)),
        ("precision", ", ".join(f"{p}: {k} training stages" for p, k in prec.most_common())
         + (f" ({cl} in channels_last)" if cl else "") if prec else "no training stage in this run"),
        ("packages", ", ".join(f"{k} {v}" for k, v in packages.items())
         + (f" (stages of this run disagree: {len(pk)} package sets)" if len(pk) > 1 else "")),
        ("wall time", f"{total / 60:.1f} min over {len(run.notebooks)} notebooks (papermill)"),
    ]
    s.blocks.append(Table(head=[Cell("", header=True), Cell("", header=True)],
                          body=[[Cell(k, header=True), Cell(v)] for k, v in facts], cls="facts", id="facts"))
    s.blocks.append(budget_table(run))
    return s


def machine_text(devices: Counter) -> str:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            if line.lower().startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cpu = cpu or platform.processor() or platform.machine()
    import torch

    parts = [f"{cpu}, {os.cpu_count()} logical CPUs, torch threads {torch.get_num_threads()}"
             + (f" (OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']})" if os.environ.get("OMP_NUM_THREADS") else "")]
    if torch.cuda.is_available():
        parts.append(f"GPU {torch.cuda.get_device_name(0)} x{torch.cuda.device_count()}")
    if devices:
        parts.append("stages ran on: " + "; ".join(f"{d} ({k})" for d, k in devices.most_common()))
    return "; ".join(parts)


def budget_groups(profile: str) -> tuple[float | None, dict[str, tuple[tuple[str, ...], float | None]]]:
    """(total minutes or None, group -> (notebook prefixes, share in minutes or None)). Profiles without a
    budget keep the groups (of the first budget defined) without shares."""
    b = BUDGETS.get(profile)
    if not b:
        groups = next(iter(BUDGETS.values()))["groups"] if BUDGETS else {}
        return None, {g: (pre, None) for g, (pre, _) in groups.items()}
    groups = dict(b["groups"])
    fixed = sum(m for _, m in groups.values() if m is not None)
    return b["total_min"], {g: (pre, m if m is not None else b["total_min"] - fixed) for g, (pre, m) in groups.items()}


def budget_table(run: Run) -> Table:
    total, groups = budget_groups(run.profile)
    body = []
    by_group: dict[str, list[dict]] = {g: [] for g in groups}
    loose = []
    for n in run.notebooks:
        g = next((g for g, (pre, _) in groups.items() if n["name"].startswith(pre)), None)
        (by_group[g] if g else loose).append(n)
    for g, (pre, share) in groups.items():
        nbs = by_group[g]
        spent = sum((n["duration"] or 0) for n in nbs) / 60
        cls = "" if share is None else ("ok" if spent <= share else "off")
        total_text = f"{spent:.1f} / {share:.0f} min" if share is not None else f"{spent:.1f} min (no share)"
        first = True
        for n in nbs or [None]:
            body.append([Cell(g if first else "", header=first),
                         Cell(n["name"] if n else "(none ran)"),
                         Cell(_mins(n["duration"]) if n else "—", cls="num"),
                         Cell(_slowest(n) if n else ""),
                         Cell(total_text if first else "", cls=("num " + cls) if first else "")])
            first = False
    for n in loose:
        body.append([Cell("no share set", header=True), Cell(n["name"]), Cell(_mins(n["duration"]), cls="num"),
                     Cell(_slowest(n)), Cell("")])
    for b in body:
        if any("failed" == n["status"] and n["name"] == b[1].text for n in run.notebooks):
            b[1] = Cell(b[1].text + " (FAILED)", cls="off")
    cap = (f"Each notebook's papermill duration against its group's share of the {run.profile} budget "
           f"({total:.0f} min)." if total else
           f"Each notebook's papermill duration (no time budget is set for the {run.profile} profile).")
    return Table(head=[Cell("group", header=True), Cell("notebook", header=True), Cell("duration", header=True),
                       Cell("slowest cells", header=True), Cell("group: spent / share", header=True)],
                 body=body or [[Cell("no executed notebooks under notebooks/"), Cell(""), Cell(""), Cell(""), Cell("")]],
                 caption=cap, id="budget")


def _mins(sec: float | None) -> str:
    return "—" if sec is None else (f"{sec:.0f} s" if sec < 120 else f"{sec / 60:.1f} min")


def _slowest(n: dict, k: int = 2) -> str:
    cells = sorted(n["cells"], key=lambda c: -c["duration"])[:k]
    return "; ".join(f"{c['duration']:.0f} s: {c['first_line']}" for c in cells if c["duration"] >= 1)


def _verdict_class(v: str) -> str:
    v = (v or "").lower()
    return next((c for k, c in VERDICT_CLASSES if v.startswith(k)), "other")


def summary_section(run: Run, comparisons: dict[str, pd.DataFrame]) -> Section:
    s = Section("summary", "Summary")
    body = []
    for p in papers_present(run):
        c = comparisons[p]
        printed = c[c["value"].notna()]
        st = printed["status"].value_counts()
        with_ours = int(printed["ours"].notna().sum())
        comparable = int(st.get("ok", 0) + st.get("off", 0))
        missing = printed[printed["status"].isin(["na", "pend", "nm"])]
        reasons = Counter(r for rs in missing["reasons"] for r in rs)
        ncr = Counter(r for rs in printed[printed["status"] == "nc"]["reasons"] for r in rs)
        explained = int(sum(1 for st_, rs in zip(printed["status"], printed["reasons"])
                            if st_ == "off" and any(r.startswith("explained") for r in rs)))
        cl = run.claims[run.claims["paper"] == p]
        verdicts = Counter(cl["verdict"])
        body.append([
            Cell(PAPER_TITLES.get(p, p), html=f"<a href='#paper-{p}'>{_e(PAPER_TITLES.get(p, p))}</a>", header=True),
            Cell(str(len(printed)), cls="num"),
            Cell(str(with_ours), cls="num"),
            Cell(f"{int(st.get('ok', 0))} of {comparable}" + (f" ({explained} of the {int(st.get('off', 0))} outside explained)"
                                                              if explained else ""), cls="num"),
            Cell(f"{int(st.get('nc', 0))}", title="; ".join(f"{k} ({v})" for k, v in ncr.most_common()), cls="num"),
            Cell("; ".join(f"{v} {k}" for k, v in reasons.most_common()) or "none", html=_reason_list(reasons)),
            Cell(", ".join(f"{v} {k}" for k, v in verdicts.most_common()) or "no claims yet",
                 html=" ".join(f"<span class='v {_verdict_class(k)}'>{VERDICT_MARKS[_verdict_class(k)]} {v} {_e(k)}</span>"
                               for k, v in verdicts.most_common()) or "no claims yet"),
        ])
    s.blocks.append(Table(
        head=[Cell("paper", header=True), Cell("printed numbers", header=True), Cell("with an ours", header=True),
              Cell("within tolerance (of those comparable)", header=True), Cell("stand-in only", header=True),
              Cell("no ours, and why", header=True), Cell("claims by verdict", header=True)],
        body=body or [[Cell("no paper has results in this run")] + [Cell("")] * 6], id="summary-table",
        caption="Printed numbers = the papers' values in srlib/reference (cells printed as '—' not counted). "
                "Comparable = same dataset, convention and scale as the paper; 'stand-in only' numbers are "
                "shown with their difference, greyed, and not judged."))
    s.blocks.append(Text(
        "How to read a cell: **paper | ours | difference** (ours − paper), rounded as the paper prints it; "
        "ours is the mean over seeds (± std, n). Tolerances by metric: "
        + ", ".join(f"{METRIC_LABELS.get(m, m)} {tolerance_text(m)}" for m in TOLERANCES) + ".",
        "<p class='legend'>How to read a cell: <span class='cmp ok'><span class='pv'>paper</span><span class='ov'>ours"
        "</span><span class='dv'>ours − paper</span></span> within tolerance, <span class='cmp off'><span class='pv'>"
        "paper</span><span class='ov'>ours</span><span class='dv'>difference</span></span> outside it, "
        "<span class='cmp nc'><span class='pv'>paper</span><span class='ov'>ours</span><span class='dv'>(difference)"
        "</span></span> not comparable (stand-in: hover or see the notes), <span class='cmp na'><span class='pv'>paper"
        "</span><span class='ov'>n/a</span></span> unavailable, <span class='cmp nm'><span class='pv'>paper</span>"
        "<span class='ov'>—</span></span> not measured yet. Rounded as the paper prints each number; ours = mean "
        "over seeds (± std, n). Tolerances: " + _e(", ".join(f"{METRIC_LABELS.get(m, m)} {tolerance_text(m)}"
                                                       for m in TOLERANCES)) + ".</p>"))
    return s


def _reason_list(reasons: Counter, top: int = 4) -> str:
    items = [f"<b>{v}</b> {_e(k)}" for k, v in reasons.most_common()]
    if not items:
        return "none"
    head = "<br>".join(items[:top])
    return head + (_details(f"{len(items) - top} more reasons", "<p>" + "<br>".join(items[top:]) + "</p>")
                   if len(items) > top else "")


def _col_label(metric: str, dataset: str, unit: str, paper: str, table: str) -> str:
    label = METRIC_LABELS.get(metric, metric)
    if metric == "flops_printed":
        try:
            from .complexity.conventions import convention

            label = convention(paper, table).printed_name.split(" (")[0]
        except KeyError:
            pass
    u = f" ({unit})" if unit and unit not in ("x", "%") else (f" ({unit})" if unit else "")
    return f"{dataset} {label}{u}".strip()


def our_convention(paper: str, table: str, metric: str, unit: str = "") -> str:
    """How we count/measure the column (srlib.metrics.conventions / srlib.complexity.conventions)."""
    if metric in reference.QUALITY_METRICS:
        from .metrics.conventions import METRICS

        c = METRICS.get(paper)
        base = "Y (BT.601), shave = scale, 8-bit" if (c is None or c.y_channel) else "RGB, shave = scale"
        if metric == "lpips":
            if c is None or c.lpips_metric is None:
                return "LPIPS: not in this paper's convention"
            return f"v0.1 {c.lpips_net}, {'Y x 3' if c.lpips_on == 'y3' else 'RGB'}"
        return base
    if metric in ("params", "flops_printed", "memory", "model_size"):
        try:
            from .complexity.conventions import convention

            c = convention(paper, table)
        except KeyError:
            return "full paper architecture"
        if metric == "params":
            div = _UNIT.get(unit, c.params_divisor) if unit else c.params_divisor
            return f"all parameters / {div:g}, full paper architecture"
        if metric == "memory":
            return f"{c.memory_definition}, / {c.memory_divisor:g} B, at {c.lr_hw[0]}x{c.lr_hw[1]} LR"
        if metric == "model_size":
            return "fp32 parameter bytes / 1e6"
        return (f"{c.quantity}{' incl. bias adds' if c.bias else ''} at {c.lr_hw[0]}x{c.lr_hw[1]} LR / "
                f"{c.flops_divisor:g}" + ("" if c.single_fit else " (no single convention fits this table)"))
    if metric == "latency":
        return "see each cell's note (our latency: a desktop-CPU proxy)"
    return ""


def _printed_label(source: str) -> str:
    m = re.search(r"\brow ([^,]+?), column", source) or re.search(r"\bcolumn ([^,]+?), row", source)
    return m.group(1).strip() if m else ""


def paper_section(run: Run, paper: str, comp: pd.DataFrame, figures: list[dict]) -> Section:
    s = Section(f"paper-{paper}", PAPER_TITLES.get(paper, paper))
    dec = printed_decimals(paper)
    dmap = dataset_map(run.cfg)
    if dmap:
        s.blocks.append(Text(
            "Our datasets at this profile: " + "; ".join(f"{describe_set(run.cfg, o)} stands in for {t}"
                                                          for o, t in dmap.items())
            + ". Other paper datasets have no stand-in. No number here is on the paper's dataset."))
    used: set[int] = set()
    for idx in comp["_used"]:
        used.update(idx)
    for table in dict.fromkeys(comp["table"]):
        if not _PRINTED_TABLE.match(table):
            continue
        s.children.append(printed_table(run, paper, table, comp[comp["table"] == table], dec, used))
    text = comp[~comp["table"].str.match(_PRINTED_TABLE)]
    if len(text):
        s.children.append(text_numbers(paper, text, dec))
    cl = run.claims[run.claims["paper"] == paper]
    if len(cl):
        s.children.append(claims_section(f"claims-{paper}", "Claims", cl))
    figs = [f for f in figures if f["name"].startswith(paper + "_")]
    if figs:
        s.children.append(Section(f"figures-{paper}", "Figures", [figure_block(run, f) for f in figs]))
    rows = dedupe(run.rows[run.rows["paper"] == paper])
    extra = rows[~rows.index.isin(used)]
    if len(extra):
        sec = Section(f"extra-{paper}", "Our measurements without a printed counterpart")
        for t, g in extra.groupby("table", sort=False):
            sec.blocks.append(tidy_pivot(g, f"{paper} {t}", collapsed=f"{t}: {g['model'].nunique()} models, "
                                                                        f"{len(g)} numbers (from {', '.join(dict.fromkeys(g['source']))}.csv)"))
        s.children.append(sec)
    return s


class Marks:
    """Letters for the reasons behind greyed or empty cells of one table, listed under it."""

    def __init__(self) -> None:
        self.letters: dict[str, str] = {}
        self.count: Counter = Counter()

    def __call__(self, reasons: Iterable[str]) -> str:
        out = []
        for r in reasons:
            if r not in self.letters:
                n = len(self.letters)
                self.letters[r] = chr(ord("a") + n) if n < 26 else f"z{n - 25}"
            self.count[r] += 1
            out.append(self.letters[r])
        return ",".join(out)

    def notes(self) -> list[str]:
        return [f"({l}) {r} — {self.count[r]} cell{'s' if self.count[r] > 1 else ''}" for r, l in self.letters.items()]


def _cell(rec: Any, decimals: int, marks: Marks) -> Cell:
    c = CellResult(paper_value=rec.value, ours=rec.ours, std=rec.ours_std, n=rec.n_seeds, decimals=decimals,
                   unit=rec.unit, status=rec.status, reasons=list(rec.reasons), note=rec.our_note,
                   difference=rec.difference)
    c._metric = rec.metric
    pv = c.fmt(rec.value)
    ov = "n/a" if rec.status == "na" else ("pending" if rec.status == "pend" else c.fmt(rec.ours))
    spread = (f" ± {c.fmt(rec.ours_std, 1)} (n={rec.n_seeds})" if rec.n_seeds > 1 and not math.isnan(rec.ours_std)
              else "")
    dv = c.diff_text()
    mark = {"ok": " ✓", "off": " ✗"}.get(rec.status, "")
    if rec.status == "nc":
        dv = f"({dv})"
    letters = marks(c.reasons)
    sup = f" ({letters})" if letters else ""
    why = "; ".join(c.reasons)
    title = f"{rec.source or 'no row of ours'} — paper's convention: {rec.convention}" + (f" — {why}" if why else "")
    md = f"{pv} \\| {ov}{spread}" + (f" \\| {dv}{mark}" if dv else "") + sup
    h = (f"<span class='pv'>{_e(pv)}</span><span class='ov'>{_e(ov)}<small>{_e(spread)}</small>"
         + (f"<sup>{_e(letters)}</sup>" if letters and not dv else "") + "</span>"
         + (f"<span class='dv'>{_e(dv)}{mark}" + (f"<sup>{_e(letters)}</sup>" if letters else "") + "</span>" if dv else ""))
    return Cell(md, html=h, cls=f"cmp {rec.status}", title=title)


def printed_table(run: Run, paper: str, table: str, comp: pd.DataFrame, dec: dict, used: set) -> Section:
    cols = list(dict.fromkeys(zip(comp["dataset"], comp["metric"])))
    models = list(dict.fromkeys(comp["model"]))
    by = {(r.model, r.dataset, r.metric): r for r in comp.itertuples(index=False)}
    unit = {(r.dataset, r.metric): r.unit for r in comp.itertuples(index=False)}
    dmap_inv = {v: k for k, v in dataset_map(run.cfg).items()}
    head = [Cell("model", header=True)]
    col_notes = []
    for ds, metric in cols:
        label = _col_label(metric, ds, unit[(ds, metric)], paper, table)
        convs = Counter(r.convention for r in comp.itertuples() if r.dataset == ds and r.metric == metric)
        paper_conv = convs.most_common(1)[0][0] + (" (varies by row: hover a cell)" if len(convs) > 1 else "")
        ours_conv = our_convention(paper, table, metric, unit[(ds, metric)])
        stand = (f"on {dmap_inv[ds]}" if ds and ds in dmap_inv else
                 (f"no stand-in at {run.profile}" if ds and dmap_inv else ""))
        sub = "; ".join(x for x in (ours_conv, stand) if x)
        head.append(Cell(label, header=True, html=(f"{_e(label)}<div class='conv'><b>ours</b>: {_e(sub)}<br>"
                                                   f"tolerance {_e(tolerance_text(metric))}</div>"
                                                   + _details("paper's convention", f"<p>{_e(paper_conv)}</p>")),
                         title=f"paper: {paper_conv}"))
        col_notes.append(f"**{label}** — paper: {paper_conv}; ours: {sub}; tolerance {tolerance_text(metric)}")
    body = []
    marks = Marks()
    for m in models:
        recs = [by.get((m, ds, me)) for ds, me in cols]
        label = next((_printed_label(r.source) for r in recs if r is not None and _printed_label(r.source)), "")
        note = "; ".join(dict.fromkeys(x for r in recs if r is not None for x in r.our_note.split("; ")
                                       if x and not re.search(REASONS[0][0], x, re.I)))
        pnote = "; ".join(dict.fromkeys(r.note for r in recs if r is not None and isinstance(r.note, str) and r.note))
        inner = ((f"<p><b>ours</b>: {_e(note)}</p>" if note else "<p>no row of ours</p>")
                 + (f"<p><b>paper</b>: {_e(pnote)}</p>" if pnote else ""))
        first = Cell(m + (f" ({label})" if label else ""), header=True,
                     html=(f"<b>{_e(m)}</b>" + (f"<div class='plabel'>printed: {_e(label)}</div>" if label else "")
                           + _details("what was trained", inner)))
        row = [first]
        for (ds, me), r in zip(cols, recs):
            row.append(Cell("", cls="empty") if r is None else _cell(r, dec.get((table, m, ds, me), 2), marks))
        body.append(row)
    # ours-only rows (e.g. columns 4-5 before the fine-tune): our models in this table, same columns
    rows = dedupe(run.rows[(run.rows["paper"] == paper) & (run.rows["table"] == table)])
    mm = metric_map(paper)
    dm = dataset_map(run.cfg)
    rows = rows.assign(metric=rows["metric"].map(lambda x: mm.get(x, x)),
                       pds=rows["dataset"].map(lambda d: dm.get(d, d)))
    extra = rows[~rows["model"].isin(models) & rows.apply(lambda r: (r["pds"], r["metric"]) in cols, axis=1)] \
        if len(rows) else rows
    for m, g in extra.groupby("model", sort=False):
        used.update(g.index)
        row = [Cell(f"{m} (ours only)", header=True,
                    html=f"<b>{_e(m)}</b><div class='plabel'>ours only: no printed row</div>"
                         + _details("what was trained", f"<p>{_e('; '.join(dict.fromkeys(n for n in g['note'] if n)))}</p>"))]
        for ds, me in cols:
            v = g[(g["pds"] == ds) & (g["metric"] == me)]["value"].dropna()
            d = dec.get((table, models[0], ds, me), 2) if models else 2
            row.append(Cell(f"— \\| {v.mean():.{d}f}" if len(v) else "",
                            html=(f"<span class='pv'>—</span><span class='ov'>{v.mean():.{d}f}</span>" if len(v) else ""),
                            cls="cmp oo"))
        body.append(row)
    title = f"{PAPER_TITLES.get(paper, paper).split(' (')[0]} " + (table.replace("table", "Table ") if table.startswith("table")
                                                                 else table)
    sec = Section(f"{paper}-{table}", title)
    sec.blocks.append(Table(head=head, body=body, notes=marks.notes(), cls="paper", id=f"t-{paper}-{table}",
                            md_caption="Columns:\n" + "\n".join(f"- {x}" for x in col_notes)))
    return sec


def _details(summary: str, inner_html: str) -> str:
    return f"<details><summary>{_e(summary)}</summary>{inner_html}</details>"


def text_numbers(paper: str, comp: pd.DataFrame, dec: dict) -> Section:
    body = []
    marks = Marks()
    for r in comp.itertuples(index=False):
        c = _cell(r, dec.get((r.table, r.model, r.dataset, r.metric), 2), marks)
        body.append([Cell(r.table, header=True), Cell(r.model), Cell(METRIC_LABELS.get(r.metric, r.metric)
                                                                     + (f" ({r.unit})" if r.unit else "")),
                     c, Cell(r.source or "—", cls="src")])
    sec = Section(f"text-{paper}", "Numbers stated in the text")
    sec.blocks.append(Table(head=[Cell("where", header=True), Cell("what", header=True), Cell("metric", header=True),
                                  Cell("paper | ours | difference", header=True), Cell("ours from", header=True)],
                            body=body, id=f"t-{paper}-text", notes=marks.notes(),
                            caption="Ratios and savings the text states, ours computed from our own numbers of the "
                                    "two models (model ids <model>_vs_<baseline>: ratio = baseline / model)."))
    return sec


_NUM = r"[+-]?(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?"


def claim_stats(row: Any) -> dict:
    """difference, std, n_seeds, interval and unit of a claim: its columns, else parsed from the evidence."""
    def val(k):
        v = getattr(row, k, None)
        return None if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA or v == "" else v

    out = {k: val(k) for k in ("difference", "std", "n_seeds", "interval_low", "interval_high", "unit")}
    ev = str(getattr(row, "evidence", "") or "")
    if out["difference"] is None:
        m = re.search(rf"gain of A ({_NUM})", ev) or re.search(rf"A - B = ({_NUM})", ev)
        if m:
            out["difference"] = float(m.group(1))
            um = re.match(r"\s*(dB|%|ms|x)\b", ev[m.end():])
            out["unit"] = out["unit"] or (um.group(1) if um else "")
    if out["n_seeds"] is not None:
        out["n_seeds"] = int(out["n_seeds"])
    else:
        m = re.search(r"over (\d+) seeds", ev)
        out["n_seeds"] = int(m.group(1)) if m else (1 if "one seed" in ev else None)
    if out["std"] is None:
        m = re.search(rf"\+- ({_NUM}) \(std", ev) or re.search(rf"std ({_NUM}) over", ev)
        out["std"] = float(m.group(1)) if m else None
    if out["interval_low"] is None:
        m = re.search(rf"interval \[({_NUM}), ({_NUM})\]", ev)
        if m:
            out["interval_low"], out["interval_high"] = float(m.group(1)), float(m.group(2))
    return out


def claims_section(sid: str, title: str, cl: pd.DataFrame) -> Section:
    body = []
    for r in cl.itertuples(index=False):
        st = claim_stats(r)
        u = f" {st['unit']}" if st.get("unit") else ""
        diff = (f"{st['difference']:+.3g}{u}" if st["difference"] is not None else "—")
        spread = (f"± {st['std']:.2g}" if st["std"] is not None else ("no spread (one seed)" if st["n_seeds"] == 1 else "—"))
        interval = (f"[{st['interval_low']:+.3g}, {st['interval_high']:+.3g}]{u}" if st["interval_low"] is not None else "—")
        vc = _verdict_class(r.verdict)
        body.append([Cell(r.claim),
                     Cell(f"{VERDICT_MARKS[vc]} **{r.verdict}**", html=f"<span class='v {vc}'>{VERDICT_MARKS[vc]} {_e(r.verdict)}</span>",
                          cls="verdict"),
                     Cell(diff, cls="num"), Cell(spread, cls="num"),
                     Cell(str(st["n_seeds"]) if st["n_seeds"] is not None else "—", cls="num"),
                     Cell(interval, cls="num"), Cell(str(r.evidence), cls="evidence")])
    return Section(sid, title, [Table(
        head=[Cell(x, header=True) for x in ("claim", "verdict", "difference (A − B, claimed direction)", "spread (std)",
                                             "seeds", "95% interval", "evidence")],
        body=body, id=f"t-{sid}", cls="claims",
        caption="Verdicts (srlib.report.verdict / within): holds when the whole 95% interval of the paired "
                "difference over seeds lies on the claimed side of its margin, does not hold when it lies on the "
                "other side, else inconclusive; one seed has no spread and is always inconclusive.")])


def figure_caption(f: dict, run: Run) -> str:
    if f.get("caption"):
        return f["caption"]
    parts = []
    for a in f.get("axes", [])[:4]:
        bits = []
        if a.get("title"):
            bits.append(a["title"].replace("\n", " "))
        if a.get("xlabel"):
            bits.append(f"x: {a['xlabel']}" + (f" ({a['xscale']} scale)" if a.get("xscale") not in ("linear", "", None) else ""))
        if a.get("ylabel"):
            bits.append(f"y: {a['ylabel']}" + (f" ({a['yscale']} scale)" if a.get("yscale") not in ("linear", "", None) else ""))
        if bits:
            parts.append("; ".join(bits))
    if len(f.get("axes", [])) > 4:
        parts.append(f"... {len(f['axes']) - 4} more panels")
    where = f" From notebook {f['notebook']}." if f.get("notebook") else ""
    if not parts:
        return (f"{f['name']}.{where} No caption recorded (srlib.notebook.save_figure(..., caption=...) adds one; "
                "re-running the notebook records its axes).")
    stand = []
    text = " ".join(parts).lower()
    if "stand-in" in text or "unavailable" in text:
        stand.append("an axis labelled stand-in / unavailable is not the paper's quantity")
    if run.profile != "paper" and re.search(r"psnr|ssim|lpips", text):
        stand.append(f"quality values are on the {run.profile} profile's photos "
                     f"({', '.join(dataset_map(run.cfg)) or 'its data'}), not the papers' datasets, and trained "
                     f"models are the {run.profile} profile's shrunk ones")
    return " — ".join(parts) + "." + where + (" Stand-ins: " + "; ".join(stand) + "." if stand else "")


def figure_block(run: Run, f: dict) -> Figure:
    return Figure(f["name"], f["path"], figure_caption(f, run))


def tidy_pivot(g: pd.DataFrame, what: str, collapsed: str | None = None, tid: str = "",
               extra_cols: dict[str, Callable[[pd.DataFrame], str]] | None = None) -> Table:
    """Tidy rows as model x (dataset, metric), values at 4 significant digits, notes one click away, the
    reason of every empty value lettered under the table. One model with many columns: transposed."""
    cols = list(dict.fromkeys(zip(g["dataset"].fillna(""), g["metric"])))
    marks = Marks()
    extra_cols = extra_cols or {}

    def value_cell(sel: pd.DataFrame) -> Cell:
        v = sel["value"].dropna()
        if len(v):
            return Cell(_sig(v.mean()) + (f" ± {_sig(v.std(ddof=1), 2)} (n={len(v)})" if len(v) > 1 else ""), cls="num")
        if len(sel):
            letter = marks([reason_label("; ".join(sel["note"]))])
            return Cell(f"n/a ({letter})", html=f"<span class='na'>n/a<sup>{_e(letter)}</sup></span>", cls="na")
        return Cell("")

    models = list(dict.fromkeys(g["model"]))
    if len(models) == 1 and len(cols) > 6 and not extra_cols:
        m = models[0]
        body = [[Cell(f"{ds} {me}".strip() + (f" ({u})" if (u := _unit(g, ds, me)) else ""), header=True),
                 value_cell(g[(g["dataset"].fillna("") == ds) & (g["metric"] == me)])] for ds, me in cols]
        notes = "; ".join(dict.fromkeys(n for n in g["note"] if n))
        return Table(head=[Cell("measurement", header=True), Cell(m, header=True)], body=body, collapsed=collapsed,
                     caption=what + (f". Note: {notes}" if notes else ""), id=tid, notes=marks.notes())
    body = []
    for m, gm in g.groupby("model", sort=False):
        notes = "; ".join(dict.fromkeys(n for n in gm["note"] if n))
        row = [Cell(m, header=True, html=f"<b>{_e(m)}</b>" + (_details("note", f"<p>{_e(notes)}</p>") if notes else ""))]
        row += [Cell(fn(gm)) for fn in extra_cols.values()]
        row += [value_cell(gm[(gm["dataset"].fillna("") == ds) & (gm["metric"] == me)]) for ds, me in cols]
        body.append(row)
    head = ([Cell("model", header=True)] + [Cell(k, header=True) for k in extra_cols]
            + [Cell(f"{ds} {me}".strip() + (f" ({u})" if (u := _unit(g, ds, me)) else ""), header=True) for ds, me in cols])
    return Table(head=head, body=body, collapsed=collapsed, caption=what, id=tid, notes=marks.notes())


def _unit(g: pd.DataFrame, ds: str, me: str) -> str:
    u = g[(g["dataset"].fillna("") == ds) & (g["metric"] == me)]["unit"]
    return str(u.iloc[0]) if len(u) and isinstance(u.iloc[0], str) else ""


def _sig(x: float, n: int = 4) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    return f"{x:.{n}g}"


def released_section(run: Run) -> Section | None:
    t = run.tables.get("released_weights")
    if t is None:
        return None
    s = Section("released", "Released weights")
    s.blocks.append(Text("The authors' released checkpoints strictly loaded into our modules and measured on "
                         "this profile's test sets (notebook 02). An absent file is a row with the command that "
                         "fetches it; at mini/smoke the test split is not a paper dataset, so no difference to the "
                         "printed numbers is computed here."))
    absent = t[t["value"].isna()]
    measured = sorted(set(t[t["value"].notna()]["model"]))
    s.blocks.append(Text(f"Measured: {', '.join(measured) or 'none'}. Absent or unavailable: "
                         + "; ".join(f"{k} ({v} numbers)" for k, v in Counter(reason_label(n) for n in absent["note"]).most_common())
                         if len(absent) else f"Measured: {', '.join(measured)}."))
    s.blocks.append(tidy_pivot(t, "released_weights.csv", tid="t-released"))
    return s


def training_section(run: Run) -> Section | None:
    if run.training_path is None:
        return None
    t = pd.read_csv(run.training_path, keep_default_na=False, na_values={"value": [""], "seed": [""]})
    t["value"] = pd.to_numeric(t["value"], errors="coerce")
    s = Section("training", "Training runs")
    s.blocks.append(Text(f"`tables/{run.training_path.name}`: every `tables/training_*.csv` of the run (what was "
                         "trained, at what scale, its PSNR on the validation and test splits beside bicubic, "
                         "iterations, seconds, precision).",
                         f"<p><code>tables/{_e(run.training_path.name)}</code>: every <code>tables/training_*.csv</code> "
                         "of the run (what was trained, at what scale, its PSNR on the validation and test splits "
                         "beside bicubic, iterations, seconds, precision).</p>"))
    t = t.assign(what=[n.split(";")[0] if m != "bicubic" else "" for n, m in zip(t["note"], t["model"])])
    t["model"] = [f"{m} — {w}" if w else m for m, w in zip(t["model"], t["what"])]

    def grab(pattern: str, fmt: str) -> Callable[[pd.DataFrame], str]:
        def fn(gm: pd.DataFrame) -> str:
            for n in gm["note"]:
                mm = re.search(pattern, n)
                if mm:
                    return fmt.format(*mm.groups())
            return ""
        return fn

    cols = {"batch x LR patch": grab(r"batch (\d+) x LR (\w+?)px", "{0} x {1}"),
            "precision": grab(r"precision ([^;,]+)", "{0}"), "source": lambda gm: ", ".join(dict.fromkeys(gm["stage"]))}
    s.blocks.append(tidy_pivot(t, f"{run.training_path.name}", tid="t-training", extra_cols=cols))
    return s


def shared_section(run: Run, figures: list[dict], papers: list[str]) -> Section | None:
    """Tables of rows that belong to no paper (data, latency, suite checks) and figures of no paper."""
    s = Section("shared", "Shared results")
    skip = {"released_weights"}
    for stem, t in run.tables.items():
        if stem in skip or stem.startswith("training_"):
            continue
        other = t[~t["paper"].isin(reference.PAPERS)]
        if other.empty:
            continue
        for (paper, table), g in other.groupby(["paper", "table"], sort=False):
            s.children.append(Section(f"shared-{stem}-{table}", f"{table} ({stem}.csv)",
                                      [tidy_pivot(g, f"tables/{stem}.csv, table {table}", tid=f"t-{stem}-{table}")]))
    cl = run.claims[~run.claims["paper"].isin(papers)]
    if len(cl):
        s.children.append(claims_section("claims-suite", "Checks of the suite itself", cl))
    rest = [f for f in figures if not any(f["name"].startswith(p + "_") for p in papers)]
    for nb, fs in _group_by(rest, lambda f: f.get("notebook_title") or "other figures").items():
        s.children.append(Section("fig-" + re.sub(r"[^a-z0-9]+", "-", nb.lower()).strip("-"), nb,
                                  [figure_block(run, f) for f in fs]))
    return s if (s.blocks or s.children) else None


def _group_by(items: Iterable, key) -> dict:
    out: dict = {}
    for x in items:
        out.setdefault(key(x), []).append(x)
    return out


def stand_ins_section(run: Run) -> Section:
    """Every offline substitution and limit of the run, with where it shows."""
    s = Section("stand-ins", "Stand-ins and limits")
    items: list[tuple[str, str, str]] = []   # (what, where, detail)
    rows = run.rows

    def where(sel: pd.DataFrame) -> str:
        parts = []
        for (p, t), g in sel.groupby(["paper", "table"], sort=False):
            cols = ", ".join(dict.fromkeys(METRIC_LABELS.get(m, m) for m in g["metric"]))
            parts.append(f"{p} {t} ({cols}; {len(g)} numbers)")
        return "; ".join(parts)

    # stages whose parameters name a stand-in (perceptual / texture terms of the losses)
    stand_stages: dict[str, dict[str, list[str]]] = {}
    for m in run.manifests:
        for k, v in (m.get("params") or {}).items():
            if isinstance(v, str) and v.lower().startswith("stand-in"):
                head, _, why = v.partition(";")
                stand_stages.setdefault(k, {}).setdefault(head.strip(), []).append(m["name"])
    for k, variants in stand_stages.items():
        stages = [x for v in variants.values() for x in v]
        sel = rows[rows["stage"].isin(stages)]
        detail = "; ".join(f"{v} ({len(st)} stages: {', '.join(st[:8])}{' ...' if len(st) > 8 else ''})"
                           for v, st in variants.items())
        items.append((f"{k} term of the training losses: a pixel-space stand-in (VGG19 ImageNet weights absent)",
                      where(sel) or "no table row", detail))
    for pat, what, also_nan in ((r"LPIPS.*unavailable", "LPIPS unavailable: ImageNet AlexNet/VGG16 backbones absent", True),
                                (r"weights absent", "released checkpoints absent", True),
                                (r"desktop CPU proxy", "latency: desktop-CPU proxy, not mobile latency", False),
                                (r"shrunk", "models shrunk for this profile (named in the note)", False),
                                (r"^pending", "pending rows (another issue fills them)", True)):
        sel = rows[rows["note"].str.contains(pat, case=False, regex=True)]
        if also_nan:
            sel = sel[sel["value"].isna()]
        if len(sel):
            items.append((what, where(sel), reason_label(sel["note"].iloc[0])))
    if run.cfg is not None and run.cfg.name != "paper":
        dm = dataset_map(run.cfg)
        items.insert(0, (f"datasets: the {run.profile} profile's photos, not the papers' benchmarks",
                         "every quality column (PSNR, SSIM, LPIPS) of every paper table",
                         "; ".join(f"{describe_set(run.cfg, o)} stands in for {t}" for o, t in dm.items())
                         + f"; training on {', '.join(run.cfg.data.train_sets)}, validation {run.cfg.data.val_set}"))
        trained = [m["name"] for m in run.manifests if isinstance(m.get("params"), dict) and "total" in m["params"]]
        items.insert(1, (f"models and schedules shrunk at {run.profile}",
                         "every trained model's row (its note gives the architecture and iterations)",
                         f"{len(trained)} training stages; widths and iterations in srlib/profiles/{run.profile}.yaml"))
    body = [[Cell(a, header=True), Cell(b), Cell(c)] for a, b, c in items]
    s.blocks.append(Table(head=[Cell("substitution or limit", header=True), Cell("where it shows", header=True),
                                Cell("detail", header=True)],
                          body=body or [[Cell("none: this run used no stand-in"), Cell(""), Cell("")]], id="t-stand-ins"))
    return s


def plan_section(run: Run, plan_obj: Any) -> Section:
    s = Section("plan", "Plan: the paper profile")
    if plan_obj is None:
        s.blocks.append(Text("The plan could not be built (see the log); `srlib plan --profile paper` prints it."))
        return s
    from . import plan as plan_mod

    s.blocks.append(Text(plan_mod.basis_text(plan_obj)))
    body = []
    for st in plan_obj.stages:
        body.append([Cell(st.paper, header=True), Cell(st.name), Cell(st.kind), Cell(st.what),
                     Cell(plan_mod.fmt_int(st.iterations), cls="num"), Cell(plan_mod.fmt_int(st.batch), cls="num"),
                     Cell(st.patch, cls="num"), Cell(st.cached, cls="ok" if st.cached == "cached" else ""),
                     Cell(plan_mod.fmt_hours(st.gpu_hours), cls="num")])
    s.blocks.append(Table(head=[Cell(x, header=True) for x in ("paper", "stage", "kind", "what", "iterations", "batch",
                                                               "LR patch", "cached", "GPU-h (est.)")],
                          body=body, id="t-plan", collapsed=f"every stage ({len(plan_obj.stages)})"))
    tot = plan_obj.totals()
    s.blocks.append(Table(head=[Cell(x, header=True) for x in ("", "our estimate (GPU-h)", "paper")],
                          body=[[Cell(k, header=True), Cell(plan_mod.fmt_hours(v), cls="num"), Cell(p)]
                                for k, v, p in tot], id="t-plan-totals"))
    return s


def appendix_section(run: Run) -> Section:
    s = Section("appendix", "Run details")
    for stem, t in run.tables.items():
        s.blocks.append(raw_table(t, f"tables/{stem}.csv ({len(t)} rows)", f"tables/{stem}.csv"))
    body = [[Cell(m["name"], header=True), Cell(f"{m.get('wall_s', 0):.1f}", cls="num"),
             Cell((m.get("params") or {}).get("precision", "") if isinstance(m.get("params"), dict) else ""),
             Cell(m.get("device", "")), Cell((m.get("end") or "")[:19])] for m in run.manifests]
    s.blocks.append(Table(head=[Cell(x, header=True) for x in ("stage", "wall s (when it ran)", "precision", "device",
                                                               "finished")],
                          body=body or [[Cell("no stage manifests")] + [Cell("")] * 4],
                          collapsed=f"stage manifests ({len(run.manifests)})", id="t-stages"))
    return s


def raw_table(t: pd.DataFrame, what: str, link: str = "") -> Table:
    body = []
    for r in t.itertuples(index=False):
        body.append([Cell(_sig(r.value) if c == "value" else ("" if pd.isna(getattr(r, c)) else str(getattr(r, c))),
                          cls="num" if c == "value" else "") for c in results.COLUMNS])
    return Table(head=[Cell(c, header=True) for c in results.COLUMNS], body=body, collapsed=what, cls="raw",
                 md_link=link)


# ------------------------------------------------------------------------------------------------------
# Assembling and rendering
# ------------------------------------------------------------------------------------------------------
def build_sections(run: Run, plan_obj: Any = None) -> list[Section]:
    papers = papers_present(run)
    comps = {p: compare_paper(run, p) for p in papers}
    sections = [header_section(run), summary_section(run, comps)]
    sections += [paper_section(run, p, comps[p], run.figures) for p in papers]
    for extra in (released_section(run), training_section(run), shared_section(run, run.figures, papers)):
        if extra is not None:
            sections.append(extra)
    sections += [stand_ins_section(run), plan_section(run, plan_obj), appendix_section(run)]
    return sections


def _walk(sections: Sequence[Section], depth: int = 0):
    for s in sections:
        yield s, depth
        yield from _walk(s.children, depth + 1)


CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1d1d1f;line-height:1.4}
main{max-width:1400px;margin:0 auto;padding:1em 2em 4em}
nav{position:sticky;top:0;background:#f6f6f8;border-bottom:1px solid #ddd;padding:.4em 2em;font-size:13px;z-index:5}
nav a{margin-right:1em;color:#0a58ca;text-decoration:none}
h1{font-size:1.6em;margin:.6em 0 .2em}h2{border-bottom:2px solid #ddd;padding-bottom:.2em;margin-top:2em}
h3{margin-top:1.6em}h4{margin-top:1.2em}
table{border-collapse:collapse;font-size:12.5px;margin:.5em 0;width:auto}
th,td{border:1px solid #d0d0d5;padding:3px 6px;vertical-align:top;text-align:left}
thead th{background:#f0f0f4;position:sticky;top:2.1em}
td.num,.num{text-align:right;font-variant-numeric:tabular-nums}
table.facts th{width:9em;background:#f7f7f9}table.facts thead{display:none}
.conv{font-weight:normal;font-size:10.5px;color:#555;max-width:16em}
.plabel{font-size:10.5px;color:#666}
td.cmp{font-variant-numeric:tabular-nums;white-space:nowrap;min-width:5.5em}
.cmp span{display:block}.cmp .pv{color:#333}.cmp .ov{font-weight:600}.cmp .dv{font-size:11px}
.cmp small{font-weight:normal;color:#555}
.cmp.ok{background:#e7f6e9}.cmp.off{background:#fdf0d5}
.cmp.nc{background:repeating-linear-gradient(45deg,#f4f4f6,#f4f4f6 6px,#ececf0 6px,#ececf0 12px);color:#666}
.cmp.nc .ov{font-weight:500}.cmp.na .ov,.cmp.pend .ov{color:#b02a37}.cmp.nm .ov{color:#999}
.cmp.oo{background:#eef3fb}span.cmp{display:inline-block;border:1px solid #ccc;padding:0 .3em;margin:0 .2em}
.v{display:inline-block;padding:1px 6px;border-radius:10px;font-weight:600;font-size:12px;margin:1px;white-space:nowrap}
.v.yes{background:#d1f0d6;color:#0f5132}.v.no{background:#f8d7da;color:#842029}
.v.maybe{background:#fff3cd;color:#7a5b00}.v.nm{background:#e2e3e5;color:#41464b}.v.other{background:#dbe7fb;color:#084298}
td.ok{background:#e7f6e9}td.off{background:#fdf0d5}
td.evidence,td.src{font-size:11px;color:#444;max-width:40em}
caption{caption-side:bottom;text-align:left;font-size:11.5px;color:#555;padding:.3em 0;max-width:1100px}
.notes{font-size:11.5px;color:#555;margin:.2em 0 1em}
figure{margin:1em 0 2em}figure img{max-width:min(100%,900px);border:1px solid #ddd}
figcaption{font-size:12.5px;color:#333;max-width:1000px}
details summary{cursor:pointer;color:#0a58ca;font-size:11.5px}
details p{font-size:11.5px;max-width:40em;white-space:normal;margin:.2em 0}
.legend{font-size:12.5px}table.raw{font-size:11px}
"""

RENDER_JS = """
window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.images);
  var broken = imgs.filter(function (i) { return !(i.complete && i.naturalWidth > 0); }).map(function (i) { return i.alt; });
  var tables = Array.prototype.slice.call(document.querySelectorAll('table[data-check]'));
  var empty = tables.filter(function (t) { return t.tBodies.length == 0 || t.tBodies[0].rows.length == 0; })
                    .map(function (t) { return t.id; });
  var want = JSON.parse(document.getElementById('expected').textContent);
  var missing = want.sections.filter(function (id) { return !document.getElementById(id); });
  var out = document.createElement('script');
  out.type = 'application/json'; out.id = 'render-result';
  out.textContent = JSON.stringify({images: imgs.length, expected_images: want.figures, broken: broken,
                                    tables: tables.length, empty: empty, missing_sections: missing});
  document.body.appendChild(out);
});
"""


def render_html(run: Run, sections: list[Section]) -> str:
    title = f"srlib — {run.profile} results"
    nav = " ".join(f"<a href='#{s.id}'>{_e(s.title)}</a>" for s in sections)
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{_e(title)}</title>"
             f"<meta name='viewport' content='width=device-width, initial-scale=1'><style>{CSS}</style></head><body>",
             f"<nav>{nav}</nav><main><h1>{_e(title)}</h1>"]
    expected = {"sections": [s.id for s, _ in _walk(sections)],
                "figures": sum(isinstance(b, Figure) for s, _ in _walk(sections) for b in s.blocks)}
    for s, depth in _walk(sections):
        h = min(2 + depth, 5)
        parts.append(f"<section id='{_e(s.id)}'><h{h}>{_e(s.title)}</h{h}>")
        for b in s.blocks:
            parts.append(_html_block(b))
        parts.append("</section>")
    parts.append(f"<script type='application/json' id='expected'>{json.dumps(expected)}</script>")
    parts.append(f"<script>{RENDER_JS}</script></main></body></html>")
    return "\n".join(parts)


def _html_block(b: Any) -> str:
    if isinstance(b, Text):
        return b.html if b.html is not None else f"<p>{_md_inline(b.md)}</p>"
    if isinstance(b, Figure):
        data = base64.b64encode(b.path.read_bytes()).decode()
        return (f"<figure id='fig-{_e(b.name)}'><img alt='{_e(b.name)}' src='data:image/png;base64,{data}'>"
                f"<figcaption><b>{_e(b.name)}</b> — {_e(b.caption)}</figcaption></figure>")
    if isinstance(b, Table):
        head = "".join(f"<th title='{_e(c.title)}'>{c.h()}</th>" if c.title else f"<th>{c.h()}</th>" for c in b.head)
        rows = []
        for r in b.body:
            cells = []
            for c in r:
                tag = "th" if c.header else "td"
                attrs = (f" class='{_e(c.cls)}'" if c.cls else "") + (f" title='{_e(c.title)}'" if c.title else "")
                cells.append(f"<{tag}{attrs}>{c.h()}</{tag}>")
            rows.append("<tr>" + "".join(cells) + "</tr>")
        cap = f"<caption>{_md_inline(b.caption)}</caption>" if b.caption else ""
        tid = f" id='{_e(b.id)}'" if b.id else ""
        t = (f"<table{tid} data-check='1' class='{_e(b.cls)}'>{cap}<thead><tr>{head}</tr></thead><tbody>"
             + "".join(rows) + "</tbody></table>")
        if b.notes:
            t += "<div class='notes'>" + "<br>".join(_e(n) for n in b.notes) + "</div>"
        if b.collapsed:
            t = f"<details><summary>{_e(b.collapsed)}</summary>{t}</details>"
        return t
    raise TypeError(type(b))


def _md_inline(s: str) -> str:
    """The little Markdown our texts use (``code``, **bold**) as HTML."""
    s = _e(s)
    s = re.sub(r"`([^`]+)`", r"<code>\1</code>", s)
    return re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", s)


def render_markdown(run: Run, sections: list[Section]) -> str:
    out = [f"# srlib — {run.profile} results", "",
           "Also as `report.html` (self-contained, with hover notes and row notes one click away).", ""]
    out.append(" · ".join(f"[{s.title}](#{_anchor(s.title)})" for s in sections))
    out.append("")
    for s, depth in _walk(sections):
        out.append("#" * min(2 + depth, 6) + " " + s.title)
        out.append("")
        for b in s.blocks:
            out += _md_block(b)
            out.append("")
    return "\n".join(out).rstrip() + "\n"


def _anchor(title: str) -> str:
    return re.sub(r"[^\w\- ]", "", title.lower()).strip().replace(" ", "-")


def _md_block(b: Any) -> list[str]:
    if isinstance(b, Text):
        return [b.md]
    if isinstance(b, Figure):
        return [f"![{b.name}](figures/{b.path.name})", "", f"*{b.name}* — {b.caption}"]
    if isinstance(b, Table):
        if b.md_link:
            return [f"- [{b.md_link}]({b.md_link}) — {b.collapsed or ''}"]
        lines = []
        if b.collapsed:
            lines += ["<details><summary>" + html.escape(b.collapsed) + "</summary>", ""]
        heads = [_md(c.text) for c in b.head]
        if not any(heads):
            heads = [" "] * len(b.head)
        lines.append("| " + " | ".join(heads) + " |")
        lines.append("|" + "|".join("---" for _ in b.head) + "|")
        for r in b.body:
            lines.append("| " + " | ".join((f"**{_md(c.text)}**" if c.header and c.text else
                                            (c.text if "\\|" in c.text else _md(c.text))) for c in r) + " |")
        if b.caption:
            lines += ["", b.caption]
        if b.md_caption:
            lines += ["", b.md_caption]
        if b.notes:
            lines += [""] + [f"- {n}" for n in b.notes]
        if b.collapsed:
            lines += ["", "</details>"]
        return lines
    raise TypeError(type(b))


def build(profile: str, *, plan_timing: str = "cached", log=print) -> tuple[Path, Path]:
    """Write ``report.html`` and ``report.md`` for ``profile``; returns their paths.

    ``plan_timing``: "cached" (the plan section uses the machine's step timings if measured, else says so),
    "measure" (time the steps now if not cached) or "off" (no plan section estimates)."""
    run = collect(profile)
    plan_obj = None
    try:
        from . import plan as plan_mod

        plan_obj = plan_mod.build_plan("paper", timing=plan_timing, results_profile=None, log=log)
    except Exception as e:  # the page must not die on the plan; it says so
        log(f"report: plan section skipped: {type(e).__name__}: {e}")
    sections = build_sections(run, plan_obj)
    html_path = io.write_text(run.root / "report.html", render_html(run, sections))
    md_path = io.write_text(run.root / "report.md", render_markdown(run, sections))
    return html_path, md_path


# ------------------------------------------------------------------------------------------------------
# Headless Chromium check
# ------------------------------------------------------------------------------------------------------
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")


def find_chromium() -> str | None:
    env = os.environ.get("SRLIB_CHROMIUM")
    if env:
        return env if Path(env).exists() or shutil.which(env) else None
    return next((shutil.which(n) for n in CHROMIUM_NAMES if shutil.which(n)), None)


def render_check(html_path: str | Path, *, chromium: str | None = None, timeout: float = 90,
                 screenshot: str | Path | None = None) -> dict:
    """Open ``html_path`` in headless Chromium and report what the page's own check script saw once
    loaded: ``images`` / ``expected_images`` / ``broken`` (figures that did not decode), ``tables`` /
    ``empty`` (tables without a body row), ``missing_sections`` (section ids listed by the builder but
    absent). ``ok`` is True when every figure the builder placed decoded and nothing is empty or missing.
    Raises FileNotFoundError when no Chromium is installed."""
    exe = chromium or find_chromium()
    if exe is None:
        raise FileNotFoundError("no headless Chromium found (apt-get install chromium, or set SRLIB_CHROMIUM)")
    url = Path(html_path).resolve().as_uri()
    with tempfile.TemporaryDirectory(prefix="srlib-chromium-") as prof:
        base = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--no-first-run", f"--user-data-dir={prof}", "--virtual-time-budget=20000"]
        out = subprocess.run(base + ["--dump-dom", url], capture_output=True, text=True, timeout=timeout)
        if screenshot:
            subprocess.run(base + ["--window-size=1400,2400", f"--screenshot={Path(screenshot).resolve()}", url],
                           capture_output=True, text=True, timeout=timeout)
    m = re.search(r'<script type="application/json" id="render-result">(.*?)</script>', out.stdout, re.S)
    if not m:
        return {"ok": False, "error": "the page's check script did not run (no render-result in the DOM)",
                "stderr": out.stderr[-2000:], "returncode": out.returncode}
    res = json.loads(html.unescape(m.group(1)))
    res["ok"] = (not res["broken"] and not res["empty"] and not res["missing_sections"]
                 and res["images"] == res["expected_images"])
    res["chromium"] = exe
    return res
