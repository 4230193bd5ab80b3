"""srlib.complexity: exact MACs on hand-computable layers, two independent counters, ESRGAN's checked
numbers (shared/notes/conventions.md), and the paper conventions."""
from __future__ import annotations

import time

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

import srlib.models
from srlib.complexity import (CONVENTIONS, MEMORY_DEFINITIONS, convention, measure, printed_flops,
                              printed_memory, printed_params)


def _build(name: str) -> nn.Module:
    if name not in srlib.models.names():
        pytest.skip(f"model {name!r} is not in the zoo yet")
    return srlib.models.build(name)


@pytest.fixture(scope="module")
def esrgan() -> nn.Module:
    return _build("esrgan")


@pytest.fixture(scope="module")
def esrgan_128(esrgan):
    t0 = time.perf_counter()
    c = measure(esrgan, (128, 128))
    return c, time.perf_counter() - t0


@pytest.fixture(scope="module")
def esrgan_720p(esrgan):
    return measure(esrgan, (180, 320), bias=True)  # 1280x720 output


@pytest.fixture(scope="module")
def esrgan_256(esrgan):
    return measure(esrgan, (256, 256), bias=True)


# ---------------------------------------------------------------- hand-computed layers

def test_conv_with_and_without_bias():
    for has_bias in (True, False):
        net = nn.Conv2d(3, 8, 3, padding=1, bias=has_bias)
        c = measure(net, (16, 16))
        assert c.macs == c.macs_no_bias == 8 * 16 * 16 * 3 * 3 * 3  # C_out * H * W * C_in * k * k
        assert c.bias_adds == (8 * 16 * 16 if has_bias else 0)
        cb = measure(net, (16, 16), bias=True)
        assert cb.macs == c.macs + c.bias_adds
        assert cb.flops == 2 * c.macs + c.bias_adds and c.flops == 2 * c.macs
        weights = 8 * 3 * 9 + (8 if has_bias else 0)
        assert c.params == c.params_all == weights
        assert c.memory_conv_io_weights == 4 * (3 * 256 + 8 * 256 + weights)
        assert c.output_shape == (1, 8, 16, 16) and c.method == "meta"


def test_grouped_strided_dilated_conv():
    c = measure(nn.Conv2d(8, 16, 3, padding=1, groups=4, bias=False), (10, 12), in_channels=8)
    assert c.macs == 16 * 10 * 12 * (8 // 4) * 9
    # out = floor((9 + 2*2 - 2*(3-1) - 1) / 2) + 1 = 5
    c = measure(nn.Conv2d(4, 6, 3, stride=2, padding=2, dilation=2), (9, 9), in_channels=4)
    assert c.output_shape == (1, 6, 5, 5)
    assert c.macs == 6 * 5 * 5 * 4 * 9 and c.bias_adds == 6 * 25
    depthwise = measure(nn.Conv2d(5, 5, 7, padding=3, groups=5), (8, 8), in_channels=5)
    assert depthwise.macs == 5 * 64 * 49


def test_transposed_conv():
    # each input element meets C_out/groups * k*k taps: C_in * H_in * W_in * C_out/g * k*k
    c = measure(nn.ConvTranspose2d(8, 4, 4, stride=2, padding=1), (6, 6), in_channels=8)
    assert c.output_shape == (1, 4, 12, 12)
    assert c.macs == 8 * 6 * 6 * 4 * 16 and c.bias_adds == 4 * 12 * 12
    c = measure(nn.ConvTranspose2d(8, 4, 3, stride=2, groups=2, bias=False), (6, 6), in_channels=8)
    assert c.macs == 8 * 6 * 6 * (4 // 2) * 9


def test_linear_2d_and_nd():
    net = nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 4, 10), nn.ReLU(), nn.Linear(10, 2))
    c = measure(net, (4, 4))
    assert c.macs == 48 * 10 + 10 * 2 and c.bias_adds == 10 + 2
    assert c.params == 48 * 10 + 10 + 10 * 2 + 2
    nd = measure(nn.Linear(5, 6), (4, 5))  # applied to the last axis of a (1, 3, 4, 5) tensor
    assert nd.macs == 3 * 4 * 5 * 6 and nd.bias_adds == 3 * 4 * 6
    assert measure(nn.Linear(5, 6, bias=False), (4, 5)).bias_adds == 0


