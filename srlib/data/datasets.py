"""HR/LR pairs for every profile, and the random-patch sampler used for training.

Sources (``profile.data.source``):
- ``skimage``: the colour photographs bundled with scikit-image (no network), in a fixed split:
  train = coffee, hubble_deep_field, immunohistochemistry, motorcycle_left, motorcycle_right, retina;
  val = rocket; test = astronaut, chelsea. The two motorcycle views (a stereo pair) stay together in
  train so nothing near-identical leaks into val/test.
- ``paper``: DIV2K / Set5 / Set14 / B100 / Urban100 found under ``data/`` (srlib.data.paper).

Every HR image is cropped to a multiple of the scale (bottom/right), LR = MATLAB bicubic 1/scale of the
uint8 HR, rounded to uint8 (srlib.data.imresize.bicubic_lr). Evaluation sets may be centre-cropped to
``data.max_eval_hr`` (mini/smoke speed); the crop happens before the LR is made, so pairs stay exact.
Grey images are stacked to three channels.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch

from .imresize import bicubic_lr, mod_crop

SKIMAGE_SPLIT: dict[str, tuple[str, ...]] = {
    "skimage_train": ("coffee", "hubble_deep_field", "immunohistochemistry", "motorcycle_left",
                      "motorcycle_right", "retina"),
    "skimage_val": ("rocket",),
    "skimage_test": ("astronaut", "chelsea"),
}
PAPER_SETS = ("DIV2K_train", "DIV2K_valid", "Set5", "Set14", "B100", "Urban100")


@dataclass(frozen=True, eq=False)
class Pair:
    """One HR/LR image pair, uint8 HxWx3 arrays."""
    name: str
    hr: np.ndarray
    lr: np.ndarray

    def tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(lr, hr) as 1x3xHxW float tensors in [0,1]."""
        return to_tensor(self.lr), to_tensor(self.hr)


def to_tensor(img_u8: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(img_u8.transpose(2, 0, 1))).float().div(255).unsqueeze(0)


def _skimage_image(name: str) -> np.ndarray:
    import skimage.data as skd

    if name in ("motorcycle_left", "motorcycle_right"):
        left, right, _ = skd.stereo_motorcycle()
        return left if name == "motorcycle_left" else right
    return getattr(skd, name)()


def _rgb_u8(img: np.ndarray, what: str) -> np.ndarray:
    if img.dtype != np.uint8:
        raise ValueError(f"{what}: expected an 8-bit image, got {img.dtype}")
    if img.ndim == 2:
        img = np.stack([img] * 3, axis=-1)
    if img.ndim != 3 or img.shape[2] not in (3, 4):
        raise ValueError(f"{what}: expected an RGB image, got shape {img.shape}")
    return np.ascontiguousarray(img[..., :3])


def centre_crop(img: np.ndarray, size: int) -> np.ndarray:
    h, w = img.shape[:2]
    th, tw = min(h, size), min(w, size)
    top, left = (h - th) // 2, (w - tw) // 2
    return img[top:top + th, left:left + tw]


def set_names(source: str) -> tuple[str, ...]:
    return tuple(SKIMAGE_SPLIT) if source == "skimage" else PAPER_SETS


@functools.lru_cache(maxsize=32)
def load_set(name: str, scale: int = 4, max_hr: int | None = None) -> tuple[Pair, ...]:
    """All pairs of a named set (``skimage_test``, ``Set5``, ...), cached in-process."""
    if name in SKIMAGE_SPLIT:
        images = [(n, _rgb_u8(_skimage_image(n), f"skimage.data.{n}")) for n in SKIMAGE_SPLIT[name]]
    elif name in PAPER_SETS:
        from . import paper
        from skimage.io import imread

        images = [(p.stem, _rgb_u8(imread(p), str(p))) for p in paper.list_images(name)]
    else:
        raise KeyError(f"unknown dataset {name!r}; valid: {', '.join(list(SKIMAGE_SPLIT) + list(PAPER_SETS))}")
    pairs = []
    for n, hr in images:
        if max_hr is not None:
            hr = centre_crop(hr, max_hr)
        hr = mod_crop(hr, scale)
        pairs.append(Pair(n, hr, bicubic_lr(hr, scale)))
    return tuple(pairs)


