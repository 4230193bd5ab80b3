"""AdaSR's depth consolidation, mapping layer with max-norm, and Eq. 6."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from srlib.adasr.matching import (MAX_NORM, MappingLayer, MappingLayers, anchor_loss, apply_max_norm,
                                  consolidation_stride, lambdas_for, max_filter_norm, spatial_kl, teacher_anchors)


def test_depth_consolidation_follows_the_formula():
    assert teacher_anchors(3, 3) == [0, 1, 2]
    assert teacher_anchors(3, 2) == [0, 2]           # m = 1; the last student block takes the leftovers
    assert teacher_anchors(3, 1) == [2]
    assert teacher_anchors(10, 3) == [2, 5, 9]       # m = 3: teacher blocks 3, 6 and (last) 10
    assert teacher_anchors(23, 5) == [3, 7, 11, 15, 22]
    for mt in range(1, 13):
        for ms in range(1, mt + 1):
            m = consolidation_stride(mt, ms)
            assert m == mt // ms
            a = teacher_anchors(mt, ms)
            assert len(a) == ms and a[-1] == mt - 1 and a == sorted(set(a))
            assert all(a[j] == (j + 1) * m - 1 for j in range(ms - 1))
    with pytest.raises(ValueError):
        teacher_anchors(2, 3)


def test_max_norm_bound_holds_after_every_step():
    torch.manual_seed(0)
    layer = MappingLayer(8, 16, 3, identity=False)
    assert max_filter_norm(layer) <= MAX_NORM * (1 + 1e-5)          # projected at construction
    opt = torch.optim.SGD(layer.parameters(), lr=1.0)
    x, t = torch.randn(2, 8, 6, 6), torch.randn(2, 16, 6, 6)
    for _ in range(5):
        opt.zero_grad()
        F.mse_loss(layer(x), t).backward()
        opt.step()
        assert max_filter_norm(layer) > MAX_NORM                     # the step left the ball ...
        apply_max_norm(layer, MAX_NORM)
        norms = layer.conv.weight.flatten(1).norm(dim=1)             # per output filter (dim 0)
        assert norms.max() <= MAX_NORM * (1 + 1e-5)                  # ... and the projection restores it
        assert torch.allclose(norms, torch.full_like(norms, MAX_NORM), rtol=1e-4)


def test_identity_mapping_embeds_the_student_channels():
    layer = MappingLayer(8, 16, 3, identity=True)
    with torch.no_grad():
        layer.conv.weight.zero_()
    s = torch.randn(1, 8, 5, 5)
    y = layer(s)
    assert torch.equal(y[:, :8], s) and torch.equal(y[:, 8:], torch.zeros_like(y[:, 8:]))


def test_mapping_layers_cover_the_grid():
    maps = MappingLayers([(1, 8), (2, 8), (2, 16)], m_teacher=3, teacher_width=16)
    assert set(maps.keys()) == {"s0_w8_t2", "s0_w8_t0", "s1_w8_t2", "s0_w16_t0", "s1_w16_t2"}
    assert maps.layer(1, 16, 2).conv.in_channels == 16


def test_eq6_mixes_kl_and_mse():
    torch.manual_seed(0)
    s, t = torch.randn(2, 4, 5, 5), torch.randn(2, 4, 5, 5)
    mse, kl = F.mse_loss(s, t), spatial_kl(s, t)
    assert torch.allclose(anchor_loss(s, t, 0.0), mse)
    assert torch.allclose(anchor_loss(s, t, 1.0), kl)
    assert torch.allclose(anchor_loss(s, t, 0.3), 0.3 * kl + 0.7 * mse)
    assert kl > 0 and spatial_kl(t, t).abs() < 1e-6
    # softmax over positions per channel: a per-channel offset of the student changes nothing
    assert torch.allclose(spatial_kl(s + torch.randn(1, 4, 1, 1), t), kl, atol=1e-5)
    # manual: KL(P_t || P_s) of the first (sample, channel) map
    p, q = t[0, 0].flatten().softmax(0), s[0, 0].flatten().softmax(0)
    per_map = (p * (p.log() - q.log())).sum()
    all_maps = torch.stack([(t[i, c].flatten().softmax(0) * (t[i, c].flatten().log_softmax(0)
                                                             - s[i, c].flatten().log_softmax(0))).sum()
                            for i in range(2) for c in range(4)])
    assert torch.allclose(all_maps[0], per_map, atol=1e-6) and torch.allclose(kl, all_maps.mean(), atol=1e-6)
    with pytest.raises(ValueError):
        anchor_loss(s, t, 1.5)


def test_lambdas_for_forms():
    assert lambdas_for(0.25, 3) == [0.25] * 3
    assert lambdas_for({0: 0.1, "1": 0.2, 2: 0.3}, 3) == [0.1, 0.2, 0.3]
    with pytest.raises(ValueError):
        lambdas_for([0.1], 3)
