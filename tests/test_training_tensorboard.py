"""srlib.training.tensorboard: the event files beside ``metrics.jsonl`` hold the JSONL's numbers at the JSONL's
steps, each step once after a kill and resume, and nothing (one line saying why) without tensorboard."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import _train_script as ts
from srlib import io
from srlib.training import loop
from srlib.training import tensorboard as tb

SCRIPT = Path(__file__).with_name("_train_script.py")
ROOT = Path(__file__).resolve().parent.parent
needs_tb = pytest.mark.skipif(tb.unavailable() is not None, reason="tensorboard is not installed")


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)          # as the subprocess: identical float reductions
    yield
    torch.set_num_threads(n)


def _events(folder, purge=True) -> dict[str, list[tuple[int, float, float]]]:
    """(step, value, wall time) per tag, as TensorBoard reads the folder (``purge``: its orphan handling)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(folder), size_guidance={"scalars": 0}, purge_orphaned_data=purge)
    acc.Reload()
    return {t: [(e.step, e.value, e.wall_time) for e in acc.Scalars(t)] for t in acc.Tags()["scalars"]}


def _expected(run_dir) -> dict[str, list[tuple[int, float, float]]]:
    rows = tb.read_rows(run_dir / loop.METRICS)
    return {k: [(r["step"], float(np.float32(r[k])), r["time"]) for r in rows] for k in ("loss", "lr")}


@needs_tb
def test_event_scalars_equal_the_metrics_log(tmp_path):
    res, *_ = ts.run(tmp_path)
    assert res.step == ts.STEPS
    got = _events(tmp_path / tb.TB_DIR)
    assert got == _expected(tmp_path)                                    # float32 of the JSONL value, same time
    assert [s for s, _, _ in got["loss"]] == list(range(ts.LOG_EVERY, ts.STEPS + 1, ts.LOG_EVERY))
    assert len(list((tmp_path / tb.TB_DIR).glob("events.out.tfevents.*"))) == 1


@needs_tb
def test_crash_after_checkpoint_then_resume_has_each_step_once(tmp_path):
    """A crash at step 13 leaves a checkpoint at 10 and log lines (and events) at 12; the resumed run
    rewrites 12, so the events hold every step once and the uninterrupted run's values."""
    ref = tmp_path / "ref"
    ts.run(ref)

    def crash(step):
        if step == 12:
            raise RuntimeError("crash")

    run = tmp_path / "run"
    with pytest.raises(RuntimeError, match="crash"):
        ts.run(run, on_step=crash)
    assert io.torch_load(run / loop.CHECKPOINT)["step"] == 10
    assert [s for s, _, _ in _events(run / tb.TB_DIR)["loss"]][-1] == 12      # a point past the checkpoint

    res, *_ = ts.run(run)
    assert res.start_step == 10
    raw = _events(run / tb.TB_DIR, purge=False)                              # the files themselves, no purge
    steps = [s for s, _, _ in raw["loss"]]
    assert steps == list(range(ts.LOG_EVERY, ts.STEPS + 1, ts.LOG_EVERY))
    assert raw == _expected(run)
    want = _expected(ref)
    assert [(s, v) for s, v, _ in raw["loss"]] == [(s, v) for s, v, _ in want["loss"]]


@needs_tb
def test_sigkill_then_resume_has_each_step_once(tmp_path):
    ckpt = tmp_path / loop.CHECKPOINT
    log = tmp_path / loop.METRICS

    def past_checkpoint():   # a log line after the last checkpoint: a point the resumed run must replace
        if not ckpt.exists() or not log.exists():
            return None
        try:
            at = io.torch_load(ckpt)["step"]
        except ValueError:
            return None
        return True if at >= 10 and max(r["step"] for r in tb.read_rows(log)) > at else None

    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, str(SCRIPT), str(tmp_path), "--sleep", "0.1", "--log-every", "1"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    end = time.monotonic() + 60
    while not past_checkpoint():
        if proc.poll() is not None or time.monotonic() > end:
            proc.kill()
            pytest.fail(f"training script ended or stalled (rc={proc.returncode}): {proc.communicate()[1]}")
        time.sleep(0.03)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    killed_at = io.torch_load(ckpt)["step"]

    res, *_ = ts.run(tmp_path, log_every=1)
    assert res.start_step == killed_at
    for purge in (False, True):
        got = _events(tmp_path / tb.TB_DIR, purge=purge)
        assert [s for s, _, _ in got["loss"]] == list(range(1, ts.STEPS + 1))
        assert got == _expected(tmp_path)


