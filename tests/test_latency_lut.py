"""Latency lookup tables: fused kernel keys, missing keys, sums, files, a tiny build + validation."""
import time

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from srlib import models
from srlib.latency import convert, lut_stages, lut_validation
from srlib.latency import export as ex
from srlib.latency.lut import LUT, build_lut
from srlib.latency.networks import NetworkSpec
from srlib.latency.trace import OVERHEAD, Kernel, kernel_module, trace_kernels


class _Fusions(nn.Module):
    """Every fusion rule of the tracer once."""

    def __init__(self):
        super().__init__()
        self.c1, self.c2, self.c3 = nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(8, 8, 3, padding=1), nn.Conv2d(8, 8, 1)
        self.c4 = nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=False)
        self.bn = nn.BatchNorm2d(8)
        self.act = nn.LeakyReLU(0.2, inplace=True)

    def forward(self, x):
        a = F.relu(self.c1(x * 255.0))          # scalar mul folds into c1; ReLU fuses
        b = self.act(self.c2(a))                # LeakyReLU stays a kernel of its own
        c = self.c3(b) * 0.2 + a                # scalar mul folds into c3; the add stays
        d = F.relu6(self.bn(self.c4(c)))        # BN folds into the depthwise conv, ReLU6 fuses
        return F.relu(d + c)                    # add + ReLU: one ADD


def _key(op, **kw):
    return str(Kernel.make(op, **kw))


def test_trace_fuses_like_the_converter():
    ks = [str(k) for k in trace_kernels(_Fusions(), (8, 6))]
    assert ks == [
        str(OVERHEAD),
        _key("conv2d", h=8, w=6, cin=3, cout=8, k=3, stride=1, pad=1, dil=1, groups=1, act="relu"),
        _key("conv2d", h=8, w=6, cin=8, cout=8, k=3, stride=1, pad=1, dil=1, groups=1, act="none"),
        _key("leaky_relu", c=8, h=8, w=6),
        _key("conv2d", h=8, w=6, cin=8, cout=8, k=1, stride=1, pad=0, dil=1, groups=1, act="none"),
        _key("add", a=(8, 8, 6), b=(8, 8, 6), act="none"),
        _key("conv2d", h=8, w=6, cin=8, cout=8, k=3, stride=1, pad=1, dil=1, groups=8, act="relu6"),
        _key("add", a=(8, 8, 6), b=(8, 8, 6), act="relu"),
    ]
    # meta and real passes agree
    assert trace_kernels(_Fusions(), (8, 6), device="cpu") == trace_kernels(_Fusions(), (8, 6), device="meta")


def test_kernel_keys_round_trip():
    for k in trace_kernels(models.build("imdn", num_feat=8, num_block=1), 16):
        assert Kernel.parse(str(k)) == k
    k = Kernel.make("concat", h=4, w=4, cins=(8,))
    assert str(k) == "concat(h=4,w=4,cins=8x)" and Kernel.parse(str(k)) == k
    with pytest.raises(ValueError):
        Kernel.parse("not a key")


def _synthetic(kernels, seed=0):
    g = torch.Generator().manual_seed(seed)
    return LUT({str(k): float(torch.rand(1, generator=g)) + 0.01 for k in kernels},
               {"runtime": "litert", "threads": 1, "delegate": "xnnpack", "lr_hw": [16, 16]})


def test_predict_is_the_sum_and_missing_keys_raise():
    spec = NetworkSpec("carn", {"num_feat": 8, "num_block": 1, "num_unit": 2})
    ks = spec.kernels(16)
    lut = _synthetic(ks)
    want = sum(lut[k] for k in ks)  # every occurrence counted
    assert lut.predict(ks) == pytest.approx(want)
    assert lut.predict(spec) == pytest.approx(want)  # lr_hw from the table
    assert lut.predict(("carn", {"num_feat": 8, "num_block": 1, "num_unit": 2}), 16) == pytest.approx(want)
    assert lut.predict(lut.compile(ks)) == pytest.approx(want)
    bd = lut.breakdown(ks)
    assert bd["ms_total"].sum() == pytest.approx(want) and bd["count"].sum() == len(ks)

    missing = next(k for k in ks if k.op == "pixel_shuffle")
    del lut.entries[str(missing)]
    with pytest.raises(KeyError, match=r"pixel_shuffle\(c=32,h=16,w=16,r=2\) is not in the latency table"):
        lut.predict(ks)
    assert lut.missing(ks) == [str(missing)]
    with pytest.raises(KeyError):
        lut.predict(spec, 32)  # another input size: other keys


