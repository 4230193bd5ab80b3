"""Real-phone latency: LiteRT's ``benchmark_model`` binary pushed and run over adb, and its output parsed.

The standard on-device measurement of TFLite/LiteRT models (shared/notes/latency.md)::

    adb -s SERIAL push benchmark_model /data/local/tmp/benchmark_model
    adb -s SERIAL shell chmod +x /data/local/tmp/benchmark_model
    adb -s SERIAL push model.tflite /data/local/tmp/model.tflite
    adb -s SERIAL shell /data/local/tmp/benchmark_model --graph=/data/local/tmp/model.tflite \\
        --num_threads=1 --warmup_runs=10 --num_runs=50 --enable_op_profiling=true \\
        [--use_gpu=true --gpu_precision_loss_allowed=true]

:func:`adb_commands` builds these invocations (a pure function: tested without a phone);
:func:`run_on_phone` runs them with :mod:`subprocess`; :func:`parse_benchmark_output` reads the tool's
output: the average ("Inference timings in us: ... Inference (avg): ..."), the per-op profile tables
(``--enable_op_profiling``), and "Replacing N out of M node(s) with delegate (...)", which says whether
the GPU delegate took the whole graph (a GPU number with CPU fallbacks is not a GPU number). Parsing
accepts plain output, ``INFO:`` / ``VERBOSE:`` prefixes and Android logcat prefixes.

Assumption: the binary is the classic TFLite/LiteRT interpreter ``benchmark_model`` (flags above, as in
shared/notes/latency.md). LiteRT's newer CompiledModel ``benchmark_model`` names its op profiler
``--use_profiler``; its output keeps the "Inference timings" and delegate lines parsed here.

These are the only numbers of the suite measured on a phone; label them with the phone, CPU or GPU and
the thread count. The MFAGAN/TPSR/AdaSR papers' latency claims are about phones: a desktop number
(:mod:`srlib.latency.bench`) is a proxy, this is the real thing.
"""
from __future__ import annotations

import re
import shlex
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

__all__ = ["DEVICE_DIR", "adb_commands", "benchmark_flags", "parse_benchmark_output", "PhoneResult",
           "run_on_phone", "rows", "BenchmarkOutputError"]

DEVICE_DIR = "/data/local/tmp"


class BenchmarkOutputError(ValueError):
    """benchmark_model's output holds no inference timings (the run failed); the message quotes it."""


# ------------------------------------------------------------------------------------------------------
# Commands
# ------------------------------------------------------------------------------------------------------
def benchmark_flags(graph: str, *, gpu: bool = False, threads: int = 1, warmup_runs: int = 10,
                    num_runs: int = 50, op_profiling: bool = True) -> list[str]:
    """benchmark_model's flags (shared/notes/latency.md)."""
    if threads < 1 or warmup_runs < 0 or num_runs < 1:
        raise ValueError(f"threads >= 1, warmup_runs >= 0 and num_runs >= 1 needed, got {threads}, "
                         f"{warmup_runs}, {num_runs}")
    flags = [f"--graph={graph}", f"--num_threads={int(threads)}", f"--warmup_runs={int(warmup_runs)}",
             f"--num_runs={int(num_runs)}", f"--enable_op_profiling={'true' if op_profiling else 'false'}"]
    if gpu:
        flags += ["--use_gpu=true", "--gpu_precision_loss_allowed=true"]
    return flags


def adb_commands(model: str | Path, serial: str, *, gpu: bool = False, threads: int = 1,
                 benchmark_binary: str | Path = "benchmark_model", warmup_runs: int = 10, num_runs: int = 50,
                 op_profiling: bool = True, adb: str = "adb", device_dir: str = DEVICE_DIR,
                 push_binary: bool = True) -> list[list[str]]:
    """The adb invocations, in order: push the binary (+ chmod), push the model, run the benchmark.

    Each is an argv list for :func:`subprocess.run`. The device-side command of ``adb shell`` is quoted
    with :func:`shlex.quote` (adb hands it to the phone's shell)."""
    if not serial:
        raise ValueError("a device serial is needed (see `adb devices`)")
    model_name = Path(model).name
    bin_name = Path(benchmark_binary).name
    dev_model = f"{device_dir}/{model_name}"
    dev_bin = f"{device_dir}/{bin_name}"
    base = [adb, "-s", serial]
    cmds = []
    if push_binary:
        cmds.append(base + ["push", str(benchmark_binary), dev_bin])
        cmds.append(base + ["shell", "chmod", "+x", shlex.quote(dev_bin)])
    cmds.append(base + ["push", str(model), dev_model])
    run = [dev_bin] + benchmark_flags(dev_model, gpu=gpu, threads=threads, warmup_runs=warmup_runs,
                                      num_runs=num_runs, op_profiling=op_profiling)
    cmds.append(base + ["shell"] + [shlex.quote(a) for a in run])
    return cmds