def test_without_tensorboard_the_log_is_unchanged_and_one_line_says_why(tmp_path, monkeypatch, capsys):
    ref = tmp_path / "ref"
    ts.run(ref)
    for name in [m for m in sys.modules if m.startswith("torch.utils.tensorboard")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "tensorboard", None)                  # import tensorboard -> ImportError
    monkeypatch.setattr(tb, "_told", False)
    why = tb.unavailable()
    assert why.startswith("ModuleNotFoundError") and "tensorboard" in why

    run = tmp_path / "run"
    (run / tb.TB_DIR).mkdir(parents=True)
    stale = run / tb.TB_DIR / "events.out.tfevents.1.host.1.1"
    stale.write_bytes(b"")                                                 # would disagree with the new log
    capsys.readouterr()
    ts.run(run)
    tb.ScalarLog(tmp_path / "other")
    lines = [s for s in capsys.readouterr().out.splitlines() if s.startswith("[tensorboard]")]
    assert len(lines) == 1 and why in lines[0] and "srlib[logs]" in lines[0]
    assert not stale.exists() and not list((run / tb.TB_DIR).iterdir()) and not (tmp_path / "other").exists()
    a, b = loop.read_metrics(run), loop.read_metrics(ref)
    assert a["step"].tolist() == b["step"].tolist() and a["loss"].tolist() == b["loss"].tolist()


def test_merge_rows_keeps_the_last_value_per_step_and_tag():
    rows = [{"step": 2, "time": 1.0, "a": 1.0, "b": 5}, {"step": 4, "a": 2.0},
            {"step": 2, "time": 3.0, "a": 7.0, "c": None, "d": [1], "e": "x", "f": True, "g": float("inf")},
            {"step": 6, "a": 3.0}]
    assert tb.merge_rows(rows, upto=4) == [{"step": 2, "time": 3.0, "a": 7.0, "b": 5.0}, {"step": 4, "a": 2.0}]
    assert [r["step"] for r in tb.merge_rows(rows)] == [2, 4, 6]


@needs_tb
def test_tpsr_search_board_is_rebuilt_from_the_checkpointed_state(tmp_path):
    """The TPSR search's checkpoint callback: one point per trained candidate at its history step, the
    controller updates at ``after_step``; a board restarted from an earlier state holds each step once."""
    from srlib.tpsr import search_loop, stages

    def state_with(n_hist):
        st = search_loop.SearchState.new([2, 3], seed=0)
        hist = [{"index": 0, "status": "rejected", "mult_adds_g": 9.0},
                {"index": 1, "status": "trained", "step": 0, "metric": 30.0, "reward": 0.5, "genotype": [["a", 0]]},
                {"index": 2, "status": "trained", "step": 1, "metric": 29.0, "reward": 0.25},
                {"index": 3, "status": "trained", "step": 2, "metric": 31.0, "reward": 0.75}]
        st.history = hist[:n_hist]
        st.updates = [{"after_step": 2, "loss": -0.5, "baseline": 0.375}] if n_hist >= 3 else []
        return st

    d = tmp_path / "tb"
    board = stages._SearchBoard(d, state_with(2), tmp_path / "ckpt.pt")
    board(state_with(3))
    board(state_with(4))
    board.log.close()
    stages._SearchBoard(d, state_with(3), tmp_path / "ckpt.pt")(state_with(4))   # resumed at 3 rows
    got = _events(d, purge=False)
    assert {t: [(s, v) for s, v, _ in e] for t, e in got.items()} == {
        "candidate/metric": [(0, 30.0), (1, 29.0), (2, 31.0)],
        "candidate/reward": [(0, 0.5), (1, 0.25), (2, 0.75)],
        "candidate/best_metric": [(0, 30.0), (1, 30.0), (2, 31.0)],
        "candidate/rejected": [(0, 1.0), (1, 1.0), (2, 1.0)],
        "controller/loss": [(2, -0.5)], "controller/baseline": [(2, 0.375)]}
    assert io.torch_load(tmp_path / "ckpt.pt")["history"][-1]["index"] == 3


class _CrashAt:
    """A step function that raises at ``at`` (a crash: no checkpoint) and otherwise delegates, state included."""

    def __init__(self, inner, at: int | None):
        self.inner, self.at = inner, at

    def __call__(self, step, *args):
        if step == self.at:
            raise RuntimeError("crash")
        return self.inner(step, *args)

    def state_dict(self):
        return self.inner.state_dict()

    def load_state_dict(self, s):
        self.inner.load_state_dict(s)