def test_scorer_is_memoised_and_fast():
    widths = [[8] * 8, [8, 4, 8, 4, 8, 4, 8, 8]]
    lists = {tuple(w): NetworkSpec("mfanet", {"widths": w}).kernels(16) for w in widths}
    lut = _synthetic([k for ks in lists.values() for k in ks])
    calls = []

    def kernels_of(w):
        calls.append(tuple(w))
        return lists[tuple(w)]

    score = lut.scorer(kernels_of)
    assert score(widths[0]) == pytest.approx(lut.predict(lists[tuple(widths[0])]))
    t = time.perf_counter()
    for i in range(4000):
        score(widths[i % 2])
    assert time.perf_counter() - t < 2.0  # thousands of candidates per second once kernels are known
    assert calls == [tuple(widths[0]), tuple(widths[1])]


def test_save_and_load(tmp_path):
    lut = _synthetic(trace_kernels(models.build("tpsr", num_feat=4), 8))
    for name in ("t.csv", "t.json"):
        back = LUT.load(lut.save(tmp_path / name))
        assert back.entries == pytest.approx(lut.entries) and back.meta == lut.meta
    with pytest.raises(ValueError):
        lut.save(tmp_path / "t.txt")


class _Tiny(nn.Module):
    def __init__(self, blocks=1):
        super().__init__()
        self.head = nn.Conv2d(3, 8, 3, padding=1)
        self.body = nn.ModuleList(nn.Conv2d(8, 8, 3, padding=1) for _ in range(blocks))
        self.tail = nn.Conv2d(8, 12, 3, padding=1)

    def forward(self, x):
        h = F.relu(self.head(x))
        for c in self.body:
            h = F.leaky_relu(c(h), 0.05) + h
        return F.pixel_shuffle(self.tail(h), 2)


def test_tiny_build_kernel_models_and_validation(tmp_path):
    kernels = trace_kernels(_Tiny(1), 12)
    assert [k.op for k in kernels[1:]] == ["conv2d", "conv2d", "leaky_relu", "add", "conv2d", "pixel_shuffle"]
    assert kernels[1]["act"] == "relu"  # conv + ReLU: one kernel
    work = tmp_path / "lut"
    lut = build_lut(kernels, work, samples=3, rounds=1, lr_hw=(12, 12), keep_files=True, workers=1, log=None)
    assert set(lut.entries) == {str(k) for k in kernels}
    assert lut.meta["overhead_ms"] == lut[OVERHEAD] > 0
    assert lut.meta["delegate"] == "xnnpack" and lut.meta["label"] == "desktop CPU proxy"

    # the converted network runs exactly the ops of its kernels' one-kernel models, in order: LiteRT fuses
    # conv+ReLU into one CONV_2D, keeps LeakyReLU apart, and no model gains layout TRANSPOSEs
    nets = [("tiny1", _Tiny(1)), ("tiny2", _Tiny(2))]
    net_ops = [o.name for o in ex.tflite_ops(convert.network_file(nets[0], 12, work))]
    kernel_ops = [o.name for k in kernels[1:] for o in ex.tflite_ops(convert.kernel_file(work, k))]
    assert net_ops == kernel_ops
    assert net_ops[:4] == ["CONV_2D", "CONV_2D", "LEAKY_RELU", "ADD"]
    assert [o.name for o in ex.tflite_ops(convert.kernel_file(work, OVERHEAD))] == ["ADD"]

    # held out: the two-block net's whole-network time never enters the table
    df = lut_validation.validate(lut, nets, 12, workdir=work, samples=3, rounds=1)
    assert list(df["network"]) == ["tiny1", "tiny2"]
    for col in ("predicted_ms", "measured_ms", "error_pct", "within_10pct", "share_within_10pct", "rmspe_pct"):
        assert col in df.columns
    assert (df["measured_ms"] > 0).all() and (df["predicted_ms"] > 0).all()
    assert 0 <= df["share_within_10pct"].iloc[0] <= 100 and df["rmspe_pct"].iloc[0] >= 0
    assert df.attrs["n"] == 2 and df.attrs["rmspe_pct"] == pytest.approx(df["rmspe_pct"].iloc[0])
    assert not df["calibrated"].any() and df["predicted_sum_ms"].tolist() == df["predicted_ms"].tolist()
    s = lut_validation.summary(df.assign(error_pct=[5.0, -20.0], error_sum_pct=[-1.0, 30.0]))
    assert s == {"within_10pct": 50.0, "rmspe_pct": pytest.approx((0.5 * (25 + 400)) ** 0.5), "n": 2,
                 "within_10pct_sum": 50.0, "rmspe_sum_pct": pytest.approx((0.5 * (1 + 900)) ** 0.5)}


