"""Our tidy results beside the papers' printed numbers, claim verdicts, and the report page.

``compare(ours, paper, table)`` gives one row per printed number of that table with
``paper_value | ours | difference`` and the convention of each; "ours" is the mean over seeds (with
the std and the seed count) and stays empty until an experiment has measured it. At the mini/smoke
profiles our test split is not the paper's dataset: ``dataset_map`` says which of our sets stands in
for which of theirs, and the ``our_dataset`` column shows it, so no number pretends to be on Set5.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from . import config, io, reference, results

COMPARE_COLUMNS = ["paper", "table", "model", "dataset", "metric", "unit", "paper_value", "ours",
                   "ours_std", "n_seeds", "difference", "difference_pct", "our_dataset", "profile",
                   "convention", "our_note", "paper_note"]


def summarize(ours: pd.DataFrame) -> pd.DataFrame:
    """Mean/std/count over seeds of each (model, dataset, metric); missing values keep their note."""
    if ours.empty:
        return pd.DataFrame(columns=["model", "dataset", "metric", "ours", "ours_std", "n_seeds",
                                     "our_unit", "our_note", "profile"])
    g = ours.groupby(["model", "dataset", "metric"], dropna=False, sort=False)
    out = g.agg(ours=("value", "mean"), ours_std=("value", "std"), n_seeds=("value", "count"),
                our_unit=("unit", "first"), profile=("profile", "first"),
                our_note=("note", lambda s: "; ".join(sorted({x for x in s if isinstance(x, str) and x}))))
    return out.reset_index()


def compare(ours: pd.DataFrame, paper: str, table: str | Sequence[str] | None = None,
            dataset_map: Mapping[str, str] | None = None,
            scale: Mapping[str, float] | None = None,
            metric_map: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Join our rows with ``reference.load(paper, table)`` on (model, dataset, metric).

    ``dataset_map``: {our dataset: paper dataset} (e.g. {"skimage_test": "Set5"} at mini).
    ``scale``: {metric: factor} turning our unit into the paper's (e.g. params 1e-6 for "M").
    ``metric_map``: {our metric: paper metric}, e.g. {"lpips_vgg": "lpips"} for TPSR, whose LPIPS is
    the VGG variant; the map is the convention and belongs in the notebook's text.
    """
    ref = reference.load(paper)
    if table is not None:
        tables = [table] if isinstance(table, str) else list(table)
        ref = ref[ref["table"].isin(tables)]
    ours = ours.copy()
    if metric_map:
        ours["metric"] = ours["metric"].map(lambda m: metric_map.get(m, m))
    ours["our_dataset"] = ours["dataset"].fillna("")
    dataset_map = dict(dataset_map or {})
    ours["dataset"] = ours["our_dataset"].map(lambda d: dataset_map.get(d, d))
    summ = summarize(ours.drop(columns=["our_dataset"]))
    ds = ours.drop_duplicates(["model", "dataset", "metric"])[["model", "dataset", "metric", "our_dataset"]]
    summ = summ.merge(ds, on=["model", "dataset", "metric"], how="left")
    for m, f in (scale or {}).items():
        sel = summ["metric"] == m
        summ.loc[sel, ["ours", "ours_std"]] = summ.loc[sel, ["ours", "ours_std"]] * f
    ref = ref.assign(dataset=ref["dataset"].fillna(""))
    summ = summ.assign(dataset=summ["dataset"].fillna(""))
    df = ref.rename(columns={"value": "paper_value", "note": "paper_note"}).merge(
        summ, on=["model", "dataset", "metric"], how="left")
    df["difference"] = df["ours"] - df["paper_value"]
    df["difference_pct"] = 100 * df["difference"] / df["paper_value"].abs()
    df["n_seeds"] = df["n_seeds"].fillna(0).astype(int)
    for c in ("our_note", "our_dataset", "profile"):
        df[c] = df[c].fillna("")
    return df[COMPARE_COLUMNS].reset_index(drop=True)


# ------------------------------------------------------------------------------------------------
# Claims
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Claim:
    paper: str
    claim: str
    verdict: str          # holds | does not hold | inconclusive at this scale | not measured
    evidence: str         # text; an :class:`Evidence` from verdict()/within() also carries its numbers


#: The numbers of a verdict, written beside its evidence text in ``claims_*.csv`` (empty where a claim
#: has none): mean paired difference (in the claim's direction), its std over seeds, the seed count, the
#: interval of the mean, the unit, and the margin (verdict) or tolerance (within).
CLAIM_STATS = ("difference", "std", "n_seeds", "interval_low", "interval_high", "unit", "margin")
CLAIM_COLUMNS = ("paper", "claim", "verdict", "evidence") + CLAIM_STATS


