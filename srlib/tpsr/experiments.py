"""TPSR's figures and tables as tidy rows, assembled from the cached stages (what notebooks 30-32 call).

- :func:`search_frame` / :func:`search_rows` -- the generator search (Alg. 1 line 25) and the
  discriminator search (line 31) step by step: metric, reward, best so far, rejected share, wall time,
  candidates per minute.
- :func:`study` / :func:`fig3_rows` -- Fig. 3: the ``top_k`` searched Ds, SRGAN's and ESRGAN's (RaGAN) each
  fine-tuning TPSR-NOGAN ``runs`` times; every run measured on the test sets; the run with the best final
  validation perceptual metric gives the figure's number, the weighted average over the test sets by image
  count (:func:`weighted_average`); JAGAN a row without a number (architecture not public).
- :func:`table1_rows` -- Table 1: ESRGAN, SRGAN, EnhanceNet, FEQE (srlib.baselines) and TPSR-D2 (ours: TPSR
  with the searched D whose best run scores best on validation), params and Mult-Adds on the full paper
  architectures (TPSR's convention), PSNR / LPIPS / PI per test set; the authors' released TPSR weights
  (srlib.weights) as extra rows; :func:`compare_table1` sets the printed numbers beside ours.

No training here beyond the stages it chains; no plots. The perceptual metric is LPIPS v0.1 VGG when its
weights are present, else the labelled GMSD stand-in (:mod:`srlib.tpsr.perceptual_reward`), under its own
metric name. NIQE and PI are rows with an empty value and :data:`NIQE_REASON`.
"""
from __future__ import annotations

import importlib.util
from typing import Mapping

import numpy as np
import pandas as pd

from .. import baselines, data, io, pipeline, report, results
from ..complexity.conventions import convention, printed_flops, printed_params
from ..complexity.counters import measure
from ..metrics.conventions import metric_convention
from ..metrics.evaluate import evaluate_rows
from ..models import build
from ..training import loop
from ..training.runs import eval_device, load_model
from . import perceptual_reward, stages
from .cell import TPSRGenerator

PAPER = "tpsr"
METRICS = metric_convention(PAPER)          # PSNR on Y (shave 4); LPIPS v0.1 VGG on RGB
TABLE1 = ("esrgan", "srgan", "enhancenet", "feqe", "tpsr")
RELEASED = ("tpsr_nogan", "tpsr_esrgan", "tpsr_d2")
JAGAN_NOTE = ("JAGAN (Chen et al., ACM MM 2019): the joint-attention discriminator's architecture is not "
              "public (shared/notes/tpsr.md); not trained, no number")
NIQE_REASON = ("unavailable: no faithful offline implementation here -- NIQE needs the pristine-image model of "
               "Mittal et al. 2013 and PI also Ma et al.'s learned regressors; scikit-image has neither and "
               "pyiqa is {pyiqa}; not estimated")


def niqe_reason() -> str:
    return NIQE_REASON.format(pyiqa="installed but unverified here" if importlib.util.find_spec("pyiqa")
                              else "not installed")


# ---- search curves -----------------------------------------------------------------------------------------
def search_frame(stage: pipeline.StageResult) -> pd.DataFrame:
    """One line per sampled candidate of a search stage (history.json): status, step, metric, reward,
    best so far (of the search's ``metric``, higher is better), seconds."""
    hist = io.read_json(stage.path("history.json"))
    df = pd.DataFrame(hist)
    if "step" not in df:
        df["step"] = np.nan
    tr = df.status == "trained"
    df["best_so_far"] = df["metric"].where(tr).cummax() if "metric" in df else np.nan
    return df


