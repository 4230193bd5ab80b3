"""The phone path without a phone: adb command builder, benchmark_model output parser, CLI wiring."""
import subprocess
from pathlib import Path

import pytest

from srlib import cli
from srlib.latency import phone

DATA = Path(phone.__file__).parent / "testdata"


def _read(name: str) -> str:
    return (DATA / name).read_text()


def test_parse_cpu_xnnpack_output():
    r = phone.parse_benchmark_output(_read("benchmark_model_cpu_xnnpack.txt"))
    assert r.avg_us == pytest.approx(40931.6)
    assert r.avg_ms == pytest.approx(40.9316)
    assert r.init_us == 41377 and r.first_us == 52118 and r.warmup_avg_us == pytest.approx(41840.2)
    assert r.runs["count"] == 50 and r.runs["std"] == 512 and r.runs["median"] == 40847
    assert r.delegations == [{"delegate": "TfLiteXNNPackDelegate", "replaced": 38, "total": 40, "partitions": 3}]
    assert r.fully_delegated is False
    # the regular runs' table, not the initialisation table that precedes it
    assert [row["node_type"] for row in r.op_profile] == [
        "TfLiteXNNPackDelegate", "RESIZE_NEAREST_NEIGHBOR", "TfLiteXNNPackDelegate", "RESIZE_NEAREST_NEIGHBOR",
        "TfLiteXNNPackDelegate"]
    assert r.op_profile[1]["avg_ms"] == pytest.approx(0.437)
    assert r.op_profile[1]["name"] == "[upsample_nearest2d]:36"
    assert r.op_profile[4]["start_ms"] == pytest.approx(22.701) and r.op_profile[4]["times_called"] == 1
    assert sum(row["avg_ms"] for row in r.op_profile) == pytest.approx(40.911, abs=1e-3)
    assert {s["node_type"]: s["count"] for s in r.op_summary} == {"TfLiteXNNPackDelegate": 3,
                                                                  "RESIZE_NEAREST_NEIGHBOR": 2}
    assert r.nodes_executed == 5
    assert r.peak_memory_mb == pytest.approx(24.4375)
    assert r.settings["Num threads"] == "1"


def test_parse_gpu_fully_delegated():
    r = phone.parse_benchmark_output(_read("benchmark_model_gpu_full.txt"))
    assert r.avg_ms == pytest.approx(23.4869)
    d = r.delegation("gpu")
    assert d == {"delegate": "TfLiteGpuDelegateV2", "replaced": 212, "total": 212, "partitions": 1}
    assert r.fully_delegated is True
    assert len(r.op_profile) == 1 and r.op_profile[0]["node_type"] == "TfLiteGpuDelegateV2"
    assert r.settings["Use gpu"] == "1"


def test_parse_logcat_partial_gpu_delegation():
    r = phone.parse_benchmark_output(_read("benchmark_model_gpu_partial_logcat.txt"))
    assert r.avg_us == pytest.approx(8547.66)
    assert r.runs["count"] == 117
    assert r.delegations[-1]["replaced"] == 79 and r.delegations[-1]["total"] == 81
    assert r.fully_delegated is False
    assert [u.split(":")[0] for u in r.unsupported_ops] == ["GATHER_ND", "RESIZE_NEAREST_NEIGHBOR"]
    # this older table has no [start] column
    assert "start_ms" not in r.op_profile[0]
    assert [row["node_type"] for row in r.op_profile] == ["TfLiteGpuDelegateV2", "GATHER_ND",
                                                          "RESIZE_NEAREST_NEIGHBOR", "TfLiteGpuDelegateV2"]
    assert r.op_profile[1]["avg_ms"] == pytest.approx(2.377)
    assert r.peak_memory_mb == pytest.approx(36.1445)


def test_parse_failure_quotes_the_error():
    with pytest.raises(phone.BenchmarkOutputError, match="Could not open"):
        phone.parse_benchmark_output(_read("benchmark_model_failed.txt"))


def test_parse_space_separated_xnnpack_op_names():
    rows = phone._parse_run_order(
        ["node type", "first", "avg ms", "%", "cdf%", "mem KB", "times called", "Name"],
        ["\t Convolution (NHWC, F32) IGEMM\t 0.512\t 0.498\t 12.5%\t 12.5%\t 0.000\t 1\tDelegate/Conv:0"])
    assert rows == [{"node_type": "Convolution (NHWC, F32) IGEMM", "first_ms": 0.512, "avg_ms": 0.498,
                     "pct": 12.5, "cdf_pct": 12.5, "mem_kb": 0.0, "times_called": 1, "name": "Delegate/Conv:0"}]