# ------------------------------------------------------------------------------------------------------
# Parsing
# ------------------------------------------------------------------------------------------------------
@dataclass
class PhoneResult:
    """What one benchmark_model run printed. Times in microseconds unless the name says ms."""
    avg_us: float
    init_us: float | None = None
    first_us: float | None = None
    warmup_avg_us: float | None = None
    runs: dict[str, float] = field(default_factory=dict)          # count, min, max, avg, std (+ median...)
    delegations: list[dict[str, Any]] = field(default_factory=list)  # delegate, replaced, total, partitions
    unsupported_ops: list[str] = field(default_factory=list)       # "OP: reason" lines of the GPU delegate
    fully_delegated: bool | None = None
    op_profile: list[dict[str, Any]] = field(default_factory=list)  # Run Order rows of the regular runs
    op_summary: list[dict[str, Any]] = field(default_factory=list)  # Summary by node type
    nodes_executed: int | None = None
    peak_memory_mb: float | None = None
    settings: dict[str, str] = field(default_factory=dict)         # the "Name: [value]" lines

    @property
    def avg_ms(self) -> float:
        return self.avg_us / 1e3

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["avg_ms"] = self.avg_ms
        return d

    def delegation(self, contains: str | None = None) -> dict[str, Any] | None:
        """The last delegation line, or the last whose delegate name contains ``contains``."""
        hits = [d for d in self.delegations if contains is None or contains.lower() in d["delegate"].lower()]
        return hits[-1] if hits else None


_LOGCAT = re.compile(r"^\d\d-\d\d \d\d:\d\d:\d\d\.\d+\s+\d+\s+\d+\s+[VDIWEF]\s+[^:]*?:\s?")
_LEVEL = re.compile(r"^(?:INFO|VERBOSE|WARNING|ERROR|DEBUG): ")
_NUM = r"(-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)"


def _clean(line: str) -> str:
    line = _LOGCAT.sub("", line.rstrip("\r\n"))
    line = re.sub(r"^[A-Z]/\w+\s*(?:\(\s*\d+\))?:\s?", "", line)  # "I/tflite: " / "I/tflite( 123): "
    return _LEVEL.sub("", line)


def _kv_numbers(line: str) -> dict[str, float]:
    return {k: float(v) for k, v in re.findall(r"(\w+)=" + _NUM, line)}


def _table(lines: list[str], start: int) -> tuple[list[str], list[list[str]], int]:
    """Header names and raw rows of the table whose ``====`` title is at ``start``."""
    i = start + 1
    while i < len(lines) and not lines[i].strip():
        i += 1
    if i >= len(lines) or "[" not in lines[i]:
        return [], [], i
    header = re.findall(r"\[([^\]]+)\]", lines[i])
    rows = []
    i += 1
    while i < len(lines):
        s = lines[i].strip()
        if not s or s.startswith("====") or s.startswith("Number of nodes") or s.startswith("Timings"):
            break
        rows.append(lines[i])
        i += 1
    return header, rows, i


_COLUMN_KEYS = {"start": "start_ms", "first": "first_ms", "avg ms": "avg_ms", "%": "pct", "cdf%": "cdf_pct",
                "mem kb": "mem_kb", "times called": "times_called", "count": "count", "avg %": "pct",
                "cdf %": "cdf_pct"}


