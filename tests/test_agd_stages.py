"""AGD's profile section and stage helpers: bad budgets are refused naming the key; the search needs two
halves of the training images; the retrain step distils the teacher's output; the search stage SIGKILLed in a
child process and resumed ends bit for bit where an uninterrupted one does."""
import pytest
import torch
import torch.nn as nn

from srlib import config
from srlib.agd.proxy import DistillationProxy
from srlib.agd.stages import ProxyStep


def test_every_profile_has_a_valid_agd_section():
    for name in ("smoke", "mini", "paper"):
        a = config.load(name).agd
        assert a.budgets and all(b["lower"] < b["upper"] for b in a.budgets.values())
        assert max(a.widths) <= a.num_feat


@pytest.mark.parametrize("key, value, words", [
    ("agd.budgets", {"L": {"flops_weight": 1e-11, "lower": 5.0, "upper": 4.0}}, "agd.budgets.L"),
    ("agd.budgets", {"L": {"flops_weight": 1e-11, "upper": 4.0}}, "agd.budgets.L"),
    ("agd.widths", [8, 64], "agd.widths"),
    ("agd.ops", ["conv5x5"], "agd.ops"),
    ("agd.teacher", "vdsr", "agd.teacher"),
])
def test_bad_agd_keys_are_refused_by_name(key, value, words):
    with pytest.raises(config.ConfigError, match=words.replace(".", r"\.")):
        config.load("smoke", {key: value})


def test_proxy_step_moves_the_student_towards_the_teacher_output():
    torch.manual_seed(0)
    T = nn.Conv2d(3, 3, 3, padding=1)
    G = nn.Conv2d(3, 3, 3, padding=1)
    opt = torch.optim.SGD(G.parameters(), lr=0.1)
    step = ProxyStep(DistillationProxy(w_pix=1.0, w_content=0.0))
    lr = torch.rand(2, 3, 8, 8)
    first = step(0, (lr, None), {"G": G, "T": T}, {"G": opt})["loss"].item()
    for k in range(1, 20):
        last = step(k, (lr, None), {"G": G, "T": T}, {"G": opt})["loss"].item()
    assert last < 0.5 * first
    assert all(p.grad is None or p.grad.abs().sum() == 0 for p in T.parameters())   # the teacher is not trained


def test_a_derived_network_exports_to_onnx_and_matches_pytorch(tmp_path):
    from srlib.agd.network import AGDGenerator, Genotype
    from srlib.latency.export import export_onnx

    g = Genotype(ops=(("skip", "dwsblock", "residual"),), widths=((4, 8),), num_feat=8)
    torch.manual_seed(0)
    res = export_onnx(AGDGenerator(g), tmp_path / "agd.onnx", lr_hw=8)   # raises if it differs from PyTorch
    assert (tmp_path / "agd.onnx").is_file() and res.max_abs_diff <= res.tol and res.output_shape == (1, 3, 32, 32)


def test_the_bilevel_batch_is_a_pure_function_of_step_and_rank():
    from srlib.agd.stages import _Halves
    from srlib.data.datasets import PatchSampler
    import numpy as np

    class P:   # a minimal image pair
        def __init__(self, seed):
            r = np.random.default_rng(seed)
            self.lr, self.hr, self.name = r.random((16, 16, 3), dtype=np.float32), r.random((64, 64, 3), dtype=np.float32), str(seed)

    halves = _Halves(PatchSampler([P(0)], 8, 4, 4, seed=1), PatchSampler([P(1)], 8, 4, 4, seed=2))
    a, b = halves(3), halves(3)
    assert torch.equal(a["weight"][0], b["weight"][0]) and not torch.equal(a["weight"][0], a["arch"][0])
    shard = halves(3, 1, 2)
    assert shard["arch"][0].shape[0] == 2 and torch.equal(shard["arch"][0], a["arch"][0][1::2])


# ---- the search stage killed with SIGKILL -------------------------------------------------------------------
SEARCH_ITERS, CKPT_EVERY = 9, 3


def tiny_search_profile() -> config.Profile:
    """The smoke profile with a 9-step search on 8-px LR patches checkpointed every 3 steps (the trace every
    step), a teacher of one pixel and one GAN step, and the two smallest photos as training images (the two
    halves; loading is the slow part). Imported by the child below."""
    return config.load("smoke", {"agd.search_iters": SEARCH_ITERS, "train.ckpt_every": CKPT_EVERY, "agd.lr_patch": 8,
                                 "baselines.esrgan.pixel_iters": 1, "baselines.esrgan.gan_iters": 1,
                                 "baselines.esrgan.gan_milestones": [], "data.train_sets": ["skimage_test"]})


