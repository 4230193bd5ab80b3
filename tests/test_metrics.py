"""PSNR/SSIM conventions: values checked against closed forms and scikit-image's SSIM."""
import numpy as np
import pytest
import torch
from skimage.metrics import structural_similarity

from srlib.metrics import psnr, quantize, rgb_to_y, ssim


def test_rgb_to_y_matlab_constants():
    np.testing.assert_allclose(rgb_to_y(np.zeros((1, 1, 3))), 16.0)
    np.testing.assert_allclose(rgb_to_y(np.full((1, 1, 3), 255.0)), 16 + 65.481 + 128.553 + 24.966)
    np.testing.assert_allclose(rgb_to_y(np.array([[[255.0, 0, 0]]])), 16 + 65.481)


def test_psnr_closed_form_rgb_and_y():
    hr = np.full((20, 20, 3), 100, np.uint8)
    sr = hr.copy()
    sr[4:-4, 4:-4] += 10  # uniform +10 on RGB inside the shave
    # RGB: MSE = 100 inside the shaved region -> 10 log10(255^2/100)
    assert psnr(sr, hr, crop_border=4, y_channel=False) == pytest.approx(10 * np.log10(255**2 / 100))
    dy = 10 * (65.481 + 128.553 + 24.966) / 255
    assert psnr(sr, hr, crop_border=4) == pytest.approx(10 * np.log10(255**2 / dy**2))
    # without shave the untouched border lowers the MSE
    assert psnr(sr, hr, crop_border=0, y_channel=False) > psnr(sr, hr, 4, y_channel=False)
    assert psnr(hr, hr, 4) == float("inf")


def test_psnr_accepts_tensors_and_floats_consistently():
    rng = np.random.default_rng(0)
    hr = (rng.random((24, 24, 3)) * 255).astype(np.uint8)
    sr = (rng.random((24, 24, 3)) * 255).astype(np.uint8)
    v = psnr(sr, hr, 4)
    assert psnr(sr / 255.0, hr / 255.0, 4) == pytest.approx(v, abs=1e-10)
    t = lambda a: torch.from_numpy(a / 255.0).permute(2, 0, 1)[None]
    assert psnr(t(sr), t(hr), 4) == pytest.approx(v, abs=1e-10)
    with pytest.raises(ValueError, match="shapes differ"):
        psnr(sr[:-1], hr, 4)


def test_ssim_matches_scikit_image_gaussian_valid():
    rng = np.random.default_rng(1)
    hr = (rng.random((40, 36, 3)) * 255).astype(np.uint8)
    sr = np.clip(hr + rng.normal(0, 12, hr.shape), 0, 255).astype(np.uint8)
    ours = ssim(sr, hr, crop_border=4)
    y = lambda a: rgb_to_y(a[4:-4, 4:-4].astype(np.float64))
    ref = structural_similarity(y(sr), y(hr), gaussian_weights=True, sigma=1.5,
                                use_sample_covariance=False, data_range=255)
    assert ours == pytest.approx(ref, abs=1e-10)
    assert ssim(hr, hr, 4) == pytest.approx(1.0)
    rgb = ssim(sr, hr, 4, y_channel=False)
    ref_rgb = np.mean([structural_similarity(sr[4:-4, 4:-4, c].astype(float), hr[4:-4, 4:-4, c].astype(float),
                                             gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                             data_range=255) for c in range(3)])
    assert rgb == pytest.approx(ref_rgb, abs=1e-10)


def test_quantize():
    x = torch.tensor([-0.1, 0.5, 0.50001, 1.2])
    assert torch.allclose(quantize(x), torch.tensor([0.0, 128 / 255, 128 / 255, 1.0]))


def test_bicubic_psnr_reads_the_bicubic_stage_and_names_the_sets_when_asked_for_another():
    from srlib import config, io
    from srlib.metrics.stages import bicubic_baseline, bicubic_psnr

    prof = config.load("smoke")
    test = prof.data.test_sets[0]
    rows = io.read_json(bicubic_baseline(prof).path("rows.json"))
    want = next(r["value"] for r in rows if r["dataset"] == test and r["metric"] == "psnr")
    assert bicubic_psnr(prof, test) == want and 15 < want < 40
    with pytest.raises(KeyError, match=rf"no bicubic PSNR on 'Set5'; the profile's sets: .*'{test}'"):
        bicubic_psnr(prof, "Set5")
