"""TPSR's discriminator search and study (Alg. 1 lines 27-33, Eqs. 7-8, Sec. 4.2, Fig. 3, Table 1): S_D's
decisions, every sampled D builds and gives one logit per image, E_D's best-of-the-last-three rule, the GMSD
stand-in, Fig. 3's weighted average by image count on a hand-made example, Table 1 rows beside the printed
numbers, the d_search / d_study profile keys, and the search as one stage at a tiny scale.
"""
from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from srlib import config, results
from srlib.search.reinforce import Controller
from srlib.tpsr import discriminator, experiments, perceptual_reward
from srlib.tpsr.cell import OPS
from srlib.tpsr.config import DSearchConfig, DStudyConfig, TPSRConfig
from srlib.tpsr.discriminator import ROPS, TPSRDConfig, TPSRDiscriminator

torch.set_num_threads(1)


# ---- S_D (Eq. 7) -------------------------------------------------------------------------------------------
def test_decisions_follow_eq7_and_configs_round_trip():
    assert discriminator.decisions() == (len(OPS), len(ROPS)) * 5 == (16, 7) * 5
    assert discriminator.decisions((0, 100)) == (16, 7) * 5 + (2,)
    a = (0, 1, 15, 6, 3, 0, 7, 4, 9, 2, 1)
    cfg = discriminator.config(a, (0, 100), base_channels=8)
    assert cfg.ops == (OPS[0], OPS[15], OPS[3], OPS[7], OPS[9])
    assert cfg.reductions == (ROPS[1], ROPS[6], ROPS[0], ROPS[4], ROPS[2])
    assert cfg.bottleneck == 100 and cfg.base_channels == 8
    assert discriminator.actions(cfg, (0, 100)) == a
    assert discriminator.config(a[:10]).bottleneck is None
    with pytest.raises(ValueError):
        discriminator.config(a[:10], (0, 100))          # the bottleneck decision is missing
    with pytest.raises(ValueError):
        discriminator.config((16,) + a[1:10])           # op index out of range


def test_every_sampled_discriminator_builds_and_gives_one_logit_per_image():
    opts = (0, 100)
    ctrl = Controller(discriminator.decisions(opts), hidden=16, init_seed=0)
    g = torch.Generator().manual_seed(0)
    seen_ops, seen_red, seen_bn = set(), set(), set()
    for _ in range(16):
        actions, _, _ = ctrl.sample(g)
        cfg = discriminator.config(actions, opts, base_channels=4)
        seen_ops |= set(cfg.ops)
        seen_red |= set(cfg.reductions)
        seen_bn.add(cfg.bottleneck)
        torch.manual_seed(0)
        d = TPSRDiscriminator(cfg, input_size=32, spectral_norm=True)
        x = torch.rand(3, 3, 32, 32)
        out = d(x)
        assert out.shape == (3, 1) and torch.isfinite(out).all()
        with torch.no_grad():
            assert d.eval()(x).shape == (3, 1)
        assert all(hasattr(m, "parametrizations") for m in d.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)))
    assert len(seen_ops) > 5 and len(seen_red) > 3 and seen_bn == {None, 100}


# ---- E_D ---------------------------------------------------------------------------------------------------
def test_best_of_last_three():
    assert perceptual_reward.best_of_last([0.50, 0.20, 0.40, 0.30, 0.35]) == 0.30   # 0.20 is not among the last 3
    assert perceptual_reward.best_of_last([0.4, 0.3]) == 0.3
    assert perceptual_reward.best_of_last([0.2, 0.1, math.nan, math.inf]) == 0.1
    assert perceptual_reward.best_of_last([math.inf]) == math.inf
    with pytest.raises(ValueError):
        perceptual_reward.best_of_last([])


def test_e_d_returns_the_best_of_its_last_three_evaluations(monkeypatch):
    from srlib.data import load_set
    from srlib.tpsr.cell import TPSRGenerator

    scores = iter([0.30, 0.10, 0.26, 0.22, 0.24])            # one value per evaluation, in order
    monkeypatch.setattr(perceptual_reward, "validation_score", lambda G, val, metric: next(scores))
    train = list(load_set("skimage_val", 4, None))
    torch.manual_seed(0)
    G = TPSRGenerator(num_feat=4, scale=4)
    before = {k: v.clone() for k, v in G.state_dict().items()}
    cfg = TPSRDConfig(base_channels=4, bottleneck=8)
    metric = perceptual_reward.PerceptualMetric("test_metric", "test", "", lambda a, b: None, False)
    res = perceptual_reward.evaluate(cfg, generator=G, start=0.25, train=train, scale=4, val=[], metric=metric,
                                     percep=None, iterations=5, eval_every=1, batch=2, patch=8, lr=1e-4, alpha=1e-2,
                                     lam=1.0, gamma=5e-3, seed=0)
    assert res.evaluations == (0.30, 0.10, 0.26, 0.22, 0.24)
    assert res.perceptual == pytest.approx(0.22) and res.metric == pytest.approx(-0.22)
    assert res.reward == pytest.approx((0.25 - 0.22) / 0.25)
    assert res.params == sum(p.numel() for p in TPSRDiscriminator(cfg, input_size=32).parameters())
    assert all(torch.equal(before[k], v) for k, v in G.state_dict().items())   # TPSR-NOGAN itself untouched
    row = res.row()
    assert row["status"] == "trained" and row["bottleneck"] == 8 and row["perceptual"] == pytest.approx(0.22)
    assert row["metric_name"] == "test_metric"


