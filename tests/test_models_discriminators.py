"""Discriminators: output shapes at 128x128 and another size, exact parameter counts, MFAGAN PatchGAN
distillation features, state-dict round trips. TPSR's discriminator search space (``tpsr_d``, in
``srlib.tpsr.discriminator``): tests/test_tpsr_discriminator.py.

Parameter counts: sum of ``numel`` over ``parameters()`` (BN running statistics are buffers, not counted;
spectral-norm's u/v vectors are buffers too). Expected numbers: shared/notes/architectures.md.
"""
from __future__ import annotations

import io

import pytest
import torch

import srlib.models as zoo

torch.set_num_threads(1)

DISCRIMINATORS = ("esrgan_d", "srgan_d", "patchgan", "patchgan_mfagan")

# (name, kwargs, params). esrgan_d and patchgan are checked against the authors' code (architectures.md);
# the others are what our documented readings build.
COUNTS = [
    ("esrgan_d", {}, 14_499_401),
    ("patchgan", {}, 2_765_633),
    ("srgan_d", {}, 23_563_649),  # 96x96: the first Linear alone is 512*6*6*1024 + 1024
    ("patchgan_mfagan", {}, 1_749_825),
    ("patchgan_mfagan", {"num_feat": 48}, 985_201),
    ("patchgan_mfagan", {"num_feat": 32}, 438_689),
]

# (name, kwargs, input side, expected output shape for a batch of 2)
SHAPES = [
    ("esrgan_d", {}, 128, (2, 1)),
    ("esrgan_d", {"input_size": 96, "num_feat": 16}, 96, (2, 1)),
    ("srgan_d", {"input_size": 128, "num_feat": 16}, 128, (2, 1)),
    ("srgan_d", {"num_feat": 16}, 96, (2, 1)),
    ("patchgan", {}, 128, (2, 1, 14, 14)),
    ("patchgan", {"num_feat": 16}, 64, (2, 1, 6, 6)),
    ("patchgan_mfagan", {"num_feat": 32}, 128, (2, 1, 16, 16)),
    ("patchgan_mfagan", {"num_feat": 32}, 96, (2, 1, 12, 12)),
]


def n_params(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def test_registered():
    assert set(DISCRIMINATORS) <= set(zoo.names())


@pytest.mark.parametrize("name,kw,params", COUNTS)
def test_param_counts(name, kw, params):
    with torch.device("meta"):
        m = zoo.build(name, **kw)
    assert n_params(m) == params


@pytest.mark.parametrize("name,kw,side,shape", SHAPES)
def test_output_shapes(name, kw, side, shape):
    torch.manual_seed(0)
    m = zoo.build(name, **kw)
    x = torch.rand(2, 3, side, side)
    assert m(x).shape == shape  # train mode (BN batch statistics)
    with torch.no_grad():
        assert m.eval()(x).shape == shape


@pytest.mark.parametrize("name", ["esrgan_d", "srgan_d"])
def test_fixed_size_heads_reject_other_sizes(name):
    m = zoo.build(name, num_feat=8)
    with pytest.raises(ValueError):
        m(torch.rand(1, 3, 64, 64))


def test_esrgan_d_size_must_divide_by_32():
    with pytest.raises(ValueError):
        zoo.build("esrgan_d", input_size=100)


@pytest.mark.parametrize("nf", [64, 32])
def test_patchgan_mfagan_features(nf):
    m = zoo.build("patchgan_mfagan", num_feat=nf)
    x = torch.rand(2, 3, 128, 128)
    with torch.no_grad():
        out, feats = m(x, return_features=True)
        assert torch.equal(out, m(x))
    assert out.shape == (2, 1, 16, 16)
    assert [tuple(f.shape) for f in feats] == [(2, nf, 64, 64), (2, 2 * nf, 32, 32), (2, 4 * nf, 16, 16)]
    assert sum(isinstance(mod, torch.nn.Conv2d) for mod in m.modules()) == 7
    assert not any(isinstance(mod, torch.nn.modules.batchnorm._BatchNorm) for mod in m.modules())


def test_patchgan_no_norm_variant():
    m = zoo.build("patchgan", norm="none")
    assert not any(isinstance(mod, torch.nn.BatchNorm2d) for mod in m.modules())
    assert all(mod.bias is not None for mod in m.modules() if isinstance(mod, torch.nn.Conv2d))


@pytest.mark.parametrize("name,kw,side", [
    ("esrgan_d", {"num_feat": 16}, 128), ("srgan_d", {"num_feat": 16}, 96), ("patchgan", {"num_feat": 16}, 64),
    ("patchgan_mfagan", {"num_feat": 16}, 64),
])
def test_state_dict_round_trip(name, kw, side):
    torch.manual_seed(0)
    m = zoo.build(name, **kw)
    x = torch.rand(2, 3, side, side)
    m(x)  # one train-mode pass: BN running statistics move off their init
    m.eval()
    buf = io.BytesIO()
    torch.save(m.state_dict(), buf)
    buf.seek(0)
    torch.manual_seed(1)
    other = zoo.build(name, **kw)
    other.load_state_dict(torch.load(buf, weights_only=True))
    other.eval()
    with torch.no_grad():
        assert torch.equal(m(x), other(x))

