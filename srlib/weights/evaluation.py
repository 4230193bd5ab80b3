"""The authors' released checkpoints on the profile's test sets, beside the papers' printed numbers.

The suite's check that its metrics, its bicubic LR and its module mappings agree with the papers
(notebook ``02_released_weights``, table ``released_weights.csv``):

* :func:`released_rows` -- for every entry of :data:`srlib.weights.released.RELEASED`, either the cached
  stage ``released_<name>`` (keyed by the file's sha256, the profile's data/eval settings and the code)
  that evaluates the strictly loaded model on every test set of the profile with
  :func:`srlib.metrics.evaluate.evaluate_rows` (PSNR/SSIM on Y of BT.601 with a ``scale`` shave on the
  8-bit output, LPIPS where its backbones are present), or rows with an empty value and the reason
  (``weights absent: python -m srlib.weights fetch NAME``; ESRGAN: where to place the file). Plus the
  bicubic rows of the same sets (cached stage ``released_bicubic``).
* :func:`paper_vs_ours` -- every printed number of a released model (via :mod:`srlib.reference` and
  :func:`srlib.report.compare`) with ours and the difference where our dataset *is* the printed one
  (``paper`` profile); at ``mini``/``smoke`` the test split is not Set5, so ours stays empty there and
  the note says so. A PSNR gap above 0.05 dB gets the known convention differences, or "unexplained".
* :func:`summary` -- one line per model and metric: our value on each test set, the difference to
  bicubic, the printed values with their datasets named.
* :func:`check_rows` -- the real-error verdicts: a PSNR-oriented released model more than 1 dB below
  bicubic (or a GAN-trained one more than 3 dB below) means the mapping or the units are wrong.

Measured once by hand (not part of the suite): with the Set5 LR/HR images shipped in royson/tpsr @
7644081 (``input_images/``, ``ground_truth/``), TPSR-D2 gives 29.60 dB (printed 29.60) both on the
authors' LR and on ours, CARN-M 31.88 (printed 31.92), and bicubic 28.43 (the literature's 28.42).
"""
from __future__ import annotations

import math
from typing import Iterable, Sequence

import pandas as pd
import torch

from .. import data, io, pipeline, reference, report, results
from ..metrics import lpips as lp
from ..metrics.evaluate import evaluate_rows
from . import formats, released

TABLE = "released_weights"
PAPER_SETS = ("Set5", "Set14", "B100", "Urban100")
#: Our LPIPS metric standing for each paper's "lpips" (TPSR: VGG variant, sec. 4; MFAGAN: as notebook 11).
METRIC_MAP = {"tpsr": {"lpips_vgg": "lpips"}, "mfagan": {"lpips_alex": "lpips"}, "adasr": {}}
GAP_DB = 0.05
#: Known convention differences that can explain a PSNR gap, per released model (printed rows only).
GAP_EXPLANATIONS = {
    "carn_m": "CARN's sample.py (nmhkahn/CARN-pytorch @ 40d3514) saves outputs truncated to 8 bits "
              "(mul(255).clamp(0,255).byte()), ours rounds; AdaSR Table 1 reprints the CARN paper's CARN-M row "
              "(shared/notes/released_weights.md), measured by the CARN authors on their own LR images",
    "esrgan": "TPSR and MFAGAN ran ESRGAN through their own pipelines (their LR images; MFAGAN does not state "
              "its border shave); the released file may differ from the one each paper evaluated",
}


def _device(profile) -> torch.device:
    if profile.device == "cpu" or not torch.cuda.is_available():
        if profile.device == "cuda":
            raise RuntimeError("profile.device is 'cuda' but no CUDA device is available")
        return torch.device("cpu")
    return torch.device("cuda")


def set_note(profile, set_name: str, pairs: Sequence) -> str:
    """Why a set is not a paper dataset (empty for Set5/Set14/B100/Urban100)."""
    if set_name in PAPER_SETS:
        return ""
    crop = f", {profile.data.max_eval_hr}x{profile.data.max_eval_hr} centre crops" if profile.data.max_eval_hr else ""
    return (f"{profile.name}: test split {set_name} ({', '.join(p.name for p in pairs)}{crop}) is not Set5/Set14/"
            "B100/Urban100; the printed numbers are for reference only, no difference is computed")


def _lpips_state(profile) -> dict:
    return {net: lp.lpips_available(net)[0] for net in profile.eval.lpips_nets}