@needs_tb
def test_agd_trace_events_after_a_crash_hold_each_step_once(tmp_path):
    """AGD's search trace after a crash and resume: ``trace.jsonl`` and ``tb/trace`` hold each step once,
    with the uninterrupted run's softmax(alpha), width probabilities and penalty numbers."""
    from types import SimpleNamespace

    from srlib.agd import stages
    from srlib.agd.bilevel import BilevelStep
    from srlib.agd.flops import MacsTable, PenaltyWeight
    from srlib.agd.proxy import DistillationProxy
    from srlib.agd.supernet import AGDSupernet
    from srlib.config import TrainConfig
    from srlib.models.esrgan import RRDBNet
    from srlib.pipeline import StageContext

    prof = SimpleNamespace(train=TrainConfig(log_every=2, ckpt_every=4, progress=False))
    torch.manual_seed(99)
    teacher = RRDBNet(num_feat=4, num_block=1, num_grow_ch=2).eval()

    def batch(step):
        g = torch.Generator().manual_seed(step)
        return {"weight": torch.rand(1, 3, 8, 8, generator=g), "arch": torch.rand(1, 3, 8, 8, generator=g)}

    def run(folder, crash_at=None):
        torch.manual_seed(0)
        net = AGDSupernet(num_cells=1, layers_per_cell=2, num_feat=8, widths=(4, 8), ops=("conv3x3", "residual"))
        opts = {"G": torch.optim.Adam(net.weight_parameters(), lr=1e-3),
                "arch": torch.optim.Adam(net.arch_parameters(), lr=3e-3, betas=(0.5, 0.999))}
        step = BilevelStep(MacsTable((8, 8), widths=(4, 8), num_feat=8, ops=("conv3x3", "residual")),
                           penalty=PenaltyWeight(1e-7, lower=1, upper=1),
                           proxy=DistillationProxy(w_pix=1.0, w_content=0.0), adapt_every=1, seed=5)
        ctx = StageContext(name="agd", key="k", dir=folder, params={}, profile="t", seed=0)
        folder.mkdir(exist_ok=True)
        return stages._supernet_run(ctx, prof, net=net, T=teacher, step_fn=_CrashAt(step, crash_at), opts=opts,
                                    batches=batch, total=8, seed=0, trace_every=2)

    run(tmp_path / "ref")
    with pytest.raises(RuntimeError, match="crash"):
        run(tmp_path / "run", crash_at=6)                       # checkpoint at 4, trace lines at 2, 4, 6
    run(tmp_path / "run")
    steps = [r["step"] for r in tb.read_rows(tmp_path / "run" / "trace.jsonl")]
    assert steps == [2, 4, 6, 8]                                # step 6's line past the checkpoint dropped
    assert (tmp_path / "run" / "trace.jsonl").read_text() == (tmp_path / "ref" / "trace.jsonl").read_text()
    got = _events(tmp_path / "run" / tb.TB_DIR / "trace", purge=False)
    want = _events(tmp_path / "ref" / tb.TB_DIR / "trace", purge=False)
    assert "alpha/cell0_layer1/residual" in got and "width/cell0_junction0/8" in got and "penalty_gmacs" in got
    assert all([s for s, _, _ in e] == [2, 4, 6, 8] for e in got.values())
    assert {t: [v for _, v, _ in e] for t, e in got.items()} == {t: [v for _, v, _ in e] for t, e in want.items()}
    last = tb.read_rows(tmp_path / "run" / "trace.jsonl")[-2]   # the resumed run's step 6
    assert got["alpha/cell0_layer0/conv3x3"][2][1] == float(np.float32(last["alpha"][0][0][0]))
    assert [s for s, _, _ in _events(tmp_path / "run" / tb.TB_DIR, purge=False)["loss_arch"]] == [2, 4, 6, 8]


