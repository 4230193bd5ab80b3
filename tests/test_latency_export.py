"""Export round trips (LiteRT .tflite and ONNX) within 1e-4 of PyTorch, and rejected ops named."""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from srlib import models
from srlib.latency import export as ex

pytest.importorskip("litert_torch")
pytest.importorskip("onnxruntime")

HW = 16
SMALL_CARN = dict(num_feat=8, num_block=1, num_unit=1)


class _Median(nn.Module):   # aten.median.dim: no lowering in litert-torch, no ONNX function
    def forward(self, x):
        return x.median(dim=1, keepdim=True)[0]


class _Sort(nn.Module):     # converts to STABLEHLO_SORT, which the LiteRT interpreter does not have
    def forward(self, x):
        return torch.sort(x, dim=1)[0]


class _Nearest(nn.Module):  # RESIZE_NEAREST_NEIGHBOR: runs, but XNNPACK does not take it
    def forward(self, x):
        return F.interpolate(x, scale_factor=2, mode="nearest")


@pytest.mark.parametrize("name,kw", [("tpsr", {}), ("carn", SMALL_CARN)])
def test_tflite_round_trip(tmp_path, name, kw):
    torch.manual_seed(0)
    r = ex.export_tflite(models.build(name, **kw), tmp_path / f"{name}.tflite", HW)
    assert r.max_abs_diff <= 1e-4 and r.tol == 1e-4
    assert (tmp_path / f"{name}.tflite").is_file()
    assert r.layout == "NHWC" and r.input_shape == (1, HW, HW, 3) and r.output_shape == (1, 4 * HW, 4 * HW, 3)
    assert "CONV_2D" in r.ops and r.not_delegated == {"xnnpack": []}
    assert list(tmp_path.iterdir()) == [tmp_path / f"{name}.tflite"]  # no temp files left


@pytest.mark.parametrize("name,kw,dynamo", [("tpsr", {}, True), ("carn", SMALL_CARN, False)])
def test_onnx_round_trip(tmp_path, name, kw, dynamo):
    torch.manual_seed(0)
    r = ex.export_onnx(models.build(name, **kw), tmp_path / f"{name}.onnx", HW, dynamo=dynamo)
    assert r.max_abs_diff <= 1e-4
    assert r.opset == ex.ONNX_OPSET == 18
    assert r.input_shape == (1, 3, HW, HW) and r.output_shape == (1, 3, 4 * HW, 4 * HW)
    assert "Conv" in r.ops and "DepthToSpace" in r.ops  # PixelShuffle -> DepthToSpace


def test_converter_rejection_is_named(tmp_path):
    with pytest.raises(ex.UnsupportedOpError) as e:
        ex.export_tflite(_Median(), tmp_path / "m.tflite", 8)
    assert e.value.ops == ["aten.median.dim"] and "litert-torch" in e.value.runtime
    assert "aten.median.dim" in str(e.value)
    with pytest.raises(ex.UnsupportedOpError) as e:
        ex.export_onnx(_Median(), tmp_path / "m.onnx", 8, dynamo=False)
    assert e.value.ops == ["aten.median"]
    assert not list(tmp_path.iterdir())


def test_runtime_and_xnnpack_rejections_are_named(tmp_path):
    with pytest.raises(ex.UnsupportedOpError) as e:
        ex.export_tflite(_Sort(), tmp_path / "s.tflite", 8)
    assert e.value.ops == ["STABLEHLO_SORT"] and "interpreter" in e.value.runtime
    assert not (tmp_path / "s.tflite").exists()
    r = ex.export_tflite(_Nearest(), tmp_path / "n.tflite", 8)
    assert r.not_delegated == {"xnnpack": ["RESIZE_NEAREST_NEIGHBOR"]}
    assert ex.xnnpack_rejected(r.path) == ["RESIZE_NEAREST_NEIGHBOR"]


def test_mismatch_raises_and_leaves_no_file(tmp_path):
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU())
    with pytest.raises(ex.ExportMismatchError, match="tolerance"):
        ex.export_onnx(net, tmp_path / "c.onnx", 8, tol=-1.0, dynamo=False)  # the check is shared with tflite
    assert not list(tmp_path.iterdir())
    assert net.training  # the caller's mode is restored