def released_stage(profile, name: str) -> pipeline.StageResult:
    """Cached stage ``released_<name>``: the released model on every test set of the profile."""
    from .. import models

    s = released.spec(name)
    p = released.path(name)
    sha = released.file_sha256(p)
    model_module = type(models.build(s.model, **dict(s.kwargs)))
    params = {"released": name, "sha256": sha, "model": s.model, "kwargs": dict(s.kwargs),
              "key_format": s.key_format, "wrapper_scale": s.wrapper_scale, "mean_shift": s.mean_shift,
              "data": profile.to_dict()["data"], "eval": profile.to_dict()["eval"], "lpips": _lpips_state(profile)}

    def run(ctx):
        dev = _device(profile)
        model = released.load(name, device=dev)
        rows = []
        for set_name, pairs in data.test_sets(profile).items():
            extra = set_note(profile, set_name, pairs)     # on LPIPS rows too (evaluate_rows keeps only its reason)
            for r in evaluate_rows(model, {set_name: pairs}, model_name=name, paper="common", table=TABLE,
                                   profile=profile, stage=ctx.name, device=dev,
                                   note=f"released {p.name} (sha256 {sha[:12]}), {s.units_short}"):
                rows.append({**r, "note": "; ".join(x for x in (r["note"], extra) if x)})
        io.write_json(ctx.path("rows.json"), rows)
        return {"rows": "rows.json", "n_rows": len(rows), "load_report": model.load_report.to_dict()}

    return pipeline.stage(f"released_{name}", params, run, profile=profile.name,
                          code=[formats, released, evaluate_rows, data, model_module])


def _empty_rows(profile, name: str, reason: str) -> list[dict]:
    rows = []
    for set_name, pairs in data.test_sets(profile).items():
        for metric, unit in [("psnr", "dB"), ("ssim", "")] + [(f"lpips_{n}", "") for n in profile.eval.lpips_nets]:
            rows.append(results.row(paper="common", table=TABLE, model=name, dataset=set_name, metric=metric,
                                    value=None, unit=unit, profile=profile.name,
                                    note="; ".join(x for x in (reason, set_note(profile, set_name, pairs)) if x)))
    return rows


def bicubic_rows(profile) -> list[dict]:
    """Bicubic on the profile's test sets (cached stage ``released_bicubic``; test sets only, so the
    ``paper`` profile needs no DIV2K valid here, unlike notebook 00's ``bicubic_baseline``)."""
    from ..models.bicubic import Bicubic

    def run(ctx):
        rows = []
        for set_name, pairs in data.test_sets(profile).items():
            extra = set_note(profile, set_name, pairs)
            for r in evaluate_rows(Bicubic(profile.data.scale), {set_name: pairs}, model_name="bicubic",
                                   paper="common", table=TABLE, profile=profile, stage=ctx.name,
                                   note="MATLAB bicubic upsampling of the MATLAB-bicubic LR"):
                rows.append({**r, "note": "; ".join(x for x in (r["note"], extra) if x)})
        io.write_json(ctx.path("rows.json"), rows)
        return {"rows": "rows.json", "n_rows": len(rows)}

    params = {"data": profile.to_dict()["data"], "eval": profile.to_dict()["eval"], "lpips": _lpips_state(profile)}
    st = pipeline.stage("released_bicubic", params, run, profile=profile.name, code=[evaluate_rows, data, Bicubic])
    return io.read_json(st.path(st["rows"]))


def released_rows(profile, names: Iterable[str] | None = None, *, bicubic: bool = True) -> list[dict]:
    """Tidy rows of every released model (measured, or empty with the reason) and of bicubic."""
    rows: list[dict] = []
    for name in (list(names) if names is not None else released.names()):
        s = released.spec(name)
        ok, _ = released.available(name)
        if not ok:
            rows += _empty_rows(profile, name, released.absent_note(name))
            continue
        try:
            st = released_stage(profile, name)
        except (formats.StrictLoadError, released.WeightsUnavailable) as e:
            if s.verified:   # a checksummed file that does not fit is our bug, not the user's
                raise
            rows += _empty_rows(profile, name, f"user-placed file refused (not {s.title}?): {e}")
            continue
        rows += io.read_json(st.path(st["rows"]))
    if bicubic:
        rows += bicubic_rows(profile)
    return rows


# --------------------------------------------------------------------------------------------------
# Views
# --------------------------------------------------------------------------------------------------
def _explain(name: str, metric: str, diff: float) -> str:
    if metric != "psnr" or diff is None or (isinstance(diff, float) and math.isnan(diff)) or abs(diff) <= GAP_DB:
        return ""
    known = GAP_EXPLANATIONS.get(name)
    return (f"|difference| {abs(diff):.2f} dB > {GAP_DB}: " +
            (f"known convention differences: {known}" if known else
             "unexplained: the authors' evaluation matches ours (see srlib.weights.released) -- investigate"))


