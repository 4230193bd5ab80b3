"""AdaSR's dynamic runtime (Fig. 4d-e): memory, switching vs reloading, the budget-trace simulation."""
from __future__ import annotations

import math
import os

import numpy as np
import pytest
import torch
import torch.nn as nn

from srlib.adasr import descriptions, dynamic
from srlib.adasr.adaptable import Adaptable
from srlib.models import build

ROW_KEYS = {"system", "metric", "value", "unit", "note"}


def _ada(num_feat: int = 16, num_block: int = 3) -> Adaptable:
    torch.manual_seed(0)
    net = build("carn", num_feat=num_feat, num_block=num_block, num_unit=1).eval()
    return Adaptable(net, descriptions.carn(net))


def _x() -> torch.Tensor:
    return torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(1))


# -- the required test ---------------------------------------------------------------------------
def test_switching_sizes_allocates_no_new_parameter_memory():
    ada, x = _ada(), _x()
    ptrs = {n: t.data_ptr() for n, t in list(ada.named_parameters()) + list(ada.named_buffers())}
    rep = dynamic.switch_allocation_check(ada, x)
    assert rep["ok"], rep
    assert rep["options"] == len(ada.options()) == 6
    assert rep["moved"] == rep["new"] == rep["gone"] == rep["not_views"] == []
    assert rep["tensors_before"] == rep["tensors_after"] == len(ptrs)
    assert rep["storage_bytes_before"] == rep["storage_bytes_after"] > 0
    assert rep["views"] > 0 and rep["gathered"] > 0      # CARN's fusions over [x | b1 ..] are gathered per call
    assert {n: t.data_ptr() for n, t in list(ada.named_parameters()) + list(ada.named_buffers())} == ptrs
    for n, t in ada.sliced_parameters(2, 8).items():      # a single-segment narrowing is a view
        if n in ("entry.weight", "blocks.0.units.0.body.0.weight", "exit.weight"):
            assert t.untyped_storage().data_ptr() == ada.model.get_parameter(n).untyped_storage().data_ptr()


def test_allocation_check_catches_a_forward_that_replaces_a_parameter():
    ada, x = _ada(), _x()
    plain = ada.forward

    def copying(x, depth=None, width=None, anchors=False):
        ada.model.entry.weight = nn.Parameter(ada.model.entry.weight.detach().clone())
        return plain(x, depth, width, anchors)

    ada.forward = copying
    rep = dynamic.switch_allocation_check(ada, x, [(1, 8)])
    assert not rep["ok"] and rep["moved"] == ["model.entry.weight"]


# -- Fig. 4d ---------------------------------------------------------------------------------------------
def test_ensemble_parameters_exceed_the_adaptable_and_equal_the_sum_of_extracted_models():
    ada = _ada()
    rows = dynamic.parameter_memory(ada)
    assert all(ROW_KEYS <= set(r) for r in rows)
    get = {(r["system"], r["metric"], r["member"]): r["value"] for r in rows}
    full = sum(p.numel() for p in ada.model.parameters())
    subs = [ada.extract(D, W) for D, W in ada.options()]
    assert get[("adaptable", "params", "")] == full
    assert get[("ensemble", "params", "")] == sum(sum(p.numel() for p in m.parameters()) for m in subs)
    assert get[("ensemble", "params", "")] > full
    assert get[("ensemble", "params", "3x16")] == full                # the full-size member is a full copy
    assert get[("ensemble", "param_bytes", "")] == 4 * get[("ensemble", "params", "")]
    assert get[("ratio", "adaptable_over_ensemble_params", "")] == full / get[("ensemble", "params", "")]
    two = {(r["system"], r["member"]) for r in dynamic.parameter_memory(ada, [(1, 8), (3, 16)])}
    assert ("ensemble", "1x8") in two and ("ensemble", "2x8") not in two


def test_published_carn_over_the_papers_grid_holds_a_seventh_of_its_ensemble():
    from srlib.adasr import experiments

    ada, opts = experiments.published_adaptable("carn")
    assert len(opts) == 24 and opts[0] == (1, 8) and opts[-1] == (3, 64)          # Sec. 3.2.1: 1..3 x 8..64 by 8
    assert sum(p.numel() for p in ada.model.parameters()) == sum(p.numel() for p in build("carn").parameters())
    rows = dynamic.parameter_memory(ada, opts)
    ratio = next(r["value"] for r in rows if r["metric"] == "adaptable_over_ensemble_params")
    assert ratio == pytest.approx(0.1384, abs=5e-4)   # Fig. 4d's "around 20%" regime; the mini grid's 6 sizes: 0.35