def test_error_message_parsers():
    assert ex._aten_ops("Lowering not found: aten.median.dim") == ["aten.median.dim"]
    assert ex._aten_ops("No ONNX function found for <OpOverload(op='aten.erfinv', overload='default')>") == [
        "aten.erfinv"]
    assert ex._aten_ops("Exporting the operator 'aten::fft_rfft2' to ONNX opset version 18") == ["aten.fft_rfft2"]
    assert ex._runtime_ops("Didn't find op for builtin opcode 'STABLEHLO_SORT' version '1'") == ["STABLEHLO_SORT"]
    assert ex._runtime_ops("Could not find an implementation for Foo(1) node with name 'n0'") == ["Foo"]
    assert ex._unsupported_aten_ops(RuntimeError("shape mismatch in aten.convolution"), "shape mismatch") == []



def test_reuse_op_table_gives_the_same_file_and_restores_torch(tmp_path, monkeypatch):
    import contextlib

    import torch._export.utils as teu
    import torch.export.exported_program as tep

    import torch.export._trace as tet

    orig, copy = teu._collect_all_valid_cia_ops, tet._populate_param_buffer_metadata_to_new_gm
    with ex.reuse_op_table():
        assert teu._collect_all_valid_cia_ops is not orig and tep._collect_all_valid_cia_ops is teu._collect_all_valid_cia_ops
        first, second = teu._collect_all_valid_cia_ops(), tep._collect_all_valid_cia_ops()
        assert first is second and teu._collect_all_valid_cia_ops.cache_info().misses == 1
        assert tet._populate_param_buffer_metadata_to_new_gm is ex._populate_param_buffer_metadata_once
        assert tep._populate_param_buffer_metadata_to_new_gm is ex._populate_param_buffer_metadata_once
    assert teu._collect_all_valid_cia_ops is orig and tep._collect_all_valid_cia_ops is orig
    assert tet._populate_param_buffer_metadata_to_new_gm is copy and teu._populate_param_buffer_metadata_to_new_gm is copy
    assert first == orig()

    conv, x = nn.Sequential(nn.Conv2d(4, 4, 3, padding=1), nn.BatchNorm2d(4)).eval(), torch.rand(1, 4, 8, 8)  # params + buffers
    ex.convert_tflite(conv, x, tmp_path / "reused.tflite")
    monkeypatch.setattr(ex, "reuse_op_table", contextlib.nullcontext)
    ex.convert_tflite(conv, x, tmp_path / "plain.tflite")
    assert (tmp_path / "reused.tflite").read_bytes() == (tmp_path / "plain.tflite").read_bytes()


def test_export_check_converts_timed_exports_in_its_pool_and_reuses_a_published_one():
    """The latency notebook's check: round trips and the files its timings read in one worker pool; a zoo
    model the timings export at its published architecture is not converted a second time."""
    from srlib import config, io
    from srlib.latency import bench
    from srlib.latency import experiments as lx

    cfg = config.load("smoke", {"latency.export_models": ["tpsr"], "latency.export_lr_hw": [8, 8],
                                "latency.lr_hw": [12, 12]})
    timed = lx.timed_exports(cfg, {"a": ("tpsr", {})}, grid=("carn_m", SMALL_CARN))
    assert timed == [("tpsr", {}, "tflite"), ("carn_m", SMALL_CARN, "tflite"), ("carn_m", SMALL_CARN, "onnx")]
    st = lx.export_check(cfg, workers=2, timed=timed)
    assert all(bench.export_done(n, kw, 12, fmt, profile="smoke") for n, kw, fmt in timed)
    recs = {r["format"]: r for r in io.read_json(st.path(st["exports"]))}
    assert recs["tflite"]["lr_hw"] == [12, 12] and recs["tflite"]["from_stage"].startswith("export_tpsr_tflite")
    assert recs["onnx"]["lr_hw"] == [8, 8] and all(r["ok"] and r["max_abs_diff"] <= 1e-4 for r in recs.values())
    assert st.manifest["params"]["tflite_from_timed"] == ["tpsr"]
    # made before: a second call converts only the timed export it did not make (bench.export_pool)
    more = ("tpsr", {"num_feat": 4}, "onnx")
    assert not bench.export_done(more[0], more[1], 12, more[2], profile="smoke")
    st2 = lx.export_check(cfg, workers=2, timed=timed + [more])
    assert st2.skipped and bench.export_done(more[0], more[1], 12, more[2], profile="smoke")
    assert not list(st2.dir.glob(".exports-*"))                       # its task records were temporary
