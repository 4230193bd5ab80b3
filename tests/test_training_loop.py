"""srlib.training.loop: a run killed (SIGKILL / SIGTERM / SIGINT) and resumed ends bit-identical to an
uninterrupted one; checkpoints and the metrics log stay consistent; bad checkpoints fail clearly."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import _train_script as ts
from srlib import io
from srlib.training import loop

SCRIPT = Path(__file__).with_name("_train_script.py")
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)          # same as the subprocesses: identical float reductions
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """(a) the uninterrupted run."""
    torch.set_num_threads(1)
    d = tmp_path_factory.mktemp("ref")
    res, models, opts, scheds = ts.run(d)
    assert res.step == ts.STEPS and res.start_step == 0
    return d, models, opts, scheds


def _assert_same(a, b):
    """Equal state (tensors with torch.equal, everything else with ==)."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and torch.equal(a, b)
    elif isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            _assert_same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _assert_same(x, y)
    else:
        assert a == b


def _assert_same_run(reference, models, opts, scheds, run_dir):
    _, rm, ro, rs = reference
    _assert_same(rm["net"].state_dict(), models["net"].state_dict())
    _assert_same(ro["opt"].state_dict(), opts["opt"].state_dict())
    _assert_same(rs["sched"].state_dict(), scheds["sched"].state_dict())
    got, ref = loop.read_metrics(run_dir), loop.read_metrics(reference[0])
    steps = got["step"].tolist()
    assert steps == sorted(set(steps)) and steps[-1] == ts.STEPS, steps     # no duplicates after resume
    if len(got) == len(ref):          # same log_every: the same lines (metric sums survived the stop)
        assert steps == ref["step"].tolist()
        assert got["loss"].tolist() == ref["loss"].tolist() and got["lr"].tolist() == ref["lr"].tolist()


def _spawn(run_dir, *args):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, str(SCRIPT), str(run_dir), "--sleep", "0.1", *args],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(proc, cond, timeout=40.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = cond()
        if v is not None:
            return v
        if proc.poll() is not None:
            pytest.fail(f"training script ended early (rc={proc.returncode}): {proc.communicate()[1]}")
        time.sleep(0.03)
    proc.kill()
    pytest.fail("timed out waiting for the training script")


def test_sigkill_then_resume_is_exact(reference, tmp_path):
    ckpt = tmp_path / loop.CHECKPOINT
    seen = {"mtime": None}

    def ckpt_step():
        if not ckpt.exists() or ckpt.stat().st_mtime_ns == seen["mtime"]:
            return None
        seen["mtime"] = ckpt.stat().st_mtime_ns
        step = io.torch_load(ckpt)["step"]
        return step if step >= 10 else None

    proc = _spawn(tmp_path)
    _wait_for(proc, ckpt_step)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    killed_at = io.torch_load(ckpt)["step"]
    assert 10 <= killed_at < ts.STEPS
    logged = loop.read_metrics(tmp_path)["step"].max()

    res, models, opts, scheds = ts.run(tmp_path)           # resume in-process, no sleeping
    assert res.start_step == killed_at and res.step == ts.STEPS
    _assert_same_run(reference, models, opts, scheds, tmp_path)
    assert logged >= killed_at
    assert len(loop.read_metrics(tmp_path)) == ts.STEPS // ts.LOG_EVERY


def test_sigterm_checkpoints_and_exits_143(reference, tmp_path):
    log = tmp_path / loop.METRICS

    def three_lines():
        return True if log.exists() and len(log.read_text().splitlines()) >= 3 else None

    proc = _spawn(tmp_path, "--log-every", "1", "--ckpt-every", "1000")
    _wait_for(proc, three_lines)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 128 + signal.SIGTERM, err
    step = io.torch_load(tmp_path / loop.CHECKPOINT)["step"]
    assert 3 <= step < ts.STEPS
    assert loop.read_metrics(tmp_path)["step"].max() == step   # checkpoint at the step it stopped
    assert f"checkpoint at step {step}" in out

    res, models, opts, scheds = ts.run(tmp_path)
    assert res.start_step == step
    _assert_same_run(reference, models, opts, scheds, tmp_path)


def test_sigint_in_process_raises_and_restores_handler(reference, tmp_path):
    before = signal.getsignal(signal.SIGINT)

    def interrupt(step):
        if step == 8:                     # stop at an odd step: the metric sums are half a log line
            signal.raise_signal(signal.SIGINT)

    with pytest.raises(KeyboardInterrupt):
        ts.run(tmp_path, on_step=interrupt)
    assert signal.getsignal(signal.SIGINT) is before
    assert io.torch_load(tmp_path / loop.CHECKPOINT)["step"] == 9   # finished the step, then saved
    res, models, opts, scheds = ts.run(tmp_path)
    assert res.start_step == 9
    _assert_same_run(reference, models, opts, scheds, tmp_path)


def test_finished_run_is_not_retrained(reference):
    d, rm, _, _ = reference
    res, models, _, _ = ts.run(d)
    assert res.start_step == res.step == ts.STEPS and "loss" in res.metrics
    _assert_same(rm["net"].state_dict(), models["net"].state_dict())


def test_read_metrics(reference):
    df = loop.read_metrics(reference[0])
    assert list(df.columns) == ["step", "time", "loss", "lr"]
    assert df["step"].tolist() == list(range(ts.LOG_EVERY, ts.STEPS + 1, ts.LOG_EVERY))
    assert df["lr"].iloc[-1] < df["lr"].iloc[0]          # StepLR stepped
    with pytest.raises(FileNotFoundError, match="metrics.jsonl"):
        loop.read_metrics(reference[0] / "nope")


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_corrupted_checkpoint_names_file_and_fix(reference, tmp_path, damage):
    ckpt = tmp_path / loop.CHECKPOINT
    if damage == "garbage":
        ckpt.write_bytes(b"not a checkpoint")
    else:
        data = (reference[0] / loop.CHECKPOINT).read_bytes()
        ckpt.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError) as e:
        ts.run(tmp_path)
    assert str(ckpt) in str(e.value) and "delete" in str(e.value)


