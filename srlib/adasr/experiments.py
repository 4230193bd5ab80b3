"""AdaSR's figures and table as chains of stages and tidy rows (no training here, no plots).

    ablation_stages  {label: stage}: the adaptable model (``progressive``) and its ablations
    ensemble         {(D, W): stage}: the separately trained twin of every sub-model
    published_adaptable  the teacher at its published size and the full Sec. 3.2.1 grid (Fig. 4d-e at the
                     paper's sizes: memory and load/switch times depend on shapes only)
    pareto_rows      Fig. 3: PSNR/SSIM, params and FLOPs (AdaSR Table 1's convention) of every sub-model of
                     the adaptable model, its ablations, its twins and the zoo's efficient models
    make_exports     Fig. 4a-c's exports (sub-models and zoo models) in one worker pool
    latency_rows     Fig. 4a-c: every sub-model's latency on the desktop runtimes (a (D, W) sub-model of CARN
                     *is* CARN with D blocks and W channels: timed by that architecture, weights irrelevant)
    zoo_latency_rows Fig. 4a-c's other models (the zoo's efficient models of Fig. 3), timed the same way
    lut_rows         Fig. 4a-c's lookup-table predictions beside them (LiteRT configurations only)
    table1_rows      Table 1: our adapted models under the paper's names, beside the printed rows
"""
from __future__ import annotations

from typing import Mapping

import pandas as pd

from .. import baselines, data, io, pipeline, report
from ..complexity.conventions import convention, printed_flops, printed_params
from ..latency import bench
from ..metrics.conventions import metric_convention
from ..metrics.evaluate import evaluate_rows
from ..training import runs
from .. import results
from . import stages

PAPER = "adasr"
#: The zoo's efficient models set beside the adaptable sub-models (issue 13 item 5), when the profile has them.
ZOO = ("carn_m", "imdn", "rfdn", "fmen", "tpsr")
#: ``profile.adasr.latency_runtimes`` names -> (runtime, XNNPACK, threads) of srlib.latency.bench.
RUNTIMES = {"litert-xnnpack_t1": ("litert", True, 1), "litert-xnnpack_t2": ("litert", True, 2),
            "onnxruntime_t1": ("onnxruntime", None, 1)}


def ablation_stages(profile, name: str, seed: int = 0) -> dict[str, pipeline.StageResult]:
    out = {"progressive": stages.progressive_kd(profile, name, seed)}
    for a in profile.adasr.ablations:
        if a == "no_maxnorm":
            out[a] = stages.progressive_kd(profile, name, seed, max_norm=False)
        else:
            out[a] = stages.progressive_kd(profile, name, seed, mode=a)
    return out


def options(res: pipeline.StageResult) -> list[tuple[int, int]]:
    return [tuple(o) for o in res.manifest["params"]["options"]]


def ensemble(profile, name: str, seed: int = 0) -> dict[tuple[int, int], pipeline.StageResult]:
    ada = stages.progressive_kd(profile, name, seed)
    return {o: stages.separate_model(profile, name, *o, seed) for o in options(ada)}


def published_adaptable(name: str, seed: int = 0):
    """``(Adaptable, options)``: zoo model ``name`` at its published size (the zoo's defaults, e.g. CARN 3
    blocks x 64 channels) with seeded random weights, and the full Sec. 3.2.1 grid (D = 1..M, W = 8..C by 8;
    24 sizes for CARN). Fig. 4d-e at the sizes the paper states them for: parameter counts, file sizes and
    the times to load a model or switch sizes depend on the shapes, never on trained values, so no training
    is needed (the trained models of a small profile are measured beside them)."""
    import torch

    from ..models import build

    torch.manual_seed(seed)
    ada = stages.wrap(build(name))
    return ada, ada.options()