def train_pairs(profile) -> list[Pair]:
    d = profile.data
    return [p for s in d.train_sets for p in load_set(s, d.scale, None)]


def val_pairs(profile) -> tuple[Pair, ...]:
    d = profile.data
    return load_set(d.val_set, d.scale, d.max_eval_hr)


def test_sets(profile) -> dict[str, tuple[Pair, ...]]:
    d = profile.data
    return {s: load_set(s, d.scale, d.max_eval_hr) for s in d.test_sets}


def augment(lr: np.ndarray, hr: np.ndarray, hflip: bool, vflip: bool, rot90: bool):
    """Flips and a 90-degree rotation (transpose), applied identically to LR and HR."""
    if hflip:
        lr, hr = lr[:, ::-1], hr[:, ::-1]
    if vflip:
        lr, hr = lr[::-1], hr[::-1]
    if rot90:
        lr, hr = lr.transpose(1, 0, 2), hr.transpose(1, 0, 2)
    return lr, hr


class PatchSampler:
    """Training batches as a pure function of ``(seed, step)`` so a resumed run sees the same data.

    Sample ``i`` of step ``s`` draws with ``numpy.random.default_rng([seed, s, i])``: an image
    (uniformly), an aligned LR/HR crop (``lr_patch`` and ``lr_patch * scale``), horizontal/vertical flips
    and a 90-degree rotation, each with probability 1/2 (ESRGAN/MFAGAN/AdaSR augmentation). Under DDP,
    rank ``r`` of ``w`` takes samples ``r, r + w, ...`` of the global batch.
    """

    def __init__(self, pairs: Sequence[Pair], lr_patch: int, batch_size: int, scale: int, seed: int):
        if not pairs:
            raise ValueError("PatchSampler needs at least one image pair")
        small = [p.name for p in pairs if min(p.lr.shape[:2]) < lr_patch]
        if small:
            raise ValueError(f"images smaller than the LR patch {lr_patch}: {small}; lower data.lr_patch")
        self.pairs, self.lr_patch, self.batch_size = list(pairs), lr_patch, batch_size
        self.scale, self.seed = scale, seed

    def sample(self, step: int, i: int) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng([self.seed, step, i])
        p = self.pairs[rng.integers(len(self.pairs))]
        ps, s = self.lr_patch, self.scale
        y = int(rng.integers(p.lr.shape[0] - ps + 1))
        x = int(rng.integers(p.lr.shape[1] - ps + 1))
        lr = p.lr[y:y + ps, x:x + ps]
        hr = p.hr[y * s:(y + ps) * s, x * s:(x + ps) * s]
        return augment(lr, hr, *(bool(b) for b in rng.integers(0, 2, size=3)))

    def __call__(self, step: int, rank: int = 0, world_size: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
        idx = range(rank, self.batch_size, world_size)
        samples = [self.sample(step, i) for i in idx]
        lr = np.stack([a for a, _ in samples]).transpose(0, 3, 1, 2)
        hr = np.stack([b for _, b in samples]).transpose(0, 3, 1, 2)
        return (torch.from_numpy(np.ascontiguousarray(lr)).float().div(255),
                torch.from_numpy(np.ascontiguousarray(hr)).float().div(255))


def sampler(profile, seed: int | None = None, batch_size: int | None = None,
            lr_patch: int | None = None) -> PatchSampler:
    """The profile's training sampler (``batch_size`` / ``lr_patch`` override the profile's data section,
    e.g. for a reference model's own recipe)."""
    d = profile.data
    return PatchSampler(train_pairs(profile), lr_patch or d.lr_patch, batch_size or d.batch_size, d.scale,
                        profile.seed if seed is None else seed)


BatchFn = Callable[[int], tuple[torch.Tensor, torch.Tensor]]
