"""VDSR (srlib/models/vdsr.py): shape, global residual on the bicubic input, parameters and MACs."""
from __future__ import annotations

import torch

from srlib import models as zoo
from srlib.complexity import measure
from srlib.data.imresize import imresize
from srlib.models.vdsr import VDSR


def test_vdsr_shape_and_residual_on_the_bicubic_input():
    torch.manual_seed(0)
    net = VDSR(num_feat=8, num_layers=4).eval()
    x = torch.rand(1, 3, 6, 5)
    y = net(x)
    assert y.shape == (1, 3, 24, 20)
    with torch.no_grad():
        net.body[-1].weight.zero_()
        net.body[-1].bias.zero_()
    torch.testing.assert_close(net(x), imresize(x, 4.0), rtol=0, atol=0)


def test_vdsr_in_the_zoo_with_the_published_size():
    net = zoo.build("vdsr")
    assert isinstance(net, VDSR) and len([m for m in net.body if isinstance(m, torch.nn.Conv2d)]) == 20
    assert sum(p.numel() for p in net.parameters()) == 668_227      # 2.673 MB fp32 (AGD's README: 2.67 MB)


def test_vdsr_macs_are_counted_on_the_hr_body_and_meta_matches_real():
    net = VDSR(num_feat=8, num_layers=4)
    meta, real = measure(net, (6, 5), bias=True), measure(net, (6, 5), bias=True, mode="real")
    assert meta.method == "meta" and real.method == "real"
    per_px = 9 * (3 * 8 + 8 * 8 + 8 * 8 + 8 * 3)
    assert meta.macs_no_bias == real.macs_no_bias == per_px * 24 * 20
    assert meta.macs == real.macs == per_px * 24 * 20 + (8 + 8 + 8 + 3) * 24 * 20
