"""report: paper | ours | difference joins, claim verdicts."""
import math

import pandas as pd
import pytest

from srlib import report, results


def _rows(values, model="esrgan", dataset="skimage_test", metric="psnr"):
    return [results.row(paper="mfagan", table="table1", model=model, dataset=dataset, metric=metric,
                        value=v, unit="dB", profile="mini", seed=i) for i, v in enumerate(values)]


def test_compare_joins_means_and_differences_with_dataset_map():
    ours = results.frame(_rows([30.0, 31.0]))
    df = report.compare(ours, "mfagan", "table1", dataset_map={"skimage_test": "Set5"})
    r = df[(df.model == "esrgan") & (df.metric == "psnr")].iloc[0]
    assert r.paper_value == 30.45 and r.ours == 30.5 and r.n_seeds == 2
    assert r.difference == pytest.approx(0.05) and r.difference_pct == pytest.approx(100 * 0.05 / 30.45)
    assert r.our_dataset == "skimage_test" and r.dataset == "Set5"
    # every printed number of the table is there, unmeasured ones empty
    other = df[(df.model == "mfagan_l_g64_d48") & (df.metric == "psnr")].iloc[0]
    assert other.paper_value == 30.32 and math.isnan(other.ours) and other.n_seeds == 0
    assert len(df) == 30


def test_compare_without_map_does_not_pretend_mini_is_set5():
    df = report.compare(results.frame(_rows([30.0])), "mfagan", "table1")
    assert df["ours"].isna().all()


def test_missing_value_keeps_reason():
    rows = [results.row(paper="mfagan", table="table1", model="esrgan", dataset="skimage_test",
                        metric="lpips", value=None, profile="mini", note="LPIPS unavailable: no weights")]
    df = report.compare(results.frame(rows), "mfagan", "table1", dataset_map={"skimage_test": "Set5"})
    r = df[(df.model == "esrgan") & (df.metric == "lpips")].iloc[0]
    assert math.isnan(r.ours) and "no weights" in r.our_note
    with pytest.raises(ValueError, match="needs a note"):
        results.row(paper="p", table="t", model="m", metric="x", value=None, profile="mini")


def test_verdicts():
    assert report.verdict([2, 3, 4], [1, 2, 3])[0] == "holds"          # +1 on every seed, no spread
    assert report.verdict([0.1, 0.1], [0.2, 0.3], higher_is_better=False)[0] == "inconclusive at this scale"
    assert report.verdict([0.1, 0.1, 0.1], [0.2, 0.3, 0.25], higher_is_better=False)[0] == "holds"
    assert report.verdict([1, 2, 3], [2, 3, 4])[0] == "does not hold"
    assert report.verdict([1, 3], [2, 2])[0] == "inconclusive at this scale"
    v, ev = report.verdict([5], [1], unit="dB")
    assert v == "inconclusive at this scale" and "+4 dB on one seed" in ev
    assert report.verdict([], [1])[0] == "not measured"
    # a margin: a consistent gain smaller than the margin is no gain worth the claim
    assert report.verdict([1.1, 1.12, 1.09], [1, 1, 1], margin=0.5)[0] == "does not hold"
    v, ev = report.verdict([1.6, 1.7, 1.65], [1, 1, 1], margin=0.5, unit="dB")
    assert v == "holds" and "margin 0.5 dB" in ev and "95% interval" in ev and "std over 3 seeds" in ev


def test_two_samples_of_one_distribution_are_inconclusive():
    import numpy as np

    rng = np.random.default_rng(0)
    verdicts = [report.verdict(rng.normal(30, 0.3, 3), rng.normal(30, 0.3, 3))[0] for _ in range(200)]
    inconclusive = verdicts.count("inconclusive at this scale") / len(verdicts)
    assert inconclusive > 0.9  # "better on every seed" alone would call ~25% of these "holds"


def test_within_tolerance():
    assert report.within([30.1, 30.2, 30.15], [30.3, 30.35, 30.3], 0.5)[0] == "holds"
    assert report.within([29.0, 29.1, 29.05], [30.3, 30.35, 30.3], 0.5)[0] == "does not hold"
    assert report.within([30.1], [30.3], 0.5)[0] == "inconclusive at this scale"



def test_tables_roundtrip_and_html(tmp_path, monkeypatch):
    monkeypatch.setenv("SRLIB_RESULTS", str(tmp_path))
    results.write_table("t", _rows([1.0, 2.0]), "mini")
    back = results.read_table("t", "mini")
    assert list(back.columns) == list(results.COLUMNS) and back.value.tolist() == [1.0, 2.0]
    p = report.build_html("mini", plan_timing="off")
    html = p.read_text()  # the front page (tests/test_report_page.py checks it in detail)
    assert "id='mfagan-table1'" in html and "30.45" in html and (p.parent / "report.md").is_file()
    with pytest.raises(FileNotFoundError, match="run the notebook"):
        results.read_table("nope", "mini")
    with pytest.raises(ValueError, match="unknown columns"):
        results.frame([{"paper": "p", "table": "t", "model": "m", "metric": "x", "profile": "mini", "bogus": 1}])


def test_below_bicubic_lists_collapsed_rows():
    rows = [results.row(paper="p", table="t", model=m, dataset="test", metric="psnr", value=v, profile="x", seed=0)
            for m, v in (("ok", 27.5), ("slightly_low", 26.5), ("collapsed", 9.9))]
    out = report.below_bicubic(results.frame(rows), {"test": 27.16}, margin=1.0)
    assert out.model.tolist() == ["collapsed"] and out.below_bicubic_db.iloc[0] == pytest.approx(17.26)


def test_pareto_front_and_gap_on_known_points():
    from srlib.report import front_gap, pareto_front
    cost = [1.0, 2.0, 3.0, 2.5]
    psnr = [25.0, 26.0, 27.0, 25.5]     # (2.5, 25.5) is dominated by (2.0, 26.0)
    assert pareto_front(cost, psnr).tolist() == [True, True, True, False]
    gap = front_gap([2.5, 0.5, 3.0], [25.5, 24.0, 27.2], [1.0, 2.0, 3.0], [25.0, 26.0, 27.0])
    assert gap[0] == -0.5 and math.isnan(gap[1]) and abs(gap[2] - 0.2) < 1e-12


def test_a_quality_claim_is_judged_only_on_networks_above_bicubic():
    judged = report.verdict([27.9, 28.0, 28.1], [27.5, 27.6, 27.55], True, unit="dB")
    assert judged[0] == "holds"
    assert report.if_trained(judged, {"a": 28.0, "b": 27.55}, 27.16) == judged          # both above: kept
    v, ev = report.if_trained(judged, {"a": 28.0, "b": 27.10, "c": 26.5}, 27.16, dataset="test")
    assert v == "inconclusive at this scale"
    assert ev.startswith("not judged: 2 of 3 compared networks are not above bicubic on test (27.16 dB): c 26.50, b 27.10 dB")
    assert "the comparison gave 'holds'" in ev and ev.stats["n_seeds"] == 3                # what it gave is kept
    v, _ = report.if_trained(("does not hold", "x"), {"a": 27.16}, 27.16)                  # at bicubic is not above
    assert v == "inconclusive at this scale"
