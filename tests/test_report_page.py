"""The report page (srlib.report_page), the paper plan (srlib.plan) and their command lines, on a small
synthetic run written the way the notebooks write theirs (tables, claims, a figure with its sidecar, a
stage manifest, an executed notebook)."""
from __future__ import annotations

import json
import math
import re

import pandas as pd
import pytest

from srlib import cli, config, io, plan, report, report_page, results

PROFILE = "mini"


def _row(**kw):
    base = dict(paper="mfagan", profile=PROFILE, unit="", dataset="", note="")
    base.update(kw)
    return results.row(**base)


def make_run(tmp_path, monkeypatch, with_figure: bool = True):
    """A miniature results/mini/ with what notebooks 01, 02, 03, 10 and 12 leave behind."""
    monkeypatch.setenv("SRLIB_RESULTS", str(tmp_path))
    cfg = config.load(PROFILE)
    trained = "trained at mini: G=mfanet(num_feat=32), D=patchgan_mfagan(num_feat=24); perceptual term: pixel-space stand-in"
    lpips_na = ("LPIPS (alex, Y replicated to 3 channels in [-1,1], whole image) unavailable: "
                "alexnet-owt-7be5be79.pth is not in data/weights")
    abl = []
    for seed, (e, m) in enumerate(((27.0, 27.2), (27.1, 27.4), (27.2, 27.3))):
        abl += [_row(table="table1", model="esrgan", dataset="skimage_test", metric="psnr", value=e, unit="dB",
                     seed=seed, stage=f"baseline_esrgan_s{seed}", note=trained),
                _row(table="table1", model="mfagan_l_g64_d48", dataset="skimage_test", metric="psnr", value=m,
                     unit="dB", seed=seed, stage=f"mfagan_l_s{seed}", note=trained),
                _row(table="table1", model="esrgan", dataset="skimage_test", metric="lpips_alex_y3", value=None,
                     seed=seed, stage=f"baseline_esrgan_s{seed}", note=lpips_na)]
    abl += [_row(table="table1", model="mfagan_nas_g32_d48_before_ft", dataset="skimage_test", metric="psnr",
                 value=26.5, unit="dB", seed=0, note="not fine-tuned"),
            _row(table="table1", model="mfagan_l_g64_d48", metric="memory", value=0.5729, unit="G",
                 stage="mfagan_l_s0", note="MFANet-64; MFAGAN convention")]
    results.write_table("mfagan_ablation", abl, PROFILE)
    cplx = [_row(table="table1", model="esrgan", metric="flops_printed", value=293.713, unit="G", note="RRDBNet"),
            _row(table="table1", model="esrgan", metric="memory", value=4.319, unit="G", note="RRDBNet"),
            _row(table="table1", model="mfagan_l_g64_d48", metric="memory", value=0.5729, unit="G",
                 note="MFANet-64; differs: memory access cost is not defined in the paper"),
            _row(table="table1", model="mfagan_nas_g32_d48", metric="params", value=None, unit="M",
                 note="not measured: searched SubGenerator (widths not published)"),
            _row(table="table2", model="mfagan", metric="memory", value=0.5, unit="G", note="searched"),
            _row(table="table2", model="esrgan", metric="memory", value=4.319, unit="G", note="RRDBNet"),
            _row(table="table2", model="agd", metric="params", value=None, unit="M",
                 note="pending: AGD's searched architecture is not published"),
            _row(table="fig5", model="carn", metric="memory", value=0.9, unit="G", note="fig. 5 axes")]
    results.write_table("complexity", cplx, PROFILE)
    results.write_table("released_weights", [
        _row(paper="common", table="released_weights", model="carn_m", dataset="skimage_test", metric="psnr",
             value=None, unit="dB", note="weights absent: python -m srlib.weights fetch carn_m"),
        _row(paper="common", table="released_weights", model="bicubic", dataset="skimage_test", metric="psnr",
             value=25.1, unit="dB", note="MATLAB bicubic")], PROFILE)
    for name, model in (("training_baselines", "carn"), ("training_mfagan", "mfanet")):
        results.write_table(name, [
            _row(paper="common", table=name, model=model, dataset="skimage_test", metric="psnr", value=24.0,
                 unit="dB", seed=0, stage=f"s_{model}", note="pixel recipe; 200 iterations, batch 4 x LR 16px, precision fp32"),
            _row(paper="common", table=name, model=model, metric="iterations", value=200, seed=0, stage=f"s_{model}",
                 note="pixel recipe; 200 iterations, batch 4 x LR 16px, precision fp32")], PROFILE)
    results.write_table("latency_runtimes", [
        _row(paper="srlib", table="latency_runtimes", model="mfagan", metric="latency", value=12.5, unit="ms",
             note="LiteRT, XNNPACK, 1 thread(s); desktop CPU proxy")], PROFILE)
    claims = [
        report.Claim("mfagan", "MFAGAN.L beats ESRGAN (PSNR)",
                     *report.verdict([27.2, 27.4, 27.3], [27.0, 27.15, 27.1], unit="dB")),
        report.Claim("mfagan", "distil G+D beats G (LPIPS)", "not measured", "LPIPS unavailable offline"),
        report.Claim("mfagan", "one seed", *report.verdict([1.0], [0.5], unit="dB"))]
    report.write_claims("mfagan_ablation", claims, PROFILE)
    report.write_claims("suite", [report.Claim("srlib", "the LUT is within 10 %", "holds", "96 % within")], PROFILE)
    if with_figure:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        from srlib import notebook

        fig, ax = plt.subplots(figsize=(3, 2))
        ax.plot([0, 1], [1, 2])
        ax.set(xlabel="GAN iteration", ylabel="validation PSNR (dB)", title="two discriminators")
        notebook.save_figure(fig, "mfagan_fig6", cfg, caption="Validation PSNR over GAN iterations (test caption).")
        fig2, ax2 = plt.subplots(figsize=(3, 2))
        ax2.bar([0, 1], [1, 2])
        ax2.set(xlabel="model", ylabel="mean test PSNR (dB)", yscale="log")
        notebook.save_figure(fig2, "reference_baselines", cfg)
        plt.close("all")
    nbdir = cfg.results_dir / "notebooks"
    for name, dur, fig_name in (("03_reference_baselines", 300.0, "reference_baselines"),
                                ("10_mfagan_ablation", 500.0, "mfagan_search_history")):
        io.write_json(nbdir / f"{name}.ipynb", {
            "cells": [{"cell_type": "markdown", "metadata": {}, "source": [f"# {name[:2]} — title of {name}\n"]},
                      {"cell_type": "code", "metadata": {"papermill": {"duration": dur - 1, "status": "completed"}},
                       "source": [f"print(nb.save_figure(fig, \"{fig_name}\", cfg).name)"], "outputs": []}],
            "metadata": {"papermill": {"duration": dur, "start_time": "2026-01-01T00:00:00",
                                       "end_time": "2026-01-01T00:10:00", "exception": None}},
            "nbformat": 4, "nbformat_minor": 5})
    io.write_json(cfg.results_dir / "artifacts" / "mfagan_l_s0" / "manifest.json", {
        "name": "mfagan_l_s0", "complete": True, "wall_s": 12.0, "device": "x86_64 (2 CPUs)",
        "git_commit": "abc123", "packages": {"torch": "2.11.0"}, "end": "2026-01-01T00:05:00",
        "params": {"total": 100, "precision": "fp32", "perceptual": "stand-in: identity features (pixel-space MSE); "
                                                                   "VGG19 ImageNet weights unavailable"}})
    return cfg


