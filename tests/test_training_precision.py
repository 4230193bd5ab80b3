"""train.precision / train.channels_last: resolution (bf16 only where native under ``auto``), validation of
the profile key, and the resolved precision in a training stage's params (key + manifest)."""
from __future__ import annotations

import pytest
import torch

from srlib import config, io
from srlib.training import loop, precision, runs


@pytest.fixture
def cpu_flags(monkeypatch):
    def set_flags(*flags):
        monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset(flags))
    return set_flags


def test_auto_falls_back_to_fp32_without_native_bf16(cpu_flags):
    cpu_flags("avx2", "avx512f", "fma")
    assert not precision.cpu_bf16_native()
    assert precision.resolve("auto", "cpu") == (torch.float32, "fp32")
    assert precision.resolve("fp32", "cpu") == (torch.float32, "fp32")
    dtype, desc = precision.resolve("bf16", "cpu")             # asked for explicitly: honoured, labelled
    assert dtype == torch.bfloat16 and desc.startswith("bf16 (autocast, emulated")


@pytest.mark.parametrize("flag", ["avx512_bf16", "amx_bf16"])
def test_auto_uses_bf16_where_the_cpu_executes_it(cpu_flags, flag):
    cpu_flags("avx2", flag)
    assert precision.cpu_bf16_native()
    assert precision.resolve("auto", "cpu") == (torch.bfloat16, f"bf16 (autocast, {flag})")
    assert precision.resolve("bf16", torch.device("cpu")) == (torch.bfloat16, f"bf16 (autocast, {flag})")


def test_auto_on_cuda_asks_torch(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert precision.resolve("auto", "cuda") == (torch.float32, "fp32")
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert precision.resolve("auto", "cuda") == (torch.bfloat16, "bf16 (autocast, cuda)")


def test_bad_setting_names_the_key():
    with pytest.raises(ValueError, match="train.precision"):
        precision.resolve("fp16", "cpu")
    with pytest.raises(config.ConfigError, match=r"train\.precision='fp16'.*auto, fp32, bf16"):
        config.load("smoke", {"train.precision": "fp16"})
    with pytest.raises(config.ConfigError, match=r"train\.channels_last must be bool"):
        config.load("smoke", {"train.channels_last": "yes"})


def test_profiles_resolve():
    for name in config.available():
        p = config.load(name)
        assert p.train.precision in precision.SETTINGS and isinstance(p.train.channels_last, bool)


def test_precision_reaches_the_stage_params_and_key(cpu_flags, monkeypatch):
    cpu_flags("avx512_bf16")
    base = {"train.progress": False, "train.log_every": 1}
    g = runs.spec("mfanet", num_feat=8)
    res = {}
    for tag, over in {"fp32": {"train.precision": "fp32"},
                      "bf16": {"train.precision": "auto", "train.channels_last": True}}.items():
        prof = config.load("smoke", {**base, **over})
        res[tag] = runs.pixel_stage(prof, f"tp_{tag}", g=g, seed=0, iters=2, lr=1e-3, val_every=1)
    p32, p16 = res["fp32"].manifest["params"], res["bf16"].manifest["params"]
    assert (p32["precision"], p32["channels_last"]) == ("fp32", False)
    assert (p16["precision"], p16["channels_last"]) == ("bf16 (autocast, avx512_bf16)", True)
    assert runs.train_note(res["bf16"]) == "trained in bf16 (autocast, avx512_bf16), channels_last"
    assert runs.train_note(res["fp32"]) == "trained in fp32"
    ck = io.torch_load(res["bf16"].dir / loop.CHECKPOINT)
    assert ck["precision"] == "bf16" and ck["channels_last"] is True
    assert loop.read_metrics(res["bf16"].dir)["val_psnr"].notna().all()
    # the same stage under another precision is another key (a cached fp32 stage is not reused)
    bf16_same_name = runs.pixel_stage(config.load("smoke", {**base, "train.precision": "bf16"}), "tp_fp32",
                                      g=g, seed=0, iters=2, lr=1e-3, val_every=1)
    assert not bf16_same_name.skipped and bf16_same_name.key != res["fp32"].key


def test_validation_leaves_autocast():
    prof = config.load("smoke")
    torch.manual_seed(0)
    G = runs.build_spec(runs.spec("mfanet", num_feat=8))
    val = runs.val_psnr(prof)
    plain = val(G)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        inside = val(G)
    assert inside == plain


def test_throughput_benchmark_flop_convention_matches_torch_counter():
    """benchmarks/train_throughput.py: every step builds and runs (fp32 and bf16 + channels_last), and its
    FLOPs per step (counter MACs x 3/2/1 per call) agree with torch.utils.flop_counter within 5%."""
    import sys
    from pathlib import Path

    from torch.utils.flop_counter import FlopCounterMode

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
    try:
        import train_throughput as tt
    finally:
        sys.path.pop(0)
    for step in tt.STEPS:
        case = tt.build_case(step, "fp32", 2, 16)
        case.fn(0)
        with FlopCounterMode(display=False) as fc:
            case.fn(1)
        ours = 2 * tt.step_macs(case)
        assert abs(ours / fc.get_total_flops() - 1) < 0.05, step
        cl = tt.build_case(step, "bf16_cl", 2, 16)
        cl.fn(0)
        w = next(p for p in cl.models["G"].parameters() if p.dim() == 4 and p.shape[-1] > 1)
        assert w.is_contiguous(memory_format=torch.channels_last), step