@pytest.mark.slow
def test_resident_memory_rows_from_a_child_process(tmp_path):
    ada = _ada(num_feat=64)
    ens = {f"ens_{D}x{W}": ada.extract(D, W) for D, W in ((3, 64), (2, 64), (3, 56), (3, 48))}
    a = dynamic.save_models({"adaptable": ada.model}, tmp_path)
    e = dynamic.save_models(ens, tmp_path)
    rows = dynamic.resident_memory({"adaptable": list(a.values()), "ensemble": list(e.values())},
                                   separate_processes=False)
    got = {r["system"]: r for r in rows}
    assert set(got) == {"adaptable", "ensemble"} and all(ROW_KEYS <= set(r) for r in rows)
    assert all(r["unit"] == "bytes" and math.isfinite(r["value"]) and r["value"] > 0 for r in rows), rows
    assert got["ensemble"]["tensor_bytes"] > got["adaptable"]["tensor_bytes"]
    assert got["ensemble"]["value"] >= got["adaptable"]["value"]   # ~3x the tensor bytes: beyond RSS noise


def test_a_child_that_fails_gives_nan_rows_with_the_reason(tmp_path):
    rows = dynamic.resident_memory({"x": [tmp_path / "absent.pt"]}, timeout_s=0.01)
    assert len(rows) == 1 and math.isnan(rows[0]["value"]) and rows[0]["note"].startswith("not measured")


# -- Fig. 4e ---------------------------------------------------------------------------------------------
def test_switch_times_give_the_requested_positive_trials_between_different_sizes():
    ada, x = _ada(), _x()
    rows = dynamic.switch_times(ada, ada.options(), trials=7, seed=3)
    assert len(rows) == 7 and all(r["value"] > 0 and r["unit"] == "ms" for r in rows)
    assert all(r["source"] != r["target"] for r in rows)
    assert all(a["target"] == b["source"] for a, b in zip(rows, rows[1:]))
    again = dynamic.switch_times(ada, ada.options(), trials=7, seed=3)
    assert [r["target"] for r in again] == [r["target"] for r in rows]
    fwd = dynamic.switch_times(ada, [(1, 8), (3, 16)], x, trials=3, include_forward=True)
    assert len(fwd) == 3 and all(r["value"] > 0 for r in fwd) and "forward" in fwd[0]["note"]
    with pytest.raises(ValueError):
        dynamic.switch_times(ada, [(1, 8)], trials=3)


def _saved(ada, tmp_path, options=((1, 8), (3, 16))):
    subs = {f"{D}x{W}": ada.extract(D, W) for D, W in options}
    paths = dynamic.save_models(subs, tmp_path)
    return {paths[k]: m for k, m in subs.items()}, subs


def test_warm_reload_times_give_the_requested_positive_trials(tmp_path):
    ada = _ada()
    targets, subs = _saved(ada, tmp_path)
    rows = dynamic.reload_times(targets, trials=5)
    assert len(rows) == 5 and all(r["value"] > 0 and r["cache"] == "warm" for r in rows)
    assert [r["target"] for r in rows] == ["1x8", "3x16", "1x8", "3x16", "1x8"]
    built = {p: (lambda k=k: ada.extract(*map(int, k.split("x")))) for p, k in zip(targets, subs)}
    rows = dynamic.reload_times(built, trials=2, x=_x())                 # builder + first forward timed
    assert len(rows) == 2 and all(r["value"] > 0 for r in rows) and "first forward" in rows[0]["note"]


def test_cold_reload_either_is_measured_or_says_why_not(tmp_path, monkeypatch):
    targets, _ = _saved(_ada(), tmp_path)
    rows = dynamic.reload_times(targets, trials=3, cold=True)
    if len(rows) == 1 and math.isnan(rows[0]["value"]):
        assert rows[0]["note"].startswith("cold cache not measured")
    else:
        assert len(rows) == 3 and all(r["value"] > 0 and r["cache"] == "cold" for r in rows)
        assert all(r["cached_before"] is not None and r["cached_before"] <= 0.05 for r in rows)
    monkeypatch.delattr(os, "posix_fadvise")
    rows = dynamic.reload_times(targets, trials=3, cold=True)
    assert len(rows) == 1 and math.isnan(rows[0]["value"]) and "posix_fadvise" in rows[0]["note"]


