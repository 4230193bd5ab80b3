"""srlib.data: MATLAB bicubic against an independent port of MATLAB's imresize, the mini split,
the patch sampler."""
import math

import numpy as np
import pytest
import torch

from srlib import config
from srlib.data import (PatchSampler, SKIMAGE_SPLIT, bicubic_lr, imresize, load_set, mod_crop,
                        sampler)


# ---- an independent reference: MATLAB imresize.m's algorithm written out in numpy ----------------
def _cubic(x):
    ax = np.abs(x)
    return ((1.5 * ax**3 - 2.5 * ax**2 + 1) * (ax <= 1)
            + (-0.5 * ax**3 + 2.5 * ax**2 - 4 * ax + 2) * ((ax > 1) & (ax <= 2)))


def _contributions(in_len, out_len, scale):
    width = 4.0 / scale if scale < 1 else 4.0
    kernel = (lambda x: scale * _cubic(scale * x)) if scale < 1 else _cubic
    x = np.arange(1, out_len + 1, dtype=np.float64)
    u = x / scale + 0.5 * (1 - 1 / scale)
    left = np.floor(u - width / 2)
    p = int(math.ceil(width) + 2)
    ind = left[:, None] + np.arange(p)[None, :]
    w = kernel(u[:, None] - ind)
    w = w / w.sum(axis=1, keepdims=True)
    aux = np.concatenate([np.arange(in_len), np.arange(in_len - 1, -1, -1)])  # symmetric padding
    ind = aux[np.mod(ind - 1, 2 * in_len).astype(int)]
    keep = np.any(w != 0, axis=0)
    return w[:, keep], ind[:, keep]


def matlab_imresize_reference(img, scale):
    out = img.astype(np.float64)
    h, w = img.shape[:2]
    oh, ow = int(math.ceil(h * scale)), int(math.ceil(w * scale))
    # MATLAB resizes the dimension with the smaller scale first; equal scales: rows first
    wgt, ind = _contributions(h, oh, scale)
    out = np.einsum("op,op...->o...", wgt, out[ind])
    wgt, ind = _contributions(w, ow, scale)
    out = np.einsum("op,iop...->io...", wgt, out[:, ind])
    return out


@pytest.mark.parametrize("scale,shape", [(0.25, (37, 29, 3)), (0.5, (20, 24, 3)), (4, (9, 7, 3)),
                                         (1 / 3, (30, 33, 3))])
def test_imresize_matches_independent_matlab_port(scale, shape):
    img = np.random.default_rng(0).random(shape)
    ours = imresize(img, scale)
    ref = matlab_imresize_reference(img, scale)
    assert ours.shape == ref.shape == (math.ceil(shape[0] * scale), math.ceil(shape[1] * scale), 3)
    np.testing.assert_allclose(ours, ref, atol=1e-5)


def test_imresize_constant_image_and_layouts():
    img = np.full((16, 12, 3), 0.3)
    np.testing.assert_allclose(imresize(img, 0.25), 0.3, atol=1e-12)
    t = torch.from_numpy(np.random.default_rng(1).random((2, 3, 16, 12)))
    out = imresize(t, 0.25)
    assert out.shape == (2, 3, 4, 3)
    np.testing.assert_allclose(out[0].permute(1, 2, 0).numpy(),
                               imresize(t[0].permute(1, 2, 0).numpy(), 0.25), atol=1e-12)


def test_bad_inputs_have_clear_errors():
    with pytest.raises(TypeError, match="bicubic_lr"):
        imresize(np.zeros((8, 8, 3), np.uint8), 0.5)
    with pytest.raises(ValueError, match="mod_crop"):
        bicubic_lr(np.zeros((10, 8, 3), np.uint8), 4)


def test_bicubic_lr_is_rounded_matlab_output():
    hr = (np.random.default_rng(2).random((16, 20, 3)) * 255).astype(np.uint8)
    lr = bicubic_lr(hr, 4)
    ref = np.clip(np.round(matlab_imresize_reference(hr / 255.0, 0.25) * 255), 0, 255)
    assert lr.dtype == np.uint8 and lr.shape == (4, 5, 3)
    np.testing.assert_array_equal(lr, ref.astype(np.uint8))


def test_mod_crop():
    assert mod_crop(np.zeros((103, 98, 3)), 4).shape == (100, 96, 3)


def test_mini_split_is_fixed_disjoint_and_paired():
    names = [n for s in SKIMAGE_SPLIT.values() for n in s]
    assert len(names) == len(set(names)) == 9
    test = load_set("skimage_test", 4, 64)
    assert [p.name for p in test] == ["astronaut", "chelsea"]
    for p in test:
        assert p.hr.shape == (64, 64, 3) and p.lr.shape == (16, 16, 3)
        np.testing.assert_array_equal(p.lr, bicubic_lr(p.hr, 4))
    with pytest.raises(KeyError, match="skimage_test"):
        load_set("nope")


def test_patch_sampler_is_a_pure_function_of_step_and_aligned():
    pairs = load_set("skimage_val", 4, 96)
    s = PatchSampler(pairs, lr_patch=8, batch_size=4, scale=4, seed=3)
    lr1, hr1 = s(5)
    lr2, hr2 = PatchSampler(pairs, 8, 4, 4, seed=3)(5)
    assert lr1.shape == (4, 3, 8, 8) and hr1.shape == (4, 3, 32, 32)
    assert torch.equal(lr1, lr2) and torch.equal(hr1, hr2)
    assert not torch.equal(s(6)[0], lr1)
    # LR patch is the bicubic of the HR patch away from the borders: check alignment by downscaling
    down = torch.from_numpy(np.stack([imresize(h.permute(1, 2, 0).double().numpy(), 0.25)
                                      for h in hr1])).permute(0, 3, 1, 2).float()
    assert (down[..., 2:-2, 2:-2] - lr1[..., 2:-2, 2:-2]).abs().mean() < 0.02
    # DDP shards: rank r takes samples r, r+w, ...
    lr_r1, _ = s(5, rank=1, world_size=2)
    assert torch.equal(lr_r1, lr1[1::2])


def test_sampler_rejects_too_small_images():
    pairs = load_set("skimage_val", 4, 32)
    with pytest.raises(ValueError, match="lr_patch"):
        PatchSampler(pairs, lr_patch=16, batch_size=2, scale=4, seed=0)


def test_profile_sampler_builds():
    prof = config.load("smoke")
    lr, hr = sampler(prof)(0)
    assert lr.shape == (prof.data.batch_size, 3, prof.data.lr_patch, prof.data.lr_patch)