@pytest.fixture
def run_dir(tmp_path, monkeypatch):
    return make_run(tmp_path, monkeypatch)


def test_page_sections_tables_claims_figures(run_dir):
    html_path, md_path = report_page.build(PROFILE, plan_timing="off", log=lambda m: None)
    html, md = html_path.read_text(), md_path.read_text()
    # one section per paper present (MFAGAN here; TPSR/AdaSR/AGD have no rows in this run)
    assert "id='paper-mfagan'" in html and "id='paper-tpsr'" not in html
    for sid in ("run", "summary", "released", "training", "shared", "stand-ins", "plan", "claims-mfagan",
                "mfagan-table1", "mfagan-table2", "text-mfagan", "figures-mfagan", "claims-suite"):
        assert f"id='{sid}'" in html, sid
    # paper | ours | difference, rounded as printed (291 -> 0 decimals), judged against its tolerance
    assert "291 \\| 294 \\| +3 (+0.9%) ✓" in md
    # quality at mini: another dataset and shrunk models, so the difference is shown but not judged
    cell = re.search(r"30\.32 \\\| 27\.30 ± 0\.100 \(n=3\) \\\| \(−3\.02\) \(([a-z,]+)\)", md)
    assert cell, md[:3000]
    assert "our skimage_test stands in for Set5" in md and "models and schedules shrunk at mini" in md
    # an explained difference and an unavailable value carry their reasons
    assert "explained: memory access cost is not defined in the paper" in md
    assert "LPIPS: ImageNet backbones absent" in md
    # ours-only row of a printed table, pending row, text ratio derived from our numbers
    assert "mfagan_nas_g32_d48_before_ft (ours only)" in md
    assert "pending: AGD's searched architecture is not published" in md
    assert re.search(r"\| \*\*sec4\.4\*\* \| mfagan_vs_esrgan \| memory ratio \(x\) \| 8\.2 \\\| 8\.6 \\\| \+0\.4", md)
    assert re.search(r"\| \*\*sec1\*\* \| esrgan \| Memory \(MB\) \| 4000 \\\| 4319", md)  # G -> MB
    # claims: verdict, difference with its spread and seed count
    assert "✔ **holds**" in md and "– **not measured**" in md
    assert re.search(r"\| \+0\.217 dB \| ± 0\.029 \| 3 \| \[\+0\.145, \+0\.288\] dB \|", md)
    assert "no spread (one seed)" in md
    # figures: the sidecar's caption, and one built from the axes; inline in the HTML
    assert "Validation PSNR over GAN iterations (test caption)." in md
    assert "y: mean test PSNR (dB) (log scale)" in md
    assert html.count("src='data:image/png;base64,") == 2 and "![mfagan_fig6](figures/mfagan_fig6.png)" in md
    # header: notebook durations against the mini budget shares; precision; commit
    assert "MFAGAN (1x)" in md and "8.3 / 12 min" in md and "5.0 / 10 min" in md
    assert "fp32: 1 training stages" in md and "abc123" in md
    # stand-ins and limits: one list, with where each shows
    st = md[md.index("## Stand-ins and limits"):md.index("## Plan")]
    for what in ("perceptual term of the training losses", "LPIPS unavailable", "released checkpoints absent",
                 "pending rows", "models and schedules shrunk at mini", "datasets: the mini profile's photos",
                 "latency: desktop-CPU proxy"):
        assert what in st, what
    # released weights and the training runs as their own sections; the training tables concatenated
    train = pd.read_csv(run_dir.results_dir / "tables" / "mini_training.csv")
    assert sorted(set(train.model)) == ["carn", "mfanet"]
    assert "| 4 x 16 | fp32 |" in md
    assert "weights absent" in md