class Evidence(str):
    """The evidence text of a verdict that also carries its numbers (``stats``: :data:`CLAIM_STATS`), so
    the claims table and the report need not parse the text. Behaves as the plain string elsewhere."""

    def __new__(cls, text: str, **stats: float | int | str | None) -> "Evidence":
        obj = super().__new__(cls, text)
        unknown = set(stats) - set(CLAIM_STATS)
        if unknown:
            raise ValueError(f"unknown evidence stats {sorted(unknown)}; valid: {', '.join(CLAIM_STATS)}")
        obj.stats = stats
        return obj


def _interval(d: np.ndarray, confidence: float) -> tuple[float, float, float, float]:
    """Mean, std and the two-sided ``confidence`` interval (Student t) of the paired differences ``d``."""
    from scipy import stats

    n = d.size
    mean, sd = float(d.mean()), float(d.std(ddof=1))
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * sd / np.sqrt(n)
    return mean, sd, mean - half, mean + half


def verdict(a: Iterable[float], b: Iterable[float], higher_is_better: bool = True, *, margin: float = 0.0,
            confidence: float = 0.95, unit: str = "") -> tuple[str, str]:
    """Does A beat B by more than ``margin``? Paired over seeds (A and B in seed order).

    With the differences d = A - B (B - A when lower is better) over n seeds, their mean, std and the
    two-sided ``confidence`` interval of the mean (Student t, n - 1 degrees of freedom):

    * *holds* when the whole interval lies above ``margin``;
    * *does not hold* when it lies below ``-margin`` (A worse than B), or, with ``margin > 0``, inside
      (-margin, margin) (a gain, if any, smaller than the margin);
    * else *inconclusive at this scale*. One seed gives no spread: always inconclusive, with the
      difference. Two samples of one distribution come out inconclusive (up to the 1 - confidence error
      rate of the interval)."""
    a, b = np.asarray(list(a), float), np.asarray(list(b), float)
    if a.size == 0 or b.size == 0 or np.isnan(a).any() or np.isnan(b).any():
        return "not measured", "no values"
    if a.shape != b.shape:
        raise ValueError(f"paired verdict needs as many A as B values ({a.size} vs {b.size})")
    d = (a - b) if higher_is_better else (b - a)
    u = f" {unit}" if unit else ""
    head = f"A {a.mean():.4g} vs B {b.mean():.4g}{u}; gain of A {d.mean():+.3g}{u}"
    if a.size < 2:
        return "inconclusive at this scale", Evidence(
            f"{head} on one seed (no spread; margin {margin:g}{u})", difference=float(d.mean()), n_seeds=1,
            unit=unit, margin=margin)
    mean, sd, lo, hi = _interval(d, confidence)
    ev = Evidence(f"{head} +- {sd:.2g} (std over {a.size} seeds), {100 * confidence:.0f}% interval "
                  f"[{lo:+.3g}, {hi:+.3g}]{u}, margin {margin:g}{u}; A better on {int((d > 0).sum())} of {a.size}",
                  difference=mean, std=sd, n_seeds=int(a.size), interval_low=lo, interval_high=hi, unit=unit,
                  margin=margin)
    if lo > margin:
        return "holds", ev
    if hi < -margin or (margin > 0 and -margin < lo and hi < margin):
        return "does not hold", ev
    return "inconclusive at this scale", ev


def within(a: Iterable[float], b: Iterable[float], tolerance: float, *, confidence: float = 0.95,
           unit: str = "") -> tuple[str, str]:
    """Is A within ``tolerance`` of B ("comparable to")? Paired over seeds, d = A - B: *holds* when the
    ``confidence`` interval of the mean difference lies inside (-tolerance, tolerance), *does not hold*
    when it lies entirely outside, else inconclusive; one seed is inconclusive."""
    a, b = np.asarray(list(a), float), np.asarray(list(b), float)
    if a.size == 0 or b.size == 0 or np.isnan(a).any() or np.isnan(b).any():
        return "not measured", "no values"
    if a.shape != b.shape:
        raise ValueError(f"paired verdict needs as many A as B values ({a.size} vs {b.size})")
    d = a - b
    u = f" {unit}" if unit else ""
    head = f"A - B = {d.mean():+.3g}{u} (tolerance +-{tolerance:g}{u})"
    if a.size < 2:
        return "inconclusive at this scale", Evidence(f"{head} on one seed (no spread)", difference=float(d.mean()),
                                                      n_seeds=1, unit=unit, margin=tolerance)
    mean, sd, lo, hi = _interval(d, confidence)
    ev = Evidence(f"{head}, std {sd:.2g} over {a.size} seeds, {100 * confidence:.0f}% interval "
                  f"[{lo:+.3g}, {hi:+.3g}]{u}", difference=mean, std=sd, n_seeds=int(a.size), interval_low=lo,
                  interval_high=hi, unit=unit, margin=tolerance)
    if -tolerance < lo and hi < tolerance:
        return "holds", ev
    if lo > tolerance or hi < -tolerance:
        return "does not hold", ev
    return "inconclusive at this scale", ev


