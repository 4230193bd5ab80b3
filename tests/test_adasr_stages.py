"""AdaSR stage helpers: the staircase exponential schedule and Table 1's nearest grid option."""
from pathlib import Path

import pytest

from srlib.adasr.experiments import nearest_option, table1_sizes
from srlib.adasr.stages import schedule
from srlib.latency.networks import NetworkSpec


def test_schedule_ends_at_the_final_ratio_in_ten_equal_decays():
    milestones, gamma = schedule(200, 0.1)
    assert milestones == [round(200 * k / 11) for k in range(1, 11)]
    assert gamma ** len(milestones) == pytest.approx(0.1)
    assert schedule(200, 1.0) == ([], 1.0)
    assert schedule(3, 0.1)[0] == [1, 2]          # fewer steps than decays: one decay per step


def test_table1_names_map_to_the_nearest_grid_option():
    opts = [(d, w) for d in (1, 2, 3) for w in (16, 32)]
    # CARN-0.6_0.5 of a 3-block, 32-channel CARN: 0.6 x 3 = 1.8 -> 2 blocks, 0.5 x 32 = 16 channels
    assert nearest_option(opts, 3, 32, 0.6, 0.5) == (2, 16)
    assert nearest_option(opts, 3, 32, 1.0, 0.75) == (3, 16)   # 24 channels: a tie, the first (smaller) wins
    # per teacher, the rows Table 1 prints for it (the planner's and notebook 42's one choice)
    assert table1_sizes("carn", opts, 3, 32) == {"adasr_carn_0.6_0.5": (2, 16)}
    assert table1_sizes("rcan", [(1, 24), (1, 32), (2, 24), (2, 32)], 2, 32) == {"adasr_rcan_1_0.75": (2, 24)}
    assert table1_sizes("esrgan", opts, 3, 32) == {}


@pytest.mark.parametrize("key, value", [("adasr.latency_runtimes", ["litert_t4"]), ("adasr.dynamic_trials", 0),
                                        ("adasr.dynamic_frames", -1), ("adasr.lut_runtimes", ["onnxruntime_t1"]),
                                        ("adasr.lut_runtimes", ["litert-xnnpack_t2"])])   # smoke times t1 and onnx only
def test_bad_dynamic_and_latency_keys_are_refused_by_name(key, value):
    from srlib import config
    with pytest.raises(config.ConfigError, match=key.replace(".", r"\.")):
        config.load("smoke", {key: value})


def test_lut_configurations_default_to_every_litert_one():
    from srlib import config

    both = ["litert-xnnpack_t1", "litert-xnnpack_t2", "onnxruntime_t1"]
    assert config.load("smoke", {"adasr.latency_runtimes": both}).adasr.lut_configurations() == tuple(both[:2])
    assert config.load("smoke", {"adasr.latency_runtimes": both, "adasr.lut_runtimes": both[1:2]}
                       ).adasr.lut_configurations() == ("litert-xnnpack_t2",)
    assert config.load("mini").adasr.lut_configurations() == ("litert-xnnpack_t1",)


def test_lut_rows_predict_each_sub_model_from_one_table_of_its_kernels():
    from srlib import config
    from srlib.adasr import experiments
    from srlib.latency import bench
    from srlib.latency.lut_stages import load_lut, lut_stage

    cfg = config.load("smoke", {"adasr.latency_runtimes": ["litert-xnnpack_t1", "onnxruntime_t1"],
                                "latency.lr_hw": [8, 8]})
    made = bench.export_stage("carn", {"num_block": 1, "num_feat": 8}, (8, 8), "tflite", profile="smoke")
    rows = experiments.lut_rows(cfg, "carn", {}, [(1, 8), (2, 8)])
    ids = [experiments.stages.model_id("carn", d, 8) for d in (1, 2)]
    pred = [r for r in rows if r["metric"] == "latency_lut_litert-xnnpack_t1"]
    whole = [r for r in rows if r["metric"] == "latency_steady_litert-xnnpack_t1"]
    assert len(pred) + len(whole) == len(rows)                                   # LiteRT only
    assert [r["model"] for r in pred] == [r["model"] for r in whole] == ids
    assert pred[1]["value"] > pred[0]["value"] > 0 and "desktop CPU proxy" in pred[0]["note"]
    specs = [("carn", {"num_block": d, "num_feat": 8}) for d in (1, 2)]
    st = lut_stage(specs, (8, 8), name="adasr_lut_litert-xnnpack_t1", threads=1, xnnpack=True, time_networks=True,
                   profile="smoke")
    assert st.skipped and st.name == pred[0]["stage"] == whole[0]["stage"]      # the same cached table
    table = load_lut(st)
    assert pred[1]["value"] == pytest.approx(table.predict(specs[1], (8, 8), calibrated=False))
    # each sub-model also timed whole in the table's own passes, by the table's statistic
    assert [r["value"] for r in whole] == [table.meta["networks_ms"][f"carn(num_block={d},num_feat=8)"] for d in (1, 2)]
    assert all(v > 0 for v in table.meta["networks_ms"].values()) and "own passes" in whole[0]["note"]
    # the sub-model exported before (Fig. 4's benchmark file) is timed whole from that file, not converted again
    from srlib.latency import convert
    adopted = convert._network_path("carn(num_block=1,num_feat=8)", (8, 8), Path(st["network_dir"]),
                                    NetworkSpec("carn", {"num_block": 1, "num_feat": 8}))
    assert adopted.read_bytes() == made.path(made["file"]).read_bytes()
    assert experiments.lut_rows(config.load("smoke", {"adasr.latency_runtimes": ["onnxruntime_t1"]}), "carn",
                                {}, [(1, 8)]) == []
