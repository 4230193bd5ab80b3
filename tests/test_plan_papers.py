"""The plan's TPSR, AdaSR and AGD planners (srlib.plan): the stage names are those the papers' own stage code
creates, the sizes are the profile's, and the MAC counts agree with srlib.complexity.counters.measure.

The names are checked against the real chains the notebooks call (srlib.{tpsr,adasr,agd}.stages and
experiments) with ``srlib.pipeline.stage`` replaced by a recorder that runs nothing: it records each stage's
name and answers with a finished handle (and, for a search, a stated finding), so every name the code would
create -- including those that depend on what a search found -- is known without training anything.
"""
from __future__ import annotations

import json
import random

import pytest
import torch

from srlib import config, io, pipeline, plan
from srlib.complexity.counters import measure
from srlib.metrics import lpips
from srlib.models import build

PAPERS = ("tpsr", "adasr", "agd")


# ---- a recorder for srlib.pipeline.stage ------------------------------------------------------------------
def _findings(prof) -> dict:
    """What the fake searches 'found' (valid points of each search space at ``prof``)."""
    from srlib.agd import stages as gs
    from srlib.agd.supernet import AGDSupernet
    from srlib.tpsr import cell, discriminator

    rng = random.Random(1)
    genotype = [list(x) for x in cell.genotype([rng.randrange(n) for n in cell.decisions()])]
    top = [{"index": i, **discriminator.spec_kwargs(c), "perceptual": 0.1 * i, "d_params": 1}
           for i, c in enumerate(discriminator.tpsr_d_configs(3, seed=2, base_channels=prof.tpsr.d_search.base_channels))]
    agd = AGDSupernet(**gs._supernet_kw(prof.agd)).derive().to_dict()
    return {"tpsr_search_g_": {"best_genotype": genotype}, "tpsr_search_d_": {"top": top},
            "agd_search_": {"genotype": agd}, "agd_prune_": {"num_feat": 4, "num_grow_ch": 4},
            "adasr_lambda_": {"lambdas": [0.5] * 8}}


@pytest.fixture
def recorder(monkeypatch):
    """``pipeline.stage`` records names; each stage is 'finished' (a complete manifest holding its outputs,
    which the planners read) with an empty rows.json (what the evaluation helpers read back)."""
    names: list[str] = []
    found: dict = {}

    def stage(name, params, fn, *, profile, **_):
        names.append(name)
        out = next((v for k, v in found.items() if name.startswith(k) and "finetune" not in name), {})
        d = config.results_dir(profile) / "artifacts" / name
        d.mkdir(parents=True, exist_ok=True)
        (d / "rows.json").write_text("[]")
        io.write_json(d / "manifest.json", {"name": name, "complete": True, "outputs": out})
        return pipeline.StageResult(name, "key", d, {"complete": True, "params": dict(params)}, True, out)

    monkeypatch.setattr(pipeline, "stage", stage)
    # the perceptual metric's name enters stage params only, never a name: skip importing lpips (seconds)
    monkeypatch.setattr(lpips, "lpips_available", lambda net="vgg": (False, "not needed to name stages"))
    return names, found


def _tpsr_chain(prof) -> dict:
    """Notebooks 30-32's calls (seed search_seeds[0]); returns the study runs."""
    from srlib import baselines
    from srlib.tpsr import experiments as tx
    from srlib.tpsr import stages as ts
    from srlib.tpsr.cell import TPSR_GENOTYPE

    seed = prof.tpsr.search_seeds[0]
    found = ts.generator_search(prof, seed)
    for chain in (ts.full_task(prof, found["best_genotype"], seed, init=found), ts.full_task(prof, TPSR_GENOTYPE, seed)):
        tx.quality_rows(prof, "m", chain["x4"], "search_g", seed)
    ts.discriminator_search(prof, seed)
    runs = tx.study(prof, seed)
    for label, rs in runs.items():
        for i, r in enumerate(rs):
            tx.quality_rows(prof, f"tpsr_{label}", r, "fig3_runs", i, no_ref="niqe")
    for name in tx.TABLE1[:-1]:
        tx.quality_rows(prof, name, baselines.reference(prof, name, seed), "table1", seed)
    tx.quality_rows(prof, "tpsr_nogan_ours", ts.tpsr_nogan(prof, seed), "table1", seed)
    return runs


