"""What the mobile-latency notebook runs: export checks over the zoo, the Table 2/3 timings, and the
lookup-table validation on held-out networks. Every timing is a desktop-CPU proxy (LiteRT with XNNPACK on
this machine's CPU), never mobile latency; MFAGAN's own numbers are a Snapdragon 865 GPU (Table 3) and a
V100 server (Table 2).
"""
from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any, Mapping, Sequence

from .. import io, pipeline, results
from ..models import build
from . import bench, convert, export, lut_stages

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

# Calibration networks (srlib/latency/lut_calibration.py): other widths of the same kinds of network, timed
# whole to fit the table's per-network correction; never among the held-out ones (validate() refuses it).
CALIBRATION_FULL = [
    ("tpsr", {"num_feat": 12}), ("carn", {"num_feat": 12, "num_block": 1, "num_unit": 2}),
    ("imdn", {"num_feat": 12, "num_block": 1}), ("rfdn", {"num_feat": 12, "num_block": 1}),
    ("fmen", {"num_feat": 12, "num_block": 1, "mid_feat": 8, "up_blocks": (1, 1)}),
    ("mfanet", {"num_feat": 12}), ("mfanet", {"widths": [24, 8, 16, 24, 8, 16, 24, 8]}),
]
CALIBRATION_SMALL = [("tpsr", {"num_feat": 2}), ("tpsr", {"num_feat": 6}), ("carn_m", {"num_feat": 4, "num_block": 1})]


def heldout(profile) -> list[tuple[str, dict]]:
    return HELDOUT_FULL if profile.latency.validation_set == "full" else HELDOUT_SMALL


def calibration(profile) -> list[tuple[str, dict]]:
    return CALIBRATION_FULL if profile.latency.validation_set == "full" else CALIBRATION_SMALL


def export_record(name: str, fmt: str, lr_hw: tuple[int, int], workdir: str) -> dict[str, Any]:
    """One export round trip of zoo model ``name`` (seeded random weights) to ``fmt`` ("tflite" | "onnx")
    in a scratch folder under ``workdir``: the record :func:`export_check` keeps."""
    import torch

    torch.manual_seed(0)
    model = build(name)
    fn = export.export_tflite if fmt == "tflite" else export.export_onnx
    rec: dict[str, Any] = {"model": name, "format": fmt, "lr_hw": list(lr_hw)}
    with tempfile.TemporaryDirectory(dir=workdir) as d:
        try:
            rec.update(_passed(fn(model, Path(d) / f"{name}.{fmt}", lr_hw).to_dict()))
        except export.UnsupportedOpError as e:
            rec.update(ok=False, error="unsupported op(s): " + ", ".join(e.ops), ops=e.ops)
        except export.ExportMismatchError as e:
            rec.update(ok=False, error=f"mismatch: {e}")
    return rec


