"""The networks a latency table is built from and scored on: zoo specs, the network forms the table's
functions accept, and their kernel lists.

A network is given as an ``nn.Module``, a :class:`NetworkSpec`, a ``(name, build_kw)`` pair, a
``(label, module)`` pair or a zoo name; :func:`as_spec` turns any of them into ``(title, spec or module)``.
Kernel lists come from :mod:`srlib.latency.trace` (zoo networks through its per-architecture cache).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import torch.nn as nn

from .trace import Kernel, trace_kernels

__all__ = ["NetworkSpec", "as_spec", "zoo_config_kernels", "network_kernels"]


@dataclass(frozen=True)
class NetworkSpec:
    """A zoo network: ``srlib.models.build(name, **build_kw)``, shown as ``label``."""
    name: str
    build_kw: Mapping[str, Any] = field(default_factory=dict)
    label: str = ""

    def build(self, meta: bool = False) -> nn.Module:
        import torch

        from srlib import models

        if meta:
            with torch.device("meta"):
                return models.build(self.name, **dict(self.build_kw))
        torch.manual_seed(0)
        return models.build(self.name, **dict(self.build_kw))

    def n_params(self) -> int:
        """All parameters (built on the meta device: nothing is initialised); worker pools order their
        conversions by it, largest first."""
        from srlib.complexity.counters import count_params

        return count_params(self.build(meta=True))[1]

    @property
    def title(self) -> str:
        if self.label:
            return self.label
        kw = ",".join(f"{k}={v}" for k, v in sorted(self.build_kw.items()))
        return f"{self.name}({kw})"

    def kernels(self, lr_hw: int | Sequence[int]) -> list[Kernel]:
        from .trace import zoo_kernels

        return list(zoo_kernels(self.name, lr_hw, **dict(self.build_kw)))


def as_spec(net: Any) -> tuple[str, Any]:
    """(title, NetworkSpec | nn.Module) for the accepted network forms."""
    if isinstance(net, NetworkSpec):
        return net.title, net
    if isinstance(net, nn.Module):
        return type(net).__name__, net
    if isinstance(net, tuple) and len(net) == 2 and isinstance(net[0], str):
        if isinstance(net[1], (nn.Module, NetworkSpec)):
            return net[0], net[1]
        if isinstance(net[1], Mapping):
            s = NetworkSpec(net[0], dict(net[1]))
            return s.title, s
    if isinstance(net, str):
        s = NetworkSpec(net)
        return s.title, s
    raise TypeError(f"not a network: {net!r}; pass an nn.Module, a NetworkSpec, a (name, build_kw) pair or "
                    f"a (label, module) pair")


def zoo_config_kernels(name: str, lr_hw: int | Sequence[int], param: str = "widths",
                       **fixed: Any) -> Callable[[Any], tuple[Kernel, ...]]:
    """``config -> kernels`` for an elastic zoo network, e.g. MFANet's SubGenerators::

        score = lut.scorer(zoo_config_kernels("mfanet", 64))   # score([32, 24, ...]) -> ms

    Each new config is built on the meta device and traced once (~0.1-0.5 s on 2 cores); the scorer
    memoises it, so repeated candidates cost a dictionary lookup and a short sum."""
    from .trace import zoo_kernels

    def kernels(cfg: Any) -> tuple[Kernel, ...]:
        value = tuple(cfg) if isinstance(cfg, (list, tuple)) else cfg
        return zoo_kernels(name, lr_hw, **{param: value}, **fixed)

    return kernels


def network_kernels(net: Any, lr_hw: int | Sequence[int]) -> list[Kernel]:
    """Kernel list of a network in any accepted form (module, NetworkSpec, (name, kw))."""
    _, obj = as_spec(net)
    if isinstance(obj, NetworkSpec):
        return obj.kernels(lr_hw)
    return trace_kernels(obj, lr_hw)
