"""TPSR's searches with the batch-synchronous cache rule (srlib/tpsr/search_loop.py, ``tpsr.parallel_candidates``):
the loop samples as the serial one does, Eq. 5 applied after the batch equals offering the trained model, a
stopped search resumes to the uninterrupted history, and 2 gloo ranks under torchrun (candidate i of a policy
update on rank i mod 2) give exactly the history, cache, controller and G of one process with the rule; the
discriminator search (no cache) across 2 ranks gives the serial rule's history.
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
from srlib.tpsr import cell, proxy_task, search_loop
from srlib.tpsr.config import ControllerConfig, DSearchConfig, TPSRConfig
from srlib.tpsr.proxy_task import Rejected
from srlib.tpsr.weight_cache import WeightCache
from test_tpsr_search import _net, _Scored, _same, tiny_profile

torch.set_num_threads(1)
TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
SCRIPT = TESTS / "_tpsr_parallel_script.py"


def parallel_profile(steps: int = 5, k: int = 3) -> config.Profile:
    """tiny_profile's generator search (x2 proxy of 2 steps on 8 px patches, n = 8, about half the samples
    over the limit) with the batch-synchronous rule, 5 candidates in policy updates of 3: batches of 3 and 2."""
    p = tiny_profile(steps)
    t = dataclasses.replace(p.tpsr, parallel_candidates=True,
                            controller=dataclasses.replace(p.tpsr.controller, update_every=k))
    return dataclasses.replace(p, sections={"tpsr": t})


def parallel_d_profile(parallel: bool = True) -> config.Profile:
    """The D search at its smallest (4 candidates of 3 Eq. 8 steps, k = 2), TPSR-NOGAN = the published cell
    after one step at x2 and x4 (batch 2: one sample per rank under DDP)."""
    d = DSearchConfig(steps=4, generator="published", base_channels=4, iterations=3, eval_every=1, batch=2, patch=8)
    t = TPSRConfig(num_feat=4, full_iters_x2=1, full_iters_x4=1, full_batch=2, full_patch=8, full_val_every=1,
                   full_milestones=(), controller=ControllerConfig(update_every=2), d_search=d,
                   parallel_candidates=parallel)
    data = config.DataConfig(source="skimage", train_sets=("skimage_val",), val_set="skimage_val",
                             test_sets=("skimage_val",), max_eval_hr=32)
    return config.Profile(name="tpsr_test", data=data, sections={"tpsr": t})


def _rows(stage_dir: Path) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "seconds"} for r in io.read_json(Path(stage_dir) / "history.json")]


# ------------------------------------------------------------------------------------------------------
# The profile key
# ------------------------------------------------------------------------------------------------------
def test_parallel_candidates_is_a_profile_key_and_part_of_the_stage_keys():
    from srlib.tpsr import stages

    assert {n: config.load(n).tpsr.parallel_candidates for n in ("smoke", "mini", "paper")} == \
        {"smoke": False, "mini": False, "paper": True}
    serial, sync = stages._search_params(tiny_profile(), 0), stages._search_params(parallel_profile(6, 2), 0)
    assert {k for k in serial if serial[k] != sync[k]} == {"parallel_candidates"}
    with pytest.raises(config.ConfigError, match="unknown key 'tpsr.parallel_candidate'"):
        config.load("smoke", {"tpsr.parallel_candidate": True})


# ------------------------------------------------------------------------------------------------------
# The loop
# ------------------------------------------------------------------------------------------------------
def test_batches_sample_like_the_serial_loop_and_checkpoint_once_per_update():
    """With rewards that do not depend on the cache the two rules give the same history and theta: the
    batch is sampled under the theta the serial loop would use, rejections (decided by ``screen`` before
    training) resampled in the same order."""
    reject = {0, 1, 3, 4, 5, 8}

    def evaluate(geno, index):
        return Rejected(geno, 9.0, 1.0) if index in reject else _Scored(geno, float(index % 3))

    runs = {}
    for sync in (False, True):
        state = search_loop.SearchState.new((4, 1, 4, 2), seed=0, controller={"tanh_constant": None},
                                            reinforce={"lr": 0.1})
        ckpts = []
        kw = dict(evaluate=evaluate)
        if sync:
            kw = dict(evaluate=lambda g, i, cache: evaluate(g, i), sync_cache_per_update=True,
                      screen=lambda g, i: Rejected(g, 9.0, 1.0) if i in reject else None)
        search_loop.search(state, steps=5, decode=cell.genotype, update_every=2, **kw,
                           checkpoint=lambda s: ckpts.append((len(s.history), s.steps_done, len(s.updates))))
        runs[sync] = (state, ckpts)
    (serial, _), (sync, ckpts) = runs[False], runs[True]
    assert serial.history == sync.history and serial.updates == sync.updates and serial.pending == sync.pending
    assert all(torch.equal(a, b) for a, b in zip(serial.controller.state_dict().values(),
                                                sync.controller.state_dict().values()))
    assert [r["status"] for r in sync.history] == ["rejected", "rejected", "trained", "rejected", "rejected",
                                                   "rejected", "trained", "trained", "rejected", "trained",
                                                   "trained"]
    assert ckpts == [(7, 2, 1), (10, 4, 2), (11, 5, 2)]         # after each batch: updates of k = 2, then 1 left
    assert len(sync.pending) == 1
    with pytest.raises(ValueError, match="screen"):
        search_loop.search(search_loop.SearchState.new((4,), seed=0), steps=1, decode=lambda a: a,
                           evaluate=lambda a, i, c: Rejected((), 9.0, 1.0), sync_cache_per_update=True)
    with pytest.raises(search_loop.RejectionError, match="3 candidates in a row"):
        search_loop.search(search_loop.SearchState.new((4,), seed=0), steps=1, decode=lambda a: a,
                           evaluate=lambda a, i, c: None, screen=lambda a, i: Rejected((), 9.0, 1.0),
                           max_rejections=3, sync_cache_per_update=True)


def test_eq5_after_the_batch_equals_offering_the_trained_model():
    """A candidate trained from the batch-start cache, its Eq. 5 update applied later onto the cache the
    earlier candidates of the batch have updated, gives WeightCache.offer's cache and replaced keys."""
    gA = (("conv3", 0), ("sep3", 1), ("conv1", 0))
    gB = (("conv3", 0), ("conv5", 1), ("conv1", 2))
    gC = (("conv3", 0), ("sep3", 0), ("se", 1))
    start = WeightCache()
    start.offer(_net(gA, 1), gA, 30.0)
    snapshot = start.state_dict()
    for earlier, score_b, score_c in ((31.0, 30.5, 32.0), (29.0, 30.5, 29.5), (30.0, 30.0, 31.0)):
        shared = search_loop._private(snapshot)
        shared.offer(_net(gB, 2), gB, earlier)                       # an earlier candidate of the batch
        for geno, seed, score in ((gB, 3, score_b), (gC, 4, score_c)):
            trained = _net(geno, seed)
            direct = search_loop._private(shared.state_dict())
            expect = direct.offer(trained, geno, score)
            private = search_loop._private(snapshot)
            order = private.offer(trained, geno, score)
            got = search_loop._merge(shared, search_loop._written(snapshot, private), order)
            assert got == expect, (earlier, score)
            assert shared.scores == direct.scores
            assert all(_same(shared.weights[k], direct.weights[k]) for k in direct.weights)


