"""What the mobile-latency notebook runs: export checks over the zoo, the Table 2/3 timings, and the
lookup-table validation on held-out networks. Every timing is a desktop-CPU proxy (LiteRT with XNNPACK on
this machine's CPU), never mobile latency; MFAGAN's own numbers are a Snapdragon 865 GPU (Table 3) and a
V100 server (Table 2).
"""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from .. import io, pipeline, results
from ..models import build
from . import bench, export, lut_stages

# Held-out networks of the LUT validation: shrunk/narrow variants of several families, elastic MFANet
# SubGenerators, TPSR-like cells. Their kernels are measured one by one to build the table; their
# whole-network timings are never used to build or calibrate it (FBNet / nn-Meter protocol).
HELDOUT_FULL = [
    ("tpsr", {"num_feat": 8}), ("tpsr", {"num_feat": 16}),
    ("carn", {"num_feat": 8, "num_block": 1, "num_unit": 2}), ("carn", {"num_feat": 16, "num_block": 2, "num_unit": 2}),
    ("carn_m", {"num_feat": 16, "num_block": 1}),
    ("imdn", {"num_feat": 8, "num_block": 1}), ("imdn", {"num_feat": 16, "num_block": 2}),
    ("fmen", {"num_feat": 8, "num_block": 1, "mid_feat": 8, "up_blocks": (1, 1)}),
    ("fmen", {"num_feat": 16, "num_block": 2, "mid_feat": 8, "up_blocks": (1, 1, 1)}),
    ("rfdn", {"num_feat": 8, "num_block": 1}), ("rfdn", {"num_feat": 16, "num_block": 2}),
    ("esrgan", {"num_feat": 8, "num_block": 1, "num_grow_ch": 4}),
    ("mfanet", {"num_feat": 8}), ("mfanet", {"num_feat": 16}), ("mfanet", {"num_feat": 24}),
    ("mfanet", {"widths": [16, 16, 8, 16, 24, 16, 16, 16]}), ("mfanet", {"widths": [16, 16, 24, 8, 24, 8, 16, 8]}),
]
# smoke: two families, ~30 distinct kernels (an elastic MFANet alone has 45 at these widths: a minute of
# conversions in CI for numbers that mean nothing at smoke)
HELDOUT_SMALL = [("tpsr", {"num_feat": 4}), ("carn_m", {"num_feat": 8, "num_block": 1})]


def heldout(profile) -> list[tuple[str, dict]]:
    return HELDOUT_FULL if profile.latency.validation_set == "full" else HELDOUT_SMALL


def export_check(profile) -> pipeline.StageResult:
    """Every model of ``latency.export_models`` (the published architecture, seeded random weights) to
    LiteRT .tflite and ONNX, each checked against PyTorch (max abs difference, 1e-4 fp32 tolerance);
    a runtime that cannot take an op is recorded with the op's name."""
    lat = profile.latency
    params = {"models": list(lat.export_models), "lr_hw": list(lat.export_lr_hw), "tol": export.TOL}

    def run(ctx):
        import torch

        recs = []
        for name in lat.export_models:
            torch.manual_seed(0)
            model = build(name)
            for fmt, fn in (("tflite", export.export_tflite), ("onnx", export.export_onnx)):
                rec: dict[str, Any] = {"model": name, "format": fmt}
                with tempfile.TemporaryDirectory(dir=ctx.dir) as d:
                    try:
                        res = fn(model, Path(d) / f"{name}.{fmt}", tuple(lat.export_lr_hw))
                        rec.update(ok=True, max_abs_diff=res.max_abs_diff, ops=sorted(set(res.ops)),
                                   not_delegated=res.not_delegated, tool=res.tool)
                    except export.UnsupportedOpError as e:
                        rec.update(ok=False, error="unsupported op(s): " + ", ".join(e.ops), ops=e.ops)
                    except export.ExportMismatchError as e:
                        rec.update(ok=False, error=f"mismatch: {e}")
                recs.append(rec)
        io.write_json(ctx.path("exports.json"), recs)
        return {"exports": "exports.json"}

    return pipeline.stage("latency_export_check", params, run, profile=profile.name, code=[export])


def time_model(profile, model_name: str, build_kw: dict, label: str) -> dict:
    """One LiteRT-XNNPACK timing at ``latency.lr_hw`` (cached stage) -> the BenchResult dict + label."""
    lat = profile.latency
    st = bench.benchmark_stage(model_name, build_kw, tuple(lat.lr_hw), runtime="litert", threads=lat.threads,
                               xnnpack=True, repeats=lat.repeats, warmup=lat.warmup, profile=profile.name)
    return {**st["result"], "model": label, "stage": st.name}


def runtime_grid(profile, model_name: str, build_kw: dict, label: str) -> list[dict]:
    """The same model on every runtime configuration: LiteRT with and without XNNPACK, onnxruntime's CPU
    provider, 1 and 2 threads (each a cached stage). The runtime can flip which model looks faster."""
    lat = profile.latency
    out = []
    for runtime, xnn in (("litert", True), ("litert", False), ("onnxruntime", None)):
        for threads in (1, 2):
            st = bench.benchmark_stage(model_name, build_kw, tuple(lat.lr_hw), runtime=runtime, threads=threads,
                                       xnnpack=bool(xnn), repeats=lat.repeats, warmup=lat.warmup,
                                       profile=profile.name)
            out.append({**st["result"], "model": label, "stage": st.name})
    return out


def lut_validation(profile) -> tuple[pipeline.StageResult, pipeline.StageResult]:
    """Build the table from the held-out networks' single kernels, then validate on the whole networks."""
    lat = profile.latency
    nets = heldout(profile)
    hw = tuple(lat.lut_lr_hw)
    table = lut_stages.lut_stage(nets, hw, name="latency_lut", threads=lat.threads, xnnpack=True, profile=profile.name)
    val = lut_stages.validation_stage(table, nets, hw, profile=profile.name)
    return table, val
