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
- :func:`fig5` — Fig. 5's labelled bubble chart, as notebooks 01, 11 and 51 draw it.
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


# ---- Fig. 5: the labelled bubble chart (notebooks 01, 11 and 51 draw it) -----------------------------------
_ANGLES = (0, 180, 90, 270, 45, 135, 315, 225, 22.5, 157.5, 67.5, 112.5, 337.5, 202.5, 292.5, 247.5)
_GAPS_PT = (2, 5, 9, 14, 20, 28, 38, 50, 65, 85, 110, 140)   # label distances from a bubble's edge, points


def fig5(ax, x, y, size, labels: Sequence[str], *, sizes: tuple[float, float] = (40.0, 1200.0),
         xscale: str = "log", yscale: str = "linear", fontsize: float = 9, pad_pt: float = 4.0):
    """Fig. 5's bubble chart on ``ax``: bubble area (points^2) linear in ``size`` from ``sizes[0]`` to
    ``sizes[1]``; axis limits padded so every bubble lies inside the axes; log axes with plain tick labels
    (no minor labels; colliding tick labels thinned); each label beside its bubble, covering no bubble and
    no other label, at most half as far from its own bubble as from any other: the first such spot in a
    fixed order of distances and directions, with a thin leader line when not adjacent. Where there is
    none, a bubble at the edge of the axes gets room (the limits widen by its label's size and the
    placement starts again, at most three times); one inside a cluster gets the free spot nearest to it,
    with a leader line. Set titles and axis labels afterwards, never limits or scales. Returns the
    scatter's PathCollection."""
    import matplotlib.ticker as mt
    import numpy as np

    x, y, v = (np.asarray(a, dtype=float) for a in (x, y, size))
    labels = [str(s) for s in labels]
    if not (len(x) == len(y) == len(v) == len(labels)) or len(x) == 0:
        raise ValueError("fig5 needs one x, y, size and label per bubble (at least one)")
    lo, hi = float(np.min(v)), float(np.max(v))
    area = (np.full(len(v), (sizes[0] + sizes[1]) / 2) if hi <= lo
            else sizes[0] + (v - lo) / (hi - lo) * (sizes[1] - sizes[0]))
    coll = ax.scatter(x, y, s=area, color="C0", alpha=0.5, edgecolor="white", linewidth=0.5, zorder=2)
    ax.set_xscale(xscale)
    ax.set_yscale(yscale)
    fig = ax.figure
    px = fig.dpi / 72.0
    radius = (np.sqrt(area) / 2 + 0.5) * px                     # display pixels, edge line included
    texts = [ax.text(xi, yi, s, fontsize=fontsize, ha="center", va="center", zorder=3)
             for xi, yi, s in zip(x, y, labels)]
    reach = [radius + pad_pt * px, radius + pad_pt * px]         # per point, along x and along y
    for attempt in range(4):
        _fit_limits(ax, x, y, *reach)
        for axis, scale in ((ax.xaxis, xscale), (ax.yaxis, yscale)):
            if scale == "log":
                _plain_log_ticks(axis)
            else:
                axis.set_major_locator(mt.AutoLocator())
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        for axis in (ax.xaxis, ax.yaxis):
            _thin_tick_labels(axis, renderer)
        crowded, leaders = _place_labels(ax, x, y, radius, texts, renderer)
        centres = ax.transData.transform(np.column_stack([x, y]))
        frame = ax.get_window_extent(renderer)
        at_edge = [i for i in crowded if min(centres[i, 0] - reach[0][i] - frame.x0, frame.x1 - centres[i, 0] - reach[0][i],
                                             centres[i, 1] - reach[1][i] - frame.y0, frame.y1 - centres[i, 1] - reach[1][i]) < px]
        if not at_edge or attempt == 3:
            break
        for line in leaders:
            line.remove()
        for i in at_edge:   # room for the label beyond the bubble, on both sides of each axis
            box = texts[i].get_window_extent(renderer)
            reach[0][i] += box.width + _GAPS_PT[0] * px
            reach[1][i] += box.height + _GAPS_PT[0] * px
    return coll


def _fit_limits(ax, x, y, reach_x, reach_y) -> None:
    """Limits that keep every point's reach (display pixels) inside the axes, found per axis as the
    fixed point of: data-per-pixel = (max(t + r u) - min(t - r u)) / axis length (t in the scale's space)."""
    import numpy as np

    box = ax.get_window_extent()
    for vals, reach, length, axis_scale, set_lim in ((x, reach_x, box.width, ax.get_xscale(), ax.set_xlim),
                                                      (y, reach_y, box.height, ax.get_yscale(), ax.set_ylim)):
        if 2 * reach.max() >= 0.9 * length:
            raise ValueError("the bubbles and labels are too large for these axes: enlarge the figure or "
                             "shrink sizes / fontsize")
        log = axis_scale == "log"
        t = np.log10(vals) if log else vals
        min_span = 0.2 if log else max(0.1 * float(np.abs(t).max()), 1e-9)
        u = max(float(t.max() - t.min()), min_span) / length
        for _ in range(200):
            lo, hi = float(np.min(t - reach * u)), float(np.max(t + reach * u))
            if hi - lo < min_span:
                mid = (lo + hi) / 2
                lo, hi = mid - min_span / 2, mid + min_span / 2
            new = (hi - lo) / length
            if abs(new - u) <= 1e-12 * new:
                break
            u = new
        set_lim((10 ** lo, 10 ** hi) if log else (lo, hi))