def paper_vs_ours(rows: Iterable[dict], profile) -> pd.DataFrame:
    """Every printed number of a released model beside ours (difference only on the same dataset)."""
    ours = results.frame(rows)
    sets = list(profile.data.test_sets)
    frames = []
    for name in released.names():
        s = released.spec(name)
        mine = ours[ours.model == name]
        for paper, table, ref_model in s.printed:
            cmp = report.compare(mine.assign(model=ref_model), paper, table, metric_map=METRIC_MAP.get(paper))
            cmp = cmp[cmp.model == ref_model].copy()
            cmp.insert(0, "released", name)
            absent = mine.value.isna().all() if len(mine) else True
            notes = []
            for r in cmp.itertuples():
                if absent:
                    notes.append(mine.note.iloc[0].split(";")[0] if len(mine) else "not evaluated")
                elif r.dataset not in sets:
                    notes.append(f"not comparable at {profile.name}: our test sets are {', '.join(sets)}, "
                                 f"the printed value is on {r.dataset}")
                else:
                    notes.append(_explain(name, r.metric, r.difference))
            cmp["note"] = notes
            frames.append(cmp)
    if not frames:
        return pd.DataFrame()
    df = pd.concat(frames, ignore_index=True)
    df = df[df.metric.isin(["psnr", "ssim", "lpips"])].reset_index(drop=True)
    return df[["released", "paper", "table", "model", "dataset", "metric", "unit", "paper_value", "ours",
               "difference", "our_dataset", "convention", "note"]]


def summary(rows: Iterable[dict], profile) -> pd.DataFrame:
    """One line per (model, metric): ours on each test set, vs bicubic (PSNR), the printed values."""
    ours = results.frame(rows)
    sets = list(profile.data.test_sets)
    bic = ours[ours.model == "bicubic"].set_index(["dataset", "metric"]).value
    out = []
    for name in ["bicubic"] + released.names():
        m = ours[ours.model == name]
        if m.empty:
            continue
        s = released.RELEASED.get(name)
        for metric in ("psnr", "ssim"):
            mm = m[m.metric == metric].set_index("dataset")
            rec = {"model": name, "title": s.title if s else "bicubic (ours)", "metric": metric}
            for ds in sets:
                rec[ds] = mm.value.get(ds, float("nan"))
            if metric == "psnr" and s is not None:
                for ds in sets:
                    rec[f"{ds} - bicubic"] = rec[ds] - bic.get((ds, "psnr"), float("nan"))
            printed = []
            for paper, table, ref_model in (s.printed if s else ()):
                ref = reference.load(paper, table)
                ref = ref[(ref.model == ref_model) & (ref.metric == metric)]
                if len(ref):
                    values = ", ".join(f"{r.dataset} {r.value:g}" for r in ref.itertuples())
                    printed.append(f"{paper} {table}: {values}")
            rec["printed (paper datasets)"] = "; ".join(printed) or "-"
            rec["status"] = "measured" if mm.value.notna().any() else (mm.note.iloc[0].split(";")[0] if len(mm) else "")
            out.append(rec)
    return pd.DataFrame(out)


def check_rows(rows: Iterable[dict], profile, psnr_margin: float = 1.0, perceptual_margin: float = 3.0) -> list[str]:
    """Failures that mean our mapping or units are wrong (empty list = none): a measured PSNR-oriented
    released model more than ``psnr_margin`` dB below bicubic on a test set, a GAN-trained one more than
    ``perceptual_margin`` dB below."""
    ours = results.frame(rows)
    psnr = ours[ours.metric == "psnr"]
    bic = psnr[psnr.model == "bicubic"].set_index("dataset").value
    fails = []
    for r in psnr[psnr.model != "bicubic"].dropna(subset=["value"]).itertuples():
        s = released.spec(r.model)
        margin = perceptual_margin if s.perceptual else psnr_margin
        b = bic.get(r.dataset)
        if b is not None and r.value < b - margin:
            fails.append(f"{r.model} on {r.dataset}: {r.value:.2f} dB is {b - r.value:.2f} dB below bicubic "
                         f"({b:.2f}); a {'GAN-trained' if s.perceptual else 'PSNR-oriented'} model this far below "
                         "means the key mapping or the units are wrong")
    return fails