def test_free_ops_batch_and_shared_weights():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 12, 1, bias=False)
            self.shared = nn.Conv2d(3, 3, 3, padding=1, bias=False)
            self.frozen = nn.Conv2d(3, 3, 1)
            self.frozen.requires_grad_(False)
            self.bn = nn.BatchNorm2d(3)

        def forward(self, x):
            y = F.pixel_shuffle(self.conv(x), 2)                      # 0 MACs for the shuffle
            y = F.interpolate(y, scale_factor=0.5, mode="bilinear")   # 0 MACs
            y = self.shared(self.shared(torch.relu(self.bn(y))))       # called twice
            return self.frozen(torch.cat([y, y], 1)[:, :3] * 0.5 + x)

    net = Net()
    c = measure(net, (6, 6))
    per_call = 3 * 36 * 3 * 9
    assert c.macs == 12 * 36 * 3 + 2 * per_call + 3 * 36 * 3
    assert measure(net, (6, 6), batch=2).macs == 2 * c.macs
    assert c.params == 12 * 3 + 3 * 3 * 9 + 2 * 3           # shared conv once, frozen conv excluded
    assert c.params_all == c.params + 3 * 3 + 3 and c.buffers == 3 + 3 + 1
    conv_io = (3 * 36 + 12 * 36 + 36) + 2 * (3 * 36 + 3 * 36 + 81) + (3 * 36 + 3 * 36 + 12)
    assert c.memory_conv_io_weights == 4 * conv_io            # shared weights read at each call
    resample = (12 * 36 + 3 * 144) + (3 * 144 + 3 * 36)       # pixel shuffle, interpolate: in + out
    assert c.memory_conv_io_weights_resample == 4 * (conv_io + resample)
    assert c.memory_conv_io_weights_cat == 4 * (conv_io + 6 * 36)
    assert c.memory == c.memory_as(c.memory_definition)
    for d in MEMORY_DEFINITIONS:
        assert measure(net, (6, 6), bytes_per_element=2).memory_as(d) * 2 == c.memory_as(d)


def test_all_layers_io_and_all_ops_io_by_hand():
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU())
    c = measure(net, (5, 5))
    conv = 3 * 25 + 4 * 25 + (4 * 27 + 4)  # input + output + parameters
    relu = 4 * 25 + 4 * 25
    assert c.memory_all_layers_io == c.memory_all_ops_io == 4 * (conv + relu)


def test_model_untouched_and_real_fallback():
    class NeedsData(nn.Module):  # .item() cannot run on meta tensors
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3, padding=1)
            self.bn = nn.BatchNorm2d(4)

        def forward(self, x):
            y = self.bn(self.conv(x))
            return y * 2 if y.mean().item() > 1e9 else y

    net = NeedsData().train()
    stats = net.bn.running_mean.clone()
    c = measure(net, (8, 8))
    assert c.method == "real"
    assert c.macs == 4 * 64 * 27 and c.bias_adds == 4 * 64
    assert net.training and net.bn.training and torch.equal(net.bn.running_mean, stats)
    assert all(p.device.type == "cpu" for p in net.parameters())
    with pytest.raises(Exception):
        measure(net, (8, 8), mode="meta")
    assert measure(net, (8, 8), mode="real") == c


def test_bad_arguments():
    with pytest.raises(ValueError, match="valid"):
        measure(nn.Conv2d(3, 3, 1), (4, 4), memory_definition="nope")
    with pytest.raises(ValueError):
        measure(nn.Conv2d(3, 3, 1), (4,))


# ---------------------------------------------------------------- two independent counters

def _flop_counter_mode_meta(model: nn.Module, shape: tuple[int, ...]) -> int:
    state = {n: torch.empty_like(t, device="meta") for n, t in model.state_dict(keep_vars=True).items()}
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        torch.func.functional_call(model.eval(), state, (torch.empty(shape, device="meta"),))
    return fc.get_total_flops()