def test_summary_counts_per_paper(run_dir):
    run = report_page.collect(PROFILE)
    comp = report_page.compare_paper(run, "mfagan")
    t1 = comp[comp.table == "table1"]
    st = t1.set_index(["model", "metric"]).status
    assert st[("esrgan", "flops_printed")] == "ok"                  # 293.7 vs 291: within 2 %
    assert st[("mfagan_l_g64_d48", "memory")] == "off"              # 0.573 vs 0.877, explained
    assert st[("esrgan", "psnr")] == "nc"                           # stand-in dataset, shrunk
    assert st[("esrgan", "lpips")] == "na"                          # LPIPS unavailable
    assert st[("mfagan_nas_g32_d48", "params")] == "na"             # not measured, with reason
    assert st[("mfagan_distill_g_g48_d48", "psnr")] == "nm"         # no row of ours
    # the MFAGAN row from the ablation notebook won over the complexity notebook's, and kept its explanation
    r = t1[(t1.model == "mfagan_l_g64_d48") & (t1.metric == "memory")].iloc[0]
    assert r.source == "mfagan_ablation" and "explained" in r.reasons[0]
    t2 = comp[comp.table == "table2"].set_index(["model", "metric"])
    assert t2.status[("agd", "params")] == "pend"
    assert (t2.status.loc[("srgan", "psnr")] == "nm").all()   # one per paper dataset
    set14 = comp[(comp.table == "table2") & (comp.dataset == "Set14")].iloc[0]
    assert set14.status == "nm" and "no stand-in at mini" in set14.reasons[0]


