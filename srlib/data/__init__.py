"""Data: MATLAB-compatible bicubic, the mini (scikit-image) and paper datasets, training patches.

- ``imresize`` / ``bicubic_lr`` / ``mod_crop``: srlib/data/imresize.py
- ``load_set``, ``train_pairs``, ``val_pairs``, ``test_sets``, ``PatchSampler``: srlib/data/datasets.py
- paper datasets on disk and their checksummed download: srlib/data/paper.py, srlib/data/download.py
"""
from .imresize import bicubic_lr, imresize, mod_crop
from .datasets import (Pair, PatchSampler, SKIMAGE_SPLIT, load_set, sampler, test_sets, to_tensor,
                       train_pairs, val_pairs)

__all__ = ["imresize", "bicubic_lr", "mod_crop", "Pair", "PatchSampler", "SKIMAGE_SPLIT", "load_set",
           "sampler", "test_sets", "to_tensor", "train_pairs", "val_pairs"]
