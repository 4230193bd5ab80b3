"""Latency lookup tables: the table object -- per-kernel latencies measured on the target runtime, summed
over a network -- and how it is built (measured), extended, saved and loaded.

MFAGAN Sec. 3.6 predicts a SubGenerator's latency from a lookup table, as FBNet (Wu et al., CVPR 2019)
and once-for-all (Cai et al., ICLR 2020) do: latency(network) = sum of the latencies of the operators it
runs, each measured once in isolation on the target device. Here:

* **Key** = the fused kernel the runtime executes (:mod:`srlib.latency.trace`): op, input H x W,
  C_in, C_out, kernel, stride, padding, dilation, groups, activation for convolutions (conv+ReLU/ReLU6 is
  one ``CONV_2D`` in LiteRT, conv + LeakyReLU two kernels; scalar multiplies next to a conv are folded),
  and shapes for add / mul / concat / pixel shuffle / resize / pooling / mean / PReLU / sigmoid...
* **Entries** are measured by converting a one-kernel PyTorch model with litert-torch (the same path
  as a network's export, NHWC I/O; :mod:`srlib.latency.convert`) and timing ``Interpreter.invoke`` on the
  target runtime (:mod:`srlib.latency.lut_timing`) -- by default LiteRT with XNNPACK, 1 thread. Each
  entry is the kernel model's steady-state time *minus* the runtime's per-invoke overhead, which is
  itself an entry (:data:`~srlib.latency.trace.OVERHEAD`, measured on a one-element add) counted once per
  network. So the plain prediction is exactly the sum of the entries of a network's kernel list.
* A table can carry a **calibration** (:mod:`srlib.latency.lut_calibration`): ``a * sum + b * n_kernels + c``
  fitted on whole-network times of calibration networks (never the validation's held-out ones), for the
  in-context cost a sum of isolated kernels misses. ``predict`` applies it when present
  (``calibrated=False`` gives the plain sum).
* A kernel missing from the table raises ``KeyError`` naming it -- never 0 ms.
* With a :class:`~srlib.latency.kernel_store.KernelStore` (what the cached stages pass), kernels already
  timed on this machine and runtime are taken from it and only the others are converted and timed.
* Validation (:func:`srlib.latency.lut_validation.validate`) compares predictions with whole-network
  measurements on *held-out* networks and reports nn-Meter's accuracy metrics; measured accuracy is in
  that module's docstring.

Scoring is fast once a network's kernels are known: kernel lists are cached per architecture
(:func:`srlib.latency.trace.zoo_kernels`), compiled to (key, count) pairs (:meth:`LUT.compile`), and
:meth:`LUT.scorer` turns any ``config -> kernels`` function (elastic-width supernets, e.g.
:func:`srlib.latency.networks.zoo_config_kernels`) into a memoised ``config -> ms`` function.

The cached stages that build and validate a table are in :mod:`srlib.latency.lut_stages`.
"""
from __future__ import annotations

import csv
import io as _io
import json
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Hashable, Iterable, Mapping, Sequence

from srlib import io

from . import bench
from . import export as ex
from .convert import convert_kernels, kernel_file, network_paths
from .lut_timing import CANARY, Timed, canary_ms, time_files
from .networks import network_kernels
from .trace import OVERHEAD, Kernel

if TYPE_CHECKING:
    from .kernel_store import KernelStore
    from .lut_calibration import Calibration

__all__ = ["LUT", "Compiled", "runtime_meta", "measure_kernels", "build_lut", "extend_lut"]

_OVERHEAD_KEY = str(OVERHEAD)
#: Prefix of whole networks among the files :func:`measure_kernels` times (never a kernel key).
NETWORK_PREFIX = "network:"


@dataclass(frozen=True)
class Compiled:
    """A network's kernels as (unique key, count) pairs: scoring is a short weighted sum."""
    keys: tuple[str, ...]
    counts: tuple[int, ...]

    @classmethod
    def of(cls, kernels: Iterable[Kernel | str]) -> "Compiled":
        c = Counter(str(k) for k in kernels)
        return cls(tuple(c), tuple(c.values()))