def _plain_log_ticks(axis) -> None:
    """Major ticks at 1, 2 or 5 (finer only if needed for two labels) x 10^k, labelled as plain numbers."""
    import math

    import matplotlib.ticker as mt

    lo, hi = sorted(axis.get_view_interval())
    locs: list[float] = []
    for subs in ((1,), (1, 2, 5), (1, 2, 3, 5), tuple(range(1, 10))):
        locs = [float(f"{s * 10.0 ** k:.12g}")
                for k in range(math.floor(math.log10(lo)) - 1, math.ceil(math.log10(hi)) + 1)
                for s in subs if lo <= s * 10.0 ** k <= hi]
        if len(locs) >= 3:
            break
    axis.set_major_locator(mt.FixedLocator(locs) if len(locs) >= 2 else mt.MaxNLocator(4))
    axis.set_major_formatter(mt.FuncFormatter(lambda val, _: f"{val:g}"))
    axis.set_minor_formatter(mt.NullFormatter())


def _thin_tick_labels(axis, renderer, pad_px: float = 3.0) -> None:
    """Keep only the major ticks whose label does not touch the previous kept one (after a draw)."""
    import matplotlib.ticker as mt

    lo, hi = sorted(axis.get_view_interval())
    kept, last = [], None
    for tick in sorted(axis.get_major_ticks(), key=lambda t: t.get_loc()):
        lab = tick.label1
        if not (lo <= tick.get_loc() <= hi) or not lab.get_visible() or not lab.get_text():
            continue
        box = lab.get_window_extent(renderer).padded(pad_px / 2)
        if last is None or not box.overlaps(last):
            kept.append(tick.get_loc())
            last = box
    axis.set_major_locator(mt.FixedLocator(kept))


def _place_labels(ax, x, y, radius, texts, renderer) -> tuple[list[int], list]:
    """Greedy label placement in display space (see :func:`fig5`), top bubbles first. Returns the bubbles
    whose label found no spot nearer to them than to another bubble, and the leader lines drawn."""
    import math

    import numpy as np

    px = ax.figure.dpi / 72.0
    inside = ax.get_window_extent(renderer).padded(-2 * px)
    centres = ax.transData.transform(np.column_stack([x, y]))
    sizes = [(b.width + 2 * px, b.height + 2 * px) for b in (t.get_window_extent(renderer) for t in texts)]
    placed: list[tuple[float, float, float, float]] = []
    crowded, leaders = [], []

    def clearance(b):   # distance from the box to each bubble's edge
        cx = np.clip(centres[:, 0], b[0], b[2])
        cy = np.clip(centres[:, 1], b[1], b[3])
        return np.hypot(cx - centres[:, 0], cy - centres[:, 1]) - radius

    def free(b):
        return (b[0] >= inside.x0 and b[1] >= inside.y0 and b[2] <= inside.x1 and b[3] <= inside.y1
                and bool(np.all(clearance(b) >= px))
                and not any(b[0] < p[2] and p[0] < b[2] and b[1] < p[3] and p[1] < b[3] for p in placed))

    def nearest_is(i, gaps):   # bubble i is the nearest, by a clear margin: any other is twice as far
        return len(gaps) == 1 or 2 * gaps[i] + 3 * px < np.min(np.delete(gaps, i))

    def candidates(i):   # nearest first: by distance from the bubble's edge, then by direction
        (cx, cy), r, (w, h) = centres[i], radius[i], sizes[i]
        for gap in _GAPS_PT:
            for deg in _ANGLES:
                c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
                mx, my = cx + (r + gap * px) * c + w / 2 * c, cy + (r + gap * px) * s + h / 2 * s
                yield (mx - w / 2, my - h / 2, mx + w / 2, my + h / 2), gap

    for i in sorted(range(len(texts)), key=lambda i: (-centres[i, 1], centres[i, 0])):
        (cx, cy), r, (w, h) = centres[i], radius[i], sizes[i]
        choice = next(((b, g) for b, g in candidates(i) if free(b) and nearest_is(i, clearance(b))), None)
        leader = choice is not None and choice[1] > _GAPS_PT[1]
        if choice is None:   # no unambiguous spot: the free one nearest to the bubble, with a leader line
            crowded.append(i)
            spots = [(float(clearance(b)[i]), k, b) for k, (b, _) in enumerate(candidates(i)) if free(b)]
            box = min(spots)[2] if spots else (cx + r + 2 * px, cy - h / 2, cx + r + 2 * px + w, cy + h / 2)
            choice, leader = (box, None), True
        box = choice[0]
        placed.append(box)
        texts[i].set_position(ax.transData.inverted().transform(((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)))
        if leader:   # from the bubble's edge to the label's nearest point
            near = np.array([np.clip(cx, box[0], box[2]), np.clip(cy, box[1], box[3])])
            d = near - centres[i]
            edge = centres[i] + d / max(float(np.hypot(*d)), 1e-9) * r
            line = ax.transData.inverted().transform(np.array([edge, near]))
            leaders += ax.plot(line[:, 0], line[:, 1], color="0.45", lw=0.6, zorder=2.5, scalex=False, scaley=False)
    return crowded, leaders
