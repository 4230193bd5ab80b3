"""The model zoo: ``build(name, **kw)`` and ``names()``.

One file per reference architecture (``esrgan.py``, ``srgan.py``, ...). A paper's own architecture lives
in its paper package (``srlib/mfagan/mfanet.py``, ``srlib/tpsr/cell.py``, ``srlib/tpsr/discriminator.py``)
and registers itself with :func:`register`; ``build`` imports those packages lazily so the registry is
complete on first use.
"""
from __future__ import annotations

import importlib
import sys
from types import ModuleType
from typing import Callable

import torch.nn as nn

_REGISTRY: dict[str, Callable[..., nn.Module]] = {}

# Modules whose import registers models. Listed explicitly (no directory scanning) so a newcomer sees
# where every name comes from.
_MODEL_MODULES = (
    "srlib.models.bicubic", "srlib.models.esrgan", "srlib.models.srgan", "srlib.models.enhancenet", "srlib.models.feqe",
    "srlib.models.imdn", "srlib.models.rfdn", "srlib.models.carn", "srlib.models.fmen",
    "srlib.models.rcan", "srlib.models.discriminators", "srlib.weights.released",
    "srlib.tpsr.cell", "srlib.tpsr.discriminator", "srlib.mfagan.mfanet", "srlib.mfagan.patchgan",
    "srlib.models.vdsr", "srlib.agd.network",
)
_loaded = False


def register(name: str) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator: ``@register("esrgan")`` on a class or factory function."""

    def deco(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _REGISTRY and _REGISTRY[name] is not fn:
            raise ValueError(f"model name {name!r} registered twice")
        _REGISTRY[name] = fn
        return fn

    return deco


def _load_all() -> None:
    global _loaded
    if _loaded:
        return
    for mod in _MODEL_MODULES:
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError as e:
            if e.name != mod:  # a real missing dependency inside an existing module
                raise
    _loaded = True


def names() -> list[str]:
    """All registered model names, sorted."""
    _load_all()
    return sorted(_REGISTRY)


def module_of(name: str) -> ModuleType:
    """The module that defines registered model ``name`` (a stage that builds it by name hashes it)."""
    _load_all()
    if name not in _REGISTRY:
        raise KeyError(f"unknown model {name!r}; valid names: {', '.join(sorted(_REGISTRY))}")
    return sys.modules[_REGISTRY[name].__module__]


def build(name: str, **kw) -> nn.Module:
    """Build a registered model; unknown names fail listing the valid ones."""
    _load_all()
    if name not in _REGISTRY:
        raise KeyError(f"unknown model {name!r}; valid names: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name](**kw)