# ------------------------------------------------------------------------------------------------------
# The stage: resume, and 2 ranks against one process
# ------------------------------------------------------------------------------------------------------
def test_batch_synchronous_search_stopped_mid_batch_resumes_to_the_same_history(tmp_path, monkeypatch):
    from srlib.tpsr import stages

    monkeypatch.setenv("SRLIB_RESULTS", str(tmp_path / "ref"))
    ref = stages.generator_search(parallel_profile(), 0)
    real, calls = proxy_task.evaluate, [0]

    def dies_at_the_fourth(*a, **k):        # candidate 1 of the second batch: the first one is checkpointed
        calls[0] += 1
        if calls[0] == 4:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setenv("SRLIB_RESULTS", str(tmp_path / "stopped"))
    monkeypatch.setattr(proxy_task, "evaluate", dies_at_the_fourth)
    with pytest.raises(KeyboardInterrupt):
        stages.generator_search(parallel_profile(), 0)
    done = io.torch_load(tmp_path / "stopped" / "tpsr_test" / "artifacts" / ref.name / "search_state.pt")
    assert len([r for r in done["history"] if r["status"] == "trained"]) == 3 and len(done["updates"]) == 1
    monkeypatch.setattr(proxy_task, "evaluate", real)
    again = stages.generator_search(parallel_profile(), 0)
    assert _rows(again.dir) == _rows(ref.dir) and again["best_genotype"] == ref["best_genotype"]
    assert _same(io.torch_load(again.path("G.pt")), io.torch_load(ref.path("G.pt")))