def test_adb_commands_cpu():
    cmds = phone.adb_commands("out/sr x4.tflite", "R58M123", threads=2, benchmark_binary="/opt/bm/benchmark_model")
    assert cmds == [
        ["adb", "-s", "R58M123", "push", "/opt/bm/benchmark_model", "/data/local/tmp/benchmark_model"],
        ["adb", "-s", "R58M123", "shell", "chmod", "+x", "/data/local/tmp/benchmark_model"],
        ["adb", "-s", "R58M123", "push", "out/sr x4.tflite", "/data/local/tmp/sr x4.tflite"],
        ["adb", "-s", "R58M123", "shell", "/data/local/tmp/benchmark_model",
         "'--graph=/data/local/tmp/sr x4.tflite'", "--num_threads=2", "--warmup_runs=10", "--num_runs=50",
         "--enable_op_profiling=true"],
    ]


def test_adb_commands_gpu_and_options():
    cmds = phone.adb_commands("m.tflite", "emulator-5554", gpu=True, warmup_runs=3, num_runs=7, adb="/sdk/adb",
                              push_binary=False)
    assert len(cmds) == 2 and cmds[0][:4] == ["/sdk/adb", "-s", "emulator-5554", "push"]
    run = cmds[-1]
    assert run[4:] == ["/data/local/tmp/benchmark_model", "--graph=/data/local/tmp/m.tflite", "--num_threads=1",
                       "--warmup_runs=3", "--num_runs=7", "--enable_op_profiling=true", "--use_gpu=true",
                       "--gpu_precision_loss_allowed=true"]
    with pytest.raises(ValueError, match="serial"):
        phone.adb_commands("m.tflite", "")
    with pytest.raises(ValueError):
        phone.benchmark_flags("g", threads=0)


def test_run_on_phone_with_a_fake_adb(tmp_path):
    model = tmp_path / "m.tflite"
    model.write_bytes(b"tfl3")
    binary = tmp_path / "benchmark_model"
    binary.write_bytes(b"\x7fELF")
    seen = []

    def fake(cmd, **kw):
        seen.append(cmd)
        out = _read("benchmark_model_gpu_full.txt") if "--graph=/data/local/tmp/m.tflite" in cmd else ""
        return subprocess.CompletedProcess(cmd, 0, stdout=out, stderr="")

    res, raw = phone.run_on_phone(model, "S1", gpu=True, benchmark_binary=binary, runner=fake, log=lambda m: None)
    assert seen == phone.adb_commands(model, "S1", gpu=True, benchmark_binary=binary)
    assert res.avg_ms == pytest.approx(23.4869) and "Inference timings" in raw
    rows = phone.rows(res, paper="mfagan", table="t5", model="G48", profile="mini", phone="Pixel 7", gpu=True,
                      threads=1)
    assert rows[0]["metric"] == "latency" and rows[0]["unit"] == "ms"
    assert "Pixel 7" in rows[0]["note"] and "212 out of 212" in rows[0]["note"]

    def failing(cmd, **kw):
        return subprocess.CompletedProcess(cmd, 1, stdout="", stderr="error: device 'S1' not found")

    with pytest.raises(RuntimeError, match="not found"):
        phone.run_on_phone(model, "S1", benchmark_binary=binary, runner=failing, log=lambda m: None)
    with pytest.raises(FileNotFoundError, match="benchmark binary"):
        phone.run_on_phone(model, "S1", benchmark_binary=tmp_path / "nope", runner=fake)


def test_cli_phone_dry_run_and_parse(capsys):
    assert cli.main(["latency", "phone", "m.tflite", "--serial", "S9", "--gpu", "--threads", "4",
                     "--benchmark-binary", "/b/benchmark_model", "--dry-run"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "adb -s S9 push /b/benchmark_model /data/local/tmp/benchmark_model"
    assert out[-1].endswith("--num_threads=4 --warmup_runs=10 --num_runs=50 --enable_op_profiling=true "
                            "--use_gpu=true --gpu_precision_loss_allowed=true")
    assert cli.main(["latency", "parse", str(DATA / "benchmark_model_cpu_xnnpack.txt")]) == 0
    out = capsys.readouterr().out
    assert "40.932 ms" in out and "38 out of 40" in out
    assert cli.main(["latency", "phone", "missing.tflite", "--serial", "S9"]) == 1
    with pytest.raises(SystemExit):
        cli.main(["latency"])