def test_dedupe_prefers_measured_and_own_rows():
    rows = pd.DataFrame([
        dict(paper="mfagan", table="table1", model="m", dataset="", metric="params", value=float("nan"), unit="M",
             profile="mini", seed=pd.NA, stage="", note="not measured: x", source="complexity"),
        dict(paper="mfagan", table="table1", model="m", dataset="", metric="params", value=1.0, unit="M",
             profile="mini", seed=pd.NA, stage="", note="from the search", source="mfagan_ablation"),
        dict(paper="mfagan", table="table1", model="e", dataset="", metric="params", value=2.0, unit="M",
             profile="mini", seed=pd.NA, stage="", note="shared; differs: why", source="complexity"),
        dict(paper="mfagan", table="table1", model="e", dataset="", metric="params", value=2.0, unit="M",
             profile="mini", seed=pd.NA, stage="", note="own", source="mfagan_ablation")])
    rows["seed"] = rows["seed"].astype("Int64")
    out = report_page.dedupe(rows).set_index("model")
    assert out.loc["m", "value"] == 1.0 and out.loc["m", "source"] == "mfagan_ablation"
    assert out.loc["e", "source"] == "mfagan_ablation" and "differs: why" in out.loc["e", "note"]


def test_verdict_evidence_carries_its_numbers_and_old_text_parses():
    v, ev = report.verdict([2.0, 3.1, 4.0], [1.0, 2.0, 3.0], unit="dB")
    assert v == "holds" and isinstance(ev, str) and ev.stats["n_seeds"] == 3
    assert ev.stats["difference"] == pytest.approx(1.0333, abs=1e-3) and ev.stats["std"] > 0
    df = report.claims_frame([report.Claim("p", "c", v, ev), report.Claim("p", "d", "not measured", "no values")])
    assert list(df.columns) == list(report.CLAIM_COLUMNS)
    assert df.n_seeds.tolist()[0] == 3 and pd.isna(df.n_seeds.tolist()[1])
    _, ev1 = report.within([30.1], [30.3], 0.5, unit="dB")
    assert ev1.stats == {"difference": pytest.approx(-0.2), "n_seeds": 1, "unit": "dB", "margin": 0.5}
    # claims CSVs written before these columns existed: the numbers are read from the evidence text
    old = pd.DataFrame([{"paper": "p", "claim": "c", "verdict": "holds", "evidence":
                         "A 10.99 vs B 10.92 dB; gain of A +0.0743 dB +- 0.00054 (std over 2 seeds), 95% interval "
                         "[+0.0695, +0.0792] dB, margin 0 dB; A better on 2 of 2"}])
    st = report_page.claim_stats(next(old.itertuples(index=False)))
    assert st["difference"] == 0.0743 and st["std"] == 0.00054 and st["n_seeds"] == 2
    assert (st["interval_low"], st["interval_high"], st["unit"]) == (0.0695, 0.0792, "dB")