def _adasr_chain(prof) -> None:
    """Notebooks 40-42's calls (seed adasr.seeds[0], the dynamic teacher, then the other teachers)."""
    from srlib.adasr import experiments as ax
    from srlib.adasr import stages as ast

    a = prof.adasr
    seed, name = a.seeds[0], a.dynamic_teacher
    ast.teacher(prof, name, seed)
    if a.bo.enabled:
        ast.tune_lambda(prof, name, seed)
    ax.pareto_rows(prof, name, seed)
    for t in a.teachers:
        if t != name:
            ast.submodel_rows(prof, ast.progressive_kd(prof, t, seed), t, "adaptable", seed)
    for row, (mid, d, w) in ax.table1_choice(prof, seed).items():
        t = ax.TABLE1_TEACHER[row]
        if t != name:
            ast.submodel_rows(prof, ast.separate_model(prof, t, d, w, seed), t, "separate", seed)


def _agd_chain(prof) -> None:
    """Notebooks 50-51's calls (seed agd.seeds[0])."""
    from srlib.agd import experiments as gx
    from srlib.agd import stages as gs

    seed = prof.agd.seeds[0]
    gs.teacher(prof, seed)
    gs.pretrain_supernet(prof, seed)
    for b in prof.agd.budgets:
        gs.search(prof, b, seed)
    models = gx.comparison_stages(prof, seed)
    for mid, st in models.items():
        gx.quality_rows(prof, mid, st, "readme", seed)
    mseed = prof.mfagan.seeds[0]   # notebook 51 adds MFAGAN's searched generator (notebook 10's stage)
    mfagan = pipeline.StageResult(f"mfagan_finetune_distill_nas_s{mseed}", "key", None, {}, True, {})
    gx.quality_rows(prof, "mfagan", mfagan, "readme", seed)
    # the stages of agd.experiments.rows_in (notebooks 11 and 42; its complexity rows are no stages)
    first = next(m for m in models if m.startswith("agd_"))
    gx.quality_rows(prof, "agd", models[first], "table2", seed, paper="mfagan")
    for mid in (m for m in models if m.startswith("agd_")):
        gx.quality_rows(prof, mid, models[mid], "table1", seed, paper="adasr")


def _write_metrics(prof, name: str, val_perceptual: float) -> None:
    d = config.results_dir(prof.name) / "artifacts" / name
    (d / "metrics.jsonl").write_text(json.dumps({"step": 1, "val_psnr": 20.0, "val_perceptual": val_perceptual}) + "\n")


# ---- (a) the names --------------------------------------------------------------------------------------------
def test_tpsr_plan_names_are_the_stage_codes_names(recorder):
    names, found = recorder
    prof = config.load("smoke")
    before = {s.name for s in plan.PLANNERS["tpsr"](prof)}
    assert any(plan.FOUND in n for n in before)          # nothing searched yet: the found cell is a placeholder
    found.update(_findings(prof))
    runs = _tpsr_chain(prof)
    # Table 1 takes the searched D's run with the lowest final validation perceptual metric: make it d2, run 1
    for label, rs in runs.items():
        for i, r in enumerate(rs):
            _write_metrics(prof, r.name, 0.05 if (label, i) == ("d2", 1) else 0.3 + 0.01 * i)
    names.append(f"eval_tpsr_table1_{runs['d2'][1].name}")
    planned = [s.name for s in plan.PLANNERS["tpsr"](prof)]
    assert len(planned) == len(set(planned))
    assert set(planned) == set(names)
    assert not any(plan.FOUND in n for n in planned)
    assert {s.paper for s in plan.PLANNERS["tpsr"](prof)} == {"tpsr"}


@pytest.mark.parametrize("profile", ["smoke", "mini"])   # mini adapts RCAN and FMEN too (their Table 1 twins)
def test_adasr_plan_names_are_the_stage_codes_names(recorder, profile):
    names, found = recorder
    prof = config.load(profile)
    found.update(_findings(prof))
    _adasr_chain(prof)
    planned = [s.name for s in plan.PLANNERS["adasr"](prof)]
    assert len(planned) == len(set(planned)) and set(planned) == set(names)


def test_agd_plan_names_are_the_stage_codes_names(recorder):
    names, found = recorder
    prof = config.load("smoke")
    before = plan.PLANNERS["agd"](prof)                   # before the search: the budgets' bounds stand in
    assert "upper bound" in {s.name: s for s in before}["agd_retrain_pixel_L_s0"].what
    found.update(_findings(prof))
    _agd_chain(prof)
    after = plan.PLANNERS["agd"](prof)
    planned = [s.name for s in after]
    assert len(planned) == len(set(planned)) and set(planned) == set(names)
    assert [s.name for s in before] == planned            # the names do not depend on the findings here
    assert "upper bound" not in {s.name: s for s in after}["agd_retrain_pixel_L_s0"].what