def _zoo_rows(profile, zoo: str, seed: int) -> list[dict]:
    """A reference model of the zoo through AdaSR's metric and complexity conventions (cached)."""
    res = baselines.reference(profile, zoo, seed)
    params = {"model": [res.name, res.key], "test_sets": list(profile.data.test_sets),
              "eval": profile.to_dict()["eval"], "max_eval_hr": profile.data.max_eval_hr}

    def run(ctx):
        dev = runs.eval_device(profile)
        G = runs.load_model(res, "G").to(dev)
        rows = evaluate_rows(G, data.test_sets(profile), model_name=zoo, paper=PAPER, table="fig3", profile=profile,
                             seed=seed, stage=res.name, convention=metric_convention(PAPER), device=dev,
                             note=f"zoo model at this profile's widths; {runs.train_note(res)}")
        conv = convention(PAPER, "table1")
        common = dict(paper=PAPER, table="fig3", model=zoo, profile=profile.name, seed=seed, stage=res.name)
        G = G.cpu()
        rows.append(results.row(**common, metric="params", value=printed_params(G, conv), unit=conv.params_unit,
                                note=conv.source))
        rows.append(results.row(**common, metric="flops_printed", value=printed_flops(G, conv), unit=conv.flops_unit,
                                note=f"{conv.quantity} at LR {conv.lr_hw}; {conv.source}"))
        io.write_json(ctx.path("rows.json"), rows)
        return {"rows": "rows.json"}

    st = pipeline.stage(f"eval_adasr_zoo_{res.name}", params, run, profile=profile.name, seed=seed,
                        code=[evaluate_rows])
    return io.read_json(st.path("rows.json"))


def pareto_rows(profile, name: str, seed: int = 0, zoo: tuple[str, ...] = ZOO) -> list[dict]:
    """Fig. 3's points: the adaptable model (model ids ``carn_D_W``), each ablation (``carn_D_W_output`` ...),
    each separately trained twin (``carn_D_W_separate``) and the zoo models the profile trains."""
    rows = []
    for label, st in ablation_stages(profile, name, seed).items():
        rows += stages.submodel_rows(profile, st, name, "adaptable" if label == "progressive" else label, seed)
    for st in ensemble(profile, name, seed).values():
        rows += stages.submodel_rows(profile, st, name, "separate", seed)
    for z in zoo:
        if z in profile.baselines.names():
            rows += _zoo_rows(profile, z, seed)
    return rows


def points(rows: list[dict], dataset: str) -> pd.DataFrame:
    """One line per model: psnr, ssim on ``dataset``, params, flops_printed, and its ``system``."""
    df = results.frame(rows)
    q = df[df.dataset == dataset].pivot_table(index="model", columns="metric", values="value")
    c = df[df.dataset == ""].pivot_table(index="model", columns="metric", values="value")
    out = q.join(c, how="inner").reset_index()

    def system(m: str) -> str:
        for k in ("separate", "output", "none", "no_maxnorm"):
            if m.endswith("_" + k):
                return {"separate": "separately trained", "output": "adaptable, output-only KD",
                        "none": "adaptable, no KD", "no_maxnorm": "adaptable, no max-norm"}[k]
        return "zoo" if m in ZOO else "adaptable (progressive KD)"

    out["system"] = out.model.map(system)
    return out


def _exports(profile, entries) -> list[tuple]:
    """The exports (zoo name, build kw, lr_hw, format) that timing ``entries`` on every configuration needs."""
    lat = profile.latency
    return [(z, kw, lat.lr_hw, bench.FORMATS[RUNTIMES[label][0]]) for _, z, kw in entries
            for label in profile.adasr.latency_runtimes]


def _submodel_entries(name: str, teacher_kw: Mapping, opts) -> list[tuple[str, str, dict]]:
    return [(stages.model_id(name, d, w), name, {**dict(teacher_kw), "num_block": d, "num_feat": w}) for d, w in opts]


def _zoo_entries(profile, seed: int, zoo: tuple[str, ...]) -> list[tuple[str, str, dict]]:
    entries = []
    for z in zoo:
        if z not in profile.baselines.names():
            continue
        g = baselines.reference(profile, z, seed).manifest["params"]["models"]["G"]
        entries.append((z, z, dict(g.get("kw", {})) if g["name"] == z else {}))   # released: the published one
    return entries


def make_exports(profile, name: str, teacher_kw: Mapping, opts, seed: int = 0, zoo: tuple[str, ...] = ZOO) -> None:
    """Every export Fig. 4a-c times (the sub-models of :func:`latency_rows`, the zoo models of
    :func:`zoo_latency_rows`) in ONE worker pool (:func:`~srlib.latency.bench.export_pool`, largest first), so
    both cores stay busy to the end; the rows' own pools then find nothing left to convert."""
    bench.export_pool(_exports(profile, _submodel_entries(name, teacher_kw, opts) + _zoo_entries(profile, seed, zoo)),
                      seed=seed, profile=profile.name)