def test_budget_shares_are_one_dict_and_cover_the_mini_hour():
    total, groups = report_page.budget_groups("mini")
    assert total == 60 and sum(m for _, m in groups.values()) == pytest.approx(60)
    shares = {g: m for g, (_, m) in groups.items()}
    assert shares["shared baselines (02, 03)"] == 10 and shares["MFAGAN (1x)"] == 12 and shares["latency (9x)"] == 6
    assert shares["TPSR (3x)"] == shares["AdaSR (4x)"] == shares["AGD (5x)"] == 8
    assert shares["data, metrics, complexity (00, 01)"] == 60 - 10 - 12 - 6 - 3 * 8
    none_total, smoke = report_page.budget_groups("smoke")
    assert none_total is None and all(m is None for _, m in smoke.values())


def test_save_figure_sidecar_records_caption_and_axes(tmp_path, monkeypatch):
    monkeypatch.setenv("SRLIB_RESULTS", str(tmp_path))
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from srlib import notebook

    fig, ax = plt.subplots()
    ax.set(xlabel="x axis", ylabel="y axis", xscale="log", title="t")
    p = notebook.save_figure(fig, "f", config.load("smoke"), caption="the caption")
    plt.close(fig)
    side = json.loads(p.with_suffix(".json").read_text())
    assert side["caption"] == "the caption"
    assert side["axes"] == [{"title": "t", "xlabel": "x axis", "ylabel": "y axis", "xscale": "log", "yscale": "linear"}]


def test_plan_lists_every_stage_with_sizes_cache_and_estimates(tmp_path, monkeypatch):
    monkeypatch.setenv("SRLIB_RESULTS", str(tmp_path))
    prof = config.load("paper")
    io.write_json(config.results_dir("paper") / "artifacts" / "mfagan_l_s0" / "manifest.json", {"complete": True})
    (config.results_dir("paper") / "artifacts" / "mfagan_pretrain_g64_s0").mkdir(parents=True)
    p = plan.build_plan("paper", timing="off")
    by = {s.name: s for s in p.stages}
    assert by["mfagan_pretrain_g64_s0"].iterations == prof.mfagan.pretrain_iters == 500_000
    assert (by["mfagan_l_s0"].batch, by["mfagan_l_s0"].patch) == (16, "32")
    assert by["mfagan_supergenerator_distill_nas_s2"].iterations == prof.mfagan.supernet_iters
    assert by["baseline_rcan_s0"].batch == 64 or by["baseline_rcan_s0"].batch == prof.baselines.recipe("rcan").batch_size
    assert by["mfagan_l_s0"].cached == "cached" and by["mfagan_pretrain_g64_s0"].cached == "started"
    assert by["mfagan_distill_gd_s1"].cached == "to run"
    assert all(s.gpu_hours is None for s in p.stages)
    assert "not estimated" in plan.basis_text(p)
    pipeline = [s.name for s in p.stages if s.pipeline and s.paper == "mfagan" and s.name.endswith("_s0")]
    assert pipeline == ["mfagan_pretrain_g64_s0", "mfagan_l_s0", "mfagan_pretrain_g48_s0", "mfagan_distill_gd_s0",
                        "mfagan_supergenerator_distill_nas_s0", "mfagan_search_distill_nas_s0",
                        "mfagan_finetune_distill_nas_s0"]
    # estimates from step rates: hours = MACs per step x steps / rate; on a CPU through the stated factor
    kinds = {k: {"seconds": 1.0, "macs": 1e9, "rate": 1e9, "batch": 1} for k in ("pixel", "gan", "distill", "supernet",
                                                                                  "forward")}
    cpu = {"fingerprint": {"device": "cpu", "name": "test CPU", "threads": 1, "torch": "x", "batch": 1},
           "kinds": kinds, "shape": "batch 1"}
    some = [by["mfagan_l_s0"], by["mfagan_search_distill_nas_s0"], by["mfagan_lut"]]
    plan.estimate(some, cpu)
    assert by["mfagan_search_distill_nas_s0"].gpu_hours > 0 and by["mfagan_lut"].gpu_hours is None  # not a GPU stage
    s = by["mfagan_l_s0"]
    factor = plan.cpu_factor(cpu, "gan")
    assert factor == pytest.approx(plan.V100_SUSTAINED_TFLOPS * 1e12 / 2e9)
    assert s.gpu_hours == pytest.approx(s.macs_per_step * s.iterations / (1e9 * factor) / 3600)
    p.timing = cpu
    text = plan.format_plan(p)
    assert "120 GPU hours" in text and "stated factor" in text and "V100" in text
    assert any(w.startswith("mfagan: its training pipeline, one seed (7 stages)") for w, _, _ in p.totals())
    # on a GPU: measured rate, no factor, and it says which GPU
    gpu = {**cpu, "fingerprint": {**cpu["fingerprint"], "device": "cuda", "name": "Test GPU"}}
    plan.estimate(some, gpu)
    assert s.gpu_hours == pytest.approx(s.macs_per_step * s.iterations / 1e9 / 3600)
    p.timing = gpu
    assert "measured on this GPU (Test GPU" in plan.basis_text(p)