def test_checkpoint_of_other_models_is_refused(reference, tmp_path):
    ck = io.torch_load(reference[0] / loop.CHECKPOINT)
    ck["models"]["D"] = {}
    io.torch_save(ck, tmp_path / loop.CHECKPOINT)
    with pytest.raises(ValueError, match=r"holds models \['D', 'net'\]"):
        ts.run(tmp_path)


def test_dataset_batches_any_step_and_disjoint_shards():
    ds = torch.utils.data.TensorDataset(torch.arange(26))
    r0 = loop.dataset_batches(ds, 4, seed=3, rank=0, world_size=2)
    r1 = loop.dataset_batches(ds, 4, seed=3, rank=1, world_size=2)
    assert r0.batches_per_epoch == 3                       # 13 items per rank, full batches only
    for epoch in range(3):
        steps = range(epoch * 3, epoch * 3 + 3)
        a = [i for s in steps for i in r0.indices(s)]
        b = [i for s in steps for i in r1.indices(s)]
        assert len(set(a)) == len(a) == 12 and not set(a) & set(b)
    fresh = loop.dataset_batches(ds, 4, seed=3, rank=0, world_size=2)
    assert fresh.indices(100) == r0.indices(100)           # no replay needed
    assert r0.indices(0) != r0.indices(3)                  # a new permutation each epoch
    (x,) = r0(5)
    assert x.tolist() == r0.indices(5)
    with pytest.raises(ValueError, match="too small"):
        loop.dataset_batches(ds, 20, seed=0, rank=0, world_size=2)(0)


# --------------------------------------------------------------------------------------------------
# bfloat16 autocast + channels_last (train.precision / train.channels_last): exact resume within them
# --------------------------------------------------------------------------------------------------
_BF16_SCRIPT = """
import sys, torch
import _train_script as ts
from srlib.training import loop
torch.set_num_threads(1)
models, opts, scheds = ts.build()
loop.train(sys.argv[1], models=models, optimizers=opts, schedulers=scheds, step_fn=ts.make_step_fn(0.1),
           batches=ts.batches, total_steps=ts.STEPS, seed=ts.SEED, log_every=ts.LOG_EVERY,
           ckpt_every=ts.CKPT_EVERY, progress=False, autocast=torch.bfloat16, channels_last=True)
"""


def _run_bf16(run_dir, on_step=None):
    models, opts, scheds = ts.build()
    res = loop.train(run_dir, models=models, optimizers=opts, schedulers=scheds,
                     step_fn=ts.make_step_fn(0.0, on_step), batches=ts.batches, total_steps=ts.STEPS,
                     seed=ts.SEED, log_every=ts.LOG_EVERY, ckpt_every=ts.CKPT_EVERY, progress=False,
                     autocast=torch.bfloat16, channels_last=True)
    return res, models, opts, scheds


@pytest.fixture(scope="module")
def reference_bf16(tmp_path_factory):
    torch.set_num_threads(1)
    d = tmp_path_factory.mktemp("ref_bf16")
    res, models, opts, scheds = _run_bf16(d)
    assert res.step == ts.STEPS
    return d, models, opts, scheds


def test_bf16_channels_last_sigkill_then_resume_is_exact(reference, reference_bf16, tmp_path):
    _, rm, _, _ = reference_bf16
    w = rm["net"][0].weight
    assert w.dtype == torch.float32 and w.is_contiguous(memory_format=torch.channels_last)
    fp32_w = reference[1]["net"][0].weight
    assert not torch.equal(w, fp32_w)              # bf16 autocast really ran: other rounding than fp32
    assert (w - fp32_w).abs().max() < 0.05         # ... but the same training

    ckpt = tmp_path / loop.CHECKPOINT
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join([str(ROOT), str(SCRIPT.parent)])}
    proc = subprocess.Popen([sys.executable, "-c", _BF16_SCRIPT, str(tmp_path)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def ckpt_step():
        if not ckpt.exists():
            return None
        step = io.torch_load(ckpt)["step"]       # written atomically: never half a file
        return step if step >= 10 else None

    _wait_for(proc, ckpt_step)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    ck = io.torch_load(ckpt)
    killed_at = ck["step"]
    assert 10 <= killed_at < ts.STEPS
    assert ck["precision"] == "bf16" and ck["channels_last"] is True

    res, models, opts, scheds = _run_bf16(tmp_path)
    assert res.start_step == killed_at and res.step == ts.STEPS
    _assert_same_run(reference_bf16, models, opts, scheds, tmp_path)


def test_resume_under_other_precision_warns(reference_bf16, tmp_path):
    ck = io.torch_load(reference_bf16[0] / loop.CHECKPOINT)
    ck["step"] = 20
    io.torch_save(ck, tmp_path / loop.CHECKPOINT)
    with pytest.warns(UserWarning, match="not be bit-identical"):
        ts.run(tmp_path)                           # fp32, contiguous


def test_autocast_refuses_float16(tmp_path):
    models, opts, _ = ts.build()
    with pytest.raises(ValueError, match="only torch.bfloat16"):
        loop.train(tmp_path, models=models, optimizers=opts, step_fn=ts.make_step_fn(), batches=ts.batches,
                   total_steps=2, seed=ts.SEED, progress=False, autocast=torch.float16)