def _timed_rows(profile, entries, seed: int) -> list[dict]:
    """Each ``(model id, zoo name, build kw)`` timed on every configuration of ``adasr.latency_runtimes`` at
    ``latency.lr_hw`` (cached :func:`~srlib.latency.bench.benchmark_stage`s; the exports they need made first
    in a worker pool, :func:`~srlib.latency.bench.export_pool`). Metric ``latency_<configuration>``."""
    lat, rows = profile.latency, []
    confs = [(label, *RUNTIMES[label]) for label in profile.adasr.latency_runtimes]
    bench.export_pool(_exports(profile, entries), seed=seed, profile=profile.name)
    for model_id, z, kw in entries:
        for label, runtime, xnn, threads in confs:
            st = bench.benchmark_stage(z, kw, tuple(lat.lr_hw), runtime=runtime, threads=threads,
                                       xnnpack=bool(xnn), repeats=lat.repeats, warmup=lat.warmup, max_s=lat.max_secs,
                                       profile=profile.name, seed=seed)
            rows += [{**r, "metric": f"latency_{label}"} for r in
                     bench.rows([st["result"]], paper=PAPER, table="fig4", profile=profile.name,
                                model=model_id, stage=st.name)]
    return rows


def latency_rows(profile, name: str, teacher_kw: Mapping, opts, seed: int = 0) -> list[dict]:
    """Fig. 4a-c: each (D, W) timed as the zoo architecture ``name`` with ``num_block=D, num_feat=W`` on every
    configuration of ``adasr.latency_runtimes`` at ``latency.lr_hw`` (cached stages; desktop CPU proxies).
    Metric ``latency_<configuration>``, e.g. ``latency_litert-xnnpack_t1``."""
    return _timed_rows(profile, _submodel_entries(name, teacher_kw, opts), seed)


def zoo_latency_rows(profile, seed: int = 0, zoo: tuple[str, ...] = ZOO) -> list[dict]:
    """Fig. 4a-c's other models: every zoo model of :func:`pareto_rows` (those the profile trains), at the
    architecture it was trained with, timed exactly as the sub-models (:func:`latency_rows`)."""
    return _timed_rows(profile, _zoo_entries(profile, seed, zoo), seed)


def lut_rows(profile, name: str, teacher_kw: Mapping, opts, seed: int = 0) -> list[dict]:
    """Fig. 4a-c's lookup-table predictions: for each configuration of ``adasr.lut_runtimes`` (default every
    LiteRT one of ``adasr.latency_runtimes``), a table of the isolated kernels of every (D, W) sub-model at ``latency.lr_hw`` (:func:`~srlib.latency.
    lut_stages.lut_stage`, sharing the machine's kernel store) and each sub-model's predicted latency, the
    plain sum of its kernels (no calibration: the sub-models' whole-network times never enter the table).
    Metric ``latency_lut_<configuration>``.

    Beside each prediction, metric ``latency_steady_<configuration>``: the same sub-model timed whole *in
    the table's own passes* by the table's statistic (min over samples and passes,
    :func:`~srlib.latency.lut_timing.steady_ms`): the prediction's like-for-like check. The measured rows of
    Fig. 4 (:func:`latency_rows`) are medians of a few back-to-back runs in another sitting; on a shared
    machine they sit well above the minimum (this 2-core EPYC: CARN-3x16 at 128x128, min 60 ms, single runs
    63-88 ms), so the sum's gap to them mixes the table's error with the machine's spread. The whole
    sub-models are the files :func:`latency_rows` exported (``seed``), not converted a second time."""
    from ..latency.lut_stages import load_lut, lut_stage
    from ..latency.networks import as_spec

    lat, rows = profile.latency, []
    hw = tuple(lat.lr_hw)
    specs = {(d, w): (name, {**dict(teacher_kw), "num_block": d, "num_feat": w}) for d, w in opts}
    files = {}
    for spec in specs.values():
        if bench.export_done(*spec, hw, "tflite", seed=seed, profile=profile.name):
            made = bench.export_stage(*spec, hw, "tflite", seed=seed, profile=profile.name, log=lambda _: None)
            files[as_spec(spec)[0]] = made.path(made["file"])
    for label in profile.adasr.lut_configurations():
        runtime, xnn, threads = RUNTIMES[label]
        st = lut_stage(list(specs.values()), hw, name=f"adasr_lut_{label}", threads=threads, xnnpack=bool(xnn),
                       time_networks=True, network_files=files, profile=profile.name)
        table = load_lut(st)
        whole = table.meta.get("networks_ms", {})
        where = (f"{table.meta['runtime_version']}, {table.meta['delegate']}, {threads} thread(s), LR "
                 f"{hw[0]}x{hw[1]}; desktop CPU proxy")
        for (d, w), spec in specs.items():
            common = dict(paper=PAPER, table="fig4", model=stages.model_id(name, d, w), unit="ms",
                          profile=profile.name, stage=st.name)
            rows.append(results.row(
                **common, metric=f"latency_lut_{label}", value=table.predict(spec, hw, calibrated=False),
                note=f"lookup table: sum of {table.meta['n_kernels']}-entry table's isolated kernels, {where}"))
            rows.append(results.row(
                **common, metric=f"latency_steady_{label}", value=whole.get(as_spec(spec)[0]),
                note=f"whole sub-model timed in the lookup table's own passes, min over samples and passes "
                     f"(the table's statistic), {where}"))
    return rows


