"""Reference x4 generators: output shapes, exact parameter counts, state-dict round trips, registry errors.

Parameter counts: "trainable" = sum of ``numel`` over parameters with ``requires_grad``; "total" adds the
frozen mean-shift parameters (CARN, CARN-M, RCAN, TPSR: 2 x 12). BatchNorm running statistics (SRGAN) are
buffers and are in neither. Expected numbers are in shared/notes/architectures.md.
"""
from __future__ import annotations

import io

import pytest
import torch

import srlib.models as zoo
from srlib.models.esrgan import convert_original_state_dict
from srlib.tpsr.cell import TPSR_GENOTYPE, leaves

torch.set_num_threads(1)

GENERATORS = ("esrgan", "srgan", "enhancenet", "feqe", "imdn", "rfdn", "carn", "carn_m", "fmen", "rcan", "tpsr")

# (name, kwargs, trainable, total)
COUNTS = [
    ("esrgan", {}, 16_697_987, 16_697_987),
    ("srgan", {}, 1_549_462, 1_549_462),
    ("srgan", {"prelu_per_channel": True}, 1_550_659, 1_550_659),
    ("enhancenet", {}, 852_867, 852_867),
    ("feqe", {}, 96_464, 96_464),
    ("imdn", {}, 715_176, 715_176),
    ("rfdn", {}, 433_448, 433_448),
    ("carn", {}, 1_111_875, 1_111_899),
    ("carn", {"multi_scale": True}, 1_591_939, 1_591_963),
    ("carn_m", {}, 294_147, 294_171),
    ("carn_m", {"multi_scale": True}, 414_787, 414_811),
    ("fmen", {}, 341_066, 341_066),
    ("rcan", {}, 15_592_355, 15_592_379),
    ("tpsr", {}, 61_097, 61_121),
]


def lr_input(name: str) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    # RFDN's ESA (stride-2 conv + 7x7 max-pool) needs >= 15x15; everything else gets a tiny odd size.
    h, w = (15, 17) if name == "rfdn" else (7, 9)
    return torch.rand(1, 3, h, w, generator=g)


_cache: dict[str, torch.nn.Module] = {}


def built(name: str) -> torch.nn.Module:
    if name not in _cache:
        torch.manual_seed(0)
        _cache[name] = zoo.build(name).eval()
    return _cache[name]


def trainable(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters() if p.requires_grad)


def test_all_generators_registered():
    assert set(GENERATORS) <= set(zoo.names())


@pytest.mark.parametrize("name", GENERATORS)
def test_output_shape_x4_odd_input(name):
    x = lr_input(name)
    with torch.no_grad():
        y = built(name)(x)
    assert y.shape == (1, 3, 4 * x.shape[2], 4 * x.shape[3])
    assert torch.isfinite(y).all()


@pytest.mark.parametrize("name,kw,n_train,n_total", COUNTS, ids=[f"{c[0]}{c[1] or ''}" for c in COUNTS])
def test_parameter_counts(name, kw, n_train, n_total):
    m = built(name) if not kw else zoo.build(name, **kw)
    assert trainable(m) == n_train
    assert sum(p.numel() for p in m.parameters()) == n_total


@pytest.mark.parametrize("name", ["carn", "carn_m", "rcan", "tpsr"])
def test_mean_shift_frozen(name):
    m = built(name)
    frozen = [n for n, p in m.named_parameters() if not p.requires_grad]
    assert sorted(frozen) == ["add_mean.bias", "add_mean.weight", "sub_mean.bias", "sub_mean.weight"]
    # 0-255 units for RCAN/TPSR, [0, 1] units for CARN (the authors' code); sub and add cancel.
    rgb = 1.0 if name.startswith("carn") else 255.0
    assert torch.allclose(m.add_mean.bias, rgb * torch.tensor([0.4488, 0.4371, 0.4040]))
    assert torch.allclose(m.sub_mean.bias, -m.add_mean.bias)


@pytest.mark.parametrize("name", GENERATORS)
def test_state_dict_round_trip(name):
    m = built(name)
    x = lr_input(name)
    if name == "srgan":  # move BN running statistics off their defaults so buffers are exercised too
        m.train()
        with torch.no_grad():
            m(x)
        m.eval()
    buf = io.BytesIO()
    torch.save(m.state_dict(), buf)
    buf.seek(0)
    state = torch.load(buf, weights_only=True)
    torch.manual_seed(123)
    fresh = zoo.build(name).eval()
    fresh.load_state_dict(state, strict=True)
    with torch.no_grad():
        assert torch.equal(m(x), fresh(x))


