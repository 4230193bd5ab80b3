"""Desktop benchmarks: sane statistics, labels, the cached stage, tidy rows."""
import time

import numpy as np
import pytest
import torch
import torch.nn as nn

from srlib import results
from srlib.latency import bench, convert
from srlib.latency import export as ex

pytest.importorskip("litert_torch")
pytest.importorskip("onnxruntime")

TINY_CARN_M = {"num_feat": 8, "num_block": 1, "num_unit": 1}


def _check(r: bench.BenchResult, n: int) -> None:
    assert r.repeats == n and len(r.times_ms) == n
    assert 0 < r.min_ms <= r.q1_ms <= r.median_ms <= r.q3_ms
    assert r.iqr_ms == pytest.approx(r.q3_ms - r.q1_ms) and r.iqr_ms >= 0
    assert r.median_ms == pytest.approx(float(np.median(r.times_ms)))
    assert r.label == "desktop CPU proxy" and "logical CPUs" in r.machine


def test_benchmark_stage_times_then_skips(tmp_path):
    logs = []
    assert not bench.export_done("carn_m", TINY_CARN_M, 16, "tflite", profile="smoke")
    s1 = bench.benchmark_stage("carn_m", TINY_CARN_M, 16, runtime="litert", threads=1, xnnpack=True, repeats=3,
                               warmup=1, profile="smoke", log=logs.append)
    assert not s1.skipped
    r = bench.BenchResult.from_dict(s1["result"])
    _check(r, 3)
    assert r.runtime == "litert" and r.runtime_version.startswith("ai-edge-litert ")
    assert r.delegate == "xnnpack" and r.threads == 1
    assert r.input_hw == (16, 16) and r.input_shape == (1, 16, 16, 3)
    assert s1["export"]["max_abs_diff"] <= 1e-4
    assert s1.path("model.tflite").is_file() and s1.path("latency.json").is_file()
    # the export it made is complete (what the latency notebook's worker pool checks before converting)
    assert bench.export_done("carn_m", TINY_CARN_M, 16, "tflite", profile="smoke")
    assert not bench.export_done("carn_m", TINY_CARN_M, 16, "onnx", profile="smoke")
    assert not bench.export_done("carn_m", {**TINY_CARN_M, "num_feat": 4}, 16, "tflite", profile="smoke")

    s2 = bench.benchmark_stage("carn_m", TINY_CARN_M, 16, runtime="litert", threads=1, xnnpack=True, repeats=3,
                               warmup=1, profile="smoke", log=logs.append)
    assert s2.skipped and s2["result"] == s1["result"]
    assert any("skipped, complete" in m for m in logs)

    # another thread count / delegate is another benchmark stage on the SAME converted file: no new conversion
    logs.clear()
    s3 = bench.benchmark_stage("carn_m", TINY_CARN_M, 16, runtime="litert", threads=2, xnnpack=False, repeats=3,
                               warmup=1, profile="smoke", log=logs.append)
    assert not s3.skipped and s3.name != s1.name
    assert any(m.startswith("[stage] export_carn_m_") and "skipped, complete" in m for m in logs)
    assert s3.path("model.tflite").read_bytes() == s1.path("model.tflite").read_bytes()
    assert bench.BenchResult.from_dict(s3["result"]).delegate.startswith("none")

    # the same file without XNNPACK and with two threads: a different configuration, labelled as such
    r2 = bench.bench_tflite(s1.path("model.tflite"), threads=2, xnnpack=False, repeats=3, warmup=1)
    _check(r2, 3)
    assert r2.delegate.startswith("none") and r2.threads == 2

    rows = bench.rows([r, s2["result"]], paper="tpsr", table="t3", profile="smoke", model="CARN-M (tiny)",
                      stage=s1.name)
    df = results.frame(rows)
    assert list(df["metric"].unique()) == ["latency"] and list(df["unit"].unique()) == ["ms"]
    assert df["value"].iloc[0] == pytest.approx(r.median_ms)
    assert all("desktop CPU proxy" in n and "ai-edge-litert" in n and "xnnpack" in n for n in df["note"])