class LUT:
    """Kernel key -> ms on one runtime configuration (``meta``: runtime, version, threads, delegate,
    machine, label). ``lut[kernel]`` raises ``KeyError`` naming a missing kernel."""

    def __init__(self, entries: Mapping[str, float], meta: Mapping[str, Any] | None = None) -> None:
        self.entries = {str(k): float(v) for k, v in entries.items()}
        self.meta = dict(meta or {})

    def __len__(self) -> int:
        return len(self.entries)

    def __contains__(self, k: Kernel | str) -> bool:
        return str(k) in self.entries

    def __getitem__(self, k: Kernel | str) -> float:
        key = str(k)
        try:
            return self.entries[key]
        except KeyError:
            raise KeyError(f"kernel {key} is not in the latency table ({self.describe()}); measure it with "
                           f"srlib.latency.lut.build_lut / srlib.latency.lut_stages.lut_stage") from None

    def describe(self) -> str:
        m = self.meta
        return (f"{len(self)} entries, {m.get('runtime_version', m.get('runtime', '?'))}, delegate "
                f"{m.get('delegate', '?')}, {m.get('threads', '?')} thread(s), {m.get('machine', '?')}")

    def missing(self, kernels: Iterable[Kernel | str]) -> list[str]:
        return [k for k in dict.fromkeys(str(k) for k in kernels) if k not in self.entries]

    # ---- prediction ------------------------------------------------------------------------------
    def compile(self, kernels: Iterable[Kernel | str]) -> Compiled:
        return Compiled.of(kernels)

    @property
    def calibration(self) -> "Calibration | None":
        """The per-network correction fitted on calibration networks
        (:mod:`srlib.latency.lut_calibration`), or None for a plain table."""
        from .lut_calibration import Calibration

        d = self.meta.get("calibration")
        if not d:
            return None
        cached = getattr(self, "_calibration", None)
        if cached is None or cached[0] is not d:
            self._calibration = cached = (d, Calibration.from_dict(d))
        return cached[1]

    def predict_compiled(self, c: Compiled, calibrated: bool = True) -> float:
        e = self.entries
        total = 0.0
        for k, n in zip(c.keys, c.counts):
            try:
                total += e[k] * n
            except KeyError:
                self[k]  # raises the named KeyError
        cal = self.calibration if calibrated and "calibration" in self.meta else None
        if cal is None:
            return total
        n_ops = sum(n for k, n in zip(c.keys, c.counts) if k != _OVERHEAD_KEY)
        return cal.apply(total, n_ops)

    def predict(self, model_or_kernels: Any, lr_hw: int | Sequence[int] | None = None, *,
                calibrated: bool = True) -> float:
        """Predicted ms: the sum of the entries of the network's kernels (each occurrence counted), with the
        table's calibration applied when it has one and ``calibrated`` (``False``: the plain sum).

        ``model_or_kernels``: a kernel list (from :func:`~srlib.latency.trace.trace_kernels`), a
        :class:`Compiled`, or a network (``nn.Module``, :class:`~srlib.latency.networks.NetworkSpec`,
        ``(name, build_kw)``) with ``lr_hw`` (default: the table's ``lr_hw`` when it was built for one size)."""
        if isinstance(model_or_kernels, Compiled):
            return self.predict_compiled(model_or_kernels, calibrated)
        if isinstance(model_or_kernels, (list, tuple)) and all(isinstance(k, (Kernel, str)) for k in model_or_kernels) \
                and not (len(model_or_kernels) == 2 and isinstance(model_or_kernels[1], Mapping)):
            return self.predict_compiled(Compiled.of(model_or_kernels), calibrated)
        hw = lr_hw or self.meta.get("lr_hw")
        if hw is None:
            raise ValueError("predict(network) needs lr_hw (the table has none recorded)")
        return self.predict_compiled(Compiled.of(network_kernels(model_or_kernels, hw)), calibrated)

    def scorer(self, config_to_kernels: Callable[[Any], Iterable[Kernel | str]],
               key: Callable[[Any], Hashable] = lambda c: tuple(c) if isinstance(c, list) else c
               ) -> Callable[[Any], float]:
        """``config -> ms`` for elastic networks; kernel lists are memoised per config."""
        cache: dict[Hashable, Compiled] = {}

        def score(cfg: Any) -> float:
            k = key(cfg)
            c = cache.get(k)
            if c is None:
                c = cache[k] = Compiled.of(config_to_kernels(cfg))
            return self.predict_compiled(c)

        score.cache = cache  # type: ignore[attr-defined]
        return score

    def breakdown(self, kernels: Iterable[Kernel | str]) -> "Any":
        """DataFrame: kernel, op, count, ms each, ms total (largest first)."""
        import pandas as pd

        c = Compiled.of(kernels)
        rows = [{"kernel": k, "op": k.split("(")[0], "count": n, "ms_each": self[k], "ms_total": self[k] * n}
                for k, n in zip(c.keys, c.counts)]
        return pd.DataFrame(rows).sort_values("ms_total", ascending=False, ignore_index=True)

    # ---- files --------------------------------------------------------------------------------------
    def to_frame(self) -> "Any":
        import pandas as pd

        return pd.DataFrame([{"kernel": k, "op": k.split("(")[0], "ms": v} for k, v in self.entries.items()])

    def save(self, path: str | os.PathLike) -> Path:
        """``.json``: meta + entries; ``.csv``: kernel, op, ms rows with the meta in ``#`` header lines.
        Atomic."""
        path = Path(path)
        if path.suffix == ".json":
            return io.write_json(path, {"meta": self.meta, "entries": self.entries})
        if path.suffix == ".csv":
            buf = _io.StringIO()
            buf.write(f"# meta: {json.dumps(self.meta, sort_keys=True, default=str)}\n")
            w = csv.writer(buf)
            w.writerow(["kernel", "op", "ms"])
            for k, v in self.entries.items():
                w.writerow([k, k.split("(")[0], repr(v)])
            return io.write_text(path, buf.getvalue())
        raise ValueError(f"{path}: a LUT is saved as .json or .csv")

    @classmethod
    def load(cls, path: str | os.PathLike) -> "LUT":
        path = Path(path)
        if path.suffix == ".json":
            d = io.read_json(path)
            return cls(d["entries"], d.get("meta", {}))
        if path.suffix == ".csv":
            lines = path.read_text().splitlines()
            meta = {}
            if lines and lines[0].startswith("# meta: "):
                meta = json.loads(lines[0][len("# meta: "):])
                lines = lines[1:]
            rows = list(csv.DictReader(lines))
            return cls({r["kernel"]: float(r["ms"]) for r in rows}, meta)
        raise ValueError(f"{path}: a LUT is read from .json or .csv")


