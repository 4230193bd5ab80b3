"""The authors' released checkpoints: table, strict key mapping per format, units, files, CLI, rows.

State dicts are built here in each released format from the key lists in
shared/notes/released_weights.md (names and shapes as the files hold them), independently of
srlib.weights.formats. For TPSR, CARN-M and FMEN a small functional forward written from the same notes
(torch.nn.functional, weights read by the file's own key names) checks that the mapped module computes
the authors' network, not just that the names line up.

With ``SRLIB_RELEASED_DIR`` pointing at a folder holding the real files (never committed),
``test_real_files`` loads each one found there and checks its PSNR on the mini test split against
bicubic; without it that test is skipped.
"""
from __future__ import annotations

import dataclasses
import os
import re

import pytest
import torch
import torch.nn.functional as F

from srlib import weights
from srlib.weights import backbones, formats, released
from srlib.weights.formats import StrictLoadError

MEAN = torch.tensor([0.4488, 0.4371, 0.4040])


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("SRLIB_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    real = os.environ.get("SRLIB_RELEASED_DIR")
    monkeypatch.delenv("SRLIB_RELEASED_DIR", raising=False)
    yield real


def _r(*shape, g=None):
    """Random weights that keep activations O(1) through depth (std 1/sqrt(fan-in)); biases std 0.1."""
    fan_in = 1
    for n in shape[1:]:
        fan_in *= n
    return torch.randn(*shape, generator=g) * (fan_in ** -0.5 if len(shape) > 1 else 0.1)


# --------------------------------------------------------------------------------------------------
# Released formats, built from the notes' key lists
# --------------------------------------------------------------------------------------------------
TPSR_GROUPS = (("early_layers", ((0, "Sep2d", 5), (1, "Conv2d", 7), (2, "Conv2d", 7))),
               ("middle_main_layers", ((4, "Conv2d", 3), (5, "Conv2d", 5), (6, "Sep2d", 3))),
               ("middle_side_layers", ((3, "Conv2d", 3), (7, "Conv2d", 5), (8, "Conv2d", 3))),
               ("skip_layer", ((9, "Conv2d", 7),)))


def _node_prefix(group, k, kind, K):
    return f"{group}.Node_{k}_Operation_0_type_{kind}_{K}x{K}.model."


def tpsr_file(seed=0, mean_scale=255.0) -> dict:
    g = torch.Generator().manual_seed(seed)   # biases x50: the network works in 0-255
    sd = {"sub_mean.weight": torch.eye(3).view(3, 3, 1, 1), "sub_mean.bias": -mean_scale * MEAN,
          "add_mean.weight": torch.eye(3).view(3, 3, 1, 1), "add_mean.bias": mean_scale * MEAN,
          "first_layer.weight": _r(16, 3, 3, 3, g=g), "first_layer.bias": _r(16, g=g) * 50}
    for group, nodes in TPSR_GROUPS:
        for k, kind, K in nodes:
            p = _node_prefix(group, k, kind, K)
            if kind == "Conv2d":
                sd.update({p + "0.weight": _r(16, 16, K, K, g=g), p + "0.bias": _r(16, g=g) * 50,
                           p + "1.weight": torch.full((1,), 0.25)})
            else:
                sd.update({p + "0.weight": _r(16, 1, K, K, g=g), p + "1.weight": torch.full((1,), 0.2),
                           p + "2.weight": _r(16, 16, 1, 1, g=g), p + "2.bias": _r(16, g=g) * 50,
                           p + "3.weight": torch.full((1,), 0.3)})
    sd.update({"merge_op_act.weight": torch.full((1,), 0.1),
               "up_mod.0.extend.weight": _r(12, 16, 3, 3, g=g), "up_mod.0.extend.bias": _r(12, g=g) * 50,
               "up_mod.1.extend.weight": _r(12, 3, 3, 3, g=g), "up_mod.1.extend.bias": _r(12, g=g) * 50})
    return sd


def tpsr_reference(sd: dict, x255: torch.Tensor) -> torch.Tensor:
    """The TPSR forward as the notes describe it, straight from the file's keys (0-255 units)."""
    def conv(x, w, b=None, groups=1):
        return F.conv2d(x, w, b, padding=w.shape[-1] // 2, groups=groups)

    def node(x, k):
        group, kind, K = next((grp, kd, kk) for grp, ns in TPSR_GROUPS for kn, kd, kk in ns if kn == k)
        p = _node_prefix(group, k, kind, K)
        if kind == "Conv2d":
            return F.prelu(conv(x, sd[p + "0.weight"], sd[p + "0.bias"]), sd[p + "1.weight"])
        x = F.prelu(conv(x, sd[p + "0.weight"], groups=16), sd[p + "1.weight"])
        return F.prelu(conv(x, sd[p + "2.weight"], sd[p + "2.bias"]), sd[p + "3.weight"])

    i = conv(conv(x255, sd["sub_mean.weight"], sd["sub_mean.bias"]), sd["first_layer.weight"], sd["first_layer.bias"])
    n2 = node(node(node(i, 0), 1), 2)
    n6 = node(node(node(n2, 4), 5), 6)
    n8 = node(node(node(n2, 3), 7), 8)
    n9 = node(i, 9)
    o = F.prelu(n9 + n8 + n6, sd["merge_op_act.weight"])
    o = F.pixel_shuffle(conv(o, sd["up_mod.0.extend.weight"], sd["up_mod.0.extend.bias"]), 2)
    o = F.pixel_shuffle(conv(o, sd["up_mod.1.extend.weight"], sd["up_mod.1.extend.bias"]), 2)
    return conv(o, sd["add_mean.weight"], sd["add_mean.bias"])


def carn_m_file(seed=0, mean_scale=1.0) -> dict:
    g = torch.Generator().manual_seed(seed)
    sd = {"sub_mean.shifter.weight": torch.eye(3).view(3, 3, 1, 1), "sub_mean.shifter.bias": -mean_scale * MEAN,
          "add_mean.shifter.weight": torch.eye(3).view(3, 3, 1, 1), "add_mean.shifter.bias": mean_scale * MEAN,
          "entry.weight": _r(64, 3, 3, 3, g=g), "entry.bias": _r(64, g=g)}

    def fusions(prefix):
        for m in (1, 2, 3):
            sd[f"{prefix}c{m}.body.0.weight"] = _r(64, 64 * (m + 1), 1, 1, g=g)
            sd[f"{prefix}c{m}.body.0.bias"] = _r(64, g=g)

    for b in (1, 2, 3):
        for j, shape in ((0, (64, 16, 3, 3)), (2, (64, 16, 3, 3)), (4, (64, 64, 1, 1))):
            sd[f"b{b}.b1.body.{j}.weight"] = _r(*shape, g=g)
            sd[f"b{b}.b1.body.{j}.bias"] = _r(64, g=g)
        fusions(f"b{b}.")
    fusions("")
    for name, shape in (("up2.body.0", (256, 16, 3, 3)), ("up3.body.0", (576, 16, 3, 3)),
                        ("up4.body.0", (256, 16, 3, 3)), ("up4.body.3", (256, 16, 3, 3))):
        sd[f"upsample.{name}.weight"] = _r(*shape, g=g)
        sd[f"upsample.{name}.bias"] = _r(shape[0], g=g)
    sd.update({"exit.weight": _r(3, 64, 3, 3, g=g), "exit.bias": _r(3, g=g)})
    return sd


def carn_m_reference(sd: dict, x: torch.Tensor) -> torch.Tensor:
    """CARN-M x4 as the notes describe it ([0, 1] units), from the file's keys."""
    def conv(x, k, groups=1):
        w = sd[k + ".weight"]
        return F.conv2d(x, w, sd[k + ".bias"], padding=w.shape[-1] // 2, groups=groups)

    def cascade(x, unit, fuse_prefix):
        c = o = x
        for m in (1, 2, 3):
            c = torch.cat((c, unit(o)), 1)
            o = F.relu(conv(c, f"{fuse_prefix}c{m}.body.0"))
        return o

    def erb(b):
        return lambda o: F.relu(conv(F.relu(conv(F.relu(conv(o, f"b{b}.b1.body.0", 4)), f"b{b}.b1.body.2", 4)),
                                     f"b{b}.b1.body.4") + o)

    x = conv(conv(x, "sub_mean.shifter"), "entry")
    c = o = x   # the outer cascade applies blocks b1, b2, b3 in turn
    for m, b in zip((1, 2, 3), (1, 2, 3)):
        c = torch.cat((c, cascade(o, erb(b), f"b{b}.")), 1)
        o = F.relu(conv(c, f"c{m}.body.0"))
    o = F.pixel_shuffle(F.relu(conv(o, "upsample.up4.body.0", 4)), 2)
    o = F.pixel_shuffle(F.relu(conv(o, "upsample.up4.body.3", 4)), 2)
    return conv(conv(o, "exit"), "add_mean.shifter")


def fmen_file(seed=0) -> dict:
    g = torch.Generator().manual_seed(seed)
    sd = {}

    def c(k, cout, cin):
        sd[k + ".weight"] = _r(cout, cin, 3, 3, g=g)
        sd[k + ".bias"] = _r(cout, g=g) * 50   # 0-255 units

    def hfab(p, mid, n):
        c(p + "squeeze", mid, 50)
        for i in range(n):
            c(f"{p}convs.{i}.conv1.rep_conv", mid, mid)
            c(f"{p}convs.{i}.conv2.rep_conv", mid, mid)
        c(p + "excitate", 50, mid)

    c("head", 50, 3)
    c("warmup.0", 50, 50)
    hfab("warmup.1.", 12, 2)
    for i in range(4):
        c(f"basic_blocks.{i}.conv1.rep_conv", 50, 50)
        c(f"basic_blocks.{i}.conv2.rep_conv", 50, 50)
    for i in range(4):
        hfab(f"hfabs.{i}.", 16, 1)
    c("lr_conv", 50, 50)
    c("tail.0", 48, 50)
    return sd


def fmen_reference(sd: dict, x255: torch.Tensor) -> torch.Tensor:
    """FMEN deploy form as the notes describe it (0-255 units, LeakyReLU 0.1), from the file's keys."""
    def conv(x, k):
        return F.conv2d(x, sd[k + ".weight"], sd[k + ".bias"], padding=1)

    def lrelu(x):
        return F.leaky_relu(x, 0.1)

    def hfab(x, p, n):
        a = lrelu(conv(x, p + "squeeze"))
        for i in range(n):
            a = conv(lrelu(conv(a, f"{p}convs.{i}.conv1.rep_conv")), f"{p}convs.{i}.conv2.rep_conv")
        return x * torch.sigmoid(conv(lrelu(a), p + "excitate"))

    h0 = conv(x255, "head")
    h = hfab(conv(h0, "warmup.0"), "warmup.1.", 2)
    for i in range(4):
        h = conv(lrelu(conv(h, f"basic_blocks.{i}.conv1.rep_conv")), f"basic_blocks.{i}.conv2.rep_conv")
        h = hfab(h, f"hfabs.{i}.", 1)
    return F.pixel_shuffle(conv(conv(h, "lr_conv") + h0, "tail.0"), 4)


def rfdn_file(seed=0) -> dict:
    g = torch.Generator().manual_seed(seed)
    sd = {}

    def c(k, cout, cin, ks):
        sd[k + ".weight"] = _r(cout, cin, ks, ks, g=g)
        sd[k + ".bias"] = _r(cout, g=g)

    c("fea_conv", 50, 3, 3)
    for b in (1, 2, 3, 4):
        for n in (1, 2, 3):
            c(f"B{b}.c{n}_d", 25, 50, 1)
            c(f"B{b}.c{n}_r", 50, 50, 3)
        c(f"B{b}.c4", 25, 50, 3)
        c(f"B{b}.c5", 50, 100, 1)
        for k, co, ci, ks in (("conv1", 12, 50, 1), ("conv_f", 12, 12, 1), ("conv_max", 12, 12, 3),
                              ("conv2", 12, 12, 3), ("conv3", 12, 12, 3), ("conv3_", 12, 12, 3),
                              ("conv4", 50, 12, 1)):
            c(f"B{b}.esa.{k}", co, ci, ks)
    c("c.0", 50, 200, 1)
    c("LR_conv", 50, 50, 3)
    c("upsampler.0", 48, 50, 3)
    return sd


RDB_IN = (64, 96, 128, 160, 192)


def esrgan_file(fmt: str, nf=64, gc=32, nb=23, fill=None, seed=0) -> dict:
    """ESRGAN in the 'old', 'current' or 'basicsr' key format (random, or ``fill`` for speed)."""
    g = torch.Generator().manual_seed(seed)

    def t(*shape):
        return torch.full(shape, fill) if fill is not None else _r(*shape, g=g)

    names = {
        "old": dict(first="model.0", rdb="model.1.sub.{i}.RDB{k}.conv{j}.0", trunk=f"model.1.sub.{nb}",
                    up1="model.3", up2="model.6", hr="model.8", last="model.10"),
        "current": dict(first="conv_first", rdb="RRDB_trunk.{i}.RDB{k}.conv{j}", trunk="trunk_conv",
                        up1="upconv1", up2="upconv2", hr="HRconv", last="conv_last"),
        "basicsr": dict(first="conv_first", rdb="body.{i}.rdb{k}.conv{j}", trunk="conv_body",
                        up1="conv_up1", up2="conv_up2", hr="conv_hr", last="conv_last"),
    }[fmt]
    sd = {}

    def c(k, cout, cin):
        sd[k + ".weight"] = t(cout, cin, 3, 3)
        sd[k + ".bias"] = t(cout)

    c(names["first"], nf, 3)
    for i in range(nb):
        for k in (1, 2, 3):
            for j in range(1, 6):
                c(names["rdb"].format(i=i, k=k, j=j), nf if j == 5 else gc, nf + (j - 1) * gc)
    c(names["trunk"], nf, nf)
    c(names["up1"], nf, nf)
    c(names["up2"], nf, nf)
    c(names["hr"], nf, nf)
    c(names["last"], 3, nf)
    return sd


SMALL = dict(num_feat=8, num_grow_ch=4, num_block=2)
TOL = dict(rtol=1e-5, atol=1e-6)
REFERENCES = {  # name -> (file builder, functional forward on [0, 1] input, tensors that do not reach x4)
    "tpsr_d2": (tpsr_file, lambda sd, x: tpsr_reference(sd, x * 255) / 255, ()),
    "carn_m": (carn_m_file, carn_m_reference, ("upsample.up2.", "upsample.up3.")),
    "fmen": (fmen_file, lambda sd, x: fmen_reference(sd, x * 255) / 255, ()),
}


def _count(sd):
    return len(sd), sum(v.numel() for v in sd.values())


# --------------------------------------------------------------------------------------------------
# The table
# --------------------------------------------------------------------------------------------------
def test_backbone_api_still_importable_from_the_package():
    for name in ("WEIGHTS", "WeightSpec", "WeightsUnavailable", "available", "candidates", "fetch",
                 "hub_checkpoints_dir", "load_state_dict", "main", "path", "weights_dir"):
        assert name in weights.__all__ and getattr(weights, name) is not None
    assert weights.WEIGHTS is backbones.WEIGHTS and weights.path is backbones.path
    assert weights.WeightsUnavailable is backbones.WeightsUnavailable
    assert not set(backbones.WEIGHTS) & set(released.RELEASED)


def test_table_urls_sums_formats_and_printed_rows():
    from srlib import models, reference

    hexes = re.compile(r"^[0-9a-f]{64}$")
    for s in released.RELEASED.values():
        assert s.key_format in formats.KEYMAPS, s.name
        assert s.model in models.names(), s.name
        assert s.wrapper_scale in (1.0, 255.0)
        for paper, table, model in s.printed:
            assert not reference.load(paper, table).query("model == @model").empty, (s.name, paper, table, model)
        if s.verified:
            assert re.fullmatch(r"[0-9a-f]{40}", s.commit) and hexes.match(s.sha256) and s.size > 0
            assert s.url == f"https://github.com/{s.repo}/raw/{s.commit}/{s.repo_path}"
            assert s.repo_path.endswith(s.filename)
        else:
            assert s.url == "" and s.sha256 == "" and "UNVERIFIED BY CHECKSUM" in s.check and s.hosted
    # the notes' sums and sizes (shared/notes/released_weights.md)
    assert released.spec("tpsr_d2").sha256.startswith("bf86676b") and released.spec("tpsr_d2").size == 256_459
    assert released.spec("carn_m").sha256.startswith("d48a759a") and released.spec("carn_m").size == 1_670_695
    assert released.spec("fmen").sha256.startswith("f20cde08") and released.spec("fmen").size == 1_390_483
    assert released.spec("fmen").wrapper_scale == 255.0 and released.spec("tpsr_d2").wrapper_scale == 1.0
    df = released.table()
    assert list(df.name) == released.names() and (df.status == "absent").all()
    with pytest.raises(KeyError, match="valid: tpsr_nogan"):
        released.spec("tpsr")


def test_tpsr_authors_cell_is_our_genotype():
    from srlib.tpsr.cell import TPSR_GENOTYPE

    assert formats.TPSR_AUTHORS_GENOTYPE == TPSR_GENOTYPE
    # the notes' node list (TPSR_GROUPS here) is the same cell as formats.TPSR_AUTHORS_CELL
    ours = tuple((g, inp, tuple((k, op) for k, op in nodes)) for g, inp, nodes in formats.TPSR_AUTHORS_CELL)
    notes = tuple((g, inp, tuple((k, ("conv" if kind == "Conv2d" else "sep") + str(K)) for k, kind, K in ns))
                  for (g, ns), inp in zip(TPSR_GROUPS, (0, 3, 3, 0)))
    assert ours == notes
    with pytest.raises(StrictLoadError, match="is not the published cell"):
        released.from_state_dict("tpsr_d2", tpsr_file(), genotype=TPSR_GENOTYPE[:-1] + (("conv5", 0),))


# --------------------------------------------------------------------------------------------------
# Strict loads, one per format, and the functional check of the mapping
# --------------------------------------------------------------------------------------------------
def test_tpsr_strict_load_and_forward_match_the_authors_network():
    sd = tpsr_file()
    assert _count(sd) == (45, 61_121)
    m = released.from_state_dict("tpsr_d2", sd, file="TPSR_D2X4.pt")
    assert not m.training and m.load_report.n_loaded_values == 61_121 and not m.load_report.excluded
    assert torch.equal(m.stem.weight, sd["first_layer.weight"])
    node6 = _node_prefix("middle_main_layers", 6, "Sep2d", 3)
    assert torch.equal(m.cell.nodes[6][2].weight, sd[node6 + "2.weight"])
    assert torch.equal(m.upsample[2].weight, sd["up_mod.1.extend.weight"])
    x = torch.rand(1, 3, 12, 10, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ours, ref = m(x), tpsr_reference(sd, x * 255) / 255
    assert ours.shape == (1, 3, 48, 40)
    torch.testing.assert_close(ours, ref, **TOL)


@pytest.mark.parametrize("name", list(REFERENCES))
def test_functional_references_see_every_tensor(name):
    """The forward-equality tests mean something: scaling any one tensor of the file by 1.5 moves the
    reference output far beyond the tolerance (except CARN-M's x2/x3 branches, unused at x4)."""
    build, forward, unused = REFERENCES[name]
    sd = build()
    x = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        base = forward(sd, x)
        for k in sd:
            if k.startswith(unused):
                continue
            moved = (forward({**sd, k: sd[k] * 1.5}, x) - base).abs().max().item()
            assert moved > 10 * (TOL["atol"] + TOL["rtol"] * base.abs().max().item()), (k, moved)


def test_carn_m_multiscale_strict_load_uses_every_tensor_and_the_x4_branch():
    sd = carn_m_file()
    assert _count(sd) == (58, 414_811)
    m = released.from_state_dict("carn_m", sd, file="carn_m.pth")
    assert m.load_report.n_loaded_tensors == 58 and not m.load_report.excluded
    assert torch.equal(m.upsample["x3"][0].weight, sd["upsample.up3.body.0.weight"])
    assert torch.equal(m.blocks[1].fuse[2][0].weight, sd["b2.c3.body.0.weight"])
    x = torch.rand(1, 3, 9, 11, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        torch.testing.assert_close(m(x), carn_m_reference(sd, x), **TOL)


def test_carn_m_x4_only_module_needs_a_declared_exclusion():
    from srlib import models

    sd = carn_m_file()
    with pytest.raises(StrictLoadError, match=r"unused tensor 'upsample\.up2\.body\.0\.weight'") as ei:
        formats.load_strict(models.build("carn_m"), sd, formats.carn_key, file="carn_m.pth")
    assert "upsample.up3.body.0.bias" in ei.value.keys and str(ei.value).startswith("carn_m.pth: ")
    exclude = (("upsample.up2.", "x2 branch: not part of an x4-only model"),
               ("upsample.up3.", "x3 branch: not part of an x4-only model"))
    rep = formats.load_strict(models.build("carn_m"), sd, formats.carn_key, file="carn_m.pth", exclude=exclude)
    assert rep.n_loaded_tensors == 54 and len(rep.excluded) == 4
    assert ("upsample.up3.body.0.weight", "x3 branch: not part of an x4-only model") in rep.excluded


def test_fmen_deploy_strict_load_and_0_255_units():
    sd = fmen_file()
    assert _count(sd) == (68, 341_066)
    m = released.from_state_dict("fmen", sd, file="team03_fmen.pth")
    assert isinstance(m, released.ZeroOneIO) and m.rgb_range == 255.0 and m.scale == 4
    assert torch.equal(m.net.erbs[3].conv2.weight, sd["basic_blocks.3.conv2.rep_conv.weight"])
    x = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        torch.testing.assert_close(m(x), fmen_reference(sd, x * 255) / 255, **TOL)
        torch.testing.assert_close(m(x), m.net(x * 255) / 255)


def test_rfdn_ntire_baseline_strict_load():
    sd = rfdn_file()
    assert _count(sd) == (128, 433_448)
    m = released.from_state_dict("rfdn", sd, file="rfdn_baseline.pth")
    assert isinstance(m, released.ZeroOneIO) and m.rgb_range == 255.0
    assert torch.equal(m.net.blocks[3].esa.conv3_.weight, sd["B4.esa.conv3_.weight"])
    assert torch.equal(m.net.fuse[0].weight, sd["c.0.weight"]) and torch.equal(m.net.lr_conv.bias, sd["LR_conv.bias"])


def test_esrgan_full_current_format_702_keys():
    sd = esrgan_file("current", fill=0.0)
    sd["RRDB_trunk.22.RDB3.conv5.weight"][0, 0, 0, 0] = 1.5
    assert _count(sd) == (702, 16_697_987)
    assert formats.esrgan_format(list(sd)) == "current"
    m = released.from_state_dict("esrgan", sd, file="RRDB_ESRGAN_x4.pth")
    assert m.load_report.n_loaded_values == 16_697_987
    assert m.body[22].rdb3.conv5.weight[0, 0, 0, 0] == 1.5


@pytest.mark.parametrize("fmt,wrap", [("old", None), ("current", None), ("basicsr", "params"),
                                      ("basicsr", "params_ema"), ("basicsr", None), ("old", "module"),
                                      ("basicsr", "params+module")])
def test_esrgan_formats_load_to_the_same_network(fmt, wrap):
    ref = esrgan_file("basicsr", **{"nf": 8, "gc": 4, "nb": 2})
    sd = esrgan_file(fmt, nf=8, gc=4, nb=2)
    assert formats.esrgan_format(list(sd)) == fmt
    if wrap and "module" in wrap:
        sd = {"module." + k: v for k, v in sd.items()}
    obj = {wrap.split("+")[0]: sd} if wrap and wrap.startswith("params") else sd
    m = released.from_state_dict("esrgan", obj, file="x.pth", **SMALL)
    assert m.load_report.n_loaded_tensors == len(ref)
    assert m.load_report.stripped_module_prefix == bool(wrap and "module" in wrap)
    got = m.state_dict()
    for k in ref:   # same seed, same key order in every format: the same tensors land on the same keys
        torch.testing.assert_close(got[k], ref[k])


def test_basicsr_container_prefers_params_ema():
    a = esrgan_file("basicsr", nf=8, gc=4, nb=2, seed=1)
    b = esrgan_file("basicsr", nf=8, gc=4, nb=2, seed=2)
    m = released.from_state_dict("esrgan", {"params": a, "params_ema": b}, **SMALL)
    assert torch.equal(m.conv_first.weight, b["conv_first.weight"])
    assert m.load_report.container.startswith("BasicSR 'params_ema'") and "params" in m.load_report.container


# --------------------------------------------------------------------------------------------------
# Errors name the key and the file
# --------------------------------------------------------------------------------------------------
def test_renamed_key_is_an_error_naming_it():
    sd = tpsr_file()
    sd["first_layr.weight"] = sd.pop("first_layer.weight")
    with pytest.raises(StrictLoadError) as ei:
        released.from_state_dict("tpsr_d2", sd, file="TPSR_D2X4.pt")
    msg = str(ei.value)
    assert msg.startswith("TPSR_D2X4.pt: ") and "unused tensor 'first_layr.weight'" in msg
    assert "missing tensor: our 'stem.weight'" in msg
    assert {"first_layr.weight", "stem.weight"} <= set(ei.value.keys)


def test_extra_tensor_is_an_error_naming_it():
    sd = fmen_file()
    sd["tail.1.weight"] = torch.zeros(3)
    with pytest.raises(StrictLoadError, match=r"team03_fmen\.pth: .*unused tensor 'tail\.1\.weight'") as ei:
        released.from_state_dict("fmen", sd, file="team03_fmen.pth")
    assert ei.value.keys == ["tail.1.weight"]


def test_wrong_shape_is_an_error_naming_key_and_shapes():
    sd = fmen_file()
    sd["tail.0.weight"] = torch.zeros(47, 50, 3, 3)
    with pytest.raises(StrictLoadError, match=r"shape mismatch at 'tail\.0\.weight': file \(47, 50, 3, 3\), "
                                              r"our 'tail\.0\.weight' \(48, 50, 3, 3\)"):
        released.from_state_dict("fmen", sd, file="team03_fmen.pth")
    sd = esrgan_file("old", nf=8, gc=4, nb=2)
    sd["model.1.sub.1.RDB2.conv3.0.weight"] = torch.zeros(4, 15, 3, 3)
    with pytest.raises(StrictLoadError, match=r"'model\.1\.sub\.1\.RDB2\.conv3\.0\.weight': file \(4, 15, 3, 3\), "
                                              r"our 'body\.1\.rdb2\.conv3\.weight' \(4, 16, 3, 3\)"):
        released.from_state_dict("esrgan", sd, file="RRDB_ESRGAN_x4.pth", **SMALL)


def test_tpsr_node_of_another_cell_is_refused_by_name():
    sd = tpsr_file()
    old = _node_prefix("early_layers", 1, "Conv2d", 7)
    new = _node_prefix("early_layers", 1, "Conv2d", 5)
    for k in [k for k in sd if k.startswith(old)]:
        sd[new + k[len(old):]] = sd.pop(k)
    with pytest.raises(StrictLoadError, match=r"Node_1_Operation_0_type_Conv2d_5x5\.model\.0\.weight' names node 1 "
                                              r"as conv5, the published cell has conv7"):
        released.from_state_dict("tpsr_d2", sd, file="TPSR_D2X4.pt")
    sd = tpsr_file()
    old = _node_prefix("middle_side_layers", 3, "Conv2d", 3)
    new = _node_prefix("middle_main_layers", 3, "Conv2d", 3)
    for k in [k for k in sd if k.startswith(old)]:
        sd[new + k[len(old):]] = sd.pop(k)
    with pytest.raises(StrictLoadError, match="puts node 3 in 'middle_main_layers'"):
        released.from_state_dict("tpsr_d2", sd)


def test_collisions_and_non_tensors_are_errors():
    sd = esrgan_file("basicsr", nf=8, gc=4, nb=2)
    sd["module.conv_first.weight"] = sd["conv_first.weight"].clone()
    with pytest.raises(StrictLoadError, match=r"'conv_first\.weight' and 'module\.conv_first\.weight' both map"):
        released.from_state_dict("esrgan", sd, **SMALL)
    with pytest.raises(StrictLoadError, match="not tensors: epoch"):
        released.from_state_dict("fmen", {**fmen_file(), "epoch": 3})
    with pytest.raises(StrictLoadError, match="holds a list"):
        released.from_state_dict("fmen", [1, 2])


def test_mean_shift_in_other_units_is_an_error_naming_the_key():
    with pytest.raises(StrictLoadError, match=r"units: 'sub_mean\.bias' holds .*255 x"):
        released.from_state_dict("tpsr_d2", tpsr_file(mean_scale=1.0), file="TPSR_D2X4.pt")
    with pytest.raises(StrictLoadError, match=r"units: 'sub_mean\.shifter\.bias' holds"):
        released.from_state_dict("carn_m", carn_m_file(mean_scale=255.0), file="carn_m.pth")


# --------------------------------------------------------------------------------------------------
# Files: absent, placed, corrupt, fetched; the command line
# --------------------------------------------------------------------------------------------------
def test_absent_files_give_the_fix():
    ok, why = released.available("tpsr_d2")
    assert not ok and "python -m srlib.weights fetch tpsr_d2" in why and released.spec("tpsr_d2").url in why
    assert str(released.released_dir()) in why
    assert released.absent_note("carn_m") == "weights absent: python -m srlib.weights fetch carn_m"
    ok, why = released.available("esrgan")
    assert not ok and f"place it at {released.released_dir() / 'RRDB_ESRGAN_x4.pth'}" in why
    assert "No sha256 is recorded" in why
    assert released.absent_note("esrgan").startswith(
        f"weights absent: place the file at {released.released_dir() / 'RRDB_ESRGAN_x4.pth'}")
    with pytest.raises(weights.WeightsUnavailable, match="cannot be fetched by a script"):
        released.fetch("esrgan")


def test_user_placed_esrgan_is_checked_by_its_keys(tmp_path, monkeypatch):
    d = released.released_dir()
    d.mkdir(parents=True)
    torch.save(tpsr_file(), d / "ESRGAN_SRx4_DF2KOST_official-ff704c30.pth")   # BasicSR's name, wrong content
    assert released.available("esrgan") == (True, "")
    with pytest.raises(StrictLoadError, match=r"ESRGAN_SRx4_DF2KOST_official-ff704c30\.pth: .*unused tensor "
                                              r"'first_layer\.weight'"):
        released.load("esrgan")
    monkeypatch.setenv("SRLIB_RELEASED_DIR", str(tmp_path / "elsewhere"))
    (tmp_path / "elsewhere").mkdir()
    torch.save({"params_ema": esrgan_file("basicsr", fill=0.01)}, tmp_path / "elsewhere" / "RRDB_ESRGAN_x4.pth")
    assert released.path("esrgan") == tmp_path / "elsewhere" / "RRDB_ESRGAN_x4.pth"
    m = released.load("esrgan")
    assert m.load_report.n_loaded_values == 16_697_987 and not m.training


def test_corrupt_file_refused_and_fetch_verifies(tmp_path, monkeypatch):
    src = tmp_path / "mirror"
    spec = released.spec("fmen")
    f = src / spec.repo / "raw" / spec.commit / spec.repo_path
    f.parent.mkdir(parents=True)
    torch.save(fmen_file(), f)
    monkeypatch.setitem(released.RELEASED, "fmen", dataclasses.replace(
        spec, base_url=src.as_uri(), sha256=released.file_sha256(f), size=f.stat().st_size))
    spec = released.spec("fmen")
    assert spec.url == f.as_uri()
    # a placed file of the right name but other bytes is refused
    d = released.released_dir()
    d.mkdir(parents=True)
    (d / spec.filename).write_bytes(b"x" * spec.size)
    ok, why = released.available("fmen")
    assert not ok and "failed verification" in why and "sha256" in why
    (d / spec.filename).unlink()
    got = released.fetch("fmen", progress=False)
    assert got == d / spec.filename and released.available("fmen") == (True, "")
    m = released.load("fmen")
    assert torch.equal(m.net.head.weight, fmen_file()["head.weight"])
    # a wrong recorded sum: nothing is kept
    got.unlink()
    monkeypatch.setitem(released.RELEASED, "fmen", dataclasses.replace(spec, sha256="0" * 64))
    with pytest.raises(Exception, match="sha256 mismatch"):
        released.fetch("fmen", progress=False)
    assert list(d.iterdir()) == []


def test_command_line_lists_both_kinds_and_explains_esrgan(capsys):
    assert weights.main(["list"]) == 0
    out = capsys.readouterr().out
    for n in list(backbones.WEIGHTS) + released.names():
        assert f"  {n} " in out
    assert "UNVERIFIED BY CHECKSUM" in out and released.spec("carn_m").url in out
    assert weights.main(["fetch", "esrgan"]) == 1
    assert "place it at" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        weights.main(["fetch", "nope"])


# --------------------------------------------------------------------------------------------------
# Rows and checks
# --------------------------------------------------------------------------------------------------
def test_rows_without_weights_say_how_to_get_them():
    from srlib import config, results
    from srlib.weights import evaluation as ev

    prof = config.load("smoke")
    rows = ev.released_rows(prof)
    df = results.frame(rows)
    assert set(df.model) == set(released.names()) | {"bicubic"}
    absent = df[df.model != "bicubic"]
    assert absent.value.isna().all()
    fetch_cmd = "weights absent: python -m srlib.weights fetch tpsr_d2"
    assert absent[absent.model == "tpsr_d2"].note.str.startswith(fetch_cmd).all()
    assert absent[absent.model == "esrgan"].note.str.contains("place the file at").all()
    assert absent.note.str.contains("not Set5/Set14/B100/Urban100").all()
    bic = df[(df.model == "bicubic") & (df.metric == "psnr")]
    assert bic.value.notna().all() and set(bic.dataset) == set(prof.data.test_sets)
    assert ev.check_rows(rows, prof) == []
    cmp = ev.paper_vs_ours(rows, prof)
    assert cmp.ours.isna().all() and cmp.difference.isna().all()
    assert set(cmp.released) == {"tpsr_d2", "carn_m", "esrgan"} and set(cmp.metric) <= {"psnr", "ssim", "lpips"}
    summ = ev.summary(rows, prof)
    assert summ[summ.model == "carn_m"]["printed (paper datasets)"].str.contains("Set5 31.92").any()


def test_check_rows_verdict_goes_both_ways():
    from srlib import config, results
    from srlib.weights import evaluation as ev

    prof = config.load("smoke")

    def rows(v):
        common = dict(paper="common", table=ev.TABLE, dataset="skimage_test", metric="psnr", unit="dB", profile="smoke")
        return [results.row(model="bicubic", value=25.0, **common), results.row(model="fmen", value=v, **common),
                results.row(model="tpsr_d2", value=22.5, **common)]

    assert ev.check_rows(rows(25.5), prof) == []
    fails = ev.check_rows(rows(23.5), prof)
    assert len(fails) == 1 and fails[0].startswith("fmen on skimage_test: 23.50 dB is 1.50 dB below bicubic")


def test_paper_profile_differences_and_gap_explanations():
    """At ``paper`` the printed dataset is ours: a difference, and a > 0.05 dB gap says why (or 'unexplained')."""
    from srlib import config, results
    from srlib.weights import evaluation as ev

    prof = config.load("paper", {"data.test_sets": ["Set5", "Set14"]})
    common = dict(paper="common", table=ev.TABLE, metric="psnr", unit="dB", profile="paper")
    rows = [results.row(model="tpsr_d2", dataset="Set5", value=29.62, **common),
            results.row(model="tpsr_d2", dataset="Set14", value=27.00, **common),
            results.row(model="carn_m", dataset="Set5", value=31.80, **common),
            results.row(model="bicubic", dataset="Set5", value=28.43, **common)]
    cmp = ev.paper_vs_ours(rows, prof).set_index(["released", "paper", "dataset", "metric"])
    assert cmp.loc[("tpsr_d2", "tpsr", "Set5", "psnr"), "difference"] == pytest.approx(0.02)
    assert cmp.loc[("tpsr_d2", "tpsr", "Set5", "psnr"), "note"] == ""
    assert cmp.loc[("tpsr_d2", "tpsr", "Set14", "psnr"), "note"].startswith("|difference| 0.12 dB > 0.05: unexplained")
    assert "truncated" in cmp.loc[("carn_m", "adasr", "Set5", "psnr"), "note"]
    assert "not comparable at paper" in cmp.loc[("carn_m", "adasr", "B100", "psnr"), "note"]
    summ = ev.summary(rows, prof).set_index(["model", "metric"])
    assert summ.loc[("carn_m", "psnr"), "Set5 - bicubic"] == pytest.approx(3.37)


def test_measured_rows_are_a_cached_stage_keyed_by_the_file(capsys):
    """A (random) TPSR placed as tpsr_nogan: measured, cached, and -- random weights -- flagged."""
    from srlib import config, results
    from srlib.weights import evaluation as ev

    prof = config.load("smoke")
    d = released.released_dir()
    d.mkdir(parents=True)
    p = d / "TPSR_NOGANX4.pt"
    torch.save(tpsr_file(), p)
    spec = released.spec("tpsr_nogan")
    released.RELEASED["tpsr_nogan"] = dataclasses.replace(spec, sha256=released.file_sha256(p), size=p.stat().st_size)
    try:
        rows = ev.released_rows(prof, ["tpsr_nogan"], bicubic=True)
        again = ev.released_rows(prof, ["tpsr_nogan"], bicubic=True)
    finally:
        released.RELEASED["tpsr_nogan"] = spec
    assert "released_tpsr_nogan: skipped, complete" in capsys.readouterr().out
    df = results.frame(rows)
    m = df[(df.model == "tpsr_nogan") & (df.metric == "psnr")]
    assert m.value.notna().all() and m.stage.eq("released_tpsr_nogan").all()
    assert m.note.str.contains("TPSR_NOGANX4.pt").all() and rows == again
    assert any(f.startswith("tpsr_nogan on skimage_test") for f in ev.check_rows(rows, prof))


# --------------------------------------------------------------------------------------------------
# The real files (only with SRLIB_RELEASED_DIR)
# --------------------------------------------------------------------------------------------------
def test_real_files(isolated, monkeypatch):
    real = isolated
    if not real:
        pytest.skip("set SRLIB_RELEASED_DIR to a folder holding the released files to run this test")
    from srlib import config, data
    from srlib.metrics import psnr, quantize
    from srlib.models.bicubic import Bicubic

    monkeypatch.setenv("SRLIB_RELEASED_DIR", real)
    pairs = data.test_sets(config.load("mini"))["skimage_test"]
    found = [n for n in released.names() if released.available(n)[0]]
    assert found, f"no released file in {real}"
    for name in found:
        s = released.spec(name)
        m = released.load(name)
        raw, _ = formats.unwrap(released.load_state_dict(name))
        assert m.load_report.n_loaded_tensors == len(raw) and not m.load_report.excluded, name
        ours, bic = [], []
        for pair in pairs:
            lr, hr = pair.tensors()
            with torch.no_grad():
                sr = m(lr)
            assert -0.1 < float(sr.mean()) < 1.1, (name, "output not in [0, 1] units")
            ours.append(psnr(quantize(sr), hr, 4))
            bic.append(psnr(quantize(Bicubic(4)(lr)), hr, 4))
        gain = sum(ours) / len(ours) - sum(bic) / len(bic)
        if s.perceptual:
            assert gain > -3.0, (name, ours, bic)
        else:
            assert gain > 1.0, (name, ours, bic)