def test_build_plan_lists_every_paper_and_their_cached_stages(tmp_path):
    io.write_json(config.results_dir("smoke") / "artifacts" / "agd_vdsr_mse_s0" / "manifest.json", {"complete": True})
    p = plan.build_plan("smoke", timing="off")
    assert {"tpsr", "adasr", "agd"} <= {s.paper for s in p.stages}
    by = {s.name: s for s in p.stages}
    assert by["agd_vdsr_mse_s0"].cached == "cached" and by["adasr_kd_carn_progressive_s0"].cached == "to run"
    text = plan.format_plan(p)
    assert "tpsr: every stage its notebooks run at smoke" in text and "adasr_separate_carn_3_8_s0" in text
    assert not set(PAPERS) & set(plan.PAPER_GPU_HOURS)   # none of the three papers prints a compute figure


# ---- (b) the sizes at the paper profile ---------------------------------------------------------------------------
def test_paper_plan_tpsr_sizes_come_from_the_profile():
    from srlib.tpsr import stages as ts

    prof = config.load("paper")
    t = prof.tpsr
    by = {s.name: s for s in plan.PLANNERS["tpsr"](prof)}
    g = by["tpsr_search_g_s0"]
    assert (g.iterations, g.batch, g.patch) == (t.search_steps * t.proxy.iterations, t.proxy.batch, str(t.proxy.patch))
    assert f"{t.search_steps:,} candidates" in g.what and "published cell's MACs" in g.what
    for tag in ("published", f"cell{plan.FOUND}_cached"):
        x2, x4 = by[f"tpsr_full_x2_{tag}_s0"], by[f"tpsr_full_x4_{tag}_s0"]
        assert (x2.iterations, x4.iterations) == (t.full_iters_x2, t.full_iters_x4)
        assert (x2.batch, x2.patch) == (t.full_batch, str(t.full_patch))
    d = by["tpsr_search_d_s0"]
    assert (d.iterations, d.batch, d.patch) == (t.d_search.steps * t.d_search.iterations, t.d_search.batch, str(t.d_search.patch))
    study = [s for n, s in by.items() if n.startswith("tpsr_dstudy_")]
    assert len(study) == (t.d_study.top_k + len(ts.FIXED_DS)) * t.d_study.runs == 25
    assert {(s.iterations, s.batch, s.patch, s.kind) for s in study} == {(t.d_study.iters, t.d_study.batch, str(t.d_study.patch), "gan")}


def test_paper_plan_adasr_sizes_come_from_the_profile():
    from srlib.adasr import stages as ast
    from srlib.adasr.matching import teacher_anchors

    prof = config.load("paper")
    a = prof.adasr
    by = {s.name: s for s in plan.PLANNERS["adasr"](prof)}
    for t in a.teachers:
        kd = by[f"adasr_kd_{t}_progressive_s0"]
        assert (kd.iterations, kd.batch, kd.patch, kd.kind) == (a.iterations, a.batch, str(a.lr_patch), "distill")
    model = plan._adaptable(plan._reference_spec(prof, a.dynamic_teacher))
    options = ast.grid(prof, a.dynamic_teacher, model.model)
    assert len(options) == 24                               # CARN: 3 blocks x widths 8..64 (Sec. 3.2.1)
    twins = [s for n, s in by.items() if n.startswith("adasr_separate_")]
    dyn_twins = [s for s in twins if s.name.startswith(f"adasr_separate_{a.dynamic_teacher}_")]
    assert len(dyn_twins) == len(options) and len(twins) == len(options) + 2   # + Table 1's RCAN and FMEN rows
    assert {s.iterations for s in twins} == {a.separate_iterations or a.iterations}
    assert {f"adasr_kd_carn_{x}_s0" for x in ("output", "none", "progressive_nomaxnorm")} <= set(by)
    m_t = model.description.depth
    anchors = {j for d, _ in options for j in teacher_anchors(m_t, d)}
    lam = by["adasr_lambda_carn_s0"]
    assert lam.iterations == a.bo.trial_after + len(anchors) * (a.bo.patience + 1) * a.bo.trial_steps
    assert not any(n.startswith("latency_") for n in by)   # Fig. 4's CPU benchmarks are not GPU stages


def test_paper_plan_agd_sizes_come_from_the_profile():
    prof = config.load("paper")
    a = prof.agd
    by = {s.name: s for s in plan.PLANNERS["agd"](prof)}
    assert by["agd_pretrain_supernet_s0"].iterations == a.pretrain_iters
    for b in a.budgets:
        assert (by[f"agd_search_{b}_s0"].iterations, by[f"agd_search_{b}_s0"].kind) == (a.search_iters, "supernet")
        assert by[f"agd_retrain_pixel_{b}_s0"].iterations == a.retrain_pixel_iters
        assert by[f"agd_retrain_content_{b}_s0"].iterations == a.retrain_content_iters
        assert (by[f"agd_retrain_pixel_{b}_s0"].batch, by[f"agd_retrain_pixel_{b}_s0"].patch) == (a.batch, str(a.lr_patch))
    assert by["agd_prune_finetune_L_s0"].iterations == (a.prune_finetune_iters or a.retrain_pixel_iters + a.retrain_content_iters)
    assert by["agd_vdsr_mse_s0"].iterations == a.vdsr_iters