def search_rows(profile, stage: pipeline.StageResult, kind: str, seed: int) -> list[dict]:
    """Tidy rows of a search: per trained step (``search_<kind>`` table, dataset = the validation set)
    the metric and reward and the best so far; then totals: candidates trained / rejected, rejected share,
    wall time and candidates per minute (sampled and trained)."""
    df = search_frame(stage)
    table, val = f"search_{kind}", profile.data.val_set
    name = "proxy_psnr" if kind == "g" else stage["metric"]
    sign, unit = (1.0, "dB") if kind == "g" else (-1.0, "")
    common = dict(paper=PAPER, table=table, model=f"search_{kind}", profile=profile.name, seed=seed, stage=stage.name)
    rows = []
    for r in df[df.status == "trained"].itertuples():
        for metric, value, u in ((name, sign * r.metric, unit), ("reward", r.reward, ""),
                                 (f"best_{name}_so_far", sign * r.best_so_far, unit)):
            rows.append(results.row(**common, dataset=val, metric=metric, value=value, unit=u,
                                    note=f"step {int(r.step)}"))
    wall = float(stage.manifest.get("wall_s") or 0.0)
    n, n_tr = len(df), int((df.status == "trained").sum())
    totals = (("candidates_trained", n_tr, ""), ("candidates_rejected", n - n_tr, ""),
              ("rejected_share", (n - n_tr) / n if n else None, ""), ("wall_time", wall, "s"),
              ("candidates_per_min", 60 * n / wall if wall else None, "1/min"),
              ("trained_per_min", 60 * n_tr / wall if wall else None, "1/min"))
    for metric, value, u in totals:
        rows.append(results.row(**common, metric=metric, value=value, unit=u,
                                note="" if value is not None else "no wall time recorded"))
    return rows


# ---- evaluation on the test sets ------------------------------------------------------------------------------
def quality_rows(profile, model_id: str, res: pipeline.StageResult, table: str, seed: int,
                 no_ref: str = "pi") -> list[dict]:
    """PSNR/SSIM/LPIPS-VGG (TPSR's convention) of a trained generator on every test set; where LPIPS is
    unavailable also the labelled stand-in metric; ``no_ref`` ("pi" or "niqe") as a row without a value.
    A cached stage per (table, model stage)."""
    metric = perceptual_reward.perceptual_metric("cpu")
    params = {"model": [res.name, res.key], "test_sets": list(profile.data.test_sets), "table": table,
              "eval": profile.to_dict()["eval"], "max_eval_hr": profile.data.max_eval_hr, "model_id": model_id,
              "metric": metric.name, "no_ref": no_ref}

    def run(ctx):
        dev = eval_device(profile)
        G = load_model(res, "G").to(dev)
        sets = data.test_sets(profile)
        rows = evaluate_rows(G, sets, model_name=model_id, paper=PAPER, table=table, profile=profile, seed=seed,
                             stage=res.name, convention=METRICS, device=dev)
        m = perceptual_reward.perceptual_metric(dev)
        for set_name, pairs in sets.items():
            common = dict(paper=PAPER, table=table, model=model_id, dataset=set_name, profile=profile.name,
                          seed=seed, stage=res.name)
            if not m.is_paper_metric:
                val = perceptual_reward.validation_score(G, [p.tensors() for p in pairs], m)
                rows.append(results.row(**common, metric=m.name, value=val, note=m.note))
            rows.append(results.row(**common, metric=no_ref, value=None, note=niqe_reason()))
        io.write_json(ctx.path("rows.json"), rows)
        return {"rows": "rows.json"}

    ev = pipeline.stage(f"eval_tpsr_{table}_{res.name}", params, run, profile=profile.name, seed=seed,
                        code=[evaluate_rows, perceptual_reward])
    return io.read_json(ev.path("rows.json"))


def image_counts(profile) -> dict[str, int]:
    """{test set: number of images} (Fig. 3's weights)."""
    return {k: len(v) for k, v in data.test_sets(profile).items()}


def weighted_average(values: Mapping[str, float], counts: Mapping[str, int]) -> float:
    """Fig. 3: the mean over test sets weighted by their number of images, sum_s n_s v_s / sum_s n_s (= the
    mean over all test images of per-image means when each v_s is a per-set mean). NaN if any is missing."""
    missing = set(values) ^ set(counts)
    if missing:
        raise KeyError(f"values and counts cover different sets: {sorted(missing)}")
    v = np.array([values[k] for k in counts], float)
    n = np.array([counts[k] for k in counts], float)
    if np.isnan(v).any() or n.sum() <= 0:
        return float("nan")
    return float((v * n).sum() / n.sum())