@needs_tb
def test_mfagan_search_events_are_one_point_per_generation_after_a_crash(tmp_path, monkeypatch):
    """MFAGAN's evolutionary search restarts at generation 0 from its fitness cache: ``tb/`` holds each
    generation once, equal to ``history.json``."""
    from types import SimpleNamespace

    from srlib import config
    from srlib.mfagan import nas
    from srlib.mfagan.config import MFAGANConfig
    from srlib.mfagan.mfanet import MFANet

    monkeypatch.setenv("SRLIB_RESULTS", str(tmp_path))
    prof = config.Profile(name="t", sections={"mfagan": MFAGANConfig(
        search_population=6, search_generations=4, width_choices=(48, 32, 24))})
    monkeypatch.setattr(nas, "load_model", lambda st, role: MFANet(num_feat=48))
    calls = {"n": 0, "crash": 8}                               # of 9 fitness calls: in generation 2

    def fitness(profile, net):
        def fit(c):
            calls["n"] += 1
            if calls["n"] == calls["crash"]:
                raise RuntimeError("crash")
            return float(sum(c)) / 10
        return fit

    monkeypatch.setattr(nas, "psnr_fitness", fitness)
    sgen = SimpleNamespace(name="mfagan_supergenerator_x", key="k")
    with pytest.raises(RuntimeError, match="crash"):
        nas.search(prof, 0, sgen, lambda c: float(sum(c)), "macs", {})
    folder = tmp_path / "t" / "artifacts" / "mfagan_search_x" / tb.TB_DIR
    assert [s for s, _, _ in _events(folder)["evolution/mean"]] == [0, 1]  # points the rerun writes again
    calls["crash"] = -1
    st = nas.search(prof, 0, sgen, lambda c: float(sum(c)), "macs", {})
    hist = io.read_json(st.path("history.json"))
    got = _events(st.path(tb.TB_DIR), purge=False)
    for k in ("best_fitness", "mean", "best_so_far_fitness", "n_evaluated", "n_cached"):
        assert [(s, v) for s, v, _ in got[f"evolution/{k}"]] == [(r["gen"], float(np.float32(r[k]))) for r in hist]
    assert [s for s, _, _ in got["evolution/mean"]] == [0, 1, 2, 3, 4]


@needs_tb
def test_adasr_lambda_events_follow_each_anchors_questions_after_a_crash(tmp_path):
    """AdaSR's lambda search: after each anchor's BO, its questions (step = question number) go to ``tb/``;
    a search killed mid-anchor and resumed from ``trials.json`` holds each point once, as ``searches.json``."""
    pytest.importorskip("bayes_opt")
    from srlib.adasr import descriptions, stages
    from srlib.adasr.adaptable import Adaptable
    from srlib.adasr.matching import MappingLayers
    from srlib.models import build
    from srlib.pipeline import StageContext

    options = [(1, 8), (3, 8)]
    bo = {"trial_steps": 1, "grid": 0.25, "patience": 2, "n_init": 2, "max_trials": 2, "xi": 0.0}
    g = torch.Generator().manual_seed(3)
    batch = (torch.rand(1, 3, 4, 4, generator=g), torch.rand(1, 3, 16, 16, generator=g))
    probe = torch.rand(1, 3, 4, 4, generator=g)
    calls = {"n": 0, "crash": -1}

    def validate(model):   # a stand-in score that depends on the trained weights
        calls["n"] += 1
        if calls["n"] == calls["crash"]:
            raise RuntimeError("crash")
        with torch.no_grad():
            return {"val_psnr": 20.0 + 10 * float(model(probe).mean())}

    def run():
        torch.manual_seed(0)
        t_net, s_net = (build("carn", num_feat=8, num_block=3, num_unit=1) for _ in range(2))
        teacher, student = Adaptable(t_net, descriptions.carn(t_net)), Adaptable(s_net, descriptions.carn(s_net))
        teacher.requires_grad_(False)
        maps = MappingLayers(options, m_teacher=3, teacher_width=8)
        opt = torch.optim.Adam(list(student.parameters()) + list(maps.parameters()), lr=1e-3)
        ctx = StageContext(name="lam", key="k", dir=tmp_path, params={}, profile="t", seed=0)
        return stages.run_lambda_search(ctx, student=student, teacher_model=teacher, maps=maps, optimizer=opt,
                                        options=options, batches=lambda k: batch, validate=validate, bo=bo,
                                        initial=0.5, temperature=1.0, output_weight=1.0, max_norm=None, seed=0,
                                        log=lambda s: None)

    calls["crash"] = 4                        # validations 1-2: anchor 0; 3-4: anchor 1's two questions
    with pytest.raises(RuntimeError, match="crash"):
        run()
    assert _events(tmp_path / tb.TB_DIR)                                   # points the rerun writes again
    calls["crash"] = -1
    run()
    searches = io.read_json(tmp_path / "searches.json")
    got = _events(tmp_path / tb.TB_DIR, purge=False)
    assert sorted(searches) == ["0", "1", "2"]
    for t, s in searches.items():
        lams = [(n, float(np.float32(lam))) for n, (lam, _, _) in enumerate(s["trials"])]
        scores = [(n, float(np.float32(v))) for n, (_, v, _) in enumerate(s["trials"])]
        assert [(n, v) for n, v, _ in got[f"lambda/anchor{t}/lambda"]] == lams
        assert [(n, v) for n, v, _ in got[f"lambda/anchor{t}/val_psnr"]] == scores
        best = np.maximum.accumulate([v for _, v in scores])
        assert [v for _, v, _ in got[f"lambda/anchor{t}/best_val_psnr"]] == best.tolist()