def pareto_front(cost, quality) -> np.ndarray:
    """Mask of the points no other point dominates (cost <= and quality >= with one strict): the front of
    e.g. PSNR against FLOPs (AdaSR Fig. 3)."""
    c, q = np.asarray(cost, float), np.asarray(quality, float)
    keep = np.ones(len(c), bool)
    for i in range(len(c)):
        dominated = (c <= c[i]) & (q >= q[i]) & ((c < c[i]) | (q > q[i]))
        keep[i] = not dominated.any()
    return keep


def front_gap(cost, quality, front_cost, front_quality) -> np.ndarray:
    """Per point: its quality minus the best quality of the front points that cost no more (NaN where no
    front point is that cheap). Negative = below the front."""
    fc, fq = np.asarray(front_cost, float), np.asarray(front_quality, float)
    out = []
    for c, q in zip(np.asarray(cost, float), np.asarray(quality, float)):
        ok = fc <= c * (1 + 1e-9)
        out.append(q - fq[ok].max() if ok.any() else np.nan)
    return np.asarray(out)


def below_bicubic(ours: pd.DataFrame, bicubic: Mapping[str, float], margin: float = 1.0) -> pd.DataFrame:
    """The PSNR rows of ``ours`` more than ``margin`` dB below bicubic on the same dataset (``bicubic``:
    {dataset: PSNR}): trained generators that collapsed or are untrained, which a table must say loudly
    instead of passing them on as numbers."""
    p = ours[(ours.metric == "psnr") & ours.dataset.isin(list(bicubic))].copy()
    p["bicubic"] = p.dataset.map(dict(bicubic))
    p["below_bicubic_db"] = p.bicubic - p.value
    return p[p.below_bicubic_db > margin][["model", "dataset", "seed", "value", "bicubic", "below_bicubic_db",
                                            "stage"]].reset_index(drop=True)


def if_trained(judged: tuple[str, str], psnr: Mapping[str, float], bicubic: float, *,
               dataset: str = "") -> tuple[str, str]:
    """A quality verdict ``judged`` (verdict, evidence), kept only when every network it compares is above
    bicubic on the same split (``psnr``: {model: PSNR}); otherwise *inconclusive at this scale*, the evidence
    naming the networks below bicubic and keeping what the comparison gave. A claim about a method judged on
    networks that do not yet beat bicubic judges the training budget, not the method (the suite's rule for
    ``mini``: networks trained above bicubic before claims are judged)."""
    below = {m: float(v) for m, v in psnr.items() if not float(v) > bicubic}
    if not below:
        return judged
    on = f" on {dataset}" if dataset else ""
    names = ", ".join(f"{m} {v:.2f}" for m, v in sorted(below.items(), key=lambda kv: kv[1]))
    v, ev = judged
    text = (f"not judged: {len(below)} of {len(psnr)} compared networks are not above bicubic{on} "
            f"({bicubic:.2f} dB): {names} dB -- under-trained at this scale; the comparison gave '{v}': {ev}")
    return "inconclusive at this scale", Evidence(text, **(getattr(ev, "stats", {}) or {}))


def claims_frame(claims: Iterable[Claim]) -> pd.DataFrame:
    """One row per claim: :data:`CLAIM_COLUMNS` (the numbers empty where the evidence carries none)."""
    recs = []
    for c in claims:
        stats = getattr(c.evidence, "stats", {}) or {}
        recs.append({"paper": c.paper, "claim": c.claim, "verdict": c.verdict, "evidence": str(c.evidence),
                     **{k: stats.get(k) for k in CLAIM_STATS}})
    df = pd.DataFrame(recs, columns=list(CLAIM_COLUMNS))
    df["n_seeds"] = pd.to_numeric(df["n_seeds"], errors="coerce").astype("Int64")
    return df


def write_claims(name: str, claims: Iterable[Claim], profile: str) -> Path:
    path = config.results_dir(profile) / "tables" / f"claims_{name}.csv"
    with io.atomic_write(path, "w") as f:
        claims_frame(claims).to_csv(f, index=False)
    return path


# ------------------------------------------------------------------------------------------------
# The report page
# ------------------------------------------------------------------------------------------------
def build_html(profile: str, plan_timing: str = "cached") -> Path:
    """``results/<profile>/report.html`` and ``report.md``: the suite's front page, built from the run's
    tables, claims, figures, manifests and executed notebooks (:mod:`srlib.report_page`). Returns the
    HTML path. ``plan_timing``: see :func:`srlib.report_page.build`."""
    from . import report_page

    return report_page.build(profile, plan_timing=plan_timing)[0]


def ours_frame(rows: Iterable[Mapping]) -> pd.DataFrame:
    """Tidy rows (srlib.results.row dicts) -> DataFrame, validated."""
    return results.frame(rows)