def test_lut_stage_is_cached():
    extra = [Kernel.make("conv2d", h=8, w=8, cin=4, cout=4, k=3, stride=1, pad=1, dil=1, groups=1, act="relu")]
    logs = []
    s1 = lut_stages.lut_stage([], 8, extra_kernels=extra, samples=2, rounds=1, profile="smoke", log=logs.append)
    s2 = lut_stages.lut_stage([], 8, extra_kernels=extra, samples=2, rounds=1, profile="smoke", log=logs.append)
    assert not s1.skipped and s2.skipped and s2["n_entries"] == 2
    lut = lut_stages.load_lut(s2)
    assert str(extra[0]) in lut and lut.meta["lr_hw"] == [8, 8]
    assert LUT.load(s2.path("lut.csv")).entries == pytest.approx(lut.entries)


def test_parallel_kernel_conversion_writes_the_same_files(tmp_path):
    keys = [str(k) for k in trace_kernels(_Tiny(1), 12)]
    convert.convert_kernels(keys, tmp_path / "serial", workers=1, log=None)
    lines = []
    convert.convert_kernels(keys, tmp_path / "parallel", workers=2, log=lines.append)
    for k in keys:
        parallel, serial = convert.kernel_file(tmp_path / "parallel", k), convert.kernel_file(tmp_path / "serial", k)
        assert parallel.read_bytes() == serial.read_bytes(), k
    assert lines[-2].startswith("[lut] converted 2/2 kernel batches") and "2 processes" in lines[-2]
    assert lines[-1].startswith("[lut] 2 tasks") and "slowest: " in lines[-1] and " kernels from " in lines[-1]   # where the time went
    # existing files are kept, not converted again
    lines.clear()
    convert.convert_kernels(keys, tmp_path / "parallel", workers=2, log=lines.append)
    assert lines == []


def test_failing_conversion_worker_names_its_log(tmp_path):
    good = str(trace_kernels(_Tiny(1), 12)[1])
    with pytest.raises(RuntimeError, match=r"conversion failed in a worker process .*\.convert-[0-9a-f]{8}-\d\.log"):
        convert.convert_kernels([good, "conv2d(h=12,w=12,cin=3)", good.replace("cout=8", "cout=4")], tmp_path,
                                workers=2, log=None)


def test_calibration_fit_recovers_a_known_gap_and_refuses_heldout_networks():
    from srlib.latency import lut_calibration as lc

    sums, counts = [2.0, 5.0, 9.0, 3.0, 12.0], [10, 40, 30, 25, 80]
    measured = [1.08 * s + 0.004 * n + 0.02 for s, n in zip(sums, counts)]   # 8 % slower + 4 us/op + 20 us
    cal = lc.fit(sums, counts, measured, ["a", "b", "c", "d", "e"])
    assert (cal.scale, cal.per_kernel_ms, cal.per_network_ms) == pytest.approx((1.08, 0.004, 0.02), rel=1e-6)
    assert cal.fit_rmspe_pct == pytest.approx(0.0, abs=1e-6) and cal.raw_rmspe_pct > 8.0
    assert lc.Calibration.from_dict(cal.to_dict()) == cal
    assert cal.loo_rmspe_pct == pytest.approx(0.0, abs=1e-6) and cal.fitted == pytest.approx((1.08, 0.004, 0.02))
    with pytest.raises(ValueError, match="held out: b"):
        lc.fit(sums, counts, measured, ["a", "b", "c", "d", "e"], heldout=["b", "x"])
    with pytest.raises(ValueError, match=">= 3 networks"):
        lc.fit(sums[:2], counts[:2], measured[:2], ["a", "b"])


