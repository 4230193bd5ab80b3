"""srlib.training.distill: MFAGAN Eq. (3)-(4) layer-wise feature distillation."""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from srlib.mfagan.mfanet import MFANet
from srlib.mfagan.patchgan import MFAGANPatchDiscriminator
from srlib.training.distill import FeatureDistiller


def test_same_widths_zero_and_parameter_free():
    d = FeatureDistiller([8, 16], [8, 16])
    assert len(list(d.parameters())) == 0
    feats = [torch.randn(2, 8, 5, 5), torch.randn(2, 16, 3, 3)]
    assert d(feats, [f.clone() for f in feats]).item() == 0.0
    other = [f + 0.1 for f in feats]
    # per-sample L2 norm (Eq. 3): 0.1 * sqrt(8*5*5) and 0.1 * sqrt(16*3*3), mean over layers
    assert d(feats, other).item() == pytest.approx((0.1 * 200 ** 0.5 + 0.1 * 144 ** 0.5) / 2, rel=1e-4)
    mse = FeatureDistiller([8, 16], [8, 16], criterion="mse")
    assert mse(feats, other).item() == pytest.approx(0.01, rel=1e-4)   # per-element MSE, mean over layers


def test_positive_and_gradients_reach_student_and_projection_not_teacher():
    torch.manual_seed(0)
    student, teacher = MFANet(num_feat=8), MFANet(num_feat=16)
    d = FeatureDistiller([8] * 3, [16] * 3)
    assert all(isinstance(p, nn.Conv2d) for p in d.projections)
    assert sum(p.numel() for p in d.parameters()) == 3 * (8 * 16 + 16)
    x = torch.rand(1, 3, 16, 16)
    _, s = student(x, return_features=True)
    _, t = teacher(x, return_features=True)
    loss = d(s, t)
    assert loss.item() > 0
    loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in d.parameters())
    assert student.fea_conv.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in teacher.parameters())


def test_discriminator_features():
    ds, dt = MFAGANPatchDiscriminator(num_feat=8), MFAGANPatchDiscriminator(num_feat=16)
    d = FeatureDistiller([8, 16, 32], [16, 32, 64])
    y = torch.rand(2, 3, 32, 32)
    _, s = ds(y, return_features=True)
    _, t = dt(y, return_features=True)
    loss = d(s, t)
    loss.backward()
    assert loss.item() > 0 and ds.layers[0][0].weight.grad is not None
    assert all(p.grad is None for p in dt.parameters())


def test_projection_can_be_trained_to_zero():
    """A narrower student whose maps are a linear image of the teacher's can be matched exactly."""
    torch.manual_seed(1)
    t = torch.randn(4, 6, 4, 4)
    s = t[:, :3]                                         # student sees half the teacher's channels
    d = FeatureDistiller([3], [6])
    opt = torch.optim.Adam(d.parameters(), lr=0.05)
    first = d([s], [t]).item()
    for _ in range(200):
        opt.zero_grad()
        loss = d([s], [t])
        loss.backward()
        opt.step()
    assert loss.item() < 0.6 * first


def test_validation():
    with pytest.raises(ValueError):
        FeatureDistiller([8], [8, 16])
    with pytest.raises(ValueError):
        FeatureDistiller([8], [8], criterion="cos")
    d = FeatureDistiller([8], [16])
    with pytest.raises(ValueError):
        d([torch.randn(1, 8, 4, 4)], [torch.randn(1, 16, 2, 2)])
    with pytest.raises(ValueError):
        d([torch.randn(1, 4, 4, 4)], [torch.randn(1, 16, 4, 4)])
    l1 = FeatureDistiller([2], [2], criterion="l1")
    assert l1([torch.zeros(1, 2, 2, 2)], [torch.ones(1, 2, 2, 2)]).item() == 1.0


def test_l2_norm_is_mfagan_eq3_by_hand():
    """(1/n) sum_i ||T_i - S_i||_2 per sample, batch mean: two layers, two samples, numbers by hand."""
    s1 = torch.zeros(2, 1, 1, 2)
    t1 = torch.tensor([[[[3.0, 4.0]]], [[[0.0, 0.0]]]])     # sample norms 5 and 0 -> batch mean 2.5
    s2 = torch.zeros(2, 2, 1, 1)
    t2 = torch.tensor([[[[1.0]], [[0.0]]], [[[0.0]], [[2.0]]]])  # sample norms 1 and 2 -> 1.5
    d = FeatureDistiller([1, 2], [1, 2])
    assert d.criterion == "l2"
    assert d([s1, s2], [t1, t2]).item() == pytest.approx((2.5 + 1.5) / 2)
    mse = FeatureDistiller([1, 2], [1, 2], criterion="mse")
    assert mse([s1, s2], [t1, t2]).item() == pytest.approx((25 / 4 + 5 / 4) / 2)