def test_unknown_name_lists_valid_names():
    with pytest.raises(KeyError) as e:
        zoo.build("unknown")
    msg = str(e.value)
    assert "unknown" in msg and "esrgan" in msg and "tpsr" in msg


@pytest.mark.parametrize("name,kw", [
    ("esrgan", {"num_feat": 16, "num_block": 1, "num_grow_ch": 8}),
    ("srgan", {"num_feat": 16, "num_block": 2}),
    ("enhancenet", {"num_feat": 16, "num_block": 2}),
    ("feqe", {"num_feat": 8, "num_block": 2}),
    ("imdn", {"num_feat": 16, "num_block": 2}),
    ("rfdn", {"num_feat": 16, "num_block": 2}),
    ("carn", {"num_feat": 16, "num_block": 2, "num_unit": 2}),
    ("carn_m", {"num_feat": 16, "num_block": 2, "num_unit": 2}),
    ("fmen", {"num_feat": 16, "num_block": 2, "mid_feat": 8, "up_blocks": (1, 1, 1)}),
    ("rcan", {"num_feat": 16, "num_group": 2, "num_block": 2, "reduction": 4}),
    ("tpsr", {"num_feat": 8}),
])
def test_shrunk_knobs(name, kw):
    torch.manual_seed(0)
    m = zoo.build(name, **kw).eval()
    x = lr_input(name)
    with torch.no_grad():
        y = m(x)
    assert y.shape == (1, 3, 4 * x.shape[2], 4 * x.shape[3])
    assert trainable(m) < trainable(built(name))


def test_carn_multi_scale_branches():
    torch.manual_seed(0)
    m = zoo.build("carn_m", multi_scale=True).eval()
    x = lr_input("carn_m")
    with torch.no_grad():
        for s in (2, 3, 4):
            assert m(x, scale=s).shape == (1, 3, s * 7, s * 9)
        assert torch.equal(m(x), m(x, scale=4))


def test_tpsr_cell_and_x2_template():
    assert leaves(TPSR_GENOTYPE) == [6, 8, 9]
    torch.manual_seed(0)
    m = zoo.build("tpsr", scale=2).eval()
    with torch.no_grad():
        assert m(lr_input("tpsr")).shape == (1, 3, 14, 18)
    with pytest.raises(ValueError):
        zoo.build("tpsr", genotype=(("conv3", 1),))  # node 0 can only read the cell input


def test_srgan_output_in_unit_range():
    with torch.no_grad():
        y = built("srgan")(lr_input("srgan"))
    assert y.min() >= 0 and y.max() <= 1


def test_feqe_clip_option():
    torch.manual_seed(0)
    m = zoo.build("feqe", clip=True).eval()
    m.load_state_dict(built("feqe").state_dict())
    x = lr_input("feqe")
    with torch.no_grad():
        assert torch.equal(m(x), built("feqe")(x).clamp(0, 1))


def test_rfdn_rejects_too_small_input():
    with pytest.raises(ValueError, match="15x15"):
        built("rfdn")(torch.rand(1, 3, 7, 9))


def test_esrgan_original_key_names():
    ours = set(built("esrgan").state_dict())
    original = {k.replace("body.", "RRDB_trunk.", 1).replace(".rdb", ".RDB") if k.startswith("body.") else k
                for k in ours}
    original = {{"conv_body.weight": "trunk_conv.weight", "conv_body.bias": "trunk_conv.bias",
                 "conv_up1.weight": "upconv1.weight", "conv_up1.bias": "upconv1.bias",
                 "conv_up2.weight": "upconv2.weight", "conv_up2.bias": "upconv2.bias",
                 "conv_hr.weight": "HRconv.weight", "conv_hr.bias": "HRconv.bias"}.get(k, k) for k in original}
    assert set(convert_original_state_dict({k: None for k in original})) == ours


def test_tpsr_every_search_op_builds_and_runs():
    from srlib.tpsr.cell import OPS
    genotype = tuple((op, i) for i, op in enumerate(OPS))  # a chain through every op in Op
    torch.manual_seed(0)
    m = zoo.build("tpsr", genotype=genotype).eval()
    assert m.cell.leaves == [len(OPS) - 1]
    with torch.no_grad():
        assert m(lr_input("tpsr")).shape == (1, 3, 28, 36)