def test_calibration_keeps_the_plain_sum_when_the_fit_only_fits_noise():
    from srlib.latency import lut_calibration as lc

    sums, counts = [2.0, 5.0, 9.0, 3.0, 12.0, 7.0], [10, 40, 30, 25, 80, 50]
    noise = [1.06, 0.95, 1.03, 0.96, 1.0, 1.04]          # +-6 % around the plain sum, no gap
    measured = [s * f for s, f in zip(sums, noise)]
    cal = lc.fit(sums, counts, measured, list("abcdef"))
    assert cal.is_plain_sum and cal.loo_rmspe_pct >= cal.raw_rmspe_pct == cal.fit_rmspe_pct
    assert "plain sum kept" in cal.note and len(cal.fitted) == 3 and cal.fitted != (1.0, 0.0, 0.0)
    forced = lc.fit(sums, counts, measured, list("abcdef"), select=False)
    assert not forced.is_plain_sum and forced.fit_rmspe_pct < forced.raw_rmspe_pct < forced.loo_rmspe_pct
    # the same noise on top of a real 10 % gap: the fit is kept
    gap = lc.fit(sums, counts, [1.1 * m for m in measured], list("abcdef"))
    assert not gap.is_plain_sum and gap.scale == pytest.approx(1.1, abs=0.06) and gap.loo_rmspe_pct < gap.raw_rmspe_pct


def test_networks_are_timed_in_the_kernels_passes_and_never_stored(tmp_path, monkeypatch):
    from srlib.latency import kernel_store
    from srlib.latency import lut as lut_module

    calls = _fake_timing(monkeypatch)
    monkeypatch.setattr(lut_module, "convert_kernels", lambda *a, **k: None)
    monkeypatch.setattr(lut_module, "network_paths",
                        lambda nets: {n[0]: tmp_path / f"{n[0]}.tflite" for n, _, _ in nets})
    keys = [str(k) for k in trace_kernels(_Tiny(1), 12)]
    store = kernel_store.KernelStore.for_runtime(threads=1, xnnpack=True, samples=2, rounds=1, root=tmp_path / "store")
    nets = [(("tiny1", _Tiny(1)), 12, tmp_path), (("tiny2", _Tiny(2)), 12, tmp_path)]
    a = build_lut(keys, tmp_path / "a", samples=2, rounds=1, store=store, workers=1, log=None, networks=nets,
                  time_networks=True)
    assert calls[-1] == sorted(set(keys) | {str(OVERHEAD), "network:tiny1", "network:tiny2"})   # one call, interleaved
    assert set(a.meta["networks_ms"]) == {"tiny1", "tiny2"} and a.meta["networks_disturbed"] == []
    assert a.meta["networks_ms"]["tiny1"] == pytest.approx(1e-3 * (1 + len("network:tiny1") % 7))
    assert set(a.entries) == set(keys) | {str(OVERHEAD)} and set(store.entries()) == set(keys) | {str(OVERHEAD)}
    # every kernel from the store: the networks are still timed (alone), the table's entries are the stored ones
    b = build_lut(keys, tmp_path / "b", samples=2, rounds=1, store=store, workers=1, log=None, networks=nets,
                  time_networks=True)
    assert calls[-1] == ["network:tiny1", "network:tiny2"] and b.entries == a.entries
    assert set(b.meta["networks_ms"]) == {"tiny1", "tiny2"}
    # without time_networks: converted only
    c = build_lut(keys, tmp_path / "c", samples=2, rounds=1, store=store, workers=1, log=None, networks=nets)
    assert len(calls) == 2 and "networks_ms" not in c.meta


def test_calibrate_takes_the_tables_own_network_times(tmp_path, monkeypatch):
    from srlib.latency import lut_calibration as lc

    specs = [NetworkSpec("tpsr", {"num_feat": f}) for f in (2, 4, 6)] + [NetworkSpec("carn_m", {"num_feat": 4, "num_block": 1})]
    hw = (8, 8)
    lut = LUT({str(k): 0.01 * (1 + i % 3) for i, k in enumerate({str(k) for s in specs for k in s.kernels(hw)})},
              {"lr_hw": [8, 8]})
    sums = {s.title: lc.features(lut.entries, s.kernels(hw))[0] for s in specs}
    measured = {t: 1.2 * v for t, v in sums.items()}

    def not_again(*a, **k):
        raise AssertionError("networks the table timed must not be timed again")

    monkeypatch.setattr(lut_validation, "measure_networks", not_again)
    cal, rows = lut_stages.calibrate(lut, specs, hw, tmp_path, measured=measured, log=None)
    assert rows["measured_ms"].tolist() == [measured[s.title] for s in specs]
    assert cal.scale == pytest.approx(1.2) and rows["calibrated_ms"].tolist() == pytest.approx(rows["measured_ms"].tolist())