def _is_num(tok: str) -> bool:
    return re.fullmatch(r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?%?", tok) is not None


def _parse_run_order(header: list[str], raw: list[str]) -> list[dict[str, Any]]:
    """Rows of a profile table: a node type (may hold spaces, e.g. XNNPACK's "Convolution (NHWC, F32)
    IGEMM"), the numeric columns the header names, then the node name (if the header has [Name])."""
    cols = [h.strip().lower() for h in header]
    has_name = bool(cols) and cols[-1] == "name"
    numeric = cols[1:-1] if has_name else cols[1:]
    n = len(numeric)
    out = []
    for line in raw:
        toks = line.split("\t") if "\t" in line.strip() else line.split()
        toks = [t.strip() for t in toks if t.strip()]
        start = next((i for i in range(1, len(toks) - n + 1) if all(_is_num(t) for t in toks[i:i + n])), None)
        if start is None:
            continue
        row: dict[str, Any] = {"node_type": " ".join(toks[:start])}
        for c, t in zip(numeric, toks[start:start + n]):
            key = _COLUMN_KEYS.get(c, c.replace(" ", "_"))
            v = float(t.rstrip("%"))
            row[key] = int(v) if key in ("times_called", "count") else v
        if has_name:
            row["name"] = " ".join(toks[start + n:])
        out.append(row)
    return out


def parse_benchmark_output(text: str) -> PhoneResult:
    """Parse benchmark_model's stdout+stderr (see module doc). Raises :class:`BenchmarkOutputError`
    when there is no "Inference timings in us" line, quoting the output's error lines."""
    lines = [_clean(l) for l in text.splitlines()]
    timings: dict[str, float] = {}
    runs_lines: list[dict[str, float]] = []
    delegations: list[dict[str, Any]] = []
    unsupported: list[str] = []
    settings: dict[str, str] = {}
    peak = None
    fully = None
    in_unsupported = False
    for line in lines:
        s = line.strip()
        m = re.match(r"Inference timings in us: (.*)", s)
        if m:
            for part in m.group(1).split(","):
                k, _, v = part.partition(":")
                try:
                    timings[k.strip()] = float(v.strip())
                except ValueError:
                    pass
            continue
        if re.match(r"count=\d+", s):
            runs_lines.append(_kv_numbers(s))
            continue
        m = re.search(r"Replacing (\d+)(?: out of (\d+))? node\(s\) with delegate \(([^)]+)\) node, yielding (\d+) "
                      r"partitions?", s)
        if m:
            delegations.append({"delegate": m.group(3), "replaced": int(m.group(1)),
                                "total": int(m.group(2)) if m.group(2) else None, "partitions": int(m.group(4))})
            continue
        if "Following operations are not supported by" in s:
            in_unsupported = True
            continue
        if in_unsupported:
            m = re.match(r"([A-Z][A-Z0-9_]*(?: [A-Za-z0-9_]+)?): (.*)", s)
            if m:
                unsupported.append(f"{m.group(1)}: {m.group(2)}")
                continue
            in_unsupported = False
        if "will be completely executed by the delegate" in s:
            fully = True
        elif "will be partially executed by the delegate" in s or "will not be executed by the delegate" in s:
            fully = False
        m = re.search(r"(?:Peak memory footprint|Overall peak memory footprint).*?: " + _NUM, s)
        if m:
            peak = float(m.group(1))
        m = re.search(r"overall=" + _NUM, s)
        if m and "memory" in s.lower() and peak is None:
            peak = float(m.group(1))
        m = re.match(r"([A-Za-z#][^:\[]*): \[(.*)\]$", s)
        if m:
            settings[m.group(1).strip()] = m.group(2)
    if "Inference (avg)" not in timings:
        errs = [l for l in lines if re.search(r"error|fail|cannot|could not|unable|not found|abort", l, re.I)]
        quote = "\n".join(errs[-8:]) or "\n".join(l for l in lines if l.strip())[-800:]
        raise BenchmarkOutputError(f"benchmark_model printed no 'Inference timings in us' line:\n{quote}")

    # op-profiling tables: prefer the section of the regular (timed) runs
    start = next((i for i, l in enumerate(lines) if "Profiling Info for Regular Benchmark Runs" in l), None)
    region = range(start, len(lines)) if start is not None else range(len(lines))
    op_profile: list[dict[str, Any]] = []
    op_summary: list[dict[str, Any]] = []
    nodes = None
    in_init = False
    for i in region:
        s = lines[i].strip()
        if "Profiling Info for Benchmark Initialization" in s:
            in_init = True
        elif "Profiling Info for" in s:
            in_init = False
        if in_init:
            continue
        if re.match(r"=+ Run Order =+", s) and not op_profile:
            header, raw, _ = _table(lines, i)
            op_profile = _parse_run_order(header, raw)
        elif re.match(r"=+ Summary by node type =+", s) and not op_summary:
            header, raw, _ = _table(lines, i)
            op_summary = _parse_run_order(header, raw)
        m = re.match(r"Number of nodes executed: (\d+)", s)
        if m and nodes is None:
            nodes = int(m.group(1))
    if fully is None and delegations:
        d = delegations[-1]
        if d["total"] is not None:
            fully = d["replaced"] == d["total"] and d["partitions"] == 1
    runs = runs_lines[-1] if runs_lines else {}
    if len(runs_lines) >= 2:
        runs = runs_lines[1]  # [0] = warm-up runs, [1] = regular runs, later ones = profiling summaries
    return PhoneResult(avg_us=timings["Inference (avg)"], init_us=timings.get("Init"),
                       first_us=timings.get("First inference"), warmup_avg_us=timings.get("Warmup (avg)"),
                       runs=runs, delegations=delegations, unsupported_ops=unsupported, fully_delegated=fully,
                       op_profile=op_profile, op_summary=op_summary, nodes_executed=nodes, peak_memory_mb=peak,
                       settings=settings)


# ------------------------------------------------------------------------------------------------------
# Running
# ------------------------------------------------------------------------------------------------------
def run_on_phone(model: str | Path, serial: str, *, gpu: bool = False, threads: int = 1,
                 benchmark_binary: str | Path = "benchmark_model", warmup_runs: int = 10, num_runs: int = 50,
                 adb: str = "adb", runner: Callable[..., subprocess.CompletedProcess] = subprocess.run,
                 timeout: float = 600.0, log: Callable[[str], None] = print) -> tuple[PhoneResult, str]:
    """Push and run; returns the parsed result and the raw output. A failing adb step raises
    ``RuntimeError`` with its output."""
    model = Path(model)
    if not model.is_file():
        raise FileNotFoundError(f"model not found: {model}")
    if not Path(benchmark_binary).is_file():
        raise FileNotFoundError(
            f"benchmark binary not found: {benchmark_binary}. Get TFLite/LiteRT's Android benchmark_model for "
            f"the phone's ABI (prebuilt binaries are linked from the LiteRT 'performance measurement' / "
            f"'benchmark' docs, or build //tensorflow/lite/tools/benchmark:benchmark_model with "
            f"--config=android_arm64) and pass --benchmark-binary PATH")
    out = ""
    for cmd in adb_commands(model, serial, gpu=gpu, threads=threads, benchmark_binary=benchmark_binary,
                            warmup_runs=warmup_runs, num_runs=num_runs, adb=adb):
        log("$ " + " ".join(shlex.quote(c) for c in cmd))
        p = runner(cmd, capture_output=True, text=True, timeout=timeout)
        out = (p.stdout or "") + (p.stderr or "")
        if p.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed with exit code {p.returncode}:\n{out[-2000:]}")
    return parse_benchmark_output(out), out


def rows(res: PhoneResult, *, paper: str, table: str, model: str, profile: str, phone: str, gpu: bool,
         threads: int, stage: str = "") -> list[dict[str, Any]]:
    """One tidy row: metric ``latency``, unit ``ms``, the average; the note names phone, unit, threads and
    the delegation (a GPU run that was not fully delegated says so)."""
    from srlib import results

    where = "GPU delegate" if gpu else f"CPU, {threads} thread(s)"
    d = res.delegation("gpu") if gpu else res.delegation()
    deleg = ""
    if d:
        total = f" out of {d['total']}" if d["total"] is not None else ""
        deleg = f"; {d['replaced']}{total} nodes to {d['delegate']} in {d['partitions']} partition(s)"
    if gpu and res.fully_delegated is False:
        deleg += "; NOT fully delegated (CPU fallback)"
    n = int(res.runs.get("count", 0))
    note = (f"LiteRT benchmark_model on phone {phone} ({where}), average of {n} runs{deleg}; "
            f"measured on the phone")
    return [results.row(paper=paper, table=table, model=model, metric="latency", value=res.avg_ms, unit="ms",
                        profile=profile, stage=stage, note=note)]