# ---- (c) the MAC counts against an independent count ------------------------------------------------------
def test_planned_macs_match_counters_measure():
    from srlib.tpsr.cell import TPSR_GENOTYPE, TPSRGenerator

    prof = config.load("smoke")
    t, a = prof.tpsr, prof.agd
    by = {s.name: s for p in PAPERS for s in plan.PLANNERS[p](prof)}
    x2 = by["tpsr_full_x2_published_s0"]
    net = TPSRGenerator(num_feat=t.num_feat, genotype=TPSR_GENOTYPE, scale=2)
    assert x2.macs_per_step() == 3 * measure(net, (t.full_patch, t.full_patch)).macs * t.full_batch
    vdsr = by["agd_vdsr_mse_s0"]
    assert vdsr.macs_per_step() == 3 * measure(build("vdsr", **a.vdsr_kw), (a.lr_patch,) * 2).macs * a.batch
    ev = by["eval_agd_agd_readme_agd_vdsr_mse_s0"]
    px = plan.FORWARD_LR[0] * plan.FORWARD_LR[1]
    assert ev.macs_per_step() == pytest.approx(measure(build("vdsr", **a.vdsr_kw), plan.FORWARD_LR).macs / px
                                               * plan._lr_pixels(prof, prof.data.test_sets))


def test_adasr_macs_match_counters_measure():
    from srlib.adasr import stages as ast

    prof = config.load("smoke")
    a = prof.adasr
    b, p = a.batch, a.lr_patch
    by = {s.name: s for s in plan.PLANNERS["adasr"](prof)}
    r = prof.baselines.recipe("carn")
    teacher = build(r.model, **r.kw)
    S = ast.wrap(teacher)
    # a twin: the (D, W) slice alone, as a standalone copy of that sub-model
    assert by["adasr_separate_carn_3_8_s0"].macs_per_step() == 3 * measure(S.extract(3, 8), (p, p)).macs * b

    class _Depths(torch.nn.Module):       # one width of the step: its depths share the stem and blocks
        def __init__(self, width, depths):
            super().__init__()
            self.s, self.width, self.depths = S, width, depths

        def forward(self, x):
            return sum(y for y, _ in self.s.forward_depths(x, self.depths, self.width).values())

    options = ast.grid(prof, "carn", teacher)
    widths = {w: [d for d, w2 in options if w2 == w] for _, w in options}
    students = sum(3 * measure(_Depths(w, ds), (p, p)).macs for w, ds in widths.items())
    assert by["adasr_kd_carn_output_s0"].macs_per_step() == (measure(teacher, (p, p)).macs + students) * b
    assert by["adasr_kd_carn_none_s0"].macs_per_step() == students * b


def test_lpips_and_vgg_counts_are_torchvision_networks():
    from torchvision.models import vgg

    assert plan.macs("vgg16_lpips", {}, (64, 64)) == measure(vgg.make_layers(vgg.cfgs["D"])[:30], (64, 64)).macs
    assert plan.macs("vgg19_conv2_2", {}, (64, 64)) == measure(vgg.make_layers(vgg.cfgs["E"])[:8], (64, 64)).macs
    assert plan.macs("vgg19_conv2_2", {}, (64, 64)) < plan.macs("vgg19_conv5_4", {}, (64, 64))


def test_agd_macs_after_the_search_count_the_found_network(recorder):
    from srlib.agd.network import AGDGenerator

    _, found = recorder
    prof = config.load("smoke")
    a = prof.agd
    f = _findings(prof)
    found.update(f)
    _agd_chain(prof)
    by = {s.name: s for s in plan.PLANNERS["agd"](prof)}
    r = prof.baselines.recipe(a.teacher)
    p = (a.lr_patch, a.lr_patch)
    t = measure(build(r.model, **r.kw), p).macs
    g = measure(AGDGenerator(f["agd_search_"]["genotype"]), p).macs
    assert by["agd_retrain_pixel_L_s0"].macs_per_step() == (t + 3 * g) * a.batch
    pruned = measure(build("esrgan", **{**r.kw, "num_feat": 4, "num_grow_ch": 4}), p).macs
    vgg = measure(plan._vgg_for_timing(), (a.lr_patch * prof.data.scale,) * 2).macs
    assert by["agd_prune_finetune_L_s0"].macs_per_step() == (t + 3 * pruned + 3 * vgg) * a.batch