def test_calibrated_table_predicts_with_the_fit_and_validate_refuses_its_networks(tmp_path):
    from srlib.latency import lut_calibration as lc

    conv = str(Kernel.make("conv2d", h=8, w=8, cin=4, cout=4, k=3, stride=1, pad=1, dil=1, groups=1, act="relu"))
    lut = LUT({str(OVERHEAD): 0.01, conv: 0.5}, {"lr_hw": [8, 8]})
    kernels = [str(OVERHEAD), conv, conv]
    assert lc.features(lut.entries, kernels) == (pytest.approx(1.01), 2)
    assert lut.predict(kernels) == pytest.approx(1.01) and lut.calibration is None
    lut.meta["calibration"] = lc.Calibration(1.1, 0.002, 0.03, ("calib_net",)).to_dict()
    assert lut.predict(kernels) == pytest.approx(1.1 * 1.01 + 2 * 0.002 + 0.03)
    assert lut.predict(kernels, calibrated=False) == pytest.approx(1.01)
    assert lut.scorer(lambda cfg: kernels)(0) == pytest.approx(lut.predict(kernels))
    lut.save(tmp_path / "t.json")
    assert LUT.load(tmp_path / "t.json").predict(kernels) == pytest.approx(lut.predict(kernels))
    with pytest.raises(ValueError, match="calibrate the table: calib_net"):
        lut_validation.validate(lut, [("calib_net", _Tiny(1))], 8, measured={"calib_net": 1.0})



def _fake_timing(monkeypatch, canary=0.05):
    """Replace LiteRT timing in srlib.latency.lut by fixed values (all clean); returns the keys timed per call."""
    from srlib.latency import lut as lut_module
    from srlib.latency.lut_timing import Timed

    calls = []

    def time_files(paths, workdir, **kw):
        calls.append(sorted(paths))
        ms = {k: 1e-3 * (1 + len(k) % 7) for k in paths}
        return Timed(ms, {k: [v] for k, v in ms.items()}, {k: [True] for k in ms}, canary, [canary], [0.03], [])

    monkeypatch.setattr(lut_module, "time_files", time_files)
    monkeypatch.setattr(lut_module, "canary_ms", lambda *a, **k: canary)
    return calls


def test_kernel_store_shares_kernels_between_tables_and_retimes_after_a_regime_change(tmp_path, monkeypatch):
    from srlib.latency import kernel_store
    from srlib.latency import lut as lut_module

    keys = [str(k) for k in trace_kernels(_Tiny(1), 12)]
    store = kernel_store.KernelStore.for_runtime(threads=1, xnnpack=True, samples=2, rounds=1, root=tmp_path / "store")
    assert store.models.parent == tmp_path / "store" / "models"
    assert store.timings.parent.parent == tmp_path / "store" / "timings"
    # another thread count: its own timings, the same model files
    other = kernel_store.KernelStore.for_runtime(threads=2, xnnpack=True, samples=2, rounds=1, root=tmp_path / "store")
    assert other.timings != store.timings and other.models == store.models

    calls = _fake_timing(monkeypatch)
    a = build_lut(keys[:4], tmp_path / "a", samples=2, rounds=1, store=store, workers=1, log=None)
    assert a.meta["from_store"] == 0 and calls[-1] == sorted(set(keys[:4]) | {str(OVERHEAD)})
    assert all(convert.kernel_file(store.models, k).is_file() for k in keys[:4])   # kept in the store
    assert set(store.entries()) == set(keys[:4]) | {str(OVERHEAD)}

    # the same machine state (canary as stored): shared kernels come from the store, only the rest is timed
    b = build_lut(keys[2:], tmp_path / "b", samples=2, rounds=1, store=store, workers=1, log=None)
    shared = {str(OVERHEAD)} | set(keys[2:4])
    assert b.meta["from_store"] == len(shared) and calls[-1] == sorted(set(keys[4:]) - shared)
    for k in shared:
        assert b.entries[k] == a.entries[k]
    assert set(store.entries()) == set(keys) | {str(OVERHEAD)} and not (tmp_path / "b" / "kernels").exists()
    assert str(store.timings) in (tmp_path / "b" / "raw.json").read_text()

    # everything stored: nothing is timed
    build_lut(keys[2:], tmp_path / "b2", samples=2, rounds=1, store=store, workers=1, log=None)
    assert len(calls) == 2

    # the canary 2x slower than when they were stored: everything is timed again
    monkeypatch.setattr(lut_module, "canary_ms", lambda *a, **k: 0.1)
    lines = []
    c = build_lut(keys[2:], tmp_path / "c", samples=2, rounds=1, store=store, workers=1, log=lines.append)
    assert c.meta["from_store"] == 0 and calls[-1] == sorted(set(keys[2:]) | {str(OVERHEAD)})
    stale = len(set(keys[2:]) | {str(OVERHEAD)})   # every one was stored at canary 0.05
    assert f"[lut] {stale}/{stale} stored kernels timed again: their canary 0.0500-0.0500 ms, now 0.1000 ms " \
           "(reused within x1.10)" in lines
    assert not any("from the machine's store" in line for line in lines)


