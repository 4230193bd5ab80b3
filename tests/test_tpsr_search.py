"""TPSR's generator search (Alg. 1, Eqs. 3-5): S_G's decisions, every sampled cell at x2 and x4, the weight
cache rule of Eq. 5 on a hand-made sequence, the Mult-Adds limit (rejected candidates never train and
never move the policy), and the search stage killed with SIGKILL and resumed against an uninterrupted one.
"""
from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from srlib import config, io
from srlib.search.reinforce import Controller
from srlib.tpsr import cell, proxy_task, search_loop
from srlib.tpsr.cell import OPS, TPSR_GENOTYPE, TPSRGenerator
from srlib.tpsr.config import ControllerConfig, ProxyConfig, TPSRConfig
from srlib.tpsr.proxy_task import Rejected
from srlib.tpsr.weight_cache import TEMPLATE, WeightCache

torch.set_num_threads(1)
TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent


def tiny_profile(steps: int = 6) -> config.Profile:
    """A profile built in code (the YAML files get their tpsr section later): x2 data = the rocket photo."""
    t = TPSRConfig(num_feat=8, search_steps=steps, mult_adds_limit_g=0.55, max_rejections=50,
                   controller=ControllerConfig(update_every=2, lr=0.05),
                   proxy=ProxyConfig(iterations=2, batch=2, patch=8, lr=1e-3))
    data = config.DataConfig(source="skimage", train_sets=("skimage_val",), val_set="skimage_val",
                             test_sets=("skimage_val",), max_eval_hr=32)
    return config.Profile(name="tpsr_test", data=data, sections={"tpsr": t})


# ------------------------------------------------------------------------------------------------------
# S_G (Eq. 4)
# ------------------------------------------------------------------------------------------------------
def test_decisions_follow_eq4_and_genotypes_round_trip():
    sizes = cell.decisions()
    assert sizes == tuple(x for m in range(10) for x in (16, m + 1)) and len(sizes) == 20
    acts = cell.actions(TPSR_GENOTYPE)
    assert acts[:4] == (OPS.index("sep5"), 0, OPS.index("conv7"), 1)
    assert cell.genotype(acts) == TPSR_GENOTYPE
    with pytest.raises(ValueError, match="node 1"):
        cell.genotype((0, 0, 0, 2))          # node 1 may take inputs 0..1 only
    with pytest.raises(ValueError, match="pairs"):
        cell.genotype((0, 0, 0))


def test_every_sampled_cell_builds_and_runs_at_x2_and_x4():
    g = torch.Generator().manual_seed(0)
    ctrl = Controller(cell.decisions(), init_seed=0)
    genos = [cell.genotype(ctrl.sample(g)[0]) for _ in range(8)]
    # and every op at every node: node m of cell k runs OPS[(k + m) % 16]
    genos += [tuple((OPS[(k + m) % 16], (k * m) % (m + 1)) for m in range(10)) for k in range(16)]
    x = torch.rand(1, 3, 6, 6)
    for geno in genos:
        for scale in (2, 4):
            net = TPSRGenerator(num_feat=16, genotype=geno, scale=scale)
            with torch.no_grad():
                y = net(x)
            assert y.shape == (1, 3, 6 * scale, 6 * scale) and torch.isfinite(y).all(), geno
    assert proxy_task.mult_adds(TPSR_GENOTYPE) == pytest.approx(3.5882496)   # Table 1: 3.6 G
    assert proxy_task.mult_adds((("identity", 0),) * 10) < proxy_task.mult_adds((("conv7", 0),) * 10)


# ------------------------------------------------------------------------------------------------------
# Eq. 5
# ------------------------------------------------------------------------------------------------------
def _net(geno, seed):
    torch.manual_seed(seed)
    return TPSRGenerator(num_feat=8, genotype=geno, scale=2)


def _same(sd_a, sd_b):
    return sd_a.keys() == sd_b.keys() and all(torch.equal(sd_a[k], sd_b[k]) for k in sd_a)