# ---- Fig. 3 ------------------------------------------------------------------------------------------------
def study(profile, seed: int = 0) -> dict[str, list[pipeline.StageResult]]:
    """{label: [run stages]} for every discriminator of Fig. 3 (d1.. then srgan, esrgan)."""
    return {label: [stages.d_study_run(profile, label, spec, kind, r, seed) for r in range(profile.tpsr.d_study.runs)]
            for label, (spec, kind) in stages.study_discriminators(profile, seed).items()}


def final_validation(res: pipeline.StageResult) -> dict[str, float]:
    """The last logged validation PSNR and perceptual metric of a study run."""
    df = loop.read_metrics(res.dir)
    out = {}
    for k in ("val_psnr", "val_perceptual"):
        s = df[k].dropna() if k in df else pd.Series(dtype=float)
        out[k] = float(s.iloc[-1]) if len(s) else float("nan")
    return out


def d_complexity(spec: dict, hr: int = 128) -> tuple[float, float, str]:
    """(params in K, MACs in G, what) of a discriminator at paper scale on a ``hr`` x ``hr`` input: searched Ds
    at the paper-scale base width (``d_search.base_channels`` of paper.yaml, n = 16), SRGAN's / ESRGAN's at
    the papers' 64 channels (mini/smoke train narrower ones: their profile says so)."""
    from .config import DSearchConfig

    kw = dict(spec.get("kw", {}))
    width = ("base_channels", DSearchConfig().base_channels) if spec["name"] == "tpsr_d" else ("num_feat", 64)
    kw.update({width[0]: width[1], "input_size": hr})
    m = build(spec["name"], **kw)
    c = measure(m, (hr, hr), bias=True)
    return (c.params_all / 1e3, c.macs / 1e9,
            f"{spec['name']} at paper width ({width[0]} {width[1]}), {hr}x{hr} input, MACs incl. bias adds")


def fig3_rows(profile, runs: Mapping[str, list[pipeline.StageResult]], seed: int = 0) -> list[dict]:
    """Every run's final validation scores and test scores (table ``fig3_runs``), then per D the best run's
    weighted average over the test sets (table ``fig3``, dataset ``weighted_avg``), its params/MACs, JAGAN."""
    counts = image_counts(profile)
    specs = stages.study_discriminators(profile, seed)
    out = []
    for label, rs in runs.items():
        vals = [final_validation(r) for r in rs]
        best = int(np.nanargmin([v["val_perceptual"] for v in vals])) if not all(
            np.isnan(v["val_perceptual"]) for v in vals) else 0
        for i, (r, v) in enumerate(zip(rs, vals)):
            common = dict(paper=PAPER, model=f"tpsr_{label}", profile=profile.name, seed=i, stage=r.name)
            for metric, value, unit in (("val_psnr", v["val_psnr"], "dB"), ("val_perceptual", v["val_perceptual"], "")):
                out.append(results.row(**common, table="fig3_runs", dataset=profile.data.val_set, metric=metric,
                                       value=value, unit=unit, note="best run" if i == best else ""))
            q = quality_rows(profile, f"tpsr_{label}", r, "fig3_runs", i, no_ref="niqe")
            out += q
            if i == best:
                for metric in dict.fromkeys(x["metric"] for x in q):
                    per = {x["dataset"]: x["value"] for x in q if x["metric"] == metric}
                    notes = "; ".join(dict.fromkeys(x["note"] for x in q if x["metric"] == metric and x["note"]))
                    val = weighted_average({k: np.nan if v is None else v for k, v in per.items()}, counts)
                    out.append(results.row(
                        **{**common, "seed": i}, table="fig3", dataset="weighted_avg", metric=metric, value=val,
                        unit="dB" if metric == "psnr" else "",
                        note=f"best of {len(rs)} runs by validation; weighted by image count {counts}; {notes}"))
        params, macs, what = d_complexity(specs[label][0])
        for metric, value, unit in (("d_params", params, "K"), ("d_macs", macs, "G")):
            out.append(results.row(paper=PAPER, table="fig3", model=f"tpsr_{label}", metric=metric, value=value,
                                   unit=unit, profile=profile.name, note=what))
    for metric in ("psnr", perceptual_reward.perceptual_metric("cpu").name, "niqe", "d_params"):
        out.append(results.row(paper=PAPER, table="fig3", model="tpsr_jagan", dataset="" if metric == "d_params"
                               else "weighted_avg", metric=metric, value=None, profile=profile.name, note=JAGAN_NOTE))
    return out