# ------------------------------------------------------------------------------------------------------
# Measuring
# ------------------------------------------------------------------------------------------------------
def runtime_meta(runtime: str, threads: int, xnnpack: bool) -> dict[str, Any]:
    """The table's ``meta`` for a LiteRT runtime configuration (runtime, version, threads, delegate,
    machine, label, converter, timing)."""
    if runtime != "litert":
        raise ValueError(f"LUT entries are measured on LiteRT only (runtime='litert'), got {runtime!r}")
    return {"runtime": runtime, "runtime_version": bench.runtime_version(runtime), "threads": int(threads),
            "delegate": "xnnpack" if xnnpack else "none (built-in kernels)", "machine": bench.machine(),
            "label": bench.LABEL, "converter": ex._tool_version("litert-torch"),
            "timing": "back-to-back Interpreter.invoke(), min over samples and rounds (steady_ms)"}


def measure_kernels(kernels: Iterable[Kernel | str], workdir: str | os.PathLike, *, threads: int = 1,
                    xnnpack: bool = True, samples: int = 10, rounds: int = 5, keep_files: bool = False,
                    workers: int | None = None, store: "KernelStore | None" = None,
                    log: Callable[[str], None] = print, networks: Sequence[Any] = (),
                    time_networks: bool = False) -> Timed:
    """Raw steady-state ms of a one-kernel model per unique kernel (invoke overhead included), on LiteRT,
    timed by :func:`~srlib.latency.lut_timing.time_files` (``.ms[key]``).

    Phase 1 converts every kernel model into ``workdir/kernels/``
    (:func:`~srlib.latency.convert.convert_kernels`: atomic files, so a killed run resumes there; ``workers``
    processes); phase 2 times them one at a time; ``workdir/raw.json`` keeps every round's value.

    With a ``store`` (:class:`~srlib.latency.kernel_store.KernelStore`, this machine and runtime), the
    kernels it holds under the current canary are taken from it, only the others are converted (into the
    store's model folder, kept there) and timed, and their clean measurements are added to it.
    ``networks``: whole networks ((zoo spec, input size, folder), as
    :func:`~srlib.latency.convert.convert_kernels` takes them) to convert in the same pool; with
    ``time_networks`` they are also timed *in the same interleaved passes* as the kernels, so that a slow
    spell of a shared machine hits both sides of a comparison alike (their times come back under
    ``NETWORK_PREFIX + title``; they never enter the store)."""
    workdir = Path(workdir)
    keys = list(dict.fromkeys(str(k) for k in kernels))
    reused: dict = {}
    models = workdir
    if store is not None:
        models = store.models
        now = canary_ms(models, threads=threads, xnnpack=xnnpack)
        reused = store.reusable(keys, now)
        if log and reused:
            log(f"[lut] {len(reused)}/{len(keys)} kernels from the machine's store {store.timings} "
                f"(canary {now:.4f} ms)")
        stale = {k: v.canary_ms for k, v in store.entries().items() if k in keys and k not in reused} if log else {}
        if stale:   # stored, but under another state of the machine: said, so a re-timing is explained
            from .kernel_store import TOLERANCE

            lo, hi = min(stale.values()), max(stale.values())
            log(f"[lut] {len(stale)}/{len(keys)} stored kernels timed again: their canary {lo:.4f}-{hi:.4f} ms, "
                f"now {now:.4f} ms (reused within x{TOLERANCE:.2f})")
    todo = [k for k in keys if k not in reused]
    paths = {key: kernel_file(models, key) for key in todo}
    convert_kernels([k for k in todo if not paths[k].is_file()], models, workers=workers, log=log, networks=networks)
    whole = {NETWORK_PREFIX + t: p for t, p in network_paths(networks).items()} if time_networks else {}
    if paths or whole or store is None:
        timed = time_files({**paths, **whole}, models, threads=threads, xnnpack=xnnpack, samples=samples,
                           rounds=rounds, log=log, what="kernels" + (" and networks" if whole else ""))
    else:   # everything came from the store
        timed = Timed({}, {}, {}, now, [now], [], [])
    nets_timed = timed.subset(whole)
    timed = timed.subset(paths)
    if store is not None:
        store.add(timed)
        timed = Timed({k: (reused[k].ms if k in reused else timed.ms[k]) for k in keys},
                      {k: (reused[k].rounds_ms if k in reused else timed.rounds_ms[k]) for k in keys},
                      {k: (reused[k].clean if k in reused else timed.clean[k]) for k in keys},
                      timed.canary_ms, timed.canary_all, timed.canary_mem_all, timed.disturbed, sorted(reused))
    if whole:   # back beside the kernels, for build_lut
        timed = Timed({**timed.ms, **nets_timed.ms}, {**timed.rounds_ms, **nets_timed.rounds_ms},
                      {**timed.clean, **nets_timed.clean}, timed.canary_ms, timed.canary_all, timed.canary_mem_all,
                      timed.disturbed + nets_timed.disturbed, timed.from_store)
    io.write_json(workdir / "raw.json", {"ms": timed.ms, "rounds_ms": timed.rounds_ms, "clean": timed.clean,
                                         "canary_ms": timed.canary_ms, "canary_all_ms": timed.canary_all,
                                         "canary_mem_all_ms": timed.canary_mem_all,
                                         "disturbed": timed.disturbed, "from_store": timed.from_store,
                                         "store": str(store.timings) if store is not None else None})
    if not keep_files and store is None:
        for p in paths.values():
            p.unlink(missing_ok=True)
    return timed


