"""The ``srlib`` command line (``pyproject.toml``: ``srlib = "srlib.cli:main"``).

``srlib latency phone MODEL.tflite --serial S [--gpu] [--threads N] [--benchmark-binary PATH]``
    push the model and LiteRT's ``benchmark_model`` to an Android phone with adb, run it, print the
    parsed average, delegation and per-op profile (``--dry-run`` prints the adb commands only).
``srlib latency parse OUTPUT.txt``
    parse a saved ``benchmark_model`` output.
``srlib latency export MODEL_NAME OUT.(tflite|onnx) [--lr H W] [--kw JSON]``
    export a zoo generator, verified against PyTorch.
``srlib latency bench FILE.(tflite|onnx) [--threads N] [--no-xnnpack] [--repeats R] [--warmup W]``
    time an exported file on this machine (a desktop CPU proxy).

``srlib report [PROFILE] [--plan-timing cached|measure|off] [--check-render]``
    write ``results/<profile>/report.html`` and ``report.md`` (srlib.report_page); ``--check-render`` opens
    the page in headless Chromium and fails if a section, figure or table is missing (skipped, with a
    message, where no Chromium is installed).
``srlib plan [--profile paper] [--timing cached|measure|force|off] [--json FILE]``
    every stage of every paper at that profile: iterations, batch, patch, cached or not, and its
    GPU-hours estimated from steps timed on this machine, with the basis (srlib.plan).

``python -m srlib ...`` is the same command line (srlib/__main__.py). More command groups plug in as
further ``add_parser`` calls under :func:`build_parser`.
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path
from typing import Sequence


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="srlib", description="srlib: compressed SR GAN replication suite")
    groups = p.add_subparsers(dest="group", metavar="GROUP", required=True)

    lat = groups.add_parser("latency", help="export, benchmark, phone latency")
    cmds = lat.add_subparsers(dest="command", metavar="COMMAND", required=True)

    ph = cmds.add_parser("phone", help="run LiteRT's benchmark_model on an Android phone over adb")
    ph.add_argument("model", type=Path, help="the .tflite file")
    ph.add_argument("--serial", required=True, help="device serial (see `adb devices`)")
    ph.add_argument("--gpu", action="store_true", help="use the GPU delegate (--use_gpu=true)")
    ph.add_argument("--threads", type=int, default=1, help="CPU threads (default 1)")
    ph.add_argument("--benchmark-binary", type=Path, default=Path("benchmark_model"),
                    help="local path of the Android benchmark_model binary (default ./benchmark_model)")
    ph.add_argument("--warmup-runs", type=int, default=10)
    ph.add_argument("--num-runs", type=int, default=50)
    ph.add_argument("--adb", default="adb", help="adb executable")
    ph.add_argument("--dry-run", action="store_true", help="print the adb commands, run nothing")
    ph.add_argument("--json", type=Path, help="also write the parsed result (and raw output) as JSON")
    ph.set_defaults(func=_phone)

    pa = cmds.add_parser("parse", help="parse a saved benchmark_model output")
    pa.add_argument("output", type=Path)
    pa.add_argument("--json", type=Path, help="write the parsed result as JSON")
    pa.set_defaults(func=_parse)

    exp = cmds.add_parser("export", help="export a zoo generator to .tflite or .onnx (verified)")
    exp.add_argument("model_name")
    exp.add_argument("out", type=Path, help="output file; .tflite or .onnx")
    exp.add_argument("--lr", type=int, nargs=2, default=(64, 64), metavar=("H", "W"), help="LR input size")
    exp.add_argument("--kw", default="{}", help="build keyword arguments as JSON, e.g. '{\"num_feat\": 32}'")
    exp.set_defaults(func=_export)

    be = cmds.add_parser("bench", help="time a .tflite / .onnx file on this machine (desktop CPU proxy)")
    be.add_argument("file", type=Path)
    be.add_argument("--threads", type=int, default=1)
    be.add_argument("--no-xnnpack", action="store_true", help="LiteRT built-in kernels only")
    be.add_argument("--repeats", type=int, default=50)
    be.add_argument("--warmup", type=int, default=10)
    be.set_defaults(func=_bench)

    rep = groups.add_parser("report", help="write results/<profile>/report.html and report.md")
    rep.add_argument("profile", nargs="?", default=None, help="profile (default: $SRLIB_PROFILE, else mini)")
    rep.add_argument("--plan-timing", choices=("cached", "measure", "off"), default="cached",
                     help="the plan section's step timings: cached (default; the machine's, if measured), "
                          "measure (time them now if not cached, about 20 s on a CPU), off")
    rep.add_argument("--check-render", action="store_true",
                     help="open the page in headless Chromium and check every section, figure and table")
    rep.set_defaults(func=_report)

    pl = groups.add_parser("plan", help="every stage of a profile with its GPU-hour estimate")
    pl.add_argument("--profile", default="paper", help="profile to plan (default: paper)")
    pl.add_argument("--timing", choices=("cached", "measure", "force", "off"), default="measure",
                    help="step timings: measure (default: time a few steps per kind unless cached for this "
                         "machine), force (time again), cached (only if cached), off (no estimate)")
    pl.add_argument("--json", type=Path, help="also write the plan as JSON")
    pl.set_defaults(func=_plan)
    return p


def _report(a: argparse.Namespace) -> int:
    from srlib import config, report_page

    profile = config.profile_name(a.profile)
    html_path, md_path = report_page.build(profile, plan_timing=a.plan_timing,
                                           log=lambda m: print(m, file=sys.stderr))
    print(f"report: {html_path}\nreport: {md_path}")
    if not a.check_render:
        return 0
    if report_page.find_chromium() is None:
        print("render check skipped: no headless Chromium (apt-get install chromium, or set SRLIB_CHROMIUM)")
        return 0
    res = report_page.render_check(html_path)
    if res.get("ok"):
        print(f"render check: ok in {res['chromium']} ({res['images']} figures loaded, {res['tables']} tables, "
              "every section present)")
        return 0
    print(f"render check FAILED: {json.dumps({k: v for k, v in res.items() if k != 'ok'})}", file=sys.stderr)
    return 1


def _plan(a: argparse.Namespace) -> int:
    from dataclasses import asdict

    from srlib import plan

    p = plan.build_plan(a.profile, timing=a.timing, log=lambda m: print(m, file=sys.stderr))
    print(plan.format_plan(p))
    if a.json:
        from srlib import io

        stages = [{**{k: v for k, v in asdict(s).items() if k != "macs_per_step"},
                   "macs_per_step": None if callable(s.macs_per_step) else s.macs_per_step} for s in p.stages]
        io.write_json(a.json, {"profile": p.profile, "device": p.device, "timing": p.timing,
                               "basis": plan.basis_text(p), "stages": stages,
                               "totals": [{"what": w, "gpu_hours": h, "paper": pr} for w, h, pr in p.totals()]})
    return 0


def _print_phone(res) -> None:
    print(f"average: {res.avg_ms:.3f} ms over {int(res.runs.get('count', 0))} runs "
          f"(init {res.init_us / 1e3 if res.init_us else float('nan'):.1f} ms)")
    for d in res.delegations:
        total = f" out of {d['total']}" if d["total"] is not None else ""
        print(f"delegation: {d['replaced']}{total} nodes -> {d['delegate']}, {d['partitions']} partition(s)")
    if res.fully_delegated is not None:
        print(f"fully delegated: {res.fully_delegated}")
    for u in res.unsupported_ops:
        print(f"not supported by the delegate: {u}")
    if res.op_profile:
        print("per-op profile (regular runs):")
        for r in res.op_profile:
            print(f"  {r['node_type']:>28s}  {r.get('avg_ms', float('nan')):9.3f} ms  {r.get('name', '')}")


def _phone(a: argparse.Namespace) -> int:
    from srlib.latency import phone

    if a.dry_run:
        for cmd in phone.adb_commands(a.model, a.serial, gpu=a.gpu, threads=a.threads,
                                      benchmark_binary=a.benchmark_binary, warmup_runs=a.warmup_runs,
                                      num_runs=a.num_runs, adb=a.adb):
            print(" ".join(shlex.quote(c) for c in cmd))
        return 0
    res, raw = phone.run_on_phone(a.model, a.serial, gpu=a.gpu, threads=a.threads,
                                  benchmark_binary=a.benchmark_binary, warmup_runs=a.warmup_runs,
                                  num_runs=a.num_runs, adb=a.adb, log=lambda m: print(m, file=sys.stderr))
    _print_phone(res)
    if a.json:
        from srlib import io

        io.write_json(a.json, {"result": res.to_dict(), "raw_output": raw, "serial": a.serial, "gpu": a.gpu,
                               "threads": a.threads, "model": str(a.model)})
    return 0


def _parse(a: argparse.Namespace) -> int:
    from srlib.latency import phone

    res = phone.parse_benchmark_output(a.output.read_text())
    _print_phone(res)
    if a.json:
        from srlib import io

        io.write_json(a.json, res.to_dict())
    return 0


def _export(a: argparse.Namespace) -> int:
    from srlib import models
    from srlib.latency import export as ex

    kw = json.loads(a.kw)
    model = models.build(a.model_name, **kw)
    if a.out.suffix == ".tflite":
        r = ex.export_tflite(model, a.out, tuple(a.lr))
    elif a.out.suffix == ".onnx":
        r = ex.export_onnx(model, a.out, tuple(a.lr))
    else:
        raise SystemExit(f"error: {a.out}: the output must end in .tflite or .onnx")
    print(f"{r.path}: {r.format}, input {r.input_shape} ({r.layout}), max |diff| vs PyTorch {r.max_abs_diff:.2e}")
    for rt, ops in r.not_delegated.items():
        if ops:
            print(f"not taken by {rt}: {', '.join(ops)}")
    return 0


def _bench(a: argparse.Namespace) -> int:
    from srlib.latency import bench

    if a.file.suffix == ".tflite":
        r = bench.bench_tflite(a.file, threads=a.threads, xnnpack=not a.no_xnnpack, repeats=a.repeats,
                               warmup=a.warmup)
    elif a.file.suffix == ".onnx":
        r = bench.bench_onnx(a.file, threads=a.threads, repeats=a.repeats, warmup=a.warmup)
    else:
        raise SystemExit(f"error: {a.file}: expected a .tflite or .onnx file")
    print(f"{r.median_ms:.3f} ms median: {r.describe()}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status (errors print a message and return 1)."""
    parser = build_parser()
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    try:
        return int(args.func(args) or 0)
    except (FileNotFoundError, RuntimeError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