def _thop_conv_linear_macs(model: nn.Module, x: torch.Tensor) -> int:
    """thop (a real forward) with every leaf module that is not conv / linear counted as 0."""
    thop = pytest.importorskip("thop")

    def zero(m, inp, out):
        m.total_ops += torch.zeros(1, dtype=torch.float64)

    from thop.vision.basic_hooks import count_convNd, count_linear

    custom = {}
    for m in model.modules():  # thop matches exact types: subclasses (e.g. a MeanShift conv) get rules
        if isinstance(m, nn.modules.conv._ConvNd) and not isinstance(m, nn.modules.conv._ConvTransposeNd):
            custom[type(m)] = count_convNd
        elif isinstance(m, nn.Linear):
            custom[type(m)] = count_linear
        elif next(m.children(), None) is None:
            custom[type(m)] = zero
    macs, _ = thop.profile(model.eval(), inputs=(x,), custom_ops=custom, verbose=False)
    return int(macs)


def test_three_counters_agree_on_a_small_net():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 16, 3, padding=1, groups=4),
                        nn.LeakyReLU(0.2), nn.Conv2d(16, 3, 1, bias=False))
    c = measure(net, (16, 16))
    assert c.macs == 16 * 256 * 27 + 16 * 256 * 4 * 9 + 3 * 256 * 16
    assert _thop_conv_linear_macs(net, torch.rand(1, 3, 16, 16)) == c.macs_no_bias
    assert _flop_counter_mode_meta(net, (1, 3, 16, 16)) == 2 * c.macs_no_bias
    # transposed conv and linear: FlopCounterMode (thop uses another transposed-conv formula)
    other = nn.Sequential(nn.ConvTranspose2d(3, 6, 4, stride=2, padding=1), nn.Flatten(), nn.Linear(6 * 64, 5))
    assert _flop_counter_mode_meta(other, (1, 3, 4, 4)) == 2 * measure(other, (4, 4)).macs_no_bias


@pytest.mark.parametrize("name", ["tpsr", "feqe", "srgan"])
def test_three_counters_agree_on_zoo_models(name):
    model = _build(name)
    c = measure(model, (16, 16))
    assert c.method == "meta"
    assert _thop_conv_linear_macs(model, torch.rand(1, 3, 16, 16)) == c.macs_no_bias
    assert _flop_counter_mode_meta(model, (1, 3, 16, 16)) == 2 * c.macs_no_bias


# ---------------------------------------------------------------- ESRGAN's checked numbers

def test_esrgan_128(esrgan_128):
    c, seconds = esrgan_128
    assert seconds < 10  # a meta pass; thop's real forward takes ~12 s on 2 cores
    assert c.method == "meta" and c.output_shape == (1, 3, 512, 512)
    assert c.params == c.params_all == 16_697_987
    assert c.macs == pytest.approx(293.71e9, abs=0.01e9)
    assert c.memory_conv_io_weights == pytest.approx(4.214e9, abs=0.005e9)
    assert c.memory_conv_io_weights_resample == pytest.approx(4.319e9, abs=0.005e9)
    assert c.memory == c.memory_conv_io_weights_resample  # the default definition
    assert c.memory_conv_io_weights_cat == pytest.approx(6.819e9, abs=0.005e9)
    assert c.memory_all_layers_io == pytest.approx(5.674e9, abs=0.005e9)
    assert c.memory_all_ops_io > c.memory_conv_io_weights_cat


def test_esrgan_720p_and_256(esrgan_720p, esrgan_256):
    assert esrgan_720p.macs_no_bias == pytest.approx(1032.59e9, abs=0.01e9)
    assert esrgan_256.macs_no_bias == pytest.approx(1174.85e9, abs=0.01e9)
    assert esrgan_256.macs == pytest.approx(1175.9e9, abs=0.05e9)


def test_esrgan_flop_counter_mode(esrgan, esrgan_128):
    assert _flop_counter_mode_meta(esrgan, (1, 3, 128, 128)) == 2 * esrgan_128[0].macs_no_bias


# ---------------------------------------------------------------- conventions

