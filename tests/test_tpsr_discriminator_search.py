"""TPSR's discriminator search and study (Alg. 1 lines 27-33, Eqs. 7-8, Sec. 4.2, Fig. 3, Table 1): S_D's
decisions, every sampled D builds and gives one logit per image, E_D's best-of-the-last-three rule, the GMSD
stand-in, Fig. 3's weighted average by image count on a hand-made example, Table 1 rows beside the printed
numbers, the d_search / d_study profile keys, the progress lines' wording, and the search as one stage at a
tiny scale, also SIGKILLed in a child process and resumed.
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
    the history of a search that was never stopped (in-process; the SIGKILL test below kills a child process)."""
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


# ---- the progress lines -------------------------------------------------------------------------------------
def test_d_search_lines_print_e_d_lower_is_better():
    """The loop maximises -E_D (the history's ``metric``); the D search's lines print E_D under its own name,
    with s* = the lowest E_D so far (the first on ties), never the negated number."""
    from srlib.tpsr import stages

    gmsd = perceptual_reward.PerceptualMetric("gmsd", "GMSD", "", perceptual_reward.gmsd, False)
    lpips = dataclasses.replace(gmsd, name="lpips_vgg", is_paper_metric=True)
    label = stages.d_search_label(gmsd)
    assert label == "perceptual metric (gmsd stand-in, lower is better)"
    assert stages.d_search_label(lpips) == "perceptual metric (lpips_vgg, lower is better)"
    hist = [{"status": "trained", "step": s, "perceptual": p, "metric": -p,
             "reward": perceptual_reward.reward(p, 0.3125)} for s, p in enumerate([0.25, math.inf, 0.125, 0.125])]
    lines = [stages.d_search_line(hist, i, 4, label) for i in range(4)]
    assert lines == ["[tpsr d-search] step 1/4: perceptual metric (gmsd stand-in, lower is better) 0.25, "
                     "reward 0.2000, best 0.25 (step 0)",
                     "[tpsr d-search] step 2/4: perceptual metric (gmsd stand-in, lower is better) inf, "
                     "reward -1.0000, best 0.25 (step 0)",
                     "[tpsr d-search] step 3/4: perceptual metric (gmsd stand-in, lower is better) 0.125, "
                     "reward 0.6000, best 0.125 (step 2)",
                     "[tpsr d-search] step 4/4: perceptual metric (gmsd stand-in, lower is better) 0.125, "
                     "reward 0.6000, best 0.125 (step 2)"]
    assert stages.d_search_line(hist[1:2], 0, 4, label).endswith("reward -1.0000")          # no s* yet: no "best"


# ---- the stage killed with SIGKILL --------------------------------------------------------------------------
D_STEPS = 4


def tiny_d_profile() -> config.Profile:
    """The D search at its smallest: 4 candidates of 3 Eq. 8 steps on 2 patches of 8 px, k = 2 (two controller
    updates), TPSR-NOGAN = the published cell after one step at x2 and x4 (imported by the child below)."""
    from srlib.tpsr.config import ControllerConfig

    d = DSearchConfig(steps=D_STEPS, generator="published", base_channels=4, iterations=3, eval_every=1, batch=2,
                      patch=8)
    t = TPSRConfig(num_feat=4, full_iters_x2=1, full_iters_x4=1, full_batch=1, full_patch=8, full_val_every=1,
                   full_milestones=(), controller=ControllerConfig(update_every=2), d_search=d)
    data = config.DataConfig(source="skimage", train_sets=("skimage_val",), val_set="skimage_val",
                             test_sets=("skimage_val",), max_eval_hr=32)
    return config.Profile(name="tpsr_test", data=data, sections={"tpsr": t})


_D_CHILD = """
import sys, time
import torch
torch.set_num_threads(1)
sys.path.insert(0, {tests!r})
from test_tpsr_discriminator_search import tiny_d_profile
from srlib.tpsr import perceptual_reward, stages
hold, calls, real = int(sys.argv[1]), [0], perceptual_reward.evaluate
def evaluate(*a, **k):
    if calls[0] == hold:       # never finish on our own: the parent's SIGKILL must land mid-search
        time.sleep(600)
    calls[0] += 1
    return real(*a, **k)
perceptual_reward.evaluate = evaluate
print(stages.discriminator_search(tiny_d_profile(), 0)["n_trained"])
"""


