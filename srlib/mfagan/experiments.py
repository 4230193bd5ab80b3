"""MFAGAN's tables and figures, assembled from the cached stages (what the notebooks call).

- :func:`table1` — the ablation: Baseline (ESRGAN), MFAGAN.L, distil G+D, distil G only, NAS alone,
  distil + NAS; every column a stage chain of srlib/mfagan/stages.py and nas.py.
- :func:`table2` — SRGAN, EnhanceNet, ESRGAN and MFAGAN (= Table 1's 5th column); AGD pending its issue.
- :func:`fig6` — MFAGAN.L trained with the PatchGAN vs ESRGAN's discriminator, validation PSNR logs.
- :func:`training_rows` — every MFAGAN training stage of one seed beside bicubic (PSNR on the validation
  and test splits, iterations, seconds, precision): the L1 pre-trainings, then each GAN stage, so a reader
  sees what the adversarial stage did (``tables/training_mfagan.csv``).
- :func:`quality_rows` / :func:`complexity_rows` — tidy rows: quality on the profile's test sets,
  complexity on the *full paper architecture* (searched width patterns mapped to the paper's widths).
"""
from __future__ import annotations

from typing import Callable, Sequence

from .. import baselines, config, data, io, pipeline, results
from ..complexity.conventions import convention, printed_flops, printed_memory, printed_params
from ..complexity.counters import measure
from ..metrics.conventions import metric_convention
from ..metrics.evaluate import evaluate_rows
from ..models import build
from ..training import loop
from ..training.runs import eval_device, load_model
from . import nas, stages

PAPER = "mfagan"
METRICS = metric_convention(PAPER)      # PSNR on Y; LPIPS v0.1 AlexNet on Y x 3 (srlib.metrics.conventions)
LPIPS = METRICS.lpips_metric            # "lpips_alex_y3"
TABLE1 = ("esrgan", "mfagan_l_g64_d48", "mfagan_distill_gd_g48_d32", "mfagan_distill_g_g48_d48",
          "mfagan_nas_g32_d48", "mfagan_distill_nas_g32_d32")
# our extra rows (no printed counterpart): columns 4-5 searched but not yet fine-tuned
TABLE1_BEFORE_FT = ("mfagan_nas_g32_d48_before_ft", "mfagan_distill_nas_g32_d32_before_ft")


def cost_model(profile):
    """The search constraint's cost model (:func:`srlib.mfagan.nas.cost_model`)."""
    return nas.cost_model(profile)


def search_chain(profile, seed: int, init: pipeline.StageResult, d_from: pipeline.StageResult, tag: str,
                 cost: tuple[Callable, str, dict]) -> dict[str, pipeline.StageResult]:
    """SuperGenerator -> evolutionary search -> SubGenerator -> fine-tune (Sec. 3.6, Sec. 4.1 stages 3-4)."""
    cost_fn, cost_name, cost_key = cost
    sgen = nas.supergenerator(profile, seed, init, tag)
    found = nas.search(profile, seed, sgen, cost_fn, cost_name, cost_key)
    sub = nas.subgenerator_stage(profile, sgen, found)
    ft = nas.finetune(profile, seed, sub, d_from, tag)
    return {"supergenerator": sgen, "search": found, "subgenerator": sub, "finetune": ft}


def table1(profile, seed: int, cost: tuple[Callable, str, dict]) -> dict[str, pipeline.StageResult]:
    """Every Table 1 column's final generator stage (plus the search stages, keyed 'search_<tag>')."""
    out = {"esrgan": baselines.reference(profile, "esrgan", seed)}
    out["mfagan_l_g64_d48"] = ml = stages.mfagan_l(profile, seed)
    out["mfagan_distill_gd_g48_d32"] = gd = stages.distill(profile, seed, distill_d=True)
    out["mfagan_distill_g_g48_d48"] = stages.distill(profile, seed, distill_d=False)
    nas_only = search_chain(profile, seed, ml, ml, "nas", cost)
    both = search_chain(profile, seed, gd, gd, "distill_nas", cost)
    out["mfagan_nas_g32_d48"] = nas_only["finetune"]
    out["mfagan_distill_nas_g32_d32"] = both["finetune"]
    out["search_nas"], out["search_distill_nas"] = nas_only["search"], both["search"]
    # columns 4-5 before their fine-tune: the searched SubGenerator as extracted from the SuperGenerator
    out["mfagan_nas_g32_d48_before_ft"] = nas_only["subgenerator"]
    out["mfagan_distill_nas_g32_d32_before_ft"] = both["subgenerator"]
    return out


