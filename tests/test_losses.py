"""srlib.training.losses: reconstruction, perceptual (no random VGG, ever) and GAN losses."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from srlib.training.losses import (GAN_KINDS, GANLoss, PerceptualLoss, PixelStandIn, WeightsUnavailable, l1_loss,
                                   mse_loss, perceptual_or_stand_in)


def test_l1_mse():
    a = torch.tensor([[1.0, 2.0], [3.0, 5.0]])
    b = torch.tensor([[0.0, 2.0], [5.0, 5.0]])
    assert l1_loss(a, b).item() == pytest.approx(3 / 4)
    assert mse_loss(a, b).item() == pytest.approx(5 / 4)


@pytest.fixture
def no_weights(tmp_path, monkeypatch):
    monkeypatch.setenv("SRLIB_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))


def test_perceptual_unavailable_raises(no_weights):
    ok, reason = PerceptualLoss.status()
    assert not ok and "vgg19" in reason
    with pytest.raises(WeightsUnavailable):
        PerceptualLoss()
    with pytest.raises(ValueError):
        PerceptualLoss(criterion="huber")


def test_offline_stand_in_is_a_labelled_pixel_distance(no_weights):
    a, b = torch.zeros(1, 3, 4, 4), torch.full((1, 3, 4, 4), 0.5)
    for crit, want in (("mse", 0.25), ("l1", 0.5)):
        loss, desc = perceptual_or_stand_in(crit)
        assert isinstance(loss, PixelStandIn) and not isinstance(loss, PerceptualLoss)
        assert loss(a, b).item() == pytest.approx(want)
        assert desc.startswith(f"stand-in: identity features (pixel-space {crit.upper()})") and "vgg19" in desc
        assert list(loss.parameters()) == []
    with pytest.raises(ValueError, match="criterion"):
        PixelStandIn("huber")


def test_perceptual_with_weights_if_present():
    ok, reason = PerceptualLoss.status()
    if not ok:
        pytest.skip(f"VGG19 weights absent: {reason}")
    loss = PerceptualLoss("l1")
    x = torch.rand(1, 3, 32, 32, requires_grad=True)
    assert loss(x, x.detach()).item() == 0
    v = loss(x, torch.rand(1, 3, 32, 32))
    v.backward()
    assert v.item() > 0 and x.grad.abs().sum() > 0
    assert all(p.grad is None for p in loss.parameters())


def test_gan_vanilla_is_mfagan_eq6():
    fake = torch.randn(4, 1, 5, 5)
    real = torch.randn(4, 1, 5, 5)
    g = GANLoss("vanilla")
    # L_G = -log D(G(x)), D = sigmoid of the logits, averaged over every patch
    assert g.generator(fake).item() == pytest.approx((-torch.log(torch.sigmoid(fake))).mean().item(), rel=1e-5)
    want = 0.5 * ((-torch.log(torch.sigmoid(real))).mean() + (-torch.log(1 - torch.sigmoid(fake))).mean())
    assert g.discriminator(real, fake).item() == pytest.approx(want.item(), rel=1e-5)


def test_gan_ragan_matches_esrgan():
    torch.manual_seed(0)
    real, fake = torch.randn(3, 1), torch.randn(3, 1, requires_grad=True)
    g = GANLoss("ragan")
    bce = F.binary_cross_entropy_with_logits
    want_g = 0.5 * (bce(real - fake.mean(), torch.zeros_like(real)) + bce(fake - real.mean(), torch.ones_like(fake)))
    assert torch.allclose(g.generator(fake, real), want_g)
    want_d = 0.5 * (bce(real - fake.mean(), torch.ones_like(real)) + bce(fake - real.mean(), torch.zeros_like(fake)))
    assert torch.allclose(g.discriminator(real, fake), want_d)
    with pytest.raises(ValueError):
        g.generator(fake)
    # real logits are detached in the generator loss
    r = real.clone().requires_grad_(True)
    g.generator(fake, r).backward()
    assert r.grad is None and fake.grad is not None


def test_gan_lsgan():
    real, fake = torch.full((2, 1, 3, 3), 1.0), torch.zeros(2, 1, 3, 3)
    g = GANLoss("lsgan")
    assert g.discriminator(real, fake).item() == 0
    assert g.generator(fake).item() == 1
    assert g.generator(real).item() == 0


@pytest.mark.parametrize("kind", GAN_KINDS)
def test_gan_directions(kind):
    """Gradient descent on the G loss raises the fake logits; on the D loss separates real from fake."""
    g = GANLoss(kind)
    real = torch.full((8, 1, 4, 4), 0.5, requires_grad=True)
    fake = torch.full((8, 1, 4, 4), 0.5, requires_grad=True)
    g.generator(fake, real).backward()
    assert (fake.grad < 0).all()
    fake.grad = None
    g.discriminator(real, fake).backward()
    assert (real.grad < 0).all() and (fake.grad > 0).all()
    assert math.isfinite(g.discriminator(real, fake).item())


def test_gan_unknown_kind():
    with pytest.raises(ValueError):
        GANLoss("wgan")