def _passed(res: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of a passed round trip's record, from an :class:`~srlib.latency.export.ExportResult` dict."""
    return {"ok": True, "max_abs_diff": res["max_abs_diff"], "ops": sorted(set(res["ops"])),
            "not_delegated": res["not_delegated"], "tool": res["tool"]}


def table3_models(profile, mfagan: tuple[str, dict]) -> dict[str, tuple[str, dict]]:
    """MFAGAN Table 3's models, label -> (zoo name, build kw): ESRGAN with ``latency.table3_esrgan_blocks``
    RRDBs (no build kw when that is the zoo's default, the published 23, so its export is the one the
    export check takes), SRGAN, EnhanceNet, and ``mfagan`` (our searched SubGenerator, from the caller)."""
    import inspect

    from .. import models

    models.names()   # loads the registry (this may be the first model a process asks for)
    default = inspect.signature(models._REGISTRY["esrgan"]).parameters["num_block"].default
    blocks = profile.latency.table3_esrgan_blocks
    return {"esrgan": ("esrgan", {} if blocks == default else {"num_block": blocks}), "srgan": ("srgan", {}),
            "enhancenet": ("enhancenet", {}), "mfagan": (mfagan[0], dict(mfagan[1]))}


def timed_exports(profile, models: Mapping[str, tuple[str, dict]], grid: tuple[str, dict] | None = None
                  ) -> list[tuple[str, dict, str]]:
    """The exported files the timings of the latency notebook read, as (zoo name, build kw, format):
    every model of ``models`` (label -> (name, build kw)) to LiteRT, and the runtime grid's model also to
    ONNX (:func:`time_model`, :func:`runtime_grid`; all at ``latency.lr_hw``)."""
    out = [(n, dict(kw), "tflite") for n, kw in models.values()]
    if grid is not None:
        out += [(grid[0], dict(grid[1]), fmt) for fmt in ("tflite", "onnx")]
    seen, uniq = set(), []
    for n, kw, fmt in out:
        key = (n, json.dumps(kw, sort_keys=True, default=str), fmt)
        if key not in seen:
            seen.add(key)
            uniq.append((n, kw, fmt))
    return uniq


def export_check(profile, workers: int | None = None, timed: Sequence[tuple[str, dict, str]] = ()
                 ) -> pipeline.StageResult:
    """Every model of ``latency.export_models`` (the published architecture, seeded random weights) to
    LiteRT .tflite and ONNX, each checked against PyTorch (max abs difference, 1e-4 fp32 tolerance);
    a runtime that cannot take an op is recorded with the op's name.

    The round trips (torch.export + lowering, single-threaded Python) run in ``workers`` worker processes
    (:func:`srlib.latency.convert.run_tasks`, default one per core, at most 4), largest models first; each
    record is the same in any process (seeded weights and inputs) and is kept as a file, so a killed check
    resumes; the records keep the profile's order.

    ``timed`` (:func:`timed_exports`): the exports at ``latency.lr_hw`` that the timings read afterwards
    (each its own cached :func:`srlib.latency.bench.export_stage`, verified the same way); those not made
    yet are converted in the same pool, so both cores stay busy to the end instead of converting Table 3's
    ESRGAN alone after the check. Nothing is timed here: timings run afterwards, one at a time. A zoo
    model exported to LiteRT at its published architecture among them (Table 3's ESRGAN, SRGAN,
    EnhanceNet) is not converted a second time at ``export_lr_hw``: its record is that export's (the
    same seeded weights and tolerance, at the larger input; the record's ``lr_hw`` says which)."""
    lat = profile.latency
    hw, lr = tuple(lat.export_lr_hw), list(lat.lr_hw)
    shared = [n for n in lat.export_models if (n, {}, "tflite") in [(t[0], dict(t[1]), t[2]) for t in timed]]
    params = {"models": list(lat.export_models), "lr_hw": list(hw), "tol": export.TOL}
    if shared:   # absent otherwise, so a check made without them stays valid
        params.update(tflite_from_timed=shared, timed_lr_hw=lr)

    def size(name: str) -> int:   # the pool's order: largest first
        from .networks import NetworkSpec

        return NetworkSpec(name, {}).n_params()

    exports = [(name, kw, lr, fmt) for name, kw, fmt in timed]

    def run(ctx):
        jobs = [(name, fmt) for name in lat.export_models for fmt in ("tflite", "onnx")]
        sizes = {name: size(name) for name in lat.export_models}
        out = {j: ctx.path(f"{j[0]}.{j[1]}.json") for j in jobs}
        tasks = [(sizes[j[0]], {"kind": "call", "fn": "srlib.latency.experiments:export_record",
                                "args": [*j, list(hw), str(ctx.dir)], "out": str(out[j])})
                 for j in jobs if not (j[1] == "tflite" and j[0] in shared)]
        tasks += bench.export_tasks(exports, ctx.path("timed"), profile=profile.name)
        convert.run_tasks([t for _, t in sorted(tasks, key=lambda t: -t[0])], ctx.dir, workers=workers, log=print,
                          what="export round trips and timed exports")
        for name in shared:   # made in the pool above: read back, nothing converted here
            st = bench.export_stage(name, {}, lr, "tflite", profile=profile.name, log=lambda _: None)
            io.write_json(out[(name, "tflite")], {"model": name, "format": "tflite", "lr_hw": lr,
                                                  **_passed(st["export"]), "from_stage": st.name})
        io.write_json(ctx.path("exports.json"), [io.read_json(out[j]) for j in jobs])
        return {"exports": "exports.json"}

    st = pipeline.stage("latency_export_check", params, run, profile=profile.name, code=[export, export_record, bench])
    if st.skipped:   # the check was made before: only the timed exports it did not make are left
        bench.export_pool(exports, profile=profile.name, workers=workers, workdir=st.dir)
    return st


def time_model(profile, model_name: str, build_kw: dict, label: str) -> dict:
    """One LiteRT-XNNPACK timing at ``latency.lr_hw`` (cached stage) -> the BenchResult dict + label."""
    lat = profile.latency
    st = bench.benchmark_stage(model_name, build_kw, tuple(lat.lr_hw), runtime="litert", threads=lat.threads,
                               xnnpack=True, repeats=lat.repeats, warmup=lat.warmup, max_s=lat.max_secs,
                               profile=profile.name)
    return {**st["result"], "model": label, "stage": st.name}


def runtime_grid(profile, model_name: str, build_kw: dict, label: str) -> list[dict]:
    """The same model on every runtime configuration: LiteRT with and without XNNPACK, onnxruntime's CPU
    provider, 1 and 2 threads (each a cached stage). The runtime can flip which model looks faster."""
    lat = profile.latency
    out = []
    for runtime, xnn in (("litert", True), ("litert", False), ("onnxruntime", None)):
        for threads in (1, 2):
            st = bench.benchmark_stage(model_name, build_kw, tuple(lat.lr_hw), runtime=runtime, threads=threads,
                                       xnnpack=bool(xnn), repeats=lat.repeats, warmup=lat.warmup, max_s=lat.max_secs,
                                       profile=profile.name)
            out.append({**st["result"], "model": label, "stage": st.name})
    return out


def lut_validation(profile) -> tuple[pipeline.StageResult, pipeline.StageResult]:
    """Build the table from the single kernels of the held-out and calibration networks, fit its
    calibration on the calibration networks timed whole, then validate on the held-out networks whole
    (their files converted in the table's worker pool, with the kernels)."""
    lat = profile.latency
    nets = heldout(profile)
    hw = tuple(lat.lut_lr_hw)
    table = lut_stages.lut_stage(nets, hw, name="latency_lut", threads=lat.threads, xnnpack=True,
                                 calibration_networks=calibration(profile), prefetch_networks=nets,
                                 profile=profile.name)
    val = lut_stages.validation_stage(table, nets, hw, profile=profile.name)
    return table, val
