"""TPSR's discriminator search space (``tpsr_d``, srlib.tpsr.discriminator): exact parameter counts, output
shapes, fixed-size head, state-dict round trip, every Op and ROp, a random sample of the space, config
forms and errors.

Parameter counts: sum of ``numel`` over ``parameters()`` (BN running statistics are buffers, not counted;
spectral-norm's u/v vectors are buffers too).
"""
from __future__ import annotations

import dataclasses
import io

import pytest
import torch

import srlib.models as zoo
from srlib.tpsr.cell import OPS
from srlib.tpsr.discriminator import ROPS, TPSRDConfig, TPSRDiscriminator, tpsr_d_configs

torch.set_num_threads(1)


def n_params(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def test_registered():
    assert "tpsr_d" in zoo.names()


@pytest.mark.parametrize("kw,params", [({}, 2_369_115), ({"spectral_norm": False}, 2_369_115)])
def test_param_counts(kw, params):
    m = zoo.build("tpsr_d", **kw)  # on CPU: spectral_norm's init is slow on meta
    assert n_params(m) == params


@pytest.mark.parametrize("kw,side,shape", [
    ({}, 128, (2, 1)),
    ({"input_size": 64, "bottleneck": 32}, 64, (2, 1)),
])
def test_output_shapes(kw, side, shape):
    torch.manual_seed(0)
    m = zoo.build("tpsr_d", **kw)
    x = torch.rand(2, 3, side, side)
    assert m(x).shape == shape  # train mode (BN batch statistics)
    with torch.no_grad():
        assert m.eval()(x).shape == shape


def test_fixed_size_head_rejects_other_sizes():
    m = zoo.build("tpsr_d", base_channels=4)
    with pytest.raises(ValueError):
        m(torch.rand(1, 3, 64, 64))


def test_state_dict_round_trip():
    kw = {"ops": ("inv3", "se", "ca", "sep5", "gconv7"), "bottleneck": 16, "input_size": 64}
    torch.manual_seed(0)
    m = zoo.build("tpsr_d", **kw)
    x = torch.rand(2, 3, 64, 64)
    m(x)  # one train-mode pass: BN running statistics and spectral-norm vectors move off their init
    m.eval()
    buf = io.BytesIO()
    torch.save(m.state_dict(), buf)
    buf.seek(0)
    torch.manual_seed(1)
    other = zoo.build("tpsr_d", **kw)
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
    assert TPSRDiscriminator(config=cfg).config == TPSRDiscriminator(config=dataclasses.asdict(cfg)).config
    assert TPSRDConfig.space_size() == (len(OPS) * len(ROPS)) ** 5
    with pytest.raises(KeyError):
        TPSRDConfig(ops=["conv9"] * 5)
    with pytest.raises(KeyError):
        TPSRDConfig(reductions=["conv3"] * 5)
    with pytest.raises(ValueError):
        TPSRDConfig(ops=["conv3"] * 4)
    with pytest.raises(TypeError):
        TPSRDiscriminator(config=cfg, bottleneck=8)
