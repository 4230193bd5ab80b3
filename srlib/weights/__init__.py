"""Pretrained weights, always verified: ImageNet backbones and the authors' released SR checkpoints.

- :mod:`srlib.weights.backbones`: torchvision's VGG19 / VGG16 / AlexNet (perceptual loss, LPIPS). Its
  public names are re-exported here, so ``srlib.weights.path("vgg19")``, ``srlib.weights.WEIGHTS``,
  ``srlib.weights.WeightsUnavailable`` ... are the backbone API.
- :mod:`srlib.weights.released`: the authors' released checkpoints (TPSR, CARN-M, FMEN, RFDN; ESRGAN
  placed by the user) -- one table, strict loads, [0, 1] in/out: ``srlib.weights.released.load(name)``.
- :mod:`srlib.weights.formats`: the released files' key formats mapped onto our modules, and the strict
  loader.
- :mod:`srlib.weights.evaluation`: the released models on the profile's test sets, beside the papers.

Command line (both kinds)::

    python -m srlib.weights list
    python -m srlib.weights fetch vgg19 tpsr_d2 carn_m ...   # or: all
"""
from __future__ import annotations

import importlib

from . import backbones
from .backbones import (WEIGHTS, WeightSpec, WeightsUnavailable, available, candidates, fetch,
                        hub_checkpoints_dir, load_state_dict, path, weights_dir)

__all__ = ["WeightSpec", "WEIGHTS", "WeightsUnavailable", "weights_dir", "hub_checkpoints_dir", "candidates",
           "path", "available", "fetch", "load_state_dict", "main", "backbones", "released", "formats"]

_LAZY = ("released", "formats", "evaluation", "cli")   # import torch / pandas: loaded on first use


def __getattr__(name: str):
    if name in _LAZY:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main(argv: list[str] | None = None) -> int:
    """``python -m srlib.weights`` (see :mod:`srlib.weights.cli`)."""
    from .cli import main as cli_main

    return cli_main(argv)
