"""The cached stages of latency lookup tables (:mod:`srlib.pipeline`): building a table from zoo networks'
kernels (:func:`lut_stage`, read back with :func:`load_lut`) and validating it on held-out zoo networks
(:func:`validation_stage`).

Each stage's key covers the source of every module whose code it runs (``code=``: the table, network
kernel lists, conversion and its worker, timing, export, benchmark metadata, the tracer), so a change to
any of them recomputes the stage.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

from srlib import io, pipeline

from . import bench, convert, convert_worker, kernel_store, lut_calibration, lut_timing, tflite_split, trace
from . import export as ex
from . import lut as _lut_module
from . import lut_validation as _validation_module
from . import networks as _networks_module
from .lut import LUT, build_lut, runtime_meta
from .lut_validation import summary, validate
from .networks import NetworkSpec, as_spec
from .trace import Kernel

__all__ = ["lut_stage", "calibrate", "load_lut", "validation_stage"]

#: Modules whose code a table build runs (besides this one).
_BUILD_CODE = (_lut_module, _networks_module, convert, convert_worker, tflite_split, lut_timing, ex, bench, trace,
               lut_calibration, _validation_module, kernel_store)
#: Modules whose code a validation runs (besides this one).
_VALIDATION_CODE = (_lut_module, _validation_module, _networks_module, convert, lut_timing, ex, bench, trace,
                    lut_calibration)


def _zoo_specs(networks: Sequence[Any], what: str) -> list[NetworkSpec]:
    specs = [as_spec(n)[1] for n in networks]
    if any(not isinstance(s, NetworkSpec) for s in specs):
        raise TypeError(f"{what} takes zoo specs (NetworkSpec or (name, build_kw)) so that its key is stable")
    return specs


def lut_stage(networks: Sequence[Any], lr_hw: int | Sequence[int], *, name: str = "latency_lut",
              threads: int = 1, xnnpack: bool = True, samples: int = 10, rounds: int = 5,
              extra_kernels: Sequence[Kernel | str] = (), calibration_networks: Sequence[Any] = (),
              prefetch_networks: Sequence[Any] = (), time_networks: bool = False, shared: bool = True,
              network_files: Mapping[str, Any] | None = None, profile: str | None = None,
              log: Callable[[str], None] = print) -> pipeline.StageResult:
    """Cached stage: measure the kernels of ``networks`` and ``calibration_networks`` (zoo specs:
    ``NetworkSpec`` or ``(name, build_kw)``) at ``lr_hw`` plus ``extra_kernels``; with calibration
    networks, also time them whole and fit the table's calibration
    (:mod:`~srlib.latency.lut_calibration`, ``calibration.csv``). Writes ``lut.csv`` and ``lut.json``;
    load with :func:`load_lut`. With ``shared`` (default) the kernels come from and go to the machine's
    kernel store (:mod:`~srlib.latency.kernel_store`): kernels another table, notebook or profile already
    timed on this machine and runtime are not converted or timed again, and a killed build resumes from
    what it stored. Whole-network files (the calibration networks and ``prefetch_networks``, e.g. the
    held-out networks of a later :func:`validation_stage`, which finds them through the output
    ``network_dir``) are converted in the same worker pool as the kernels, into the store's model folder
    (keyed by converter and model code) or the stage's; ``prefetch_networks`` is not part of the key.
    Every whole network is also timed in the table's own passes (``meta["networks_ms"]``, title -> ms);
    ``time_networks`` adds ``networks`` themselves, so that a caller can set each network's predicted sum
    beside its own time by the same statistic in the same sitting (never entries or calibration).

    ``network_files``: title -> a ``.tflite`` of that whole network at ``lr_hw`` converted already the same
    way (litert-torch, NHWC I/O; e.g. a benchmark's :func:`~srlib.latency.bench.export_stage` file), used
    instead of converting it again; not part of the key: the graph is the same, and its weights (seeded
    elsewhere) do not change a float model's time."""
    from srlib import config

    hw = ex.hw_pair(lr_hw)
    specs = _zoo_specs(networks, "lut_stage")
    cal_specs = _zoo_specs(calibration_networks, "lut_stage")
    params = {"networks": [[s.name, dict(s.build_kw)] for s in specs], "lr_hw": list(hw), "threads": threads,
              "xnnpack": xnnpack, "samples": samples, "rounds": rounds, "extra_kernels": sorted(str(k) for k in extra_kernels),
              **{k: v for k, v in runtime_meta("litert", threads, xnnpack).items() if k != "timing"}}
    if cal_specs:   # absent from the key of a plain table, so existing tables stay valid
        params["calibration_networks"] = [[s.name, dict(s.build_kw)] for s in cal_specs]
    if time_networks:
        params["time_networks"] = True

    def fn(ctx: pipeline.StageContext) -> dict[str, Any]:
        kernels = [k for s in specs + cal_specs for k in s.kernels(hw)] + [str(k) for k in extra_kernels]
        store = kernel_store.KernelStore.for_runtime(threads=threads, xnnpack=xnnpack, samples=samples,
                                                     rounds=rounds) if shared else None
        net_dir = (store.models if store is not None else ctx.dir) / "networks"
        whole = cal_specs + _zoo_specs(prefetch_networks, "lut_stage") + (specs if time_networks else [])
        nets = [(s, hw, net_dir) for s in {s.title: s for s in whole}.values()]
        for s, _, folder in nets:
            if s.title in (network_files or {}):
                convert.adopt_network_file(s, hw, folder, network_files[s.title])
        lut = build_lut(kernels, ctx.dir, threads=threads, xnnpack=xnnpack, samples=samples, rounds=rounds,
                        lr_hw=hw, store=store, log=log, networks=nets, time_networks=bool(nets))
        lut.meta["networks"] = [s.title for s in specs]
        out: dict[str, Any] = {"network_dir": str(net_dir)}
        if cal_specs:
            cal, rows = calibrate(lut, cal_specs, hw, net_dir, samples=samples, rounds=rounds, log=log,
                                  measured=lut.meta.get("networks_ms"))
            lut.meta["calibration"] = cal.to_dict()
            with io.atomic_write(ctx.path("calibration.csv"), "w") as f:
                rows.to_csv(f, index=False)
            out.update(calibration_csv="calibration.csv", calibration=cal.to_dict())
        lut.save(ctx.path("lut.json"))
        lut.save(ctx.path("lut.csv"))
        return {"lut_json": "lut.json", "lut_csv": "lut.csv", "n_entries": len(lut),
                "overhead_ms": lut.meta["overhead_ms"], **out}

    return pipeline.stage(name, params, fn, profile=config.profile_name(profile), code=_BUILD_CODE, log=log)


def calibrate(lut: LUT, networks: Sequence[NetworkSpec], lr_hw: tuple[int, int], workdir: Any, *,
              samples: int = 10, rounds: int = 5, log: Callable[[str], None] | None = print,
              measured: dict[str, float] | None = None) -> tuple[Any, Any]:
    """Fit :func:`~srlib.latency.lut_calibration.fit` on the calibration ``networks`` timed whole (exactly as
    the table's entries and the validation's networks): their times from ``measured`` (title -> ms, e.g.
    timed in the table's own passes, ``lut.meta["networks_ms"]``), the others timed here. Returns the
    calibration and a frame of network, sum_ms, n_kernels, measured_ms, calibrated_ms."""
    import pandas as pd

    from .lut_validation import measure_networks

    titles = [s.title for s in networks]
    feats = [lut_calibration.features(lut.entries, s.kernels(lr_hw)) for s in networks]
    have = dict(measured or {})
    todo = [(t, s) for t, s in zip(titles, networks) if t not in have]
    if todo:
        timed = measure_networks(todo, lr_hw, workdir, threads=int(lut.meta.get("threads", 1)),
                                 xnnpack=lut.meta.get("delegate", "xnnpack") == "xnnpack", samples=samples,
                                 rounds=rounds, log=log)
        have.update(timed.ms)
    measured = [have[t] for t in titles]
    cal = lut_calibration.fit([f[0] for f in feats], [f[1] for f in feats], measured, titles)
    rows = pd.DataFrame({"network": titles, "sum_ms": [f[0] for f in feats], "n_kernels": [f[1] for f in feats],
                         "measured_ms": measured, "calibrated_ms": [cal.apply(*f) for f in feats]})
    if log:
        log(f"[lut] calibration on {len(titles)} networks: {cal.scale:.3f} x sum + {cal.per_kernel_ms * 1e3:.1f} us "
            f"x kernels + {cal.per_network_ms * 1e3:.1f} us; RMSPE {cal.raw_rmspe_pct:.1f} % -> {cal.fit_rmspe_pct:.1f} %")
    return cal, rows


def load_lut(stage: pipeline.StageResult) -> LUT:
    return LUT.load(stage.path(stage["lut_json"]))


def validation_stage(lut_result: pipeline.StageResult, networks: Sequence[Any], lr_hw: int | Sequence[int], *,
                     name: str = "latency_lut_validation", profile: str | None = None,
                     log: Callable[[str], None] = print) -> pipeline.StageResult:
    """Cached :func:`~srlib.latency.lut_validation.validate` of held-out zoo networks against a
    :func:`lut_stage` table; writes ``validation.csv`` and returns the summary in ``stage.outputs``. The
    network files come from the table's ``network_dir`` (converted there if missing); the networks the table
    timed in its own passes (``meta["networks_ms"]``, :func:`lut_stage`'s ``prefetch_networks``) are not
    timed again (``timed_with_table`` in the frame)."""
    from srlib import config

    hw = ex.hw_pair(lr_hw)
    specs = [as_spec(n)[1] for n in networks]
    if any(not isinstance(s, NetworkSpec) for s in specs):
        raise TypeError("validation_stage takes zoo specs (NetworkSpec or (name, build_kw)) so that its key is "
                        "stable; call validate() directly for other modules")
    params = {"lut_key": lut_result.key, "networks": [[s.name, dict(s.build_kw)] for s in specs],
              "lr_hw": list(hw)}

    def fn(ctx: pipeline.StageContext) -> dict[str, Any]:
        lut = load_lut(lut_result)
        df = validate(lut, specs, hw, workdir=lut_result.outputs.get("network_dir") or ctx.dir,
                      measured=lut.meta.get("networks_ms"))
        df["timed_with_table"] = df["network"].isin(list(lut.meta.get("networks_ms", {})))
        with io.atomic_write(ctx.path("validation.csv"), "w") as f:
            df.to_csv(f, index=False)
        return {"validation_csv": "validation.csv", **summary(df)}

    return pipeline.stage(name, params, fn, profile=config.profile_name(profile), code=_VALIDATION_CODE, log=log)