def test_kernel_store_names_an_unreadable_batch(tmp_path):
    from srlib.latency import kernel_store

    store = kernel_store.KernelStore.for_runtime(threads=1, xnnpack=True, samples=2, rounds=1, root=tmp_path)
    store.timings.mkdir(parents=True)
    (store.timings / "batch-x.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"batch-x\.json.*delete the file"):
        store.entries()


def test_two_table_stages_share_the_machine_store(monkeypatch):
    from srlib import config
    from srlib.latency import kernel_store

    calls = _fake_timing(monkeypatch)
    conv = Kernel.make("conv2d", h=8, w=8, cin=4, cout=4, k=3, stride=1, pad=1, dil=1, groups=1, act="relu")
    other = Kernel.make("conv2d", h=8, w=8, cin=4, cout=8, k=3, stride=1, pad=1, dil=1, groups=1, act="relu")
    s1 = lut_stages.lut_stage([], 8, name="lut_a", extra_kernels=[conv], samples=2, rounds=1, profile="smoke",
                              log=[].append)
    assert kernel_store.store_root() == config.results_dir("_latency_store")
    s2 = lut_stages.lut_stage([], 8, name="lut_b", extra_kernels=[conv, other], samples=2, rounds=1, profile="mini",
                              log=[].append)
    t1, t2 = lut_stages.load_lut(s1), lut_stages.load_lut(s2)
    assert t2.meta["from_store"] == 2 and t2.entries[str(conv)] == t1.entries[str(conv)] and str(other) in t2
    assert calls[-1] == [str(other)]
    s3 = lut_stages.lut_stage([], 8, name="lut_c", extra_kernels=[other], samples=2, rounds=1, profile="mini",
                              shared=False, log=[].append)
    assert lut_stages.load_lut(s3).meta["from_store"] == 0 and calls[-1] == sorted([str(other), str(OVERHEAD)])


def test_steady_ms_gives_a_long_call_few_samples_and_a_kernel_all_of_them(monkeypatch):
    from srlib.latency import lut_timing

    now, calls = [0.0], []
    monkeypatch.setattr(lut_timing.time, "perf_counter", lambda: now[0])

    def call(seconds):
        def invoke():
            calls.append(1)
            now[0] += seconds
        return invoke

    assert lut_timing.steady_ms(call(0.1), samples=10, max_s=0.25) == pytest.approx(100)
    assert len(calls) == 2 + 3          # warm-up stops at max_s / 2, sampling at max_s after 3 samples
    calls.clear()
    lut_timing.steady_ms(call(0.1), samples=10)
    assert len(calls) == 3 + 10         # no budget: 3 warm-up calls, every sample
    counts = []
    for budget in (None, 0.25):         # a 0.1 ms kernel: 0.02 s of warm-up, 10 samples of 20 calls either way
        calls.clear()
        assert lut_timing.steady_ms(call(1e-4), samples=10, max_s=budget) == pytest.approx(0.1)
        counts.append(len(calls))
    assert counts[0] == counts[1] and counts[0] > 200


def test_adopted_network_file_is_found_without_converting_and_a_wrong_one_is_refused(tmp_path, monkeypatch):
    spec = NetworkSpec("tpsr", {"num_feat": 4})
    made = convert.network_file(spec, 8, tmp_path / "a")                       # converted once, elsewhere
    monkeypatch.setattr(ex, "convert_tflite", lambda *a, **k: pytest.fail("converted again"))
    got = convert.adopt_network_file(spec, 8, tmp_path / "b", made)
    assert got == convert.network_file(spec, 8, tmp_path / "b") and got.read_bytes() == made.read_bytes()
    with pytest.raises(ValueError, match=r"a\.tflite.*not tpsr\(num_feat=4\)'s at \(12, 12\)"):
        convert.adopt_network_file(spec, 12, tmp_path / "c", made.rename(tmp_path / "a.tflite"))
    assert not (tmp_path / "c").exists()                                       # refused before anything is written
