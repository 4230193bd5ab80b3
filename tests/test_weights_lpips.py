"""Checksummed backbones, LPIPS v0.1 and the VGG19 extractor, with state dicts of the right shapes made here.

Nothing touches the real data/ or ~/.cache: SRLIB_DATA and TORCH_HOME point into tmp_path, and the
weights table's sha256/size are patched to the files the test writes (the real sums are torchvision's).
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import http.server
import threading

import pytest
import torch
import torchvision

from srlib import weights
from srlib.io import sha256_file
from srlib.metrics import lpips as lp
from srlib.training.vgg import VGG19_CFG, VGGFeatures
from srlib.weights import WeightsUnavailable


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("SRLIB_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    lp._CACHE.clear()
    yield
    lp._CACHE.clear()


def _features_state(cfg) -> dict:
    """A torchvision-style ``features.*`` state dict (random, seeded) for a VGG configuration."""
    torch.manual_seed(0)
    feats = torchvision.models.vgg.make_layers(list(cfg), batch_norm=False)
    sd = {f"features.{k}": v for k, v in feats.state_dict().items()}
    sd["classifier.6.bias"] = torch.zeros(10)     # stands in for the classifier, which is ignored
    return sd


def _alexnet_state() -> dict:
    torch.manual_seed(0)
    sd = {f"features.{k}": v for k, v in torchvision.models.alexnet(weights=None).features.state_dict().items()}
    sd["classifier.6.bias"] = torch.zeros(10)
    return sd


STATES = {"vgg16": lambda: _features_state(torchvision.models.vgg.cfgs["D"]),
          "vgg19": lambda: _features_state(VGG19_CFG),
          "alexnet": _alexnet_state}


def _install(monkeypatch, name: str, where: str = "data") -> tuple[dict, object]:
    """Write a made-up checkpoint for ``name`` where srlib.weights looks and patch the table to its sum."""
    spec = weights.WEIGHTS[name]
    folder = weights.weights_dir() if where == "data" else weights.hub_checkpoints_dir()
    folder.mkdir(parents=True, exist_ok=True)
    sd = STATES[name]()
    p = folder / spec.filename
    torch.save(sd, p)
    monkeypatch.setitem(weights.WEIGHTS, name,
                        dataclasses.replace(spec, sha256=sha256_file(p), size=p.stat().st_size))
    return sd, p


def _images(n=2, size=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 3, size, size, generator=g)
    y = (x + 0.15 * torch.randn(n, 3, size, size, generator=g)).clamp(0, 1)
    return x, y


# --------------------------------------------------------------------------------------------------
def test_real_table_has_torchvision_names_and_full_sums():
    for name, prefix in (("vgg19", "dcbb9e9d"), ("vgg16", "397923af"), ("alexnet", "7be5be79")):
        spec = weights.WEIGHTS[name]
        assert spec.url == f"https://download.pytorch.org/models/{spec.filename}"
        assert prefix in spec.filename and spec.sha256.startswith(prefix) and len(spec.sha256) == 64


def test_absent_weights_give_reason_never_a_number(tmp_path):
    with pytest.raises(WeightsUnavailable) as ei:
        weights.path("vgg16")
    reason = ei.value.reason
    spec = weights.WEIGHTS["vgg16"]
    assert spec.filename in reason and spec.url in reason and "python -m srlib.weights fetch vgg16" in reason
    assert str(tmp_path / "data" / "weights") in reason and str(tmp_path / "torch") in reason
    ok, why = lp.lpips_available("vgg")
    assert not ok and spec.filename in why
    x, y = _images()
    with pytest.raises(WeightsUnavailable):
        lp.LPIPSMetric("vgg")
    with pytest.raises(WeightsUnavailable):
        lp.lpips(x, y, net="alex")
    with pytest.raises(WeightsUnavailable, match="vgg19-dcbb9e9d.pth"):
        VGGFeatures()


def test_lpips_vgg_zero_for_identical_positive_for_different(monkeypatch):
    sd, _ = _install(monkeypatch, "vgg16")
    assert lp.lpips_available("vgg") == (True, "")
    metric = lp.cached_metric("vgg")
    assert isinstance(metric, lp.LPIPSMetric) and lp.cached_metric("vgg") is metric
    # the backbone and the linear layers really are the verified ones
    assert torch.equal(metric.model.net.slice1[0].weight, sd["features.0.weight"])
    assert torch.equal(metric.model.net.slice5._modules["28"].bias, sd["features.28.bias"])
    lin = torch.load(lp._linear_path("vgg"), map_location="cpu", weights_only=True)
    assert torch.equal(metric.model.lin3.model[1].weight, lin["lin3.model.1.weight"])
    x, y = _images()
    same = metric(x, x)
    assert same.shape == (2,) and torch.all(same == 0)
    diff = metric(x, y)
    assert torch.all(diff > 0)
    assert lp.lpips(x, y, net="vgg") == pytest.approx(float(diff.mean()), rel=1e-6)
    assert lp.lpips(x[0], x[0]) == 0.0
    with pytest.raises(ValueError, match="0, 1"):
        metric(x * 255, y * 255)


def test_lpips_alex_from_torch_hub_cache(monkeypatch, tmp_path):
    _, p = _install(monkeypatch, "alexnet", where="hub")
    assert p.parent == tmp_path / "torch" / "hub" / "checkpoints"
    assert weights.path("alexnet") == p
    x, y = _images(seed=1)
    assert lp.lpips(x, x, net="alex") == 0.0
    assert lp.lpips(x, y, net="alex") > 0


def test_corrupt_or_truncated_weights_refused(monkeypatch):
    _, p = _install(monkeypatch, "alexnet")
    data = bytearray(p.read_bytes())
    data[len(data) // 2] ^= 0xFF                                    # same size, one byte flipped
    p.write_bytes(bytes(data))
    with pytest.raises(WeightsUnavailable, match="sha256"):
        weights.path("alexnet")
    p.write_bytes(p.read_bytes()[:100])                             # truncated
    ok, why = weights.available("alexnet")
    assert not ok and "bytes" in why and str(p) in why
    with pytest.raises(WeightsUnavailable):
        lp.LPIPSMetric("alex")


def test_load_state_dict_is_weights_only(monkeypatch):
    spec = weights.WEIGHTS["alexnet"]
    p = weights.weights_dir() / spec.filename
    p.parent.mkdir(parents=True)
    torch.save({"features.0.weight": torch.zeros(1), "code": argparse.Namespace(x=1)}, p)
    monkeypatch.setitem(weights.WEIGHTS, "alexnet",
                        dataclasses.replace(spec, sha256=sha256_file(p), size=p.stat().st_size))
    with pytest.raises(WeightsUnavailable, match="weights-only"):
        weights.load_state_dict("alexnet")


class _OneFile(http.server.BaseHTTPRequestHandler):
    body = b""

    def do_GET(self):  # noqa: N802
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args):
        pass


def test_fetch_downloads_and_verifies(monkeypatch, tmp_path):
    sd, made = _install(monkeypatch, "alexnet")
    body = made.read_bytes()
    made.unlink()
    handler = type("H", (_OneFile,), {"body": body})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    try:
        spec = weights.WEIGHTS["alexnet"]
        url = f"http://127.0.0.1:{httpd.server_address[1]}/models/{spec.filename}"
        monkeypatch.setitem(weights.WEIGHTS, "alexnet", dataclasses.replace(spec, url=url))
        got = weights.fetch("alexnet", progress=False)
        assert got == weights.weights_dir() / spec.filename
        assert hashlib.sha256(got.read_bytes()).hexdigest() == spec.sha256
        assert torch.equal(weights.load_state_dict("alexnet")["features.0.weight"], sd["features.0.weight"])
        # a wrong recorded sum: the download is refused and nothing is kept
        got.unlink()
        monkeypatch.setitem(weights.WEIGHTS, "alexnet", dataclasses.replace(spec, url=url, sha256="f" * 64))
        with pytest.raises(Exception, match="sha256 mismatch"):
            weights.fetch("alexnet", progress=False)
        assert list(weights.weights_dir().iterdir()) == []
    finally:
        httpd.shutdown()
        httpd.server_close()
        t.join(5)


def test_vgg19_features_shape_frozen_and_differentiable(monkeypatch):
    sd, _ = _install(monkeypatch, "vgg19")
    f = VGGFeatures()                                               # conv5_4, before activation
    assert f.index == 34
    x = torch.rand(2, 3, 64, 64, requires_grad=True)
    y = f(x)
    assert y.shape == (2, 512, 4, 4) and (y < 0).any()             # raw conv output: negative values too
    assert all(not p.requires_grad for p in f.parameters())
    y.square().mean().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    f.train()
    assert not f.training and not f.features.training
    assert torch.equal(f.features[34].weight, sd["features.34.weight"])
    relu = VGGFeatures("conv5_4", before_activation=False)
    with torch.no_grad():
        assert torch.equal(relu(x), torch.relu(f(x)))
    assert VGGFeatures("conv2_2", before_activation=False)(x).shape == (2, 128, 32, 32)
    with pytest.raises(ValueError):
        VGGFeatures("conv6_1")