def test_plan_times_the_real_steps_at_small_shapes():
    t = plan.time_steps(config.load("smoke"), steps=(0, 1), log=lambda m: None)
    assert set(t["kinds"]) == {"pixel", "gan", "distill", "supernet", "forward"}
    assert all(v["seconds"] > 0 and v["macs"] > 0 for v in t["kinds"].values())
    # the distillation step does more work than the plain GAN step of its student
    assert t["kinds"]["supernet"]["macs"] > t["kinds"]["pixel"]["macs"]


def test_cli_plan_and_report(run_dir, capsys, tmp_path):
    assert cli.main(["plan", "--profile", "smoke", "--timing", "off", "--json", str(tmp_path / "p.json")]) == 0
    out = capsys.readouterr().out
    assert "mfagan_supergenerator_distill_nas_s0" in out and "Totals" in out
    assert json.loads((tmp_path / "p.json").read_text())["stages"]
    assert cli.main(["report", PROFILE, "--plan-timing", "off"]) == 0
    assert (run_dir.results_dir / "report.md").is_file()
    # report.build_html (the Makefile's old entry point) builds the same page
    assert report.build_html(PROFILE, plan_timing="off").name == "report.html"


def test_missing_results_fail_with_the_command(tmp_path, monkeypatch):
    monkeypatch.setenv("SRLIB_RESULTS", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="make reproduce"):
        report_page.collect("mini")


def test_reason_labels_group_missing_values():
    assert report_page.reason_label("LPIPS (vgg, RGB) unavailable: vgg16-397923af.pth is not in x").startswith(
        "LPIPS: ImageNet backbones absent")
    assert report_page.reason_label("pending: AGD's searched architecture is not published; x") == \
        "pending: AGD's searched architecture is not published"
    assert report_page.reason_label("weights absent: python -m srlib.weights fetch fmen") .startswith(
        "released weights absent")
    assert report_page._unit_factor("G", "MB") == 1000 and report_page._unit_factor("ms", "s") is None
    assert math.isclose(report_page._unit_factor("M", "K"), 1000)


def test_a_run_without_results_still_gets_a_page(tmp_path, monkeypatch):
    monkeypatch.setenv("SRLIB_RESULTS", str(tmp_path))
    (tmp_path / "smoke" / "tables").mkdir(parents=True)
    html_path, md_path = report_page.build("smoke", plan_timing="off", log=lambda m: None)
    md = md_path.read_text()
    assert "no paper has results in this run" in md and "(none ran)" in md
    assert "id='paper-" not in html_path.read_text() and "## Plan: the paper profile" in md
