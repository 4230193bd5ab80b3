"""AGD's profile section and stage helpers: bad budgets are refused naming the key; the search needs two
halves of the training images; the retrain step distils the teacher's output."""
import pytest
import torch
import torch.nn as nn

from srlib import config
from srlib.agd.proxy import DistillationProxy
from srlib.agd.stages import ProxyStep


def test_every_profile_has_a_valid_agd_section():
    for name in ("smoke", "mini", "paper"):
        a = config.load(name).agd
        assert a.budgets and all(b["lower"] < b["upper"] for b in a.budgets.values())
        assert max(a.widths) <= a.num_feat


@pytest.mark.parametrize("key, value, words", [
    ("agd.budgets", {"L": {"flops_weight": 1e-11, "lower": 5.0, "upper": 4.0}}, "agd.budgets.L"),
    ("agd.budgets", {"L": {"flops_weight": 1e-11, "upper": 4.0}}, "agd.budgets.L"),
    ("agd.widths", [8, 64], "agd.widths"),
    ("agd.ops", ["conv5x5"], "agd.ops"),
    ("agd.teacher", "vdsr", "agd.teacher"),
])
def test_bad_agd_keys_are_refused_by_name(key, value, words):
    with pytest.raises(config.ConfigError, match=words.replace(".", r"\.")):
        config.load("smoke", {key: value})


def test_proxy_step_moves_the_student_towards_the_teacher_output():
    torch.manual_seed(0)
    T = nn.Conv2d(3, 3, 3, padding=1)
    G = nn.Conv2d(3, 3, 3, padding=1)
    opt = torch.optim.SGD(G.parameters(), lr=0.1)
    step = ProxyStep(DistillationProxy(w_pix=1.0, w_content=0.0))
    lr = torch.rand(2, 3, 8, 8)
    first = step(0, (lr, None), {"G": G, "T": T}, {"G": opt})["loss"].item()
    for k in range(1, 20):
        last = step(k, (lr, None), {"G": G, "T": T}, {"G": opt})["loss"].item()
    assert last < 0.5 * first
    assert all(p.grad is None or p.grad.abs().sum() == 0 for p in T.parameters())   # the teacher is not trained


def test_a_derived_network_exports_to_onnx_and_matches_pytorch(tmp_path):
    from srlib.agd.network import AGDGenerator, Genotype
    from srlib.latency.export import export_onnx

    g = Genotype(ops=(("skip", "dwsblock", "residual"),), widths=((4, 8),), num_feat=8)
    torch.manual_seed(0)
    res = export_onnx(AGDGenerator(g), tmp_path / "agd.onnx", lr_hw=8)   # raises if it differs from PyTorch
    assert (tmp_path / "agd.onnx").is_file() and res.max_abs_diff <= res.tol and res.output_shape == (1, 3, 32, 32)


def test_the_bilevel_batch_is_a_pure_function_of_step_and_rank():
    from srlib.agd.stages import _Halves
    from srlib.data.datasets import PatchSampler
    import numpy as np

    class P:   # a minimal image pair
        def __init__(self, seed):
            r = np.random.default_rng(seed)
            self.lr, self.hr, self.name = r.random((16, 16, 3), dtype=np.float32), r.random((64, 64, 3), dtype=np.float32), str(seed)

    halves = _Halves(PatchSampler([P(0)], 8, 4, 4, seed=1), PatchSampler([P(1)], 8, 4, 4, seed=2))
    a, b = halves(3), halves(3)
    assert torch.equal(a["weight"][0], b["weight"][0]) and not torch.equal(a["weight"][0], a["arch"][0])
    shard = halves(3, 1, 2)
    assert shard["arch"][0].shape[0] == 2 and torch.equal(shard["arch"][0], a["arch"][0][1::2])