def test_onnxruntime_bench(tmp_path):
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 48, 3, padding=1), nn.PixelShuffle(4))
    e = ex.export_onnx(net, tmp_path / "n.onnx", 12, dynamo=False)
    r = bench.bench_onnx(e.path, threads=2, repeats=4, warmup=1)
    _check(r, 4)
    assert r.runtime == "onnxruntime" and r.delegate == "CPUExecutionProvider" and r.threads == 2
    assert r.input_hw == (12, 12) and "desktop CPU proxy" in r.describe()


def test_time_calls_validates():
    t = bench.time_calls(lambda: None, 5, 0)
    assert t.shape == (5,) and (t >= 0).all()
    with pytest.raises(ValueError):
        bench.time_calls(lambda: None, 0, 1)
    # max_s ends the timed calls early, but never before MIN_RUNS of them; without it every repeat runs
    slow = bench.time_calls(lambda: time.sleep(0.01), 10, 0, max_s=0.015)
    assert len(slow) == bench.MIN_RUNS and (slow >= 9.0).all()
    assert len(bench.time_calls(lambda: None, 7, 0, max_s=10.0)) == 7
    with pytest.raises(ValueError, match="max_s"):
        bench.time_calls(lambda: None, 3, 0, max_s=0)
    assert bench.stage_name("carn", {}, (16, 16), "litert", 1, False) == "latency_carn_litert-builtin_t1_16x16"
    assert bench.stage_name("carn", {"num_feat": 8}, (16, 16), "onnxruntime", 2, True).startswith("latency_carn_")


def test_export_pool_makes_the_missing_exports_once_then_benchmarks_only_time():
    kw = {"num_feat": 4, "num_block": 1, "num_unit": 1}
    todo = [("carn_m", kw, (12, 12), "onnx"), ("carn_m", kw, [12, 12], "onnx"), ("tpsr", {"num_feat": 4}, 12, "onnx")]
    assert not any(bench.export_done(m, k, hw, f, profile="smoke") for m, k, hw, f in todo)
    logs = []
    bench.export_pool(todo, profile="smoke", workers=2, log=logs.append)
    assert all(bench.export_done(m, k, hw, f, profile="smoke") for m, k, hw, f in todo)
    assert any("2/2 exports" in line for line in logs)            # the duplicate is converted once
    assert "2 tasks" in logs[-1] and 'export_in_worker("tpsr", {"num_feat": 4}, [12, 12], "onnx")' in logs[-1]
    logs.clear()
    bench.export_pool(todo, profile="smoke", workers=2, log=logs.append)
    assert logs == []                                             # nothing left to convert
    st = bench.benchmark_stage("tpsr", {"num_feat": 4}, 12, runtime="onnxruntime", repeats=3, warmup=1, profile="smoke")
    assert st["export"]["max_abs_diff"] <= 1e-4 and bench.export_stage("tpsr", {"num_feat": 4}, 12, "onnx", profile="smoke").skipped


def test_run_tasks_returns_each_task_seconds_and_skips_done_ones(tmp_path):
    out = tmp_path / "a.json"
    task = {"kind": "call", "fn": "srlib.latency.bench:runtime_version", "args": ["onnxruntime"], "out": str(out)}
    logs = []
    seconds = convert.run_tasks([task], tmp_path, workers=1, log=logs.append)
    assert list(seconds) == ['runtime_version("onnxruntime")'] and seconds['runtime_version("onnxruntime")'] >= 0
    assert out.is_file() and "1 tasks" in logs[-1] and "slowest: runtime_version" in logs[-1]
    assert convert.run_tasks([task], tmp_path, workers=1, log=logs.append) == {}   # done: nothing run, nothing timed
