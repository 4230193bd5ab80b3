"""AdaSR's adaptable model: (D, W) sub-models on one weight set equal separately built narrow models."""
from __future__ import annotations

import re

import pytest
import torch
import torch.nn as nn

from srlib.adasr import descriptions
from srlib.adasr.adaptable import Adaptable, BlockDescription, Narrow, fixed, scaled, width_options
from srlib.models import build


def _seeded(name: str, **kw) -> nn.Module:
    torch.manual_seed(0)
    net = build(name, **kw)
    with torch.no_grad():                       # non-trivial biases so a wrong slice shows
        for p in net.parameters():
            if p.requires_grad and p.dim() == 1:
                p.uniform_(-0.1, 0.1)
    return net.eval()


def _x(seed: int = 1, hw: int = 8) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(2, 3, hw, hw, generator=g)


def _take(src: torch.Tensor, shape: torch.Size, in_segs: tuple[tuple[int, int], ...] | None = None) -> torch.Tensor:
    """The test's own slicing: first rows; first columns, or the first ``kept`` of each ``(full, kept)``."""
    t = src[:shape[0]]
    if len(shape) < 2:
        return t.clone()
    if in_segs is None:
        return t[:, :shape[1]].clone()
    parts, off = [], 0
    for full, kept in in_segs:
        parts.append(t[:, off:off + kept])
        off += full
    return torch.cat(parts, 1).clone()


def _load(narrow: nn.Module, state: dict) -> nn.Module:
    narrow.load_state_dict(state, strict=True)
    return narrow.eval()