def build_lut(kernels: Iterable[Kernel | str], workdir: str | os.PathLike, *, runtime: str = "litert",
              threads: int = 1, xnnpack: bool = True, samples: int = 10, rounds: int = 5,
              lr_hw: Sequence[int] | None = None, keep_files: bool = False, workers: int | None = None,
              store: "KernelStore | None" = None, log: Callable[[str], None] = print,
              networks: Sequence[Any] = (), time_networks: bool = False) -> LUT:
    """Measure every unique kernel (plus the invoke overhead) and return the table (see module doc).
    ``keep_files`` keeps the one-kernel models in ``workdir/kernels/`` (for inspection); ``workers``:
    conversion processes (:func:`~srlib.latency.convert.convert_kernels`); ``store``: the machine's
    kernel store to read from and add to (:func:`measure_kernels`); ``networks``: whole networks to convert
    in the same pool as the kernels; with ``time_networks`` also timed in the same passes as the kernels,
    their times kept in ``meta["networks_ms"]`` (title -> ms; ``meta["networks_disturbed"]``: those never
    timed while both canaries were at their best) -- never entries of the table."""
    meta = runtime_meta(runtime, threads, xnnpack)
    keys = [str(OVERHEAD)] + [k for k in dict.fromkeys(str(k) for k in kernels) if k != str(OVERHEAD)]
    timed = measure_kernels(keys, workdir, threads=threads, xnnpack=xnnpack, samples=samples, rounds=rounds,
                            keep_files=keep_files, workers=workers, store=store, log=log, networks=networks,
                            time_networks=time_networks)
    raw = timed.ms
    nets = {k[len(NETWORK_PREFIX):]: v for k, v in raw.items() if k.startswith(NETWORK_PREFIX)}
    overhead = raw[str(OVERHEAD)]
    entries = {k: (overhead if k == str(OVERHEAD) else raw[k] - overhead) for k in keys}
    meta.update(overhead_ms=overhead, n_kernels=len(keys), samples=samples, rounds=rounds,
                statistic="min over passes of min over samples (time_files / steady_ms)",
                canary=str(CANARY), canary_ms=timed.canary_ms,
                disturbed=sum(not k.startswith(NETWORK_PREFIX) for k in timed.disturbed),
                from_store=len(timed.from_store))
    if time_networks:
        meta.update(networks_ms=nets, networks_disturbed=[k[len(NETWORK_PREFIX):] for k in timed.disturbed
                                                          if k.startswith(NETWORK_PREFIX)],
                    networks_timing="whole networks timed in the same interleaved passes as the entries")
    if lr_hw is not None:
        meta["lr_hw"] = [int(v) for v in lr_hw]
    return LUT(entries, meta)