def test_weight_cache_keeps_the_best_scoring_weights_per_node_and_op(tmp_path):
    gA = (("conv3", 0), ("sep3", 1), ("conv1", 0))
    gB = (("conv3", 0), ("conv5", 1), ("conv1", 2))
    gC = (("conv3", 0), ("sep3", 0), ("se", 1))
    mA, mB, mC, mB2 = _net(gA, 1), _net(gB, 2), _net(gC, 3), _net(gB, 4)
    cache = WeightCache()
    assert cache.offer(mA, gA, 30.0) == ["0:conv3", "1:sep3", "2:conv1", TEMPLATE]   # P empty: max = -inf
    assert cache.offer(mB, gB, 29.0) == ["1:conv5"]                  # 29 < 30 at (0, conv3) and (2, conv1)
    assert cache.offer(mC, gC, 31.0) == ["0:conv3", "1:sep3", "2:se", TEMPLATE]
    assert cache.offer(mB2, gB, 31.0) == ["1:conv5", "2:conv1"]      # tie at (0, conv3): strict >, kept
    assert cache.offer(mA, gA, float("nan")) == []
    expect = {"0:conv3": (mC, 0, 31.0), "1:sep3": (mC, 1, 31.0), "2:se": (mC, 2, 31.0),
              "1:conv5": (mB2, 1, 31.0), "2:conv1": (mB2, 2, 31.0)}
    assert set(cache.scores) == set(expect) | {TEMPLATE}
    for k, (m, node, score) in expect.items():
        assert cache.scores[k] == score
        assert _same(cache.weights[k], m.cell.nodes[node].state_dict()), k
    assert "0:conv7" not in cache and (0, "conv3") in cache and cache.score(2, "sep3") is None
    # initialise: cached (node, op) pairs and the template loaded, the rest keeps its fresh weights
    gD = (("conv3", 0), ("conv7", 0), ("conv1", 0))
    fresh, target = _net(gD, 9), _net(gD, 9)
    assert cache.initialise(target, gD) == ["0:conv3", "2:conv1", TEMPLATE]
    assert _same(target.cell.nodes[0].state_dict(), mC.cell.nodes[0].state_dict())
    assert _same(target.cell.nodes[1].state_dict(), fresh.cell.nodes[1].state_dict())
    assert _same(target.cell.nodes[2].state_dict(), mB2.cell.nodes[2].state_dict())
    assert torch.equal(target.stem.weight, mC.stem.weight) and not torch.equal(target.stem.weight, fresh.stem.weight)
    with pytest.raises(ValueError, match="does not match"):
        cache.offer(mA, gB, 40.0)
    # weights-only round trip
    io.torch_save(cache.state_dict(), tmp_path / "cache.pt")
    again = WeightCache(share_template=False)
    again.load_state_dict(io.torch_load(tmp_path / "cache.pt"))
    assert again.scores == cache.scores and again.share_template
    assert all(_same(again.weights[k], cache.weights[k]) for k in cache.weights)


# ------------------------------------------------------------------------------------------------------
# The Mult-Adds limit (Alg. 1 lines 7-8, 17-20)
# ------------------------------------------------------------------------------------------------------
def test_over_the_limit_candidates_are_never_trained(monkeypatch):
    built = []

    def pixel_step(*a, **k):
        built.append(1)
        raise AssertionError("a rejected candidate must not be trained")

    monkeypatch.setattr(proxy_task, "PixelStep", pixel_step)
    cache = WeightCache()
    res = proxy_task.evaluate(TPSR_GENOTYPE, cache=cache, train=[], val=[], limit=3.5, iterations=5, batch=2,
                              patch=8, lr=1e-3, seed=0, reward_floor=0.0, reward_span=1.0)
    assert isinstance(res, Rejected) and res.mult_adds == pytest.approx(3.5882496) and res.limit == 3.5
    assert built == [] and len(cache) == 0


class _Scored:
    def __init__(self, geno, reward):
        self.reward, self.psnr = reward, 20 + reward

    def row(self):
        return {"status": "trained", "psnr": self.psnr, "reward": self.reward}


def test_rejections_never_move_the_policy():
    state = search_loop.SearchState.new((4, 1, 4, 2), seed=0, controller={"tanh_constant": None},
                                        reinforce={"lr": 0.1})
    reject = {0, 1, 3, 4, 5, 8}

    def evaluate(geno, index):
        if index in reject:
            return Rejected(geno, 9.0, 1.0)
        return _Scored(geno, float(index % 3))

    snaps = []

    def checkpoint(s):
        snaps.append((s.history[-1]["status"], {k: v.clone() for k, v in s.controller.state_dict().items()},
                      s.reinforce.updates, len(s.pending)))

    search_loop.search(state, steps=4, decode=cell.genotype, evaluate=evaluate, update_every=2, checkpoint=checkpoint)
    statuses = [s[0] for s in snaps]
    assert statuses == ["rejected", "rejected", "trained", "rejected", "rejected", "rejected", "trained",
                        "trained", "rejected", "trained"]
    assert [s[2] for s in snaps] == [0, 0, 0, 0, 0, 0, 1, 1, 1, 2]   # updates only after 2nd and 4th trained
    for (st, params, _, _), (_, prev, _, _) in zip(snaps[1:], snaps[:-1]):
        if st == "rejected":
            assert all(torch.equal(params[k], prev[k]) for k in params)
    assert not all(torch.equal(snaps[6][1][k], snaps[5][1][k]) for k in snaps[6][1])
    assert [r["step"] for r in state.trained] == [0, 1, 2, 3] and state.best["index"] == 2   # reward 2 at index 2
    with pytest.raises(search_loop.RejectionError, match="3 candidates in a row"):
        search_loop.search(search_loop.SearchState.new((4,), seed=0), steps=1, decode=lambda a: a,
                           evaluate=lambda a, i: Rejected((), 9.0, 1.0), max_rejections=3)


