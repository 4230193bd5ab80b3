"""AGD's comparison as chains of stages and tidy rows (no training here, no plots).

    retrained          AGD-<budget>: the budget's derived network, retrained (stages.search -> stages.retrain)
    comparison_stages  {model id: finished stage with a "G"}: AGD-<budget> (searched + retrained), ESRGAN (the
                       teacher), ESRGAN pruned to AGD's first budget's MACs, SRGAN, VDSR
    rows_in            AGD's rows in another paper's printed table (MFAGAN Table 2, AdaSR Table 1), same stages
    quality_rows       PSNR/SSIM per test set under AGD's metric convention (Y, shave = scale), cached
    complexity_rows    params (M), GFLOPs and model size under AGD's README convention (MACs at 256x256 LR),
                       and the same model under another paper's table convention (MFAGAN Table 2, AdaSR Table 1)
"""
from __future__ import annotations

from .. import baselines, data, io, pipeline, results
from ..complexity.conventions import convention, printed_flops, printed_memory, printed_params
from ..complexity.counters import measure
from ..metrics.conventions import metric_convention
from ..metrics.evaluate import evaluate_rows
from ..training import runs
from . import stages
from .network import AGDGenerator

PAPER = "agd"


def retrained(profile, budget: str, seed: int = 0) -> pipeline.StageResult:
    """AGD-``budget``: the network derived from that budget's search, retrained from scratch (pixel, then
    pixel + content); the finished stage of the last phase."""
    found = stages.search(profile, budget, seed)
    return stages.retrain(profile, found["genotype"], budget, seed)["content"]


def comparison_stages(profile, seed: int = 0) -> dict[str, pipeline.StageResult]:
    a = profile.agd
    out = {f"agd_{b.lower()}": retrained(profile, b, seed) for b in a.budgets}
    first = next(iter(a.budgets))
    target = printed_flops(AGDGenerator(stages.search(profile, first, seed)["genotype"]), convention(PAPER, "readme"))
    out["esrgan"] = stages.teacher(profile, seed)
    out["esrgan_pruned"] = stages.prune_esrgan(profile, target, first, seed)
    if "srgan" in profile.baselines.names():
        out["srgan"] = baselines.reference(profile, "srgan", seed)
    out["vdsr"] = stages.vdsr(profile, seed)
    return out


def quality_rows(profile, model_id: str, res: pipeline.StageResult, table: str, seed: int = 0,
                 paper: str = PAPER) -> list[dict]:
    """PSNR/SSIM of ``res``'s G per test set under ``paper``'s metric convention, as ``paper``/``table`` rows."""
    params = {"model": [res.name, res.key], "table": table, "paper": paper, "model_id": model_id,
              "test_sets": list(profile.data.test_sets), "eval": profile.to_dict()["eval"],
              "max_eval_hr": profile.data.max_eval_hr}

    def run(ctx):
        dev = runs.eval_device(profile)
        rows = evaluate_rows(runs.load_model(res, "G").to(dev), data.test_sets(profile), model_name=model_id,
                             paper=paper, table=table, profile=profile, seed=seed, stage=res.name,
                             convention=metric_convention(paper), device=dev, note=runs.train_note(res))
        io.write_json(ctx.path("rows.json"), rows)
        return {"rows": "rows.json"}

    st = pipeline.stage(f"eval_agd_{paper}_{table}_{res.name}", params, run, profile=profile.name, seed=seed,
                        code=[evaluate_rows])
    return io.read_json(st.path("rows.json"))


def complexity_rows(profile, model_id: str, res: pipeline.StageResult, paper: str = PAPER,
                    table: str = "readme") -> list[dict]:
    """The trained model's own architecture (this profile's widths) under ``paper``/``table``'s counting:
    params in M, ``flops_printed`` as that table prints it, and, for AGD, ``model_size`` (fp32 MB); for
    MFAGAN, ``memory`` too."""
    G = runs.load_model(res, "G").cpu()
    conv = convention(paper, table, model_id if paper == "adasr" else None)
    c = measure(G, conv.lr_hw, bias=conv.bias)
    common = dict(paper=paper, table=table, model=model_id, profile=profile.name, stage=res.name)
    note = f"this profile's architecture; {conv.source}"
    rows = [results.row(**common, metric="params", value=c.params_all / 1e6, unit="M", note=note),
            results.row(**common, metric="flops_printed", value=printed_flops(c, conv), unit=conv.flops_unit, note=note)]
    if paper == PAPER:
        rows.append(results.row(**common, metric="model_size", value=printed_params(c, conv), unit="MB", note=note))
    if paper == "mfagan":
        rows.append(results.row(**common, metric="memory", value=printed_memory(c, conv), unit="G", note=note))
    return rows


#: Where other papers print AGD: (paper, table) -> how our budgets fill it. MFAGAN Table 2 has one AGD row
#: (our first budget's network stands in it); AdaSR Table 1 has AGD-L and AGD-M (one budget each).
OTHER_TABLES = {("mfagan", "table2"): "first", ("adasr", "table1"): "each"}


def rows_in(profile, paper: str, table: str, seed: int = 0) -> list[dict]:
    """AGD's rows of ``paper``'s ``table`` (a key of :data:`OTHER_TABLES`) from the same retrained stages as
    notebook 51: PSNR/SSIM under that paper's metric convention and params/FLOPs (and MFAGAN's memory) under
    its counting, on *this profile's* searched widths. Model ids: ``agd`` in MFAGAN Table 2 (the row note
    names the budget), ``agd_<budget>`` in AdaSR Table 1."""
    if (paper, table) not in OTHER_TABLES:
        raise KeyError(f"AGD has no row in {paper} {table}; known: {sorted(OTHER_TABLES)}")
    budgets = list(profile.agd.budgets)
    if OTHER_TABLES[paper, table] == "first":
        chosen = {"agd": budgets[0]}
    else:
        chosen = {f"agd_{b.lower()}": b for b in budgets}
    rows = []
    for mid, b in chosen.items():
        res = retrained(profile, b, seed)
        note = f"ours = AGD-{b} (our search at this profile's budget {b}, retrained)"
        for r in quality_rows(profile, mid, res, table, seed, paper=paper) + \
                complexity_rows(profile, mid, res, paper, table):
            rows.append({**r, "note": f"{note}; {r['note']}" if r.get("note") else note})
    return rows
