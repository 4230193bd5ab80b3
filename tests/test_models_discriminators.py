"""Discriminators: output shapes at 128x128 and another size, exact parameter counts, MFAGAN PatchGAN
distillation features, state-dict round trips, and a sample of TPSR's discriminator search space.

Parameter counts: sum of ``numel`` over ``parameters()`` (BN running statistics are buffers, not counted;
spectral-norm's u/v vectors are buffers too). Expected numbers: shared/notes/architectures.md.
"""
from __future__ import annotations

import io

import pytest
import torch

import srlib.models as zoo
from srlib.models.discriminators import ROPS, TPSRDConfig, TPSRDiscriminator, tpsr_d_configs
from srlib.tpsr.cell import OPS

torch.set_num_threads(1)

DISCRIMINATORS = ("esrgan_d", "srgan_d", "patchgan", "patchgan_mfagan", "tpsr_d")

# (name, kwargs, params). esrgan_d and patchgan are checked against the authors' code (architectures.md);
# the others are what our documented readings build.
COUNTS = [
    ("esrgan_d", {}, 14_499_401),
    ("patchgan", {}, 2_765_633),
    ("srgan_d", {}, 23_563_649),  # 96x96: the first Linear alone is 512*6*6*1024 + 1024
    ("patchgan_mfagan", {}, 1_749_825),
    ("patchgan_mfagan", {"num_feat": 48}, 985_201),
    ("patchgan_mfagan", {"num_feat": 32}, 438_689),
    ("tpsr_d", {}, 2_369_115),
    ("tpsr_d", {"spectral_norm": False}, 2_369_115),
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
    ("tpsr_d", {}, 128, (2, 1)),
    ("tpsr_d", {"input_size": 64, "bottleneck": 32}, 64, (2, 1)),
]


def n_params(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def test_registered():
    assert set(DISCRIMINATORS) <= set(zoo.names())


@pytest.mark.parametrize("name,kw,params", COUNTS)
def test_param_counts(name, kw, params):
    with torch.device("cpu" if name == "tpsr_d" else "meta"):  # spectral_norm's init is slow on meta
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


@pytest.mark.parametrize("name", ["esrgan_d", "srgan_d", "tpsr_d"])
def test_fixed_size_heads_reject_other_sizes(name):
    m = zoo.build(name, num_feat=8) if name != "tpsr_d" else zoo.build(name, base_channels=4)
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
    ("tpsr_d", {"ops": ("inv3", "se", "ca", "sep5", "gconv7"), "bottleneck": 16, "input_size": 64}, 64),
])
def test_state_dict_round_trip(name, kw, side):
    torch.manual_seed(0)
    m = zoo.build(name, **kw)
    x = torch.rand(2, 3, side, side)
    m(x)  # one train-mode pass: BN running statistics and spectral-norm vectors move off their init
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


def test_tpsr_every_op_and_reduction_builds_and_runs():
    """Cover Op and ROp exhaustively: 16 ops and 7 reductions in 4 networks of 5 blocks."""
    ops = list(OPS) + ["conv3"] * (-len(OPS) % 5)
    reds = (list(ROPS) * 3)[: len(ops)]
    x = torch.rand(2, 3, 64, 64)
    for i in range(0, len(ops), 5):
        m = TPSRDiscriminator(ops=ops[i:i + 5], reductions=reds[i:i + 5], base_channels=8, input_size=64)
        assert m(x).shape == (2, 1)


def test_tpsr_random_sample_of_space():
    configs = tpsr_d_configs(6, seed=0, bottleneck=32, base_channels=8)
    configs += tpsr_d_configs(2, seed=1)
    x = torch.rand(2, 3, 128, 128)
    for cfg in configs:
        torch.manual_seed(0)
        m = zoo.build("tpsr_d", config=cfg)
        assert m.config == cfg
        out = m(x)
        assert out.shape == (2, 1) and torch.isfinite(out).all()
        out.sum().backward()


def test_tpsr_config_forms_and_errors():
    cfg = TPSRDConfig(ops=["sep3"] * 5, reductions=["rgconv5"] * 5, bottleneck=64)
    assert TPSRDiscriminator(config=cfg).config == TPSRDiscriminator(config=dataclass_dict(cfg)).config
    assert TPSRDConfig.space_size() == (len(OPS) * len(ROPS)) ** 5
    with pytest.raises(KeyError):
        TPSRDConfig(ops=["conv9"] * 5)
    with pytest.raises(KeyError):
        TPSRDConfig(reductions=["conv3"] * 5)
    with pytest.raises(ValueError):
        TPSRDConfig(ops=["conv3"] * 4)
    with pytest.raises(TypeError):
        TPSRDiscriminator(config=cfg, bottleneck=8)


def dataclass_dict(cfg: TPSRDConfig) -> dict:
    import dataclasses

    return dataclasses.asdict(cfg)