def carn_twin(full: nn.Module, D: int, W: int, U: int) -> nn.Module:
    """carn(num_feat=W, num_block=D) with weights copied from ``full``; fusions sliced per segment."""
    C, sd = full.entry.out_channels, full.state_dict()
    narrow = build("carn", num_feat=W, num_block=D, num_unit=U)
    state = {}
    for k, v in narrow.state_dict().items():
        segs = None
        if re.fullmatch(r"(blocks\.\d+\.)?fuse\.\d+\.0\.weight", k):
            segs = ((C, W),) * (sd[k].shape[1] // C)
        state[k] = _take(sd[k], v.shape, segs)
    return _load(narrow, state)


def esrgan_twin(full: nn.Module, D: int, W: int) -> nn.Module:
    C, G, sd = full.conv_first.out_channels, full.body[0].rdb1.conv1.out_channels, full.state_dict()
    g = G * W // C
    narrow = build("esrgan", num_feat=W, num_block=D, num_grow_ch=g)
    state = {}
    for k, v in narrow.state_dict().items():
        m = re.fullmatch(r"body\.\d+\.rdb\d\.conv(\d)\.weight", k)
        segs = ((C, W),) + ((G, g),) * (int(m.group(1)) - 1) if m else None
        state[k] = _take(sd[k], v.shape, segs)
    return _load(narrow, state)


def rcan_twin(full: nn.Module, D: int, W: int) -> nn.Module:
    M, sd = len(full.body) - 1, full.state_dict()
    narrow = build("rcan", num_feat=W, num_group=D, num_block=len(full.body[0].body) - 1, reduction=16)
    state = {}
    for k, v in narrow.state_dict().items():
        src = re.sub(rf"^body\.{D}\.", f"body.{M}.", k)      # the body's closing conv follows the groups
        state[k] = _take(sd[src], v.shape)
    return _load(narrow, state)


def _check(full, desc, twin, sizes, atol=1e-5):
    ada = Adaptable(full, desc)
    x = _x()
    with torch.no_grad():
        assert torch.allclose(ada(x), full(x), atol=atol)
        for D, W in sizes:
            ref = twin(D, W)(x)
            assert torch.allclose(ada(x, D, W), ref, atol=atol, rtol=1e-4), (D, W)
            assert torch.allclose(ada.extract(D, W)(x), ref, atol=atol, rtol=1e-4), (D, W)


def test_carn_submodels_equal_narrow_twins_with_per_segment_fusions():
    full = _seeded("carn", num_feat=16, num_block=3, num_unit=3)
    _check(full, descriptions.carn(full), lambda D, W: carn_twin(full, D, W, 3), [(1, 8), (2, 8), (3, 8), (2, 16)])


def test_esrgan_submodels_equal_narrow_twins():
    full = _seeded("esrgan", num_feat=16, num_block=3, num_grow_ch=8)
    _check(full, descriptions.esrgan(full), lambda D, W: esrgan_twin(full, D, W), [(1, 8), (3, 8), (2, 16)])


def test_rcan_submodels_equal_narrow_twins():
    full = _seeded("rcan", num_feat=32, num_group=3, num_block=2, reduction=16)
    _check(full, descriptions.rcan(full), lambda D, W: rcan_twin(full, D, W), [(1, 16), (3, 16), (2, 24)],
           atol=1e-4)


def test_fmen_full_size_and_extract_agree():
    full = _seeded("fmen", num_feat=16, num_block=2, mid_feat=8, up_blocks=(1, 1, 1))
    ada, x = Adaptable(full, descriptions.fmen(full)), _x()
    with torch.no_grad():
        assert torch.allclose(ada(x), full(x), atol=1e-5)
        for D, W in [(1, 8), (2, 8)]:
            sub = ada.extract(D, W)
            assert torch.allclose(ada(x, D, W), sub(x), atol=1e-6)
            assert sub.model.head.out_channels == W and sub.model.head.weight.shape[0] == W


def test_switching_sizes_allocates_no_parameter_memory_and_trains_the_one_weight_set():
    full = _seeded("carn", num_feat=16, num_block=3, num_unit=2).train()
    ada = Adaptable(full, descriptions.carn(full))
    before = {n: (p.data_ptr(), p.numel()) for n, p in full.named_parameters()}
    segmented = {n for n, r in ada.description.convs.items() if len(r.inp) > 1}
    for D, W in [(1, 8), (3, 16), (2, 8), (3, 8)]:
        sliced = ada.sliced_parameters(D, W)
        for name, t in sliced.items():
            p = full.get_parameter(name)
            if name.rsplit(".", 1)[0] in segmented and name.endswith("weight") and W < 16:
                assert t.data_ptr() != p.data_ptr()          # gathered per call (a graph temporary)
            else:                                             # a view: same storage, no copy
                assert t.untyped_storage().data_ptr() == p.untyped_storage().data_ptr(), name
        ada(_x(), D, W).mean().backward()
    after = {n: (p.data_ptr(), p.numel()) for n, p in full.named_parameters()}
    assert after == before and sum(p.numel() for p in ada.parameters()) == sum(n for _, n in before.values())
    # gradients reached the shared weights; the (3, 16) pass used block 3's weights at full width
    assert full.blocks[2].units[0].body[0].weight.grad.abs().sum() > 0
    assert full.blocks[0].units[0].body[0].weight.grad[8:].abs().sum() > 0


def test_depth_one_leaves_later_blocks_without_gradient():
    full = _seeded("carn", num_feat=16, num_block=3, num_unit=1).train()
    ada = Adaptable(full, descriptions.carn(full))
    ada(_x(), 1, 8).mean().backward()
    assert full.blocks[1].units[0].body[0].weight.grad is None
    g = full.entry.weight.grad
    assert g[:8].abs().sum() > 0 and g[8:].abs().sum() == 0      # only the first 8 channels are used


def test_options_follow_sec_3_2_1():
    full = build("carn", num_feat=64, num_block=3)
    ada = Adaptable(full, descriptions.carn(full))
    opts = ada.options()
    assert len(opts) == 3 * 8 and opts[0] == (1, 8) and opts[-1] == (3, 64)
    assert ada.options(depths=[1, 3], widths=[32]) == [(1, 32), (3, 32)]
    with pytest.raises(ValueError):
        ada.options(widths=[72])
    assert width_options(50) == [8, 16, 24, 32, 40, 48, 50]


def test_carn_m_is_refused():
    with pytest.raises(ValueError, match="grouped"):
        descriptions.carn(build("carn_m", num_feat=16))


def test_forward_depths_shares_the_trunk_and_equals_separate_passes():
    full = _seeded("carn", num_feat=16, num_block=3, num_unit=1)
    ada, x = Adaptable(full, descriptions.carn(full)), _x()
    with torch.no_grad():
        res = ada.forward_depths(x, (1, 3), 8)
        for D in (1, 3):
            y, anchors = ada(x, D, 8, anchors=True)
            assert torch.equal(res[D][0], y) and len(anchors) == D == len(res[D][1])


class TinySR(nn.Module):
    """A generator that is not in the zoo: conv stem, N residual blocks, long skip, pixel-shuffle x2."""

    def __init__(self, c: int = 16, n: int = 3):
        super().__init__()
        self.head = nn.Conv2d(3, c, 3, padding=1)
        self.blocks = nn.ModuleList(nn.Sequential(nn.Conv2d(c, c, 3, padding=1), nn.ReLU(),
                                                  nn.Conv2d(c, c, 3, padding=1)) for _ in range(n))
        self.up = nn.Conv2d(c, 4 * c, 3, padding=1)
        self.out = nn.Conv2d(c, 3, 3, padding=1)
        self.shuffle = nn.PixelShuffle(2)

    def forward(self, x):
        h = f = self.head(x)
        for b in self.blocks:
            h = h + b(h)
        return self.out(self.shuffle(self.up(h + f)))


def tiny_description(m: TinySR) -> BlockDescription:
    C = m.head.out_channels
    convs = {"head": Narrow((scaled(C),), (fixed(3),)), "up": Narrow((scaled(4 * C),), (scaled(C),)),
             "out": Narrow((fixed(3),), (scaled(C),))}
    for i in range(len(m.blocks)):
        convs[f"blocks.{i}.0"] = convs[f"blocks.{i}.2"] = Narrow((scaled(C),), (scaled(C),))
    return BlockDescription(
        width=C, stem=("head",), blocks=tuple((f"blocks.{i}",) for i in range(len(m.blocks))),
        tail=("up", "out"), convs=convs,
        run_stem=lambda m, x: (m.head(x),) * 2,
        run_block=lambda m, i, s: (s[0], s[1] + m.blocks[i](s[1])),
        run_tail=lambda m, s: m.out(m.shuffle(m.up(s[1] + s[0]))), name="tiny")


def test_a_generator_outside_the_zoo():
    torch.manual_seed(0)
    m = TinySR().eval()
    ada, x = Adaptable(m, tiny_description(m)), _x()
    with torch.no_grad():
        assert torch.allclose(ada(x), m(x), atol=1e-6)
        twin = TinySR(8, 2).eval()
        twin.load_state_dict({k: _take(m.state_dict()[k], v.shape) for k, v in twin.state_dict().items()})
        assert torch.allclose(ada(x, 2, 8), twin(x), atol=1e-6)
    bad = dict(tiny_description(m).convs)
    del bad["up"]
    with pytest.raises(ValueError, match="'up'"):
        Adaptable(m, BlockDescription(**{**tiny_description(m).__dict__, "convs": bad}))


def test_narrow_segments_views_and_gathers():
    from srlib.search.elastic import narrow_segments

    w = torch.arange(2 * 12, dtype=torch.float32).view(2, 12)
    v = narrow_segments(w, 1, [(12, 5)])
    assert v.data_ptr() == w.data_ptr() and v.shape == (2, 5)                  # a view
    g = narrow_segments(w, 1, [(4, 2), (8, 3)])
    assert g[0].tolist() == [0, 1, 4, 5, 6]                                    # per segment
    assert narrow_segments(w, 1, [(4, 4), (8, 8)]) is w
    with pytest.raises(ValueError):
        narrow_segments(w, 1, [(4, 2), (4, 2)])


def test_extracted_carn_parameter_counts_match_the_arithmetic():
    """shared/notes/adasr.md: x4-only CARN of D blocks x W channels (trainable, mean shifts excluded)."""
    full = build("carn")
    ada = Adaptable(full, descriptions.carn(full))
    for (D, W), n in {(1, 32): 142_627, (2, 32): 210_531, (3, 32): 279_459, (2, 48): 471_699,
                      (3, 48): 626_547, (3, 64): 1_111_875}.items():
        sub = ada.extract(D, W)
        assert sum(p.numel() for p in sub.parameters() if p.requires_grad) == n, (D, W)