def test_cached_fraction_sees_a_file_that_was_just_read(tmp_path):
    p = tmp_path / "f.bin"
    p.write_bytes(os.urandom(1 << 16))
    p.read_bytes()
    frac = dynamic.cached_fraction(p)
    assert frac is None or frac == 1.0


# -- the simulated dynamic runtime -----------------------------------------------------------------------
LAT = {(1, 8): 0.25, (2, 8): 0.5, (3, 16): 1.0}
PSNR = {(1, 8): 20.0, (2, 8): 21.0, (3, 16): 22.0}
TRACE = [1.0, 1.0, 0.75, 0.75, 0.5, 2.0, 0.125]      # chosen: 3x16 3x16 2x8 2x8 2x8 3x16 1x8 (none fits: fastest)


def test_simulate_on_a_hand_made_trace():
    summary, frames = dynamic.simulate(TRACE, LAT, PSNR, switch_cost_s=0.125, reload_cost_s=1.0)
    get = {(r["system"], r["metric"]): r["value"] for r in summary}
    assert [f["option"] for f in frames if f["system"] == "adaptable"] == \
        ["3x16", "3x16", "2x8", "2x8", "2x8", "3x16", "1x8"]
    assert get[("adaptable", "switches")] == get[("ensemble", "switches")] == 3
    # adaptable: t2 0.625 <= 0.75, t5 1.125 <= 2, t6 0.375 > 0.125 -> 6 of 7
    assert get[("adaptable", "met_share")] == 6 / 7 and get[("adaptable", "missed_frames")] == 1
    # ensemble: t2 1.5 > 0.75 (miss), t5 2.0 <= 2.0, t6 1.25 > 0.125 (miss) -> 5 of 7
    assert get[("ensemble", "met_share")] == 5 / 7 and get[("ensemble", "missed_frames")] == 2
    assert get[("adaptable", "mean_psnr")] == pytest.approx(149 / 7)
    ens = [f for f in frames if f["system"] == "ensemble"]
    assert [f["met"] for f in ens] == [True, True, False, True, True, True, False]
    assert ens[2]["latency_s"] == 1.5 and ens[2]["switched"] and not ens[3]["switched"]
    assert len(frames) == 14 and all(ROW_KEYS <= set(r) for r in summary)


def test_simulate_cycles_through_measured_costs_and_takes_the_ensembles_own_tables():
    summary, _ = dynamic.simulate(TRACE, LAT, PSNR, switch_cost_s=[0.0], reload_cost_s=[1.0, 2.0])
    get = {(r["system"], r["metric"]): r["value"] for r in summary}
    assert get[("adaptable", "met_share")] == 6 / 7            # t6 misses even at no cost (0.25 > 0.125)
    assert get[("ensemble", "met_share")] == 4 / 7             # t2 +1, t5 +2 (3.0 > 2.0), t6 +1
    only_fast = {(1, 8): 0.25}
    summary, _ = dynamic.simulate(TRACE, LAT, PSNR, 0.0, 1.0, ensemble_latency_of=only_fast,
                                  ensemble_psnr_of={(1, 8): 19.0})
    get = {(r["system"], r["metric"]): r["value"] for r in summary}
    assert get[("ensemble", "switches")] == 0 and get[("ensemble", "mean_psnr")] == 19.0
    assert get[("ensemble", "met_share")] == 6 / 7


def test_choose_picks_the_best_option_that_fits_else_the_fastest():
    assert dynamic.choose(0.6, LAT, PSNR) == (2, 8)
    assert dynamic.choose(10.0, LAT, PSNR) == (3, 16)
    assert dynamic.choose(0.1, LAT, PSNR) == (1, 8)


def test_budget_trace_is_deterministic_per_seed_and_piecewise_constant():
    a = dynamic.synthetic_budget_trace(500, seed=4)
    assert np.array_equal(a, dynamic.synthetic_budget_trace(500, seed=4))
    assert not np.array_equal(a, dynamic.synthetic_budget_trace(500, seed=5))
    levels = {round(v, 12) for v in (1 / 30 * (1 - l) for l in (0.0, 0.25, 0.5, 0.75))}
    assert {round(v, 12) for v in a} <= levels
    jumps = int(np.count_nonzero(np.diff(a)))
    assert 5 <= jumps <= 40                                     # mean dwell 30 frames: ~16 jumps in 500
    with pytest.raises(ValueError):
        dynamic.synthetic_budget_trace(10, loads=(0.5,))