def _d_child(hold: int, results, out):
    import os
    import subprocess
    import sys
    from pathlib import Path

    tests = Path(__file__).resolve().parent
    env = {**os.environ, "SRLIB_RESULTS": str(results), "OMP_NUM_THREADS": "1", "PYTHONPATH": str(tests.parent)}
    return subprocess.Popen([sys.executable, "-c", _D_CHILD.format(tests=str(tests)), str(hold)], env=env,
                            stdout=out, stderr=subprocess.STDOUT, text=True)


def _same_tensors(a, b) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same_tensors(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same_tensors(x, y) for x, y in zip(a, b))
    if isinstance(a, torch.Tensor):
        return a.dtype == b.dtype and torch.equal(a, b)
    return a == b


@pytest.mark.slow
def test_discriminator_search_killed_and_resumed_gives_the_uninterrupted_history(tmp_path, monkeypatch):
    """The D-search stage in a child process, SIGKILLed from outside once a candidate is checkpointed, then
    rerun in a fresh process: history (architectures, E_D, rewards), controller updates, controller and Adam
    state, and the top list equal an uninterrupted in-process run's exactly."""
    import shutil
    import signal
    import time

    from srlib import io
    from srlib.tpsr import stages

    results = tmp_path / "res"
    monkeypatch.setenv("SRLIB_RESULTS", str(results))
    prof = tiny_d_profile()
    ref = stages.discriminator_search(prof, 0)                  # uninterrupted; also builds TPSR-NOGAN's stages
    ref_dir = tmp_path / "ref"
    shutil.move(ref.dir, ref_dir)                               # the children rerun the search, reuse TPSR-NOGAN

    def rows(folder):
        return [{k: v for k, v in r.items() if k != "seconds"} for r in io.read_json(folder / "history.json")]

    want = rows(ref_dir)
    assert ref["n_trained"] == D_STEPS and [r["index"] for r in want] == list(range(D_STEPS))
    assert len({(tuple(r["ops"]), tuple(r["reductions"]), r["bottleneck"]) for r in want}) > 1
    assert len({r["reward"] for r in want}) == D_STEPS                        # distinct rewards: a real signal
    assert [u["after_step"] for u in io.read_json(ref_dir / "updates.json")] == [2, 4]

    stage_dir, log = ref.dir, tmp_path / "killed.log"
    ckpt = stage_dir / "search_state.pt"
    with open(log, "w") as out:
        child = _d_child(D_STEPS - 1, results, out)
        try:
            deadline = time.monotonic() + 120
            while not ckpt.is_file():                           # atomic write: present = >= 1 candidate saved
                assert child.poll() is None, log.read_text()
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.01)
        finally:
            child.send_signal(signal.SIGKILL)                   # also when the wait failed: never leave it behind
        assert child.wait(60) == -signal.SIGKILL
    assert not (stage_dir / "manifest.json").exists()
    saved = io.torch_load(ckpt)
    assert 1 <= len(saved["history"]) < D_STEPS
    assert saved["history"] == [dict(r, seconds=s["seconds"]) for r, s in zip(want, saved["history"])]

    log = tmp_path / "resumed.log"
    with open(log, "w") as out:
        assert _d_child(-1, results, out).wait(120) == 0, log.read_text()
    text = log.read_text()
    assert f"resuming after {len(saved['history'])} trained candidates" in text
    assert rows(stage_dir) == want
    assert io.read_json(stage_dir / "updates.json") == io.read_json(ref_dir / "updates.json")
    a, b = io.torch_load(stage_dir / "search_state.pt"), io.torch_load(ref_dir / "search_state.pt")
    assert _same_tensors(a["reinforce"], b["reinforce"]) and _same_tensors(a["generator"], b["generator"])
    assert io.read_json(stage_dir / "manifest.json")["outputs"]["top"] == ref["top"]
    # the progress lines print E_D itself (lower is better), not the loop's -E_D
    label = stages.d_search_label(perceptual_reward.perceptual_metric())
    last = want[-1]
    assert f"step {D_STEPS}/{D_STEPS}: {label} {last['perceptual']:.4g}, reward {last['reward']:.4f}" in text