def extend_lut(lut: LUT, kernels: Iterable[Kernel | str], workdir: str | os.PathLike, *, samples: int | None = None,
               rounds: int | None = None, log: Callable[[str], None] = print) -> LUT:
    """A copy of ``lut`` with the missing ``kernels`` measured on its runtime configuration (the invoke
    overhead is re-measured alongside and subtracted from the new entries only)."""
    missing = lut.missing(kernels)
    if not missing:
        return LUT(lut.entries, lut.meta)
    if lut.meta.get("runtime", "litert") != "litert" or lut.meta.get("machine") not in (None, bench.machine()):
        raise ValueError(f"cannot extend a table measured on {lut.meta.get('machine')} "
                         f"({lut.meta.get('runtime')}) from {bench.machine()}")
    new = build_lut(missing, workdir, threads=int(lut.meta.get("threads", 1)),
                    xnnpack=lut.meta.get("delegate", "xnnpack") == "xnnpack",
                    samples=samples or int(lut.meta.get("samples", 10)),
                    rounds=rounds or int(lut.meta.get("rounds", 5)), log=log)
    entries = dict(lut.entries)
    entries.update({k: new.entries[k] for k in missing})
    meta = dict(lut.meta, n_kernels=len(entries), extended=int(lut.meta.get("extended", 0)) + 1)
    return LUT(entries, meta)
