"""Each paper's metric conventions as data, and MFAGAN's LPIPS-on-Y reading."""
import pytest
import torch

from srlib import config, data
from srlib.metrics import evaluate
from srlib.metrics.conventions import METRICS, metric_convention, y_as_rgb


def test_table_names_each_papers_reading():
    assert metric_convention("mfagan").lpips_metric == "lpips_alex_y3"
    assert metric_convention("tpsr").lpips_metric == "lpips_vgg"
    assert metric_convention("agd").lpips_metric is None
    assert all(c.y_channel for c in METRICS.values())
    with pytest.raises(KeyError, match="valid: mfagan"):
        metric_convention("edsr")


def test_y_as_rgb_is_bt601_replicated():
    white, black = torch.ones(1, 3, 2, 2), torch.zeros(1, 3, 2, 2)
    assert torch.allclose(y_as_rgb(white), torch.full((1, 3, 2, 2), 235 / 255), atol=1e-5)
    assert torch.allclose(y_as_rgb(black), torch.full((1, 3, 2, 2), 16 / 255), atol=1e-6)


def test_lpips_on_y3_feeds_the_metric_y_replicated(monkeypatch):
    seen = []

    def fake(net):
        def fn(a, b):
            seen.append((net, a.clone()))
            return (a - b).abs().mean()
        return fn, ""

    monkeypatch.setattr(evaluate, "_lpips_fn", fake)
    prof = config.load("smoke")
    pairs = data.test_sets(prof)["skimage_test"][:1]
    rows = evaluate.evaluate_rows(lambda x: torch.nn.functional.interpolate(x, scale_factor=4), {"t": pairs},
                                  model_name="m", paper="mfagan", table="t", profile=prof,
                                  convention=metric_convention("mfagan"))
    lp = [r for r in rows if r["metric"].startswith("lpips")]
    assert [r["metric"] for r in lp] == ["lpips_alex_y3"] and "Y replicated" in lp[0]["note"]
    net, img = seen[0]
    assert net == "alex" and torch.equal(img[:, 0], img[:, 1]) and torch.equal(img[:, 1], img[:, 2])


def test_lpips_unavailable_rows_keep_the_convention_name(monkeypatch, tmp_path):
    monkeypatch.setenv("SRLIB_DATA", str(tmp_path))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    prof = config.load("smoke")
    pairs = data.test_sets(prof)["skimage_test"][:1]
    rows = evaluate.evaluate_rows(lambda x: torch.nn.functional.interpolate(x, scale_factor=4), {"t": pairs},
                                  model_name="m", paper="tpsr", table="t", profile=prof,
                                  convention=metric_convention("tpsr"))
    lp = [r for r in rows if r["metric"].startswith("lpips")]
    assert [r["metric"] for r in lp] == ["lpips_vgg"] and lp[0]["value"] is None and "unavailable" in lp[0]["note"]