#: Table 1's adapted models: (paper row, teacher, depth ratio, width ratio) in the paper's naming.
TABLE1 = (("adasr_rcan_1_0.75", "rcan", 1.0, 0.75), ("adasr_carn_0.6_0.5", "carn", 0.6, 0.5),
          ("adasr_fmen_0.75_0.8", "fmen", 0.75, 0.8))
TABLE1_TEACHER = {row: teacher for row, teacher, *_ in TABLE1}   # Table 1's adapted row -> its teacher


def nearest_option(opts, depth_full: int, width_full: int, depth_ratio: float, width_ratio: float):
    """The grid's (D, W) nearest to the paper's ratios (depth rounded, e.g. 0.6 x 3 -> 2)."""
    return min(opts, key=lambda o: (abs(o[0] - depth_ratio * depth_full), abs(o[1] - width_ratio * width_full)))


def table1_sizes(teacher: str, opts, depth_full: int, width_full: int) -> dict[str, tuple[int, int]]:
    """{paper row: (D, W)} of Table 1's adapted models of ``teacher``: the option of ``opts`` nearest each
    row's ratios of the full (depth, width). Pure: the planner calls it before anything is trained."""
    return {row: nearest_option(opts, depth_full, width_full, dr, wr) for row, t, dr, wr in TABLE1 if t == teacher}


def table1_choice(profile, seed: int = 0) -> dict[str, tuple[str, int, int]]:
    """{paper row: (our model id, D, W)} for each Table 1 adapted model whose teacher the profile adapts:
    the grid option nearest the paper's ratios (:func:`table1_sizes`)."""
    out = {}
    for teacher in dict.fromkeys(t for _, t, _, _ in TABLE1):
        if teacher not in profile.adasr.teachers:
            continue
        ada = stages.progressive_kd(profile, teacher, seed)
        desc = stages.wrap(runs.build_spec(ada.manifest["params"]["models"]["S"])).description
        for row, (d, w) in table1_sizes(teacher, options(ada), desc.depth, desc.width).items():
            out[row] = (stages.model_id(teacher, d, w), d, w)
    return {row: out[row] for row, *_ in TABLE1 if row in out}   # the paper's row order


def table1_rows(profile, rows: list[dict], seed: int = 0) -> list[dict]:
    """Our rows of Table 1 (table ``table1``): :func:`table1_choice`'s sub-models under the paper's names;
    the row note says which (D, W)."""
    df = results.frame(rows)
    ours = []
    for paper_row, (mid, d, w) in table1_choice(profile, seed).items():
        for r in df[df.model == mid].to_dict("records"):
            ours.append({**r, "table": "table1", "model": paper_row,
                         "note": f"ours = {mid} (depth {d}, width {w}); {r['note']}"})
    return ours


def compare_table1(ours: pd.DataFrame, profile) -> pd.DataFrame:
    """The printed Table 1 (srlib/reference/adasr.csv) beside ours; at mini/smoke our single test split
    stands where Set5 is printed (the ``our_dataset`` column says so)."""
    dmap = {profile.data.test_sets[0]: "Set5"} if profile.data.source != "paper" else {}
    return report.compare(ours, PAPER, "table1", dataset_map=dmap)