def best_searched(rows: list[dict]) -> str:
    """The searched D (label) whose best run has the lowest final validation perceptual metric: our "TPSR-D2"."""
    df = results.frame(rows)
    v = df[(df.table == "fig3_runs") & (df.metric == "val_perceptual") & df.model.str.match(r"tpsr_d\d+$")]
    return v.groupby("model").value.min().idxmin().removeprefix("tpsr_")


# ---- Table 1 -----------------------------------------------------------------------------------------------
def complexity_rows(profile, model_id: str, model) -> list[dict]:
    conv = convention(PAPER, "table1")
    note = "full paper architecture; TPSR Table 1 convention (Mult-Adds incl. bias adds, 1280x720 output, x4)"
    return [results.row(paper=PAPER, table="table1", model=model_id, metric=m, value=v, unit=u,
                        profile=profile.name, note=note)
            for m, v, u in (("params", printed_params(model, conv), "K"), ("flops_printed", printed_flops(model, conv), "G"))]


def table1_rows(profile, runs: Mapping[str, list[pipeline.StageResult]], fig3: list[dict], seed: int = 0) -> list[dict]:
    """Table 1 for ours (quality on every test set + complexity), plus TPSR-NOGAN (ours) and the released
    TPSR weights (models ``<name>_released``; "weights absent" + the fetch command when missing)."""
    from ..weights import evaluation

    d2 = best_searched(fig3)
    best = {r["model"]: r["seed"] for r in fig3 if r["table"] == "fig3" and r["dataset"] == "weighted_avg"}
    models = {name: baselines.reference(profile, name, seed) for name in TABLE1[:-1]}
    models["tpsr"] = runs[d2][best[f"tpsr_{d2}"]]
    models["tpsr_nogan_ours"] = stages.tpsr_nogan(profile, seed)
    rows = []
    for mid, res in models.items():
        rows += quality_rows(profile, mid, res, "table1", seed, no_ref="pi")
    geno = tuple(map(tuple, models["tpsr"].manifest["params"]["models"]["G"]["kw"]["genotype"]))
    for name in TABLE1[:-1]:
        rows += complexity_rows(profile, name, build(name))
    rows += complexity_rows(profile, "tpsr", TPSRGenerator(num_feat=16, genotype=geno, scale=4))
    for r in rows:
        if r["model"] == "tpsr" and r["metric"] not in ("params", "flops_printed"):
            r["note"] = "; ".join(x for x in (f"ours: TPSR with searched D '{d2}' (best run)", r["note"]) if x)
    for r in evaluation.released_rows(profile, RELEASED, bicubic=False):
        if r["metric"] == "ssim" or r["metric"].startswith("lpips_alex"):
            continue
        rows.append({**r, "paper": PAPER, "table": "table1", "model": f"{r['model']}_released"})
    return rows


def compare_table1(ours: pd.DataFrame, profile) -> pd.DataFrame:
    """The printed Table 1 (srlib/reference/tpsr.csv) beside ours, with the difference. At mini/smoke our
    single test split stands where Set5 is printed (the ``our_dataset`` column says so)."""
    dmap = {profile.data.test_sets[0]: "Set5"} if profile.data.source != "paper" else {}
    return report.compare(ours, PAPER, "table1", dataset_map=dmap, metric_map={"lpips_vgg": "lpips"})


def per_run(rows: list[dict], metric: str, counts: Mapping[str, int]) -> pd.DataFrame:
    """Every study run's test score of ``metric``, weighted over the test sets by image count: columns
    discriminator, run, value (Fig. 3's spread over runs; the claims pair runs by their seed)."""
    df = results.frame(rows)
    df = df[(df.table == "fig3_runs") & (df.metric == metric) & df.dataset.isin(list(counts))]
    out = [{"discriminator": m.removeprefix("tpsr_"), "run": int(s),
            "value": weighted_average(dict(zip(g.dataset, g.value)), counts)}
           for (m, s), g in df.groupby(["model", "seed"])]
    return pd.DataFrame(out, columns=["discriminator", "run", "value"])