# ------------------------------------------------------------------------------------------------------
# Resume after SIGKILL
# ------------------------------------------------------------------------------------------------------
_CHILD = """
import os, signal, sys
import torch
torch.set_num_threads(1)
sys.path.insert(0, {tests!r})
from test_tpsr_search import tiny_profile
from srlib.tpsr import proxy_task, stages
kill_at, calls, real = int(sys.argv[1]), [0], proxy_task.evaluate
def evaluate(*a, **k):
    if calls[0] == kill_at:
        os.kill(os.getpid(), signal.SIGKILL)   # mid-search, after candidate kill_at - 1 was checkpointed
    calls[0] += 1
    return real(*a, **k)
proxy_task.evaluate = evaluate
print(stages.generator_search(tiny_profile(), 0)["n_trained"])
"""


def _child(kill_at: int, results: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "SRLIB_RESULTS": str(results), "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", _CHILD.format(tests=str(TESTS)), str(kill_at)], env=env,
                          capture_output=True, text=True, timeout=120)


def _rows(stage_dir: Path):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in io.read_json(stage_dir / "history.json")]


@pytest.mark.slow
def test_search_killed_and_resumed_gives_the_uninterrupted_history(tmp_path):
    from srlib.tpsr import stages

    ref = stages.generator_search(tiny_profile(), 0)   # in-process, uninterrupted
    rows = _rows(ref.dir)
    assert ref["n_trained"] == 6 and ref["n_rejected"] >= 1                    # the limit bites
    assert all("psnr" not in r for r in rows if r["status"] == "rejected")
    assert all(r["mult_adds_g"] > 0.55 for r in rows if r["status"] == "rejected")
    assert len(io.read_json(ref.dir / "updates.json")) == 3                     # k = 2, 6 trained

    results = tmp_path / "res"
    killed = _child(4, results)
    assert killed.returncode == -9, killed.stderr
    stage_dir = results / "tpsr_test" / "artifacts" / ref.name
    assert not (stage_dir / "manifest.json").exists()
    done = io.torch_load(stage_dir / "search_state.pt")
    assert len(done["history"]) == 4
    resumed = _child(-1, results)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming after" in resumed.stdout
    assert _rows(stage_dir) == rows
    assert _same(io.torch_load(stage_dir / "G.pt"), io.torch_load(ref.dir / "G.pt"))
    a, b = io.torch_load(stage_dir / "search_state.pt"), io.torch_load(ref.dir / "search_state.pt")
    assert _same(a["reinforce"]["controller"], b["reinforce"]["controller"])


# ------------------------------------------------------------------------------------------------------
# Profile section and the full task
# ------------------------------------------------------------------------------------------------------
def test_config_section_holds_the_paper_values_and_rejects_bad_ones():
    t = TPSRConfig()
    assert (t.search_steps, t.num_feat, t.controller.update_every) == (2500, 16, 10)
    prof = tiny_profile()
    prof.validate()
    bad = {"num_feat": dataclasses.replace(t, num_feat=10),
           "baseline_decay": dataclasses.replace(t, controller=ControllerConfig(baseline_decay=1.0)),
           "proxy.lr": dataclasses.replace(t, proxy=ProxyConfig(lr=0.0)),
           "search_seeds": dataclasses.replace(t, search_seeds=(0, 0)),
           "full_milestones": dataclasses.replace(t, full_milestones=(5, 5))}
    for key, b in bad.items():
        with pytest.raises(config.ConfigError, match=key):
            b.validate("tpsr", prof)


def test_full_task_trains_x2_then_x4_from_the_x2_model():
    from srlib.tpsr import stages

    prof = tiny_profile()
    t = dataclasses.replace(prof.tpsr, full_iters_x2=2, full_iters_x4=1, full_batch=1, full_patch=8,
                            full_val_every=1, full_milestones=())
    out = stages.full_task(dataclasses.replace(prof, sections={"tpsr": t}), TPSR_GENOTYPE, 0)
    assert out["x2"].name == "tpsr_full_x2_published_s0"
    assert out["x2"].manifest["params"]["data"]["scale"] == 2 and out["x4"].manifest["params"]["data"]["scale"] == 4
    x2, x4 = io.torch_load(out["x2"].path("G.pt")), io.torch_load(out["x4_init"].path("G.pt"))
    assert out["x4_init"]["fresh"] == ["upsample.2.bias", "upsample.2.weight"]
    assert set(x4) - set(x2) == {"upsample.2.weight", "upsample.2.bias"}
    assert all(torch.equal(x2[k], x4[k]) for k in x2)
    assert 5 < out["x4"]["final"]["val_psnr"] < 60