def training_rows(profile, seed: int, t1: dict[str, pipeline.StageResult]) -> list[dict]:
    """Rows of ``training_mfagan``: the teacher's and student's L1 pre-training, MFAGAN.L and the two
    distillations (GAN stages started from them), the SuperGenerators and the fine-tunes of columns 4-5."""
    from ..training import summary

    m = profile.mfagan
    kw = dict(table="training_mfagan", seed=seed, paper=PAPER)
    rows = []
    for w in sorted({m.teacher_g, m.student_g}, reverse=True):
        rows += summary.stage_rows(profile, f"mfanet_g{w}", stages.pretrain(profile, w, seed),
                                   what="L1 pre-training", **kw)
    for mid in ("mfagan_l_g64_d48", "mfagan_distill_gd_g48_d32", "mfagan_distill_g_g48_d48"):
        rows += summary.stage_rows(profile, mid, t1[mid], what="GAN stage (Eq. 1, from the pre-training)", **kw)
    for mid in ("mfagan_nas_g32_d48", "mfagan_distill_nas_g32_d32"):
        rows += summary.stage_rows(profile, mid, t1[mid], what="fine-tune of the searched SubGenerator", **kw)
    return rows


def table2(profile, seed: int, t1: dict[str, pipeline.StageResult]) -> dict[str, pipeline.StageResult]:
    return {"srgan": baselines.reference(profile, "srgan", seed),
            "enhancenet": baselines.reference(profile, "enhancenet", seed),
            "esrgan": t1["esrgan"], "mfagan": t1["mfagan_distill_nas_g32_d32"]}


def fig6(profile) -> dict[tuple[str, int], pipeline.StageResult]:
    """MFAGAN.L with each discriminator, for every seed of ``mfagan.fig6_seeds``. Every run starts from the
    L1 pre-training of the first seed: the figure compares discriminators, so the seeds vary the GAN stage
    (its D's initialisation and its batches) and not the generator it starts from (assumption; the paper
    does not say)."""
    m = profile.mfagan
    pre = m.fig6_seeds[0]
    return {(disc, s): stages.mfagan_l(profile, s, disc=disc, iters=m.fig6_iters, pretrain_seed=pre)
            for disc in ("patchgan", "esrgan") for s in m.fig6_seeds}


def fig6_curves(runs: dict) -> "pd.DataFrame":
    import pandas as pd

    frames = []
    for (disc, s), res in runs.items():
        df = loop.read_metrics(res.dir)
        if "val_psnr" in df:
            frames.append(df[["step", "val_psnr"]].dropna().assign(discriminator=disc, seed=s))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["step", "val_psnr", "discriminator", "seed"])


# ------------------------------------------------------------------------------------------------------
# Rows
# ------------------------------------------------------------------------------------------------------
def quality_rows(profile, model_id: str, res: pipeline.StageResult, table: str, seed: int) -> list[dict]:
    """PSNR/SSIM/LPIPS of a trained generator on the profile's test sets (a cached stage)."""
    params = {"model": [res.name, res.key], "test_sets": list(profile.data.test_sets), "metrics": METRICS.__dict__,
              "eval": profile.to_dict()["eval"], "max_eval_hr": profile.data.max_eval_hr, "table": table,
              "model_id": model_id}

    def run(ctx):
        dev = eval_device(profile)
        rows = evaluate_rows(load_model(res, "G").to(dev), data.test_sets(profile), model_name=model_id,
                             paper=PAPER, table=table, profile=profile, seed=seed, stage=res.name,
                             note=trained_as(profile, res), convention=METRICS, device=dev)
        io.write_json(ctx.path("rows.json"), rows)
        return {"rows": "rows.json"}

    ev = pipeline.stage(f"eval_{table}_{res.name}", params, run, profile=profile.name, seed=seed,
                        code=[evaluate_rows, trained_as])
    return io.read_json(ev.path("rows.json"))


