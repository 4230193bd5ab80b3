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

**Model selection**: three parameters fitted on a handful of networks also fit their measurement noise.
The fit is kept only when it predicts each calibration network better than the plain sum *without having
seen it* (leave-one-out RMSPE below the plain sum's RMSPE, which fits nothing); otherwise the table keeps
the plain sum (a, b, c = 1, 0, 0; the NNLS values stay in ``fitted``). Measured on the 2-core EPYC of the
mini runs (four builds in a row, networks timed in the same passes as the kernels): the plain sum had all 17
held-out networks within +-10 % each time (RMSPE 3.3-4.5 %); in two builds the fit put 3 of them outside
(e.g. 1.031 x sum + 73 us, fitted to noise: leave-one-out RMSPE 8.5 % against the plain sum's 7.8 %, so the
rule keeps the plain sum), in another it helped (100 %, RMSPE 2.8 %; leave-one-out 4.3 % against 5.6 %, fit
kept).

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
    loo_rmspe_pct: float = float("nan")      # leave-one-out RMSPE of the fit (each network predicted unseen)
    fitted: tuple[float, ...] = ()           # the NNLS (a, b, c), also when the plain sum was kept

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
        d["fitted"] = tuple(d.get("fitted", ()))
        return cls(**d)

    @property
    def is_plain_sum(self) -> bool:
        return (self.scale, self.per_kernel_ms, self.per_network_ms) == (1.0, 0.0, 0.0)


def features(entries: Mapping[str, float], kernels: Iterable[Kernel | str]) -> tuple[float, int]:
    """(sum of the table's entries, number of operator kernels) of one network's kernel list, as traced
    (:func:`~srlib.latency.trace.trace_kernels`: the invoke overhead first, in the sum, not counted)."""
    from .trace import OVERHEAD

    keys = [str(k) for k in kernels]
    return float(sum(entries[k] for k in keys)), sum(k != str(OVERHEAD) for k in keys)


def _nnls(s: np.ndarray, n: np.ndarray, m: np.ndarray) -> np.ndarray:
    from scipy.optimize import nnls

    design = np.stack([s / m, n / m, 1.0 / m], axis=1)       # relative residuals: (pred - m) / m
    return nnls(design, np.ones_like(m))[0]


def _rmspe(pred: np.ndarray, m: np.ndarray) -> float:
    return float(np.sqrt(np.mean(((pred - m) / m * 100.0) ** 2)))


def fit(sums: Sequence[float], counts: Sequence[int], measured: Sequence[float], networks: Sequence[str], *,
        heldout: Iterable[str] = (), select: bool = True) -> Calibration:
    """Fit (a, b, c) >= 0 minimising the squared *relative* error over calibration networks.

    ``sums``/``counts``: :func:`features` of each calibration network; ``measured``: its whole-network ms,
    timed like the entries. With ``select`` (and >= 4 networks, so that each leave-one-out fit has 3), the
    plain sum is kept instead when the fit's leave-one-out RMSPE is not below the plain sum's (module doc).
    Raises ``ValueError`` if a calibration network is also in ``heldout`` or fewer than three networks are
    given."""
    overlap = sorted(set(networks) & set(heldout))
    if overlap:
        raise ValueError(f"calibration networks must not be held out: {', '.join(overlap)}")
    s, n, m = (np.asarray(v, dtype=float) for v in (sums, counts, measured))
    if not (len(s) == len(n) == len(m) == len(networks)) or len(s) < 3:
        raise ValueError(f"a calibration needs >= 3 networks with sums, counts and measurements; got {len(s)}")
    if np.any(m <= 0) or np.any(s <= 0):
        raise ValueError("calibration sums and measurements must be positive")
    coef = _nnls(s, n, m)
    rmspe = _rmspe(coef[0] * s + coef[1] * n + coef[2], m)
    raw = _rmspe(s, m)
    loo = float("nan")
    if len(s) >= 4:
        pred = np.empty_like(m)
        for i in range(len(s)):
            keep = np.arange(len(s)) != i
            c = _nnls(s[keep], n[keep], m[keep])
            pred[i] = c[0] * s[i] + c[1] * n[i] + c[2]
        loo = _rmspe(pred, m)
    fitted = tuple(float(v) for v in coef)
    note = "NNLS on relative errors, a*sum + b*n_kernels + c"
    if select and loo >= raw:   # nan (too few networks to tell) keeps the fit
        return Calibration(1.0, 0.0, 0.0, tuple(networks), raw, raw,
                           f"plain sum kept: the fit ({fitted[0]:.3f} x sum + {fitted[1] * 1e3:.1f} us x kernels + "
                           f"{fitted[2] * 1e3:.1f} us) predicts left-out calibration networks no better (RMSPE "
                           f"{loo:.1f} %) than the plain sum ({raw:.1f} %)", loo, fitted)
    return Calibration(*fitted, tuple(networks), rmspe, raw, note, loo, fitted)