def test_gmsd_stand_in():
    torch.manual_seed(0)
    x = torch.rand(2, 3, 32, 32)
    assert torch.equal(perceptual_reward.gmsd(x, x), torch.zeros(2))
    blur = torch.nn.functional.avg_pool2d(x, 3, 1, 1)
    mild = 0.9 * x + 0.1 * blur
    g_blur, g_mild = perceptual_reward.gmsd(blur, x), perceptual_reward.gmsd(mild, x)
    assert (g_blur > g_mild).all() and (g_mild > 0).all()
    assert torch.allclose(perceptual_reward.gmsd(x, blur), g_blur)                         # symmetric
    assert (g_blur < 1).all()                                                               # std of values in (0, 1]
    m = perceptual_reward.perceptual_metric()
    if not m.is_paper_metric:
        assert m.name == "gmsd" and "stand-in" in m.title and "NOT the paper's metric" in m.note


# ---- Fig. 3 and Table 1 ------------------------------------------------------------------------------------
def test_weighted_average_by_image_count():
    values = {"Set5": 30.0, "Set14": 27.0, "B100": 26.0, "Urban100": 24.0}
    counts = {"Set5": 5, "Set14": 14, "B100": 100, "Urban100": 100}
    want = (5 * 30 + 14 * 27 + 100 * 26 + 100 * 24) / 219            # = 25.93...
    assert experiments.weighted_average(values, counts) == pytest.approx(want)
    assert experiments.weighted_average(values, counts) != pytest.approx(sum(values.values()) / 4)
    assert math.isnan(experiments.weighted_average({**values, "Set5": math.nan}, counts))
    with pytest.raises(KeyError):
        experiments.weighted_average({"Set5": 1.0}, counts)


def test_table1_rows_stand_beside_the_printed_numbers():
    prof = config.load("smoke")
    test = prof.data.test_sets[0]
    rows = [results.row(paper="tpsr", table="table1", model="tpsr", dataset=test, metric="psnr", value=27.1,
                        unit="dB", profile="smoke", seed=0),
            results.row(paper="tpsr", table="table1", model="tpsr", dataset=test, metric="lpips_vgg", value=0.2,
                        profile="smoke", seed=0),
            results.row(paper="tpsr", table="table1", model="tpsr", metric="params", value=61.121, unit="K",
                        profile="smoke"),
            results.row(paper="tpsr", table="table1", model="srgan", dataset=test, metric="pi", value=None,
                        profile="smoke", seed=0, note=experiments.niqe_reason())]
    cmp = experiments.compare_table1(results.frame(rows), prof).set_index(["model", "dataset", "metric"])
    psnr = cmp.loc[("tpsr", "Set5", "psnr")]
    assert (psnr.paper_value, psnr.ours, psnr.our_dataset) == (29.60, 27.1, test)
    assert psnr.difference == pytest.approx(27.1 - 29.60)
    lp = cmp.loc[("tpsr", "Set5", "lpips")]
    assert (lp.paper_value, lp.ours) == (0.076, 0.2)                   # lpips_vgg is TPSR's LPIPS
    assert cmp.loc[("tpsr", "", "params")].difference == pytest.approx(0.121)
    pi = cmp.loc[("srgan", "Set5", "pi")]
    assert pi.paper_value == 3.355 and math.isnan(pi.ours) and "unavailable" in pi.our_note
    assert math.isnan(cmp.loc[("tpsr", "Set14", "psnr")].ours)          # printed, not measured: ours empty