def _batch_start_keys(rows: list[dict], k: int) -> list[set]:
    """For every trained row, the cache keys present when its policy update's batch began."""
    out, keys, batch_keys, n = [], set(), set(), 0
    for r in rows:
        if r["status"] != "trained":
            continue
        if n % k == 0:
            batch_keys = set(keys)
        out.append(batch_keys)
        keys |= set(r["replaced"])
        n += 1
    return out


@pytest.mark.skipif(not torch.distributed.is_available() or not torch.distributed.is_gloo_available(),
                    reason="needs gloo")
def test_two_ranks_give_the_single_process_history_cache_and_controller(tmp_path, monkeypatch):
    from srlib.tpsr import stages

    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT", "SRLIB_FORCE"):
        env.pop(k, None)
    par = tmp_path / "ranks"
    p = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--standalone",
                        str(SCRIPT), str(par)], env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout[-4000:] + p.stderr[-4000:]
    got = {r["rank"]: r for r in (io.read_json(f) for f in sorted(par.glob("result_rank*.json")))}
    assert set(got) == {0, 1}
    # generator search: 5 candidates in batches of 3 and 2; candidate i of a batch on rank i mod 2
    assert got[0]["trained_here"]["g"] == 3 and got[1]["trained_here"]["g"] == 2
    assert got[0]["g"]["outputs"] == got[1]["g"]["outputs"] and got[0]["g"]["key"] == got[1]["g"]["key"]
    g_dir = Path(got[0]["g"]["dir"])
    assert (g_dir / "manifest.json").is_file()
    par_rows = _rows(g_dir)
    par_state, par_cache = io.torch_load(g_dir / "search_state.pt"), io.torch_load(g_dir / "weight_cache.pt")

    monkeypatch.setenv("SRLIB_RESULTS", str(tmp_path / "one"))          # the same rule in one process
    one = stages.generator_search(parallel_profile(), 0)
    assert one.key == got[0]["g"]["key"]
    rows = _rows(one.dir)
    assert rows == par_rows                                             # architectures, metrics, rewards, keys
    assert one["n_trained"] == 5 and one["n_rejected"] >= 1
    assert io.read_json(one.path("updates.json")) == io.read_json(g_dir / "updates.json")
    cache = io.torch_load(one.path("weight_cache.pt"))
    assert cache["scores"] == par_cache["scores"] and cache["weights"].keys() == par_cache["weights"].keys()
    assert all(_same(cache["weights"][k], par_cache["weights"][k]) for k in cache["weights"])
    assert _same(io.torch_load(one.path("G.pt")), io.torch_load(g_dir / "G.pt"))
    state = io.torch_load(one.path("search_state.pt"))
    assert _same(state["reinforce"]["controller"], par_state["reinforce"]["controller"])
    assert torch.equal(state["generator"], par_state["generator"])
    assert got[0]["g"]["outputs"] == io.read_json(one.dir / "manifest.json")["outputs"]
    # the rule itself: every candidate started from the cache as it stood when its batch began
    trained = [r for r in rows if r["status"] == "trained"]
    for r, keys in zip(trained, _batch_start_keys(rows, 3)):
        assert set(r["loaded"]) <= keys, r["index"]

    # discriminator search (no cache): 4 candidates in batches of 2 across the ranks = the serial rule's history
    assert got[0]["trained_here"]["d"] == 2 and got[1]["trained_here"]["d"] == 2
    assert got[0]["d"]["outputs"]["top"] == got[1]["d"]["outputs"]["top"]
    d_rows = _rows(got[0]["d"]["dir"])
    monkeypatch.setenv("SRLIB_RESULTS", str(par))                      # reuse the ranks' TPSR-NOGAN stages
    serial = stages.discriminator_search(parallel_d_profile(parallel=False), 0)
    assert not serial.skipped and serial.key != got[0]["d"]["key"]
    assert _rows(serial.dir) == d_rows and serial["top"] == got[0]["d"]["outputs"]["top"]