def test_convention_lookup():
    assert convention("MFAGAN", "Table 2") is convention("mfagan", "t2") is convention("mfagan", "table_2")
    assert convention("tpsr", "table1").lr_hw == (180, 320)
    assert convention("agd", "readme").bias is True
    assert convention("adasr", "table1").single_fit is False
    assert convention("adasr", "table1", row="CARN-M").lr_hw == (256, 256)
    assert convention("adasr", "table1", row="RCAN") is convention("adasr", "table1")
    with pytest.raises(KeyError, match="valid"):
        convention("mfagan", "table9")
    assert all(c.quantity in ("MACs", "2xMACs") for c in CONVENTIONS)


def test_printed_numbers_esrgan(esrgan_128, esrgan_720p, esrgan_256):
    c128 = esrgan_128[0]
    mf = convention("mfagan", "table2")
    assert printed_flops(c128, mf) == pytest.approx(293.71, abs=0.01)     # printed 291
    assert printed_memory(c128, mf) == pytest.approx(4.319, abs=0.005)   # printed 4.29
    assert printed_params(c128, mf) == pytest.approx(16.698, abs=0.001)  # printed 16.67
    tp = convention("tpsr", "table1")
    assert printed_flops(esrgan_720p, tp) == pytest.approx(1033.49, abs=0.01)  # printed 1034.1
    assert printed_params(c128, tp) == pytest.approx(16_697.987)               # printed 16,697 (K)
    agd = convention("agd", "readme")
    assert printed_flops(esrgan_256, agd) == pytest.approx(1175.9, abs=0.05)  # printed 1176.61
    assert printed_params(c128, agd) == pytest.approx(66.79, abs=0.01)        # printed 66.8 MB
    with pytest.raises(ValueError, match="lr_hw"):
        printed_flops(c128, tp)
    with pytest.raises(ValueError, match="no memory"):
        printed_memory(c128, tp)


def test_printed_from_a_module():
    net = nn.Conv2d(3, 4, 3, padding=1)  # MFAGAN: MACs at 128x128, no bias adds, G = 1e9
    assert printed_flops(net, convention("mfagan", "table2")) == 4 * 128 * 128 * 27 / 1e9
    assert printed_params(net, convention("tpsr", "table1")) == (4 * 27 + 4) / 1e3


def test_adasr_table1_rows():
    assert printed_flops(_build("rcan"), convention("adasr", "table1")) == pytest.approx(130.2, rel=0.003)
    carn_m = _build("carn_m")
    assert printed_flops(carn_m, convention("adasr", "table1", row="CARN-M")) == pytest.approx(74.32, rel=0.003)
    # one convention cannot serve both rows: they differ 16x in input pixels
    assert printed_flops(carn_m, convention("adasr", "table1")) < 74.32 / 10


def test_vdsr_reproduces_agd_readme_row():
    # VDSR's 20 x 64 on the bicubic-upsampled 1024x1024: 699.36 GFLOPs (MACs) and 2.67 MB printed
    conv = convention("agd", "readme")
    vdsr = _build("vdsr")
    assert printed_flops(vdsr, conv) == pytest.approx(699.36, rel=0.003)
    assert printed_params(vdsr, conv) == pytest.approx(2.67, rel=0.003)


def test_counts_do_not_depend_on_the_deterministic_flag():
    # training stages switch torch to deterministic algorithms; a later count in the same process (the
    # notebooks' complexity columns) must be the same, and the flag must come back as it was
    net = nn.Sequential(nn.Conv2d(3, 3, 3, padding=1), nn.Upsample(scale_factor=2, mode="bilinear"),
                        nn.Upsample(scale_factor=2, mode="nearest"))
    want = measure(net, (6, 6))
    assert want.memory_conv_io_weights_resample == want.memory_conv_io_weights + 4 * 3 * (36 + 144 + 144 + 576)
    prev = torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()
    try:
        torch.use_deterministic_algorithms(True, warn_only=True)
        assert measure(net, (6, 6)) == want
        assert torch.are_deterministic_algorithms_enabled() and torch.is_deterministic_algorithms_warn_only_enabled()
    finally:
        torch.use_deterministic_algorithms(prev[0], warn_only=prev[1])