_AGD_CHILD = """
import sys, time
import torch
torch.set_num_threads(1)
sys.path.insert(0, {tests!r})
from test_agd_stages import tiny_search_profile
from srlib.agd import bilevel, stages
hold, real = int(sys.argv[1]), bilevel.BilevelStep.__call__
def call(self, step, *a, **k):
    if step == hold:           # never finish on our own: the parent's SIGKILL must land mid-search
        time.sleep(600)
    return real(self, step, *a, **k)
bilevel.BilevelStep.__call__ = call
print(stages.search(tiny_search_profile(), "L", 0)["genotype"])
"""


def _agd_child(hold: int, results, out):
    import os
    import subprocess
    import sys
    from pathlib import Path

    tests = Path(__file__).resolve().parent
    env = {**os.environ, "SRLIB_RESULTS": str(results), "OMP_NUM_THREADS": "1", "PYTHONPATH": str(tests.parent)}
    return subprocess.Popen([sys.executable, "-c", _AGD_CHILD.format(tests=str(tests)), str(hold)], env=env,
                            stdout=out, stderr=subprocess.STDOUT, text=True)


@pytest.mark.slow
def test_search_killed_and_resumed_gives_the_uninterrupted_architecture(tmp_path, monkeypatch):
    """The AGD search stage in a child process, SIGKILLed from outside one step past its first checkpoint,
    then rerun in a fresh process: alpha, the width logits, every supernet weight, the genotype, the penalty
    weight, the loss log and the trace equal an uninterrupted in-process run's bit for bit (the lines past the
    checkpoint are dropped on resume, so the redone step's line appears once)."""
    import json
    import shutil
    import signal
    import time

    from srlib import io
    from srlib.agd import stages

    results = tmp_path / "res"
    monkeypatch.setenv("SRLIB_RESULTS", str(results))
    prof = tiny_search_profile()
    ref = stages.search(prof, "L", 0)              # uninterrupted; also builds the teacher and pre-training
    ref_dir = tmp_path / "ref"
    shutil.move(ref.dir, ref_dir)                  # the children rerun the search, reuse the stages before it
    ref_trace = (ref_dir / "trace.jsonl").read_text().splitlines()
    assert [json.loads(x)["step"] for x in ref_trace] == list(range(1, SEARCH_ITERS + 1))
    first, last = json.loads(ref_trace[0]), json.loads(ref_trace[-1])
    assert first["alpha"] != last["alpha"] and first["width"] != last["width"]    # the architecture moved
    assert ref["penalty_updates"] == SEARCH_ITERS and ref["flops_weight"] != 1e-11  # adapted every step

    stage_dir, log = ref.dir, tmp_path / "killed.log"
    past = CKPT_EVERY + 1                          # the child holds in the step after this one: never finishes

    def traced():
        path = stage_dir / "trace.jsonl"
        return path.read_text().count("\n") if path.is_file() else 0

    with open(log, "w") as out:
        child = _agd_child(past, results, out)
        try:
            deadline = time.monotonic() + 120
            while traced() < past:                 # step `past` traced: checkpoint CKPT_EVERY written before it
                assert child.poll() is None, log.read_text()
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.01)
        finally:
            child.send_signal(signal.SIGKILL)      # also when the wait failed: never leave the held child behind
        assert child.wait(60) == -signal.SIGKILL
    assert not (stage_dir / "manifest.json").exists() and not (stage_dir / "G.pt").exists()
    assert io.torch_load(stage_dir / "checkpoint.pt")["step"] == CKPT_EVERY
    assert (stage_dir / "trace.jsonl").read_text().splitlines() == ref_trace[:past]

    log = tmp_path / "resumed.log"
    with open(log, "w") as out:
        assert _agd_child(-1, results, out).wait(120) == 0, log.read_text()
    assert "resuming unfinished run" in log.read_text()

    a, b = io.torch_load(stage_dir / "G.pt"), io.torch_load(ref_dir / "G.pt")
    assert a.keys() == b.keys() and {"alpha", "width_logits"} <= a.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert io.read_json(stage_dir / "genotype.json") == io.read_json(ref_dir / "genotype.json")
    outputs = io.read_json(stage_dir / "manifest.json")["outputs"]
    assert outputs == ref.outputs                  # genotype, its MACs, flops_weight, penalty updates, last losses
    trace = (stage_dir / "trace.jsonl").read_text().splitlines()
    assert trace == ref_trace                      # byte for byte: the line of the redone step `past` once

    def losses(folder):
        return [{k: v for k, v in r.items() if k != "time"} for r in map(json.loads, open(folder / "metrics.jsonl"))]

    assert losses(stage_dir) == losses(ref_dir)


def test_agd_rows_in_an_unknown_table_are_refused_naming_the_known_ones():
    from srlib.agd import experiments

    with pytest.raises(KeyError, match=r"AGD has no row in tpsr table1; known: .*'adasr', 'table1'.*'mfagan', 'table2'"):
        experiments.rows_in(config.load("smoke"), "tpsr", "table1")
