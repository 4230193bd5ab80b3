"""A per-network correction of a lookup table's sum, fitted on calibration networks.

A table's prediction is the sum of its kernels measured one by one (FBNet / once-for-all, MFAGAN Sec. 3.6).
Inside a whole network the same kernels run with other data in the caches between them, and the
runtime does per-operator work a one-kernel model times only once; nn-Meter (Zhang et al., MobiSys 2021)
shows that such a sum misses a device-dependent share. On one AMD EPYC machine the sum predicted all 17
held-out networks 7-20 % *low*, on another within +-10 % (the mini-run issue's notes).

The correction here is the smallest model of that gap, fitted per machine and runtime:

    measured(network) ~= a * sum_of_entries(network) + b * n_kernels(network) + c,    a, b, c >= 0

``a`` a scale on the isolated kernel times (working sets that no longer stay warm), ``b`` a per-kernel
cost in context, ``c`` a per-network cost (input/output copies beyond the one-element invoke overhead),
by non-negative least squares (:func:`scipy.optimize.nnls`) on relative errors, over the whole-network
times of *calibration* networks: networks whose kernels are in the table but that are never the ones
the table is then validated on (:func:`fit` refuses an overlap by title). With a, b, c = 1, 0, 0 it is
the plain sum. The fitted values, the networks and the fit's own residuals are kept in the table's
``meta["calibration"]``; :meth:`srlib.latency.lut.LUT.predict` applies it when ``calibrated=True``.

Assumption (ours, not MFAGAN's, which does not describe how its table was validated): three
non-negative parameters, shared by every operator type, are enough to carry the in-context gap from the
calibration families to other networks on the same machine; the validation on held-out networks is
what tests it.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from .trace import Kernel

__all__ = ["Calibration", "features", "fit"]


@dataclass(frozen=True)
class Calibration:
    """``predict = scale * sum + per_kernel_ms * n_kernels + per_network_ms`` (see module doc)."""
    scale: float = 1.0
    per_kernel_ms: float = 0.0
    per_network_ms: float = 0.0
    networks: tuple[str, ...] = ()
    fit_rmspe_pct: float = float("nan")      # the fit's own RMSPE on its calibration networks
    raw_rmspe_pct: float = float("nan")      # the plain sum's RMSPE on the same networks
    note: str = field(default="")

    def apply(self, sum_ms: float, n_kernels: int) -> float:
        return self.scale * sum_ms + self.per_kernel_ms * n_kernels + self.per_network_ms

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["networks"] = list(self.networks)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Calibration":
        d = dict(d)
        d["networks"] = tuple(d.get("networks", ()))
        return cls(**d)


def features(entries: Mapping[str, float], kernels: Iterable[Kernel | str]) -> tuple[float, int]:
    """(sum of the table's entries, number of operator kernels) of one network's kernel list, as traced
    (:func:`~srlib.latency.trace.trace_kernels`: the invoke overhead first, in the sum, not counted)."""
    from .trace import OVERHEAD

    keys = [str(k) for k in kernels]
    return float(sum(entries[k] for k in keys)), sum(k != str(OVERHEAD) for k in keys)


def fit(sums: Sequence[float], counts: Sequence[int], measured: Sequence[float], networks: Sequence[str], *,
        heldout: Iterable[str] = ()) -> Calibration:
    """Fit (a, b, c) >= 0 minimising the squared *relative* error over calibration networks.

    ``sums``/``counts``: :func:`features` of each calibration network; ``measured``: its whole-network ms,
    timed like the entries. Raises ``ValueError`` if a calibration network is also in ``heldout`` or fewer
    than three networks are given."""
    from scipy.optimize import nnls

    overlap = sorted(set(networks) & set(heldout))
    if overlap:
        raise ValueError(f"calibration networks must not be held out: {', '.join(overlap)}")
    s, n, m = (np.asarray(v, dtype=float) for v in (sums, counts, measured))
    if not (len(s) == len(n) == len(m) == len(networks)) or len(s) < 3:
        raise ValueError(f"a calibration needs >= 3 networks with sums, counts and measurements; got {len(s)}")
    if np.any(m <= 0) or np.any(s <= 0):
        raise ValueError("calibration sums and measurements must be positive")
    design = np.stack([s / m, n / m, 1.0 / m], axis=1)       # relative residuals: (pred - m) / m
    coef, _ = nnls(design, np.ones_like(m))
    pred = design @ coef * m
    rmspe = float(np.sqrt(np.mean(((pred - m) / m * 100.0) ** 2)))
    raw = float(np.sqrt(np.mean(((s - m) / m * 100.0) ** 2)))
    return Calibration(float(coef[0]), float(coef[1]), float(coef[2]), tuple(networks), rmspe, raw,
                       "NNLS on relative errors, a*sum + b*n_kernels + c")