# ---- profile keys ------------------------------------------------------------------------------------------
def test_d_search_keys_in_every_profile():
    t = TPSRConfig()
    assert (t.d_study.top_k, t.d_study.runs) == (3, 5)                 # printed: three best Ds, 5 runs each
    mini, smoke = config.load("mini").tpsr, config.load("smoke").tpsr
    assert mini.d_search.steps >= 10 and mini.d_study.runs >= 3 and mini.d_study.top_k == 3
    assert 1 <= smoke.d_study.runs <= 2
    assert config.load("paper").tpsr.d_search == DSearchConfig() and config.load("paper").tpsr.d_study == DStudyConfig()
    for bad, key in ((DSearchConfig(iterations=2, eval_every=1), "iterations"), (DSearchConfig(patch=10), "patch"),
                     (DSearchConfig(bottleneck_options=(0, 0)), "bottleneck_options"),
                     (DSearchConfig(generator="mine"), "generator")):
        with pytest.raises(config.ConfigError, match=key):
            bad.validate("tpsr.d_search", 4)
    with pytest.raises(config.ConfigError, match="val_every"):
        DStudyConfig(iters=10, val_every=3).validate("tpsr.d_study", 4)


# ---- the stage ---------------------------------------------------------------------------------------------
def test_discriminator_search_is_one_stage_and_ranks_its_candidates(tmp_path, monkeypatch):
    from srlib.tpsr import stages

    monkeypatch.setenv("SRLIB_RESULTS", str(tmp_path))
    d = DSearchConfig(steps=3, generator="published", base_channels=4, iterations=3, eval_every=1, batch=2, patch=8)
    t = TPSRConfig(num_feat=4, full_iters_x2=1, full_iters_x4=1, full_batch=1, full_patch=8, full_val_every=1,
                   full_milestones=(), d_search=d)
    data = config.DataConfig(source="skimage", train_sets=("skimage_val",), val_set="skimage_val",
                             test_sets=("skimage_val",), max_eval_hr=32)
    prof = config.Profile(name="tpsr_test", data=data, sections={"tpsr": t})
    st = stages.discriminator_search(prof, 0)
    hist = experiments.search_frame(st)
    assert len(hist) == 3 and (hist.status == "trained").all()
    assert all(len(e) == 3 for e in hist.evaluations)                  # 3 evaluations each, E_D = best of them
    assert [r["perceptual"] for r in st["top"]] == sorted(r["perceptual"] for r in st["top"])
    assert st["metric"] == perceptual_reward.perceptual_metric().name
    again = stages.discriminator_search(prof, 0)
    assert again.skipped and again.key == st.key
    rows = results.frame(experiments.search_rows(prof, st, "d", 0))
    assert rows[rows.metric == "candidates_trained"].value.item() == 3
    assert rows[rows.metric == "rejected_share"].value.item() == 0


def test_discriminator_search_resumes_to_the_uninterrupted_history(tmp_path, monkeypatch):
    """The D search checkpoints after every candidate: stopped after one candidate and restarted, it ends with
    the history of a search that was never stopped (in-process; the SIGKILL test of the generator search
    covers the shared loop)."""
    from srlib.pipeline import StageContext
    from srlib.tpsr import stages
    from srlib.tpsr.cell import TPSR_GENOTYPE

    monkeypatch.setenv("SRLIB_RESULTS", str(tmp_path))
    t = TPSRConfig(num_feat=4, full_iters_x2=1, full_iters_x4=1, full_batch=1, full_patch=8, full_val_every=1,
                   full_milestones=())
    data = config.DataConfig(source="skimage", train_sets=("skimage_val",), val_set="skimage_val",
                             test_sets=("skimage_val",), max_eval_hr=32)
    prof = config.Profile(name="tpsr_test", data=data, sections={"tpsr": t})
    nogan = stages.full_task(prof, TPSR_GENOTYPE, 0)["x4"]
    d = dataclasses.asdict(DSearchConfig(steps=3, base_channels=4, iterations=3, eval_every=1, batch=2, patch=8))
    c = dataclasses.asdict(t.controller) | {"update_every": 2}

    def run(folder, steps):
        folder.mkdir(exist_ok=True)
        ctx = StageContext(name="d", key="k", dir=folder, params={}, profile="tpsr_test", seed=0)
        return stages.run_d_search(ctx, nogan=nogan, d={**d, "steps": steps}, controller=c, seed=0, profile=prof,
                                   log=lambda s: None)

    def clean(folder):
        from srlib import io
        return [{k: v for k, v in r.items() if k != "seconds"} for r in io.read_json(folder / "history.json")]

    full = run(tmp_path / "full", 3)
    run(tmp_path / "resumed", 1)
    resumed = run(tmp_path / "resumed", 3)
    assert clean(tmp_path / "full") == clean(tmp_path / "resumed")
    assert full["top"] == resumed["top"] and full["n_trained"] == 3