def _arch(spec: dict) -> str:
    kw = ", ".join(f"{k}={v}" for k, v in sorted(spec.get("kw", {}).items()) if k != "input_size")
    return f"{spec['name']}({kw})"


def trained_as(profile, res: pipeline.StageResult) -> str:
    """What was actually trained (the table's model ids keep the paper's labels, e.g. G64/D48, while
    mini/smoke shrink the widths and schedules): architectures, iterations and the perceptual term."""
    p = res.manifest["params"]
    if "checkpoint" in p:  # a reference model from the authors' released weights (srlib.baselines.released)
        return f"the authors' released weights, not trained here: {p['source']} (sha256 {p['sha256'][:12]})"
    models = p["models"]
    if "supergenerator" in p:  # a SubGenerator extracted from the SuperGenerator, before its fine-tune
        return (f"trained at {profile.name}: G={_arch(models['G'])} extracted from {p['supergenerator'][0]} "
                f"(searched by {p['search'][0]}); not fine-tuned")
    percep = p.get("perceptual", "")
    percep = ("perceptual term: pixel-space stand-in (VGG19 ImageNet weights unavailable)"
              if percep.startswith("stand-in") else f"perceptual: {percep}" if percep else "")
    parts = [f"trained at {profile.name}: G={_arch(models['G'])}"
             + (f", D={_arch(models['D'])}" if "D" in models else ""),
             f"{p['total']} iterations in this stage ({res.name}), batch {p['batch_size']}", percep]
    return "; ".join(x for x in parts if x)


def paper_arch(profile, res: pipeline.StageResult) -> tuple[str, dict, str]:
    """The full paper architecture behind a trained model of this profile (for complexity columns)."""
    spec = res.manifest["params"]["models"]["G"]
    name, kw = spec["name"], dict(spec.get("kw", {}))
    if name == "released":
        from ..weights import released

        return released.spec(kw["checkpoint"]).model, {}, "full paper architecture (released weights)"
    if name != "mfanet":
        return name, {}, "full paper architecture"
    paper = config.load("paper").mfagan
    factor = paper.student_g / profile.mfagan.student_g
    if "widths" in kw:
        widths = [int(round(w * factor)) for w in kw["widths"]]
        return "mfanet", {"widths": widths}, (f"searched widths {kw['widths']} mapped x{factor:g} to the paper's "
                                              f"width space: {widths}" if factor != 1 else f"widths {widths}")
    width = int(round(kw["num_feat"] * factor))
    return "mfanet", {"num_feat": width}, f"MFANet-{width}"


def complexity_rows(profile, model_id: str, res: pipeline.StageResult, table: str) -> list[dict]:
    """Memory / params / FLOPs under MFAGAN's convention, on the full paper architecture."""
    name, kw, how = paper_arch(profile, res)
    conv = convention(PAPER, table)
    c = measure(build(name, **kw), conv.lr_hw, bias=conv.bias)
    note = f"{how}; MFAGAN convention (MACs / memory at 128x128 LR, {conv.memory_definition})"
    return [results.row(paper=PAPER, table=table, model=model_id, metric=m, value=v, unit=u,
                        profile=profile.name, stage=res.name, note=note)
            for m, v, u in (("memory", printed_memory(c, conv), "G"), ("params", printed_params(c, conv), "M"),
                            ("flops_printed", printed_flops(c, conv), "G"))]
