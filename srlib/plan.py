"""The plan of a profile before it runs: every stage, its size, whether it is cached, its GPU-hours.

``srlib plan --profile paper`` (:func:`build_plan`, :func:`format_plan`) lists every training, search and
evaluation stage the notebooks of each paper would run at that profile -- its iterations, batch and LR
patch, whether ``results/<profile>/artifacts/<stage>/`` already holds it -- and an estimate of its
GPU-hours. The report has the same table (:mod:`srlib.report_page`).

How the estimate is made (printed with it, :func:`basis_text`):

1. Each stage's work per iteration is counted in multiply-accumulates (MACs) at the profile's shapes with
   :func:`srlib.complexity.counters.measure` on the full architectures: 3 x forward for a trained network
   (forward + backward), 2 x for the discriminator inside the generator update (input gradients only), 1 x
   for frozen forwards (teachers), and 3 x VGG19 up to conv5_4 on the HR patch for a perceptual term.
   Searches and evaluations are forward passes over the validation / test images (pixel counts below).
2. One representative step per *kind* (pixel, GAN, distillation, SuperGenerator, forward) is timed on this
   machine at the paper's patch size -- the suite's own step classes and registry models, MFAGAN's shapes --
   which gives this machine's MAC rate for that kind; a stage's time = its MACs per step / that rate x
   iterations. The VGG19 of the perceptual term is timed with random weights (timing only; training never
   uses a random VGG).
3. On a GPU the representative steps run at the paper's batch and the result is GPU-hours *on that GPU*.
   On a CPU they run at batch :data:`CPU_BATCH` and the result is converted to V100 hours by the stated
   factor ``V100 rate / this CPU's rate`` with the V100 assumed to sustain :data:`V100_SUSTAINED_TFLOPS`
   (about a third of its 15.7 TFLOP/s fp32 peak, typical of small-channel convolutional nets in fp32).
   The factor is printed per kind; it is an assumption, not a measurement.

The timings are cached per machine (``$SRLIB_CACHE`` or ``<results>/_machine/plan_step_times.json``).
The paper's own figure (MFAGAN: "about 120 GPU hours" on V100s for its whole training, Sec. 4.1) is shown
beside ours and never used in our column; TPSR, AdaSR and AGD print none (:data:`PAPER_GPU_HOURS`).

What a search finds (TPSR's cell and discriminators, AGD's genotype and pruned widths) names or sizes later
stages. Before it has run those stages are planned under a stated assumption, and a placeholder ``<found>``
stands in their names where the finding is part of the name; once ``results/<profile>/artifacts`` holds the
finished search (a complete manifest: :func:`finished`), the plan reads its outputs instead.
"""
from __future__ import annotations

import json
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

from . import config, io

V100_SUSTAINED_TFLOPS = 5.0      # assumed sustained fp32 rate of a V100 on these steps (peak 15.7)
CPU_BATCH = 1                    # batch of the timed steps on a CPU (the paper's batch on a GPU)
TIMING_STEPS = {"cpu": (1, 2), "cuda": (3, 10)}   # (warm-up, timed) steps per kind
FORWARD_LR = (128, 128)          # LR size of the timed forward pass (search fitness, evaluation)
# Pixels of the paper profile's evaluation images (approximate; LR at x4): DIV2K_valid = 100 images of
# about 2040 x 1356; Set5 + Set14 + B100 + Urban100 about 96 M HR pixels in all.
VAL_LR_PIXELS = {"DIV2K_valid": 100 * 510 * 339}
TEST_LR_PIXELS_PAPER = 96e6 / 16
PAPER_GPU_HOURS = {"mfagan": (120.0, "about 120 GPU hours on 8 NVIDIA V100s for the entire training process "
                                     "(MFAGAN Sec. 4.1)")}
# Not stated, so not listed: TPSR (Sec. 3.2 says only that several candidates share each GPU), AdaSR (Sec. 4:
# "We train on 4 1080Ti GPUs with batch parallelism", no duration), AGD (only its abstract is in
# shared/papers; shared/notes/agd.md, read from the authors' code, gives no duration either).
FOUND = "<found>"                # in a planned stage name: known once the search it depends on has run


@dataclass
class PlanStage:
    paper: str
    name: str
    kind: str                 # pixel | gan | distill | supernet | search | eval | cpu
    what: str
    iterations: int | None = None
    batch: int | None = None
    patch: str = ""
    macs_per_step: float | Callable[[], float] = 0.0   # MACs of one iteration / evaluation pass (lazy)
    steps: float = 0.0                  # iterations (or passes) the estimate multiplies
    cached: str = ""
    gpu_hours: float | None = None
    pipeline: bool = False              # part of the paper's own training pipeline (vs baselines, ablations)


@dataclass
class Plan:
    profile: str
    stages: list[PlanStage]
    timing: dict | None                 # kind -> {"seconds", "macs", "rate", "batch"}; device; basis
    device: str = ""

    def totals(self) -> list[tuple[str, float | None, str]]:
        out = []
        for paper in dict.fromkeys(s.paper for s in self.stages):
            st = [s for s in self.stages if s.paper == paper]
            h = _sum(s.gpu_hours for s in st)
            pipe = [s for s in st if s.pipeline]
            printed = PAPER_GPU_HOURS.get(paper)
            if pipe:
                seeds = {s.name.rsplit("_s", 1)[-1] for s in pipe}
                one = [s for s in pipe if s.name.endswith(f"_s{sorted(seeds)[0]}")]
                out.append((f"{paper}: its training pipeline, one seed ({len(one)} stages)", _sum(s.gpu_hours for s in one),
                            printed[1] if printed else "not stated"))
            out.append((f"{paper}: every stage its notebooks run at {self.profile} ({len(st)})", h, ""))
        out.append((f"all ({len(self.stages)} stages)", _sum(s.gpu_hours for s in self.stages), ""))
        return out


def _lazy(fn: Callable[..., float], *args: Any, **kw: Any) -> Callable[[], float]:
    """MACs counted only when an estimate needs them (counting every stage takes seconds)."""
    import functools

    return functools.partial(fn, *args, **kw)


def _sum(xs: Iterable[float | None]) -> float | None:
    xs = [x for x in xs if x is not None]
    return sum(xs) if xs else None


# ------------------------------------------------------------------------------------------------------
# Counting
# ------------------------------------------------------------------------------------------------------
_MACS: dict[tuple, float] = {}


def macs(name: str, kw: dict | None, hw: tuple[int, int]) -> float:
    """MACs of one forward of registry model ``name(**kw)`` on a 1 x 3 x H x W input (memoised)."""
    key = (name, json.dumps(kw or {}, sort_keys=True), tuple(hw))
    if key not in _MACS:
        from .complexity.counters import measure

        if name.startswith("vgg19_"):
            model = _vgg_for_timing(name.removeprefix("vgg19_"))
        elif name == "vgg16_lpips":
            model = _vgg_for_timing("relu5_3", VGG16_CFG)
        else:
            from .models import build

            model = build(name, **dict(kw or {}))
        _MACS[key] = float(measure(model, tuple(hw)).macs)
    return _MACS[key]


# torchvision's VGG16 ("D"): LPIPS v0.1 VGG runs it up to relu5_3 on both images
VGG16_CFG = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")


def _vgg_for_timing(layer: str = "conv5_4", cfg=None):
    """VGG19 (or ``cfg``'s) features up to ``layer`` with random weights: its cost only (never a training loss)."""
    from .training.vgg import VGG19_CFG, _features, _layer_names

    cfg = cfg or VGG19_CFG
    f = _features(cfg, _layer_names(cfg)[layer])
    for p in f.parameters():
        p.requires_grad_(False)
    return f.eval()


def g_macs(g: dict, hw: tuple[int, int]) -> float:
    """MACs of one forward of generator ``g`` on a 1 x 3 x H x W LR input: a registry spec ``{"name", "kw"}``,
    or ``{"per_lr_pixel": MACs}`` for a network known only by its budget (AGD's before its search)."""
    if "per_lr_pixel" in g:
        return float(g["per_lr_pixel"]) * hw[0] * hw[1]
    return macs(g["name"], g.get("kw"), hw)


def pixel_macs(g: dict, batch: int, patch: int) -> float:
    return 3 * g_macs(g, (patch, patch)) * batch


def gan_macs(g: dict, d: dict, batch: int, patch: int, scale: int, *, percep: bool = True, ragan: bool = False,
             teacher_g: dict | None = None, teacher_d: dict | None = None, vgg_layer: str = "conv5_4") -> float:
    hr = patch * scale
    dk = {k: v for k, v in (d.get("kw") or {}).items()}
    dm = macs(d["name"], dk, (hr, hr))
    total = 3 * g_macs(g, (patch, patch)) + (2 + 6 + (1 if ragan else 0)) * dm
    if percep:
        total += 3 * macs(f"vgg19_{vgg_layer}", {}, (hr, hr))
    if teacher_g:
        total += g_macs(teacher_g, (patch, patch))
    if teacher_d:
        total += 2 * macs(teacher_d["name"], teacher_d.get("kw"), (hr, hr))
    return total * batch


def supernet_macs(widths_max: list[int], widths_min: list[int], widths_mid: list[int], n_random: int,
                  batch: int, patch: int, scale: int, percep: bool = True) -> float:
    hr = patch * scale
    v = 3 * macs("vgg19_conv5_4", {}, (hr, hr)) if percep else 0.0
    sub = [widths_max, widths_min] + [widths_mid] * n_random
    return sum(3 * macs("mfanet", {"widths": list(w)}, (patch, patch)) + v for w in sub) * batch


def forward_macs(g: dict, lr_pixels: float) -> float:
    per_px = g_macs(g, FORWARD_LR) / (FORWARD_LR[0] * FORWARD_LR[1])
    return per_px * lr_pixels


def lpips_macs(hr_pixels: float) -> float:
    """LPIPS v0.1 VGG on ``hr_pixels`` pixels: VGG16 up to relu5_3 on both images (the heads are negligible)."""
    hw = (256, 256)
    return 2 * macs("vgg16_lpips", {}, hw) / (hw[0] * hw[1]) * hr_pixels


# TPSR (srlib/tpsr) ---------------------------------------------------------------------------------------
def tpsr_candidate_macs(g2: dict, batch: int, patch: int, iterations: int, val_lr_pixels: float) -> float:
    """One step of a generator-search candidate (srlib.tpsr.proxy_task.evaluate): an L1 step of the x2 cell,
    plus its share of the candidate's one validation pass (``val_lr_pixels`` at x2) over ``iterations``."""
    return pixel_macs(g2, batch, patch) + forward_macs(g2, val_lr_pixels) / iterations


def tpsr_dsearch_macs(g: dict, d: dict, batch: int, patch: int, scale: int, vgg_layer: str, iterations: int,
                      evaluations: int, val_lr_pixels: float) -> float:
    """One step of a discriminator-search candidate (srlib.tpsr.perceptual_reward.evaluate): Eq. 8's GAN step
    (VGG19 up to ``vgg_layer``), plus its share of the candidate's ``evaluations`` validation passes (G
    forward + LPIPS-VGG on the HR images) over ``iterations``."""
    val = forward_macs(g, val_lr_pixels) + lpips_macs(val_lr_pixels * scale ** 2)
    return gan_macs(g, d, batch, patch, scale, vgg_layer=vgg_layer) + evaluations * val / iterations


# AdaSR (srlib/adasr) -------------------------------------------------------------------------------------
_ADAPTABLE: dict[str, Any] = {}


def _adaptable(g: dict):
    """AdaSR's :class:`~srlib.adasr.adaptable.Adaptable` of teacher spec ``g`` (built once per process: its
    grid and its MAC counts)."""
    key = json.dumps(g, sort_keys=True)
    if key not in _ADAPTABLE:
        from .adasr.stages import wrap
        from .models import build

        _ADAPTABLE[key] = wrap(build(g["name"], **dict(g.get("kw") or {})))
    return _ADAPTABLE[key]


def adasr_width_parts(g: dict, width: int, hw: tuple[int, int]) -> tuple[float, list[float], float]:
    """(stem and top level, [block 1 .. M], tail) MACs of the adaptable ``g`` at ``width`` on a 1 x 3 x H x W
    input, from one trace of its deepest forward (:func:`srlib.complexity.counters.trace`), each ATen call
    attributed to the block description's modules (srlib/adasr/descriptions.py)."""
    key = ("adasr", json.dumps(g, sort_keys=True), int(width), tuple(hw))
    if key not in _MACS:
        import torch

        from .complexity.counters import trace

        model = _adaptable(g)
        desc = model.description

        class _Width(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.a = model

            def forward(self, x):
                return self.a(x, desc.depth, width)

        recs = trace(_Width(), (1, 3, *hw)).records

        def under(names) -> float:
            pre = tuple(f"a.model.{n}" for n in names)
            return float(sum(r.macs for r in recs if any(r.module == q or r.module.startswith(q + ".") for q in pre)))

        blocks, tail = [under(b) for b in desc.blocks], under(desc.tail)
        _MACS[key] = (float(sum(r.macs for r in recs)) - sum(blocks) - tail, blocks, tail)
    return _MACS[key]


def adasr_width_macs(g: dict, width: int, depths: Iterable[int], hw: tuple[int, int]) -> float:
    """MACs of one forward of the adaptable ``g`` at ``width`` for all ``depths`` at once
    (:meth:`Adaptable.forward_depths`: the stem and blocks run once, each depth its tail), as the
    progressive-KD step runs one width; a single depth is that (D, W) sub-model alone."""
    stem, blocks, tail = adasr_width_parts(g, width, hw)
    depths = set(int(x) for x in depths)
    return stem + sum(blocks[:max(depths)]) + len(depths) * tail


def _by_width(options: Iterable[tuple[int, int]]) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for d, w in options:
        out.setdefault(int(w), []).append(int(d))
    return out


def adasr_kd_macs(g: dict, options: list[tuple[int, int]], mode: str, batch: int, patch: int,
                  kernel: int) -> float:
    """One step of :class:`srlib.adasr.progressive_kd.ProgressiveKDStep`: the frozen teacher's forward (1x,
    not in ``mode`` "none"), every (D, W) option trained (3 x one forward per width, its depths sharing the
    stem and blocks), and in ``mode`` "progressive" the mapping layers (a ``kernel`` x ``kernel`` conv
    W -> C_T per student block, 3x). The anchor losses are not counted."""
    hw = (patch, patch)
    total = sum(3 * adasr_width_macs(g, w, ds, hw) for w, ds in _by_width(options).items())
    if mode != "none":
        total += g_macs(g, hw)
    if mode == "progressive":
        c_t = _adaptable(g).description.width
        total += sum(3 * d * kernel * kernel * w * c_t * patch * patch for d, w in options)
    return total * batch


def _adasr_per_px(g: dict, option: tuple[int, int], patch: int) -> float:
    """MACs per LR pixel of the (D, W) sub-model, from the training patch's trace (exact for these
    convolutional nets but for RCAN's channel attention, whose pooled 1x1 convs do not grow with the image)."""
    return adasr_width_macs(g, option[1], [option[0]], (patch, patch)) / (patch * patch)


def adasr_lambda_macs(g: dict, options: list[tuple[int, int]], through: list[list[tuple[int, int]]], batch: int,
                      patch: int, kernel: int, steps: int, val_lr_pixels: float) -> float:
    """One KD step of the lambda search plus its share of the trials' validations: ``through`` lists, per
    trial, the sub-models distilled through its anchor (each a forward over ``val_lr_pixels``)."""
    val = sum(_adasr_per_px(g, tuple(o), patch) * val_lr_pixels for trial in through for o in trial)
    return adasr_kd_macs(g, options, "progressive", batch, patch, kernel) + val / steps


def adasr_eval_macs(g: dict, options: list[tuple[int, int]], lr_pixels: float, patch: int) -> float:
    """Every (D, W) sub-model of a trained stage over ``lr_pixels`` test pixels (srlib.adasr.stages.submodel_rows)."""
    return sum(_adasr_per_px(g, tuple(o), patch) for o in options) * lr_pixels


# AGD (srlib/agd) -----------------------------------------------------------------------------------------
def agd_supernet_macs(kw: dict, widths: str, hw: tuple[int, int]) -> float:
    """One forward of :class:`srlib.agd.supernet.AGDSupernet` ``(**kw)`` with every junction at ``widths``:
    "max", "min" or "mid" (the middle choice, standing for a random or Gumbel sample); every candidate op
    of a layer runs (a DARTS mixed op)."""
    key = ("agd_supernet", json.dumps(kw, sort_keys=True), widths, tuple(hw))
    if key not in _MACS:
        import torch

        from .agd.supernet import AGDSupernet
        from .complexity.counters import measure

        net = AGDSupernet(**kw)
        ch = sorted(net.widths)
        w = {"max": ch[-1], "min": ch[0], "mid": ch[len(ch) // 2]}[widths]
        at = ((w,) * net.junctions,) * net.num_cells

        class _At(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.net = net

            def forward(self, x):
                return self.net(x, at)

        _MACS[key] = float(measure(_At(), tuple(hw)).macs)
    return _MACS[key]


_AGD_SAMPLE = {"max": "max", "min": "min", "random": "mid", "gumbel": "mid"}


def agd_supernet_step_macs(kw: dict, teacher: dict, batch: int, patch: int, scale: int,
                           passes: list[tuple[str, ...]], content: bool) -> float:
    """A supernet step of srlib.agd.bilevel: per pass (pre-training: one; the search: the architecture step
    and the weight step) the frozen teacher's forward (1x) and each width sample trained (3x; "random" and
    "gumbel" counted at the middle width), with the content term's VGG19 to conv5_4 (3x) per sample."""
    hw, hr = (patch, patch), patch * scale
    v = 3 * macs("vgg19_conv5_4", {}, (hr, hr)) if content else 0.0
    total = 0.0
    for samples in passes:
        total += g_macs(teacher, hw) + sum(3 * agd_supernet_macs(kw, _AGD_SAMPLE[k], hw) + v for k in samples)
    return total * batch


def agd_distill_macs(g: dict, teacher: dict, batch: int, patch: int, scale: int, content: bool) -> float:
    """srlib.agd.stages.ProxyStep: the frozen teacher's forward (1x), the student trained (3x) and with a
    content term VGG19 to conv5_4 on the HR output (3x)."""
    hw, hr = (patch, patch), patch * scale
    total = g_macs(teacher, hw) + 3 * g_macs(g, hw)
    if content:
        total += 3 * macs("vgg19_conv5_4", {}, (hr, hr))
    return total * batch


# ------------------------------------------------------------------------------------------------------
# The stages each paper's notebooks run (one planner per paper)
# ------------------------------------------------------------------------------------------------------
PLANNERS: dict[str, Callable[[Any], list[PlanStage]]] = {}


def planner(paper: str):
    def deco(fn):
        PLANNERS[paper] = fn
        return fn
    return deco


def _spec(name: str, **kw) -> dict:
    return {"name": name, "kw": kw}


def _lr_pixels(prof, sets: Iterable[str]) -> float:
    if prof.data.source == "paper":
        return sum(VAL_LR_PIXELS.get(s, TEST_LR_PIXELS_PAPER / 4) for s in sets)
    side = (prof.data.max_eval_hr or 256) // prof.data.scale
    from .data.datasets import SKIMAGE_SPLIT

    return sum(len(SKIMAGE_SPLIT.get(s, (1,))) * side * side for s in sets)


def _baseline_stages(prof, names: Iterable[str], seeds: Iterable[int], paper: str = "shared baselines") -> list[PlanStage]:
    out = []
    scale = prof.data.scale
    for seed in seeds:
        for n in names:
            r = prof.baselines.recipe(n)
            if r.source == "released":
                out.append(PlanStage(paper, _reference_name(prof, n, seed), "cpu", f"{n}: the authors' released weights "
                                     f"({r.released}), loaded, not trained", steps=0))
                continue
            b, p = r.batch_size or prof.data.batch_size, r.lr_patch or prof.data.lr_patch
            g = _spec(r.model, **r.kw)
            pix = f"baseline_{n}_pixel_s{seed}" if r.is_gan else f"baseline_{n}_s{seed}"
            out.append(PlanStage(paper, pix, "pixel", f"{n} ({r.model}{_kw(r.kw)}): {r.pixel_loss.upper()} "
                                 f"{'pre-training' if r.is_gan else 'recipe'}", r.pixel_iters, b, str(p),
                                 _lazy(pixel_macs, g, b, p), r.pixel_iters))
            if r.is_gan:
                from .baselines.gan import discriminator_spec

                d = discriminator_spec(prof, n)  # sized discriminators take the recipe's HR patch
                out.append(PlanStage(paper, f"baseline_{n}_s{seed}", "gan", f"{n}: {r.gan} GAN stage, D={r.d}"
                                     + (", VGG perceptual" if r.w_percep else ""), r.gan_iters, b, str(p),
                                     _lazy(gan_macs, g, d, b, p, scale, percep=bool(r.w_percep or r.w_texture),
                                              ragan=r.gan == "ragan"), r.gan_iters))
    return out


def _reference_name(prof, n: str, seed: int) -> str:
    """The stage of reference model ``n`` that :func:`srlib.baselines.reference` returns: the released
    checkpoint's (srlib/baselines/released.py), else the recipe's (for a GAN recipe its GAN stage)."""
    r = prof.baselines.recipe(n)
    if r.source == "released":
        return f"baseline_{n}_released_{r.released}"
    from .baselines.pixel import stage_name

    return stage_name(n, seed)


def _reference_spec(prof, n: str) -> dict:
    """The generator spec of reference model ``n``'s stage (``manifest["params"]["models"]["G"]``)."""
    r = prof.baselines.recipe(n)
    return _spec("released", checkpoint=r.released) if r.source == "released" else _spec(r.model, **r.kw)


def finished(profile: str, name: str) -> dict | None:
    """The outputs of stage ``name`` when ``results/<profile>/artifacts/<name>`` holds a complete manifest
    (what a finished search found; the stage's key is checked only when it runs), else None."""
    path = config.results_dir(profile) / "artifacts" / name / "manifest.json"
    try:
        m = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return dict(m.get("outputs") or {}) if m.get("complete") else None


def _kw(kw: dict) -> str:
    return ("(" + ", ".join(f"{k}={v}" for k, v in sorted(kw.items())) + ")") if kw else ""


@planner("shared baselines")
def plan_baselines(prof) -> list[PlanStage]:
    """Notebook 03: every reference model with its recipe, once per profile (seed ``profile.seed``)."""
    from .baselines import NAMES

    return _baseline_stages(prof, NAMES, [prof.seed])


@planner("mfagan")
def plan_mfagan(prof) -> list[PlanStage]:
    """Notebooks 10-12: Table 1's chains (srlib/mfagan/experiments.py), Table 2's baselines, Fig. 6."""
    m, d = prof.mfagan, prof.data
    b, p, scale = d.batch_size, d.lr_patch, d.scale
    out: list[PlanStage] = []
    seeds = list(m.seeds)
    out += [s for s in _baseline_stages(prof, ("esrgan", "srgan", "enhancenet"), seeds, "mfagan")]
    val_px = _lr_pixels(prof, [d.val_set])
    test_px = _lr_pixels(prof, d.test_sets)
    choices = sorted(m.width_choices)
    wmax, wmin, wmid = [choices[-1]] * 8, [choices[0]] * 8, [choices[len(choices) // 2]] * 8
    evals = m.search_population * m.search_generations
    for s in seeds:
        gt, gs = _spec("mfanet", num_feat=m.teacher_g), _spec("mfanet", num_feat=m.student_g)
        dt, ds = _spec("patchgan_mfagan", num_feat=m.teacher_d), _spec("patchgan_mfagan", num_feat=m.student_d)
        out += [
            PlanStage("mfagan", f"mfagan_pretrain_g{m.teacher_g}_s{s}", "pixel", f"MFANet-{m.teacher_g}, L1 (stage 1)",
                      m.pretrain_iters, b, str(p), _lazy(pixel_macs, gt, b, p), m.pretrain_iters, pipeline=True),
            PlanStage("mfagan", f"mfagan_l_s{s}", "gan", f"MFAGAN.L: MFANet-{m.teacher_g} + PatchGAN-{m.teacher_d}, Eq. (1)",
                      m.gan_iters, b, str(p), _lazy(gan_macs, gt, dt, b, p, scale), m.gan_iters, pipeline=True),
            PlanStage("mfagan", f"mfagan_pretrain_g{m.student_g}_s{s}", "pixel", f"MFANet-{m.student_g}, L1",
                      m.pretrain_iters, b, str(p), _lazy(pixel_macs, gs, b, p), m.pretrain_iters, pipeline=True),
            PlanStage("mfagan", f"mfagan_distill_gd_s{s}", "distill", f"distil G and D: G{m.student_g}/D{m.student_d} "
                      f"from MFAGAN.L (stage 2)", m.gan_iters, b, str(p),
                      _lazy(gan_macs, gs, ds, b, p, scale, teacher_g=gt, teacher_d=dt), m.gan_iters, pipeline=True),
            PlanStage("mfagan", f"mfagan_distill_g_s{s}", "distill", f"distil G only: G{m.student_g}/D{m.teacher_d} "
                      "(Table 1, 3rd)", m.gan_iters, b, str(p), _lazy(gan_macs, gs, dt, b, p, scale, teacher_g=gt), m.gan_iters),
        ]
        for tag, pipe in (("nas", False), ("distill_nas", True)):
            what = "from MFAGAN.L" if tag == "nas" else "from the distilled G"
            out += [
                PlanStage("mfagan", f"mfagan_supergenerator_{tag}_s{s}", "supernet",
                          f"SuperGenerator {what}, sandwich rule, {2 + m.supernet_random_samples} SubGenerators/step"
                          + (" (stage 3)" if pipe else ""), m.supernet_iters, b, str(p),
                          _lazy(supernet_macs, wmax, wmin, wmid, m.supernet_random_samples, b, p, scale), m.supernet_iters,
                          pipeline=pipe),
                PlanStage("mfagan", f"mfagan_search_{tag}_s{s}", "search",
                          f"evolutionary search: at most {m.search_population} x {m.search_generations} candidates, "
                          f"each a forward on {d.val_set} ({m.search_constraint} constraint)", evals, None, "",
                          _lazy(forward_macs, _spec("mfanet", widths=wmid), val_px), evals, pipeline=pipe),
                PlanStage("mfagan", f"mfagan_finetune_{tag}_s{s}", "gan",
                          f"fine-tune the searched SubGenerator (widths unknown before the search: "
                          f"{choices[len(choices) // 2]} assumed)" + (" (stage 4)" if pipe else ""),
                          m.finetune_iters, b, str(p),
                          _lazy(gan_macs, _spec("mfanet", widths=wmid), ds if tag == "distill_nas" else dt, b, p, scale),
                          m.finetune_iters, pipeline=pipe),
            ]
        sub = _spec("mfanet", widths=wmid)
        esr = prof.baselines.recipe("esrgan")
        evals_of = {"table1": [(f"baseline_esrgan_s{s}", _spec(esr.model, **esr.kw)), (f"mfagan_l_s{s}", gt),
                               (f"mfagan_distill_gd_s{s}", gs), (f"mfagan_distill_g_s{s}", gs),
                               (f"mfagan_finetune_nas_s{s}", sub), (f"mfagan_finetune_distill_nas_s{s}", sub),
                               (f"mfagan_subgenerator_nas_s{s}", sub), (f"mfagan_subgenerator_distill_nas_s{s}", sub)],
                    "table2": [(f"baseline_{n}_s{s}", _spec(prof.baselines.recipe(n).model, **prof.baselines.recipe(n).kw))
                               for n in ("srgan", "enhancenet", "esrgan")] + [(f"mfagan_finetune_distill_nas_s{s}", sub)]}
        if s == seeds[0]:
            evals_of["table1_norm"] = [(f"mfagan_distill_gd_mse_s{s}", gs)]
        for tag in ("nas", "distill_nas"):
            out.append(PlanStage("mfagan", f"mfagan_subgenerator_{tag}_s{s}", "cpu",
                                 "the found SubGenerator's weights cut from the SuperGenerator (seconds)"))
        for table, models in evals_of.items():
            for stage_name, g in models:
                out.append(PlanStage("mfagan", f"eval_{table}_{stage_name}", "eval",
                                     f"PSNR/SSIM/LPIPS on {', '.join(d.test_sets)}", None, None, "",
                                     _lazy(forward_macs, g, test_px), 1))
    gt, gs = _spec("mfanet", num_feat=m.teacher_g), _spec("mfanet", num_feat=m.student_g)
    out.append(PlanStage("mfagan", f"mfagan_distill_gd_mse_s{seeds[0]}", "distill",
                         "distil G and D with a per-element MSE (notebook 10's distance comparison)", m.gan_iters, b,
                         str(p), _lazy(gan_macs, gs, _spec("patchgan_mfagan", num_feat=m.student_d), b, p, scale, teacher_g=gt,
                                          teacher_d=_spec("patchgan_mfagan", num_feat=m.teacher_d)), m.gan_iters))
    for s in m.fig6_seeds:
        out.append(PlanStage("mfagan", f"mfagan_l_esrgand_s{s}", "gan",
                             f"Fig. 6: MFANet-{m.teacher_g} with ESRGAN's discriminator", m.fig6_iters, b, str(p),
                             _lazy(gan_macs, gt, _spec("esrgan_d", num_feat=m.esrgan_d_feat, input_size=p * scale), b, p, scale),
                             m.fig6_iters))
        if s not in seeds:
            out.append(PlanStage("mfagan", f"mfagan_pretrain_g{m.teacher_g}_s{s}", "pixel",
                                 f"MFANet-{m.teacher_g}, L1 (for Fig. 6)", m.pretrain_iters, b, str(p),
                                 _lazy(pixel_macs, gt, b, p), m.pretrain_iters))
            out.append(PlanStage("mfagan", f"mfagan_l_s{s}", "gan", "Fig. 6: MFAGAN.L with the PatchGAN",
                                 m.fig6_iters, b, str(p),
                                 _lazy(gan_macs, gt, _spec("patchgan_mfagan", num_feat=m.teacher_d), b, p, scale), m.fig6_iters))
    if m.search_constraint == "latency":
        out.append(PlanStage("mfagan", "mfagan_lut", "cpu", "latency lookup table: single kernels timed with "
                             "LiteRT on the CPU (desktop proxy; not a GPU stage)"))
    return _unique(out)


@planner("tpsr")
def plan_tpsr(prof) -> list[PlanStage]:
    """Notebooks 30-32 at search seed ``tpsr.search_seeds[0]`` (the one they use): srlib/tpsr/stages.py's
    generator search (Alg. 1 l. 25), full task x2 -> x4 of the found and of the published cell, discriminator
    search (l. 31) and Fig. 3's study runs; srlib/tpsr/experiments.py's evaluations and Table 1's baselines."""
    from .tpsr import discriminator as tdisc
    from .tpsr import experiments as tx
    from .tpsr import stages as ts
    from .tpsr.cell import TPSR_GENOTYPE

    t, d, paper = prof.tpsr, prof.data, "tpsr"
    seed, scale, name = t.search_seeds[0], d.scale, ts._stage_name
    out = _baseline_stages(prof, tx.TABLE1[:-1], [seed], paper)
    val4, test_px = _lr_pixels(prof, [d.val_set]), _lr_pixels(prof, d.test_sets)
    val2 = val4 * (scale / 2) ** 2          # the same validation images at x2 (the search's proxy)

    def g(genotype, s: int) -> dict:        # as ts.full_task builds it
        return _spec("tpsr", num_feat=t.num_feat, genotype=[[str(o), int(i)] for o, i in genotype], scale=s)

    px = t.proxy
    sg = name("search", "g", seed)
    found = finished(prof.name, sg)
    n_g = t.search_steps * px.iterations
    out.append(PlanStage(paper, sg, "pixel", f"generator search (Alg. 1 l. 25): {t.search_steps:,} candidates trained "
                         f"{px.iterations:,} L1 steps each at x2, each validated on {d.val_set} (over-limit samples are "
                         "rejected untrained); a search, counted at the pixel rate; every candidate assumed to cost "
                         "the published cell's MACs", n_g, px.batch, str(px.patch),
                         _lazy(tpsr_candidate_macs, g(TPSR_GENOTYPE, 2), px.batch, px.patch, px.iterations, val2),
                         n_g, pipeline=True))
    chains = {}
    for key, genotype, init in (("found", (found or {}).get("best_genotype"), sg), ("published", TPSR_GENOTYPE, None)):
        # ts._tag only asks whether the chain starts from the search's cache (init is not None)
        tag = ts._tag(genotype, init) if genotype is not None else f"cell{FOUND}_cached"
        cell = genotype if genotype is not None else TPSR_GENOTYPE
        who = ("the published cell, from scratch" if key == "published" else
               "the found cell from the search's weight cache" + ("" if genotype is not None else
                                                                  " (cell unknown before the search: the published cell's MACs assumed)"))
        x2, x4i, x4 = (name(k, tag, seed) for k in ("full_x2", "x4_from_x2", "full_x4"))
        own = key == "found"          # the paper's pipeline trains the found cell; the published one is our check
        out += [PlanStage(paper, x2, "pixel", f"full task x2 (Alg. 1 l. 26): {who}", t.full_iters_x2, t.full_batch,
                          str(t.full_patch), _lazy(pixel_macs, g(cell, 2), t.full_batch, t.full_patch), t.full_iters_x2,
                          pipeline=own),
                PlanStage(paper, x4i, "cpu", "the x2 weights in the x4 template (seconds)"),
                PlanStage(paper, x4, "pixel", f"full task x4 from the x2 model (TPSR-NOGAN): {who}", t.full_iters_x4,
                          t.full_batch, str(t.full_patch), _lazy(pixel_macs, g(cell, 4), t.full_batch, t.full_patch),
                          t.full_iters_x4, pipeline=own)]
        chains[key] = (x4, g(cell, 4))
    nogan, g4 = chains["found" if t.d_search.generator == "searched" else "published"]
    # the discriminator search: every candidate fine-tunes TPSR-NOGAN against a fresh D
    ds = t.d_search
    sd = name("search", "d", seed)
    evals = max(1, ds.iterations // ds.eval_every)
    d0 = _spec("tpsr_d", **tdisc.spec_kwargs(tdisc.TPSRDConfig(base_channels=ds.base_channels)), input_size=ds.patch * scale)
    out.append(PlanStage(paper, sd, "gan", f"discriminator search (Alg. 1 l. 31): {ds.steps:,} candidate Ds, each "
                         f"fine-tuning TPSR-NOGAN x4 {ds.iterations:,} GAN steps (Eq. 8, VGG19 {ds.vgg_layer}) with {evals} "
                         f"validations on {d.val_set} (G + LPIPS-VGG); a search, counted at the GAN rate; every D "
                         f"assumed the default TPSRDConfig (conv3 + rconv3 per block, base {ds.base_channels})",
                         ds.steps * ds.iterations, ds.batch, str(ds.patch),
                         _lazy(tpsr_dsearch_macs, g4, d0, ds.batch, ds.patch, scale, ds.vgg_layer, ds.iterations, evals, val4),
                         ds.steps * ds.iterations, pipeline=True))
    # Fig. 3: the top_k searched Ds and the fixed ones, each fine-tuning TPSR-NOGAN d_study.runs times
    st, hr = t.d_study, t.d_study.patch * scale
    top = (finished(prof.name, sd) or {}).get("top")
    keys = ("ops", "reductions", "bottleneck", "base_channels")
    if top is not None:
        searched = {f"d{i + 1}": (_spec("tpsr_d", **tdisc.spec_kwargs({k: r[k] for k in keys}), input_size=hr), "vanilla", "")
                    for i, r in enumerate(top[:st.top_k])}
    else:
        searched = {f"d{i + 1}": (_spec("tpsr_d", **{**d0["kw"], "input_size": hr}), "vanilla",
                                  "; D unknown before the D search: the default TPSRDConfig assumed") for i in range(st.top_k)}
    fixed = {n: (_spec(zoo, **{**prof.baselines.recipe(n).d_kw, "input_size": hr}), kind, "")
             for n, (zoo, kind) in ts.FIXED_DS.items()}
    runs: dict[str, list[str]] = {}
    for label, (dspec, kind, note) in {**searched, **fixed}.items():
        for r in range(st.runs):
            n = name("dstudy", f"{label}_r{r}", seed)
            runs.setdefault(label, []).append(n)
            out.append(PlanStage(paper, n, "gan", f"Fig. 3: TPSR-NOGAN x4 fine-tuned with D {label} ({kind} GAN loss, "
                                 f"VGG19 {st.vgg_layer}), run {r + 1} of {st.runs}{note}", st.iters, st.batch, str(st.patch),
                                 _lazy(gan_macs, g4, dspec, st.batch, st.patch, scale, ragan=kind == "ragan",
                                       vgg_layer=st.vgg_layer), st.iters,
                                 pipeline=label == "d1" and r == 0))   # the pipeline: one GAN run with its best D

    def ev(table: str, stage: str, spec: dict, what: str) -> PlanStage:      # tx.quality_rows' stage
        return PlanStage(paper, f"eval_tpsr_{table}_{stage}", "eval", f"{what}: PSNR/SSIM/LPIPS-VGG on "
                         f"{', '.join(d.test_sets)}", None, None, "", _lazy(forward_macs, spec, test_px), 1)

    for key, what in (("found", "notebook 30: the found cell"), ("published", "notebook 30: the published cell")):
        out.append(ev("search_g", chains[key][0], chains[key][1], what))
    for label, names in runs.items():
        out += [ev("fig3_runs", n, g4, f"Fig. 3: D {label}, run {r + 1}") for r, n in enumerate(names)]
    for n in tx.TABLE1[:-1]:
        out.append(ev("table1", _reference_name(prof, n, seed), _reference_spec(prof, n), f"Table 1: {n}"))
    best = _tpsr_best_run(prof, runs, list(searched))
    out.append(ev("table1", best or name("dstudy", FOUND, seed), g4, "Table 1: TPSR (ours), the best run of the "
                  "searched D best on validation" + ("" if best else " (known once the study has run)")))
    out.append(ev("table1", nogan, g4, "Table 1: TPSR-NOGAN (ours)"))
    return _unique(out)


def _tpsr_best_run(prof, runs: dict[str, list[str]], searched: list[str]) -> str | None:
    """The study run Table 1 takes (srlib/tpsr/experiments.py ``best_searched`` and ``fig3_rows``' best run):
    the lowest final validation perceptual metric over the searched Ds' runs; None until they have finished."""
    import math
    from types import SimpleNamespace

    from .tpsr import experiments as tx

    best = None
    for label in searched:
        for n in runs[label]:
            if finished(prof.name, n) is None:
                return None
            try:
                v = tx.final_validation(SimpleNamespace(dir=config.results_dir(prof.name) / "artifacts" / n))["val_perceptual"]
            except (OSError, KeyError, ValueError):
                return None
            if not math.isnan(v) and (best is None or v < best[0]):
                best = (v, n)
    return best[1] if best else None


@planner("adasr")
def plan_adasr(prof) -> list[PlanStage]:
    """Notebooks 40-42 at seed ``adasr.seeds[0]`` (the one they use): srlib/adasr/stages.py's teachers
    (reference models), lambda by BO and progressive KD of every teacher (one step trains every (D, W) of its
    grid), the ablations and separately trained twins of ``dynamic_teacher`` (of the other teachers, the twins of
    their Table 1 rows); srlib/adasr/experiments.py's
    evaluations and zoo models. Fig. 4's desktop latency benchmarks (CPU, seconds each) are not listed."""
    from .adasr import experiments as ax
    from .adasr import stages as ast
    from .adasr.matching import teacher_anchors

    a, d, paper = prof.adasr, prof.data, "adasr"
    seed, dyn, b, p, k = a.seeds[0], a.dynamic_teacher, a.batch, a.lr_patch, a.mapping_kernel
    name = ast._stage_name
    zoo = [z for z in ax.ZOO if z in prof.baselines.names()]
    out = _baseline_stages(prof, list(a.teachers) + zoo, [seed], paper)
    val_px, test_px = _lr_pixels(prof, [d.val_set]), _lr_pixels(prof, d.test_sets)
    sep_iters = a.separate_iterations or a.iterations

    def ev(stage: str, what: str, macs_fn) -> PlanStage:          # ast.submodel_rows' / ax._zoo_rows' stage
        return PlanStage(paper, f"eval_adasr_{stage}", "eval", f"{what}: PSNR/SSIM on {', '.join(d.test_sets)}",
                         None, None, "", macs_fn, 1)

    for t in a.teachers:
        g = _reference_spec(prof, t)
        model = _adaptable(g)                                     # built once, also for the MAC counts
        options = ast.grid(prof, t, model.model)
        m_t = model.description.depth
        ds, ws = sorted({o[0] for o in options}), sorted({o[1] for o in options})
        grid = f"{len(options)} (D, W) options (D {ds[0]}..{ds[-1]}, W {ws[0]}..{ws[-1]})"
        if a.bo.enabled:
            through = [[o for o in options if j in teacher_anchors(m_t, o[0])] for j in range(m_t)]
            through = [x for x in through if x]
            per = min(a.bo.patience + 1, a.bo.max_trials)
            trials = [x for x in through for _ in range(per)]
            steps = a.bo.trial_after + len(trials) * a.bo.trial_steps
            out.append(PlanStage(paper, name("lambda", t, seed), "distill",
                                 f"Sec. 3.2.4: lambda of {t}'s {len(through)} anchors by BO, about {len(trials)} trials "
                                 f"({per} per anchor, the stop rule's least; at most {a.bo.max_trials}) of "
                                 f"{a.bo.trial_steps:,} KD steps over all {grid}, each validating the sub-models through "
                                 f"its anchor on {d.val_set}; a search, counted at the distillation rate", steps, b, str(p),
                                 _lazy(adasr_lambda_macs, g, options, trials, b, p, k, steps, val_px), steps,
                                 pipeline=True))
        modes = [("progressive", True)]
        if t == dyn:
            modes += [("progressive", False) if x == "no_maxnorm" else (x, True) for x in a.ablations]
        for mode, max_norm in modes:
            stage = name("kd", f"{t}_{mode}{'' if max_norm else '_nomaxnorm'}", seed)   # as ast.progressive_kd
            what = {"progressive": f"Alg. 1: the adaptable {t} by progressive KD", "output": "ablation: output-only KD",
                    "none": "ablation: no KD (L1 to HR, no teacher)"}[mode] + ("" if max_norm else ", mapping layers without max-norm")
            out.append(PlanStage(paper, stage, "pixel" if mode == "none" else "distill",
                                 f"{what}; one step trains all {grid}", a.iterations, b, str(p),
                                 _lazy(adasr_kd_macs, g, options, mode, b, p, k), a.iterations,
                                 pipeline=mode == "progressive" and max_norm))
            out.append(ev(stage, f"every (D, W) of {stage}", _lazy(adasr_eval_macs, g, options, test_px, p)))
        if t != dyn:                                              # notebook 42: the Table 1 rows' twins
            desc = model.description
            for dd, w in dict.fromkeys(ax.table1_sizes(t, options, desc.depth, desc.width).values()):
                stage = name("separate", f"{t}_{dd}_{w}", seed)
                out.append(PlanStage(paper, stage, "pixel", f"Table 1's twin ({dd}, {w}): that sub-model of {t} alone "
                                     "from scratch, L1 to HR", sep_iters, b, str(p),
                                     _lazy(adasr_kd_macs, g, [(dd, w)], "none", b, p, k), sep_iters))
                out.append(ev(stage, f"the twin ({dd}, {w})", _lazy(adasr_eval_macs, g, [(dd, w)], test_px, p)))
            continue
        for dd, w in options:
            stage = name("separate", f"{t}_{dd}_{w}", seed)
            out.append(PlanStage(paper, stage, "pixel", f"the ensemble's twin ({dd}, {w}): that sub-model of {t} alone "
                                 "from scratch, L1 to HR", sep_iters, b, str(p),
                                 _lazy(adasr_kd_macs, g, [(dd, w)], "none", b, p, k), sep_iters))
            out.append(ev(stage, f"the twin ({dd}, {w})", _lazy(adasr_eval_macs, g, [(dd, w)], test_px, p)))
        for z in zoo:
            out.append(ev(f"zoo_{_reference_name(prof, z, seed)}", f"zoo model {z}",
                          _lazy(forward_macs, _reference_spec(prof, z), test_px)))
    return _unique(out)


@planner("agd")
def plan_agd(prof) -> list[PlanStage]:
    """Notebooks 50-51 at seed ``agd.seeds[0]`` (the one they use): srlib/agd/stages.py's teacher, supernet
    pre-training, the bi-level search and the retrain (pixel, then pixel + content) per budget, ESRGAN pruned
    to the first budget + its fine-tune, VDSR; srlib/agd/experiments.py's comparison and cross-paper
    evaluations."""
    import inspect

    from .agd import bilevel
    from .agd import stages as gs

    a, d, paper = prof.agd, prof.data, "agd"
    seed, scale, b, p, name = a.seeds[0], d.scale, a.batch, a.lr_patch, gs._stage_name
    refs = [a.teacher] + (["srgan"] if "srgan" in prof.baselines.names() else [])   # as experiments.comparison_stages
    out = _baseline_stages(prof, refs, [seed], paper)
    teacher, kw = _reference_spec(prof, a.teacher), gs._supernet_kw(a)
    test_px = _lr_pixels(prof, d.test_sets)
    content = a.w_content > 0
    pre = tuple(inspect.signature(bilevel.SupernetPretrainStep).parameters["samples"].default)
    bl = inspect.signature(bilevel.BilevelStep).parameters
    arch, weight = tuple(bl["arch_samples"].default), tuple(bl["weight_samples"].default)
    ops = f"{a.num_cells} cells x {a.layers_per_cell} layers, every op of {', '.join(a.ops)} in each mixed layer"
    out.append(PlanStage(paper, name("pretrain", "supernet", seed), "supernet",
                         f"supernet pre-training ({ops}): L1 to the teacher {a.teacher}, width samples "
                         f"{' + '.join(pre)} per step (random at the middle width)", a.pretrain_iters, b, str(p),
                         _lazy(agd_supernet_step_macs, kw, teacher, b, p, scale, [pre], False), a.pretrain_iters,
                         pipeline=True))
    hw = tuple(a.penalty_hw)
    nets, evals = {}, []
    for bud, lim in a.budgets.items():
        search = name("search", bud, seed)
        out.append(PlanStage(paper, search, "supernet",
                             f"bi-level search, budget {bud} ({lim['lower']:g}-{lim['upper']:g} GMACs at {hw[0]}x{hw[1]} "
                             f"LR): architecture step ({' + '.join(arch)}) then weight step ({' + '.join(weight)}) per "
                             "iteration, each with the teacher's forward" + (" and the content term" if content else "")
                             + "; a search, counted at the SuperGenerator rate (Gumbel samples at the middle width)",
                             a.search_iters, b, str(p),
                             _lazy(agd_supernet_step_macs, kw, teacher, b, p, scale, [arch, weight], content), a.search_iters,
                             pipeline=True))
        genotype = (finished(prof.name, search) or {}).get("genotype")
        net = _spec("agd", genotype=genotype) if genotype else {"per_lr_pixel": lim["upper"] * 1e9 / (hw[0] * hw[1])}
        note = "" if genotype else (f" (genotype unknown before the search: {lim['upper']:g} GMACs at {hw[0]}x{hw[1]} LR "
                                    "assumed, the budget's upper bound)")
        nets[bud] = net
        pix, full = name("retrain_pixel", bud, seed), name("retrain_content", bud, seed)
        out += [PlanStage(paper, pix, "distill", f"AGD-{bud} retrained from scratch: L1 to the teacher{note}",
                          a.retrain_pixel_iters, b, str(p), _lazy(agd_distill_macs, net, teacher, b, p, scale, False),
                          a.retrain_pixel_iters, pipeline=True),
                PlanStage(paper, full, "distill", f"AGD-{bud} retrain, second stage: pixel {a.w_pix:g} + content "
                          f"{a.w_content:g} to the teacher{note}", a.retrain_content_iters, b, str(p),
                          _lazy(agd_distill_macs, net, teacher, b, p, scale, content), a.retrain_content_iters,
                          pipeline=True)]
        evals.append((f"agd_{bud.lower()}", full, net))
    first = next(iter(a.budgets))
    cut = finished(prof.name, name("prune", first, seed))
    if cut:
        pruned, note = _spec("esrgan", **{**teacher.get("kw", {}), "num_feat": cut["num_feat"],
                                          "num_grow_ch": cut["num_grow_ch"]}), ""
    else:
        pruned, note = nets[first], f" (widths unknown before the pruning: AGD-{first}'s MACs assumed, its target)"
    ft_iters = a.prune_finetune_iters or (a.retrain_pixel_iters + a.retrain_content_iters)
    ft = name("prune_finetune", first, seed)
    vdsr, vg = name("vdsr", "mse", seed), _spec("vdsr", **a.vdsr_kw)
    out += [PlanStage(paper, name("prune", first, seed), "cpu", f"ESRGAN pruned: L1 filter pruning of the teacher to "
                      f"AGD-{first}'s MACs (seconds)"),
            PlanStage(paper, ft, "distill", f"ESRGAN pruned, fine-tuned as AGD's retrain (pixel {a.w_pix:g} + content "
                      f"{a.w_content:g}){note}", ft_iters, b, str(p),
                      _lazy(agd_distill_macs, pruned, teacher, b, p, scale, content), ft_iters),
            PlanStage(paper, vdsr, "pixel", f"VDSR{_kw(a.vdsr_kw)}: MSE to HR", a.vdsr_iters, b, str(p),
                      _lazy(pixel_macs, vg, b, p), a.vdsr_iters)]
    evals += [(a.teacher, _reference_name(prof, a.teacher, seed), teacher), ("esrgan_pruned", ft, pruned)]
    if "srgan" in refs:
        evals.append(("srgan", _reference_name(prof, "srgan", seed), _reference_spec(prof, "srgan")))
    evals.append(("vdsr", vdsr, vg))
    rows = [("agd", "readme", m, st, g) for m, st, g in evals]
    ms, mw = prof.mfagan.seeds[0], sorted(prof.mfagan.width_choices)   # notebook 51: MFAGAN's searched G (plan_mfagan's)
    rows.append(("agd", "readme", "mfagan", f"mfagan_finetune_distill_nas_s{ms}", _spec("mfanet", widths=[mw[len(mw) // 2]] * 8)))
    rows.append(("mfagan", "table2", *evals[0]))
    rows += [("adasr", "table1", m, st, g) for m, st, g in evals[:len(a.budgets)]]
    for pp, table, model, stage, g in rows:                    # experiments.quality_rows' stage
        out.append(PlanStage(paper, f"eval_agd_{pp}_{table}_{stage}", "eval", f"{model} in {pp}'s {table} convention: "
                             f"PSNR/SSIM on {', '.join(d.test_sets)}", None, None, "", _lazy(forward_macs, g, test_px), 1))
    return _unique(out)


def _unique(stages: list[PlanStage]) -> list[PlanStage]:
    seen, out = set(), []
    for s in stages:
        if s.name not in seen:
            seen.add(s.name)
            out.append(s)
    return out


# ------------------------------------------------------------------------------------------------------
# Timing
# ------------------------------------------------------------------------------------------------------
def _device():
    import torch

    return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")


def device_fingerprint() -> dict:
    import torch

    dev = _device()
    if dev.type == "cuda":
        name = torch.cuda.get_device_name(0)
    else:
        name = _cpu_model()
    return {"device": dev.type, "name": name, "threads": torch.get_num_threads(), "torch": torch.__version__,
            "batch": None if dev.type == "cuda" else CPU_BATCH}


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cache_path() -> Path:
    env = os.environ.get("SRLIB_CACHE")
    return (Path(env) if env else config.results_dir("_machine")) / "plan_step_times.json"


def _representatives(prof) -> dict[str, Callable]:
    """kind -> function(batch) building (step_fn, models, optimizers, batch tensors, MACs of one step).
    MFAGAN's shapes at ``prof`` (the paper's at paper): the pipeline the paper's GPU-hours are for."""
    import torch

    from .models import build
    from .training import gan, losses
    from .training.runs import adam

    m, d = prof.mfagan, prof.data
    p, scale = d.lr_patch, d.scale
    gt, gs = _spec("mfanet", num_feat=m.teacher_g), _spec("mfanet", num_feat=m.student_g)
    dt, ds = _spec("patchgan_mfagan", num_feat=m.teacher_d), _spec("patchgan_mfagan", num_feat=m.student_d)
    dev = _device()

    class _Percep(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.vgg = _vgg_for_timing()

        def forward(self, sr, hr):
            with torch.no_grad():
                t = self.vgg(hr)
            return torch.nn.functional.mse_loss(self.vgg(sr), t)

    def data(b):
        return (torch.rand(b, 3, p, p, device=dev), torch.rand(b, 3, p * scale, p * scale, device=dev))

    def nets(**specs):
        return {k: build(v["name"], **v["kw"]).to(dev) for k, v in specs.items()}

    w = gan.GANWeights(recon=m.lambda_recon, percep=m.lambda_percep, adv=m.lambda_adv)

    def pixel(b):
        n = nets(G=gt)
        return gan.PixelStep("l1"), n, {"G": adam(n["G"].parameters(), 1e-4)}, data(b), pixel_macs(gt, b, p)

    def gan_step(b):
        n = nets(G=gt, D=dt)
        step = gan.GANStep(w, losses.GANLoss("vanilla"), _Percep().to(dev))
        return step, n, {k: adam(v.parameters(), 1e-4) for k, v in n.items()}, data(b), gan_macs(gt, dt, b, p, scale)

    def distill(b):
        from .mfagan import distillation, stages
        from .training.distill import FeatureDistiller

        n = nets(G=gs, D=ds)
        t = nets(G=gt, D=dt)
        for x in t.values():
            x.requires_grad_(False)
        dg = FeatureDistiller(stages._mfam_widths(n["G"]), stages._mfam_widths(t["G"])).to(dev)
        dd = FeatureDistiller(stages._d_widths(n["D"]), stages._d_widths(t["D"])).to(dev)
        step = distillation.DistillationStep(w, losses.GANLoss("vanilla"), _Percep().to(dev), lambda_g=0.05,
                                             lambda_d=0.05, teacher_g=t["G"], teacher_d=t["D"], distill_g=dg,
                                             distill_d=dd)
        opts = {"G": adam(list(n["G"].parameters()) + list(dg.parameters()), 1e-4),
                "D": adam(list(n["D"].parameters()) + list(dd.parameters()), 1e-4)}
        return step, n, opts, data(b), gan_macs(gs, ds, b, p, scale, teacher_g=gt, teacher_d=dt)

    def supernet(b):
        from .mfagan import supernet as sn

        n = nets(G=_spec("mfanet", widths=[m.student_g] * 8))
        space = sn.width_space(n["G"], m.width_choices)
        step = sn.SupernetStep(space, n_random=m.supernet_random_samples, perceptual=_Percep().to(dev))
        ch = sorted(m.width_choices)
        mac = supernet_macs([ch[-1]] * 8, [ch[0]] * 8, [ch[len(ch) // 2]] * 8, m.supernet_random_samples, b, p, scale)
        return step, n, {"G": adam(n["G"].parameters(), 1e-4)}, data(b), mac

    def forward(b):
        g = build("mfanet", num_feat=m.student_g).to(dev).eval()
        x = torch.rand(1, 3, *FORWARD_LR, device=dev)

        @torch.no_grad()
        def step(i, batch, models, opts):
            return g(x)

        return step, {"G": g}, {}, None, macs("mfanet", {"num_feat": m.student_g}, FORWARD_LR)

    return {"pixel": pixel, "gan": gan_step, "distill": distill, "supernet": supernet, "forward": forward}


KIND_OF = {"pixel": "pixel", "gan": "gan", "distill": "distill", "supernet": "supernet", "search": "forward",
           "eval": "forward"}


def time_steps(prof=None, *, steps: tuple[int, int] | None = None, log: Callable[[str], None] = print) -> dict:
    """Time one representative step per kind on this machine (see the module docstring); ``steps`` =
    (warm-up, timed) steps per kind (default :data:`TIMING_STEPS` of the device)."""
    import torch

    prof = prof or config.load("paper")
    dev = _device()
    warm, n = steps or TIMING_STEPS[dev.type]
    batch = prof.data.batch_size if dev.type == "cuda" else CPU_BATCH
    out = {"fingerprint": device_fingerprint(), "kinds": {}, "profile": prof.name,
           "shape": f"batch {batch} x LR {prof.data.lr_patch}x{prof.data.lr_patch} (HR x{prof.data.scale})"}
    for kind, make in _representatives(prof).items():
        t0 = time.perf_counter()
        step, models, opts, data, mac = make(batch)
        times = []
        for i in range(warm + n):
            if dev.type == "cuda":
                torch.cuda.synchronize()
            t = time.perf_counter()
            step(i, data, models, opts)
            if dev.type == "cuda":
                torch.cuda.synchronize()
            if i >= warm:
                times.append(time.perf_counter() - t)
        sec = sorted(times)[len(times) // 2]
        out["kinds"][kind] = {"seconds": sec, "macs": mac, "rate": mac / sec, "batch": batch if kind != "forward" else 1,
                              "steps": n}
        log(f"[plan] timed {kind}: {sec:.3f} s/step ({2 * mac / sec / 1e9:.1f} GFLOP/s) "
            f"in {time.perf_counter() - t0:.0f} s")
        del step, models, opts, data
    return out


def load_or_time(timing: str, *, log: Callable[[str], None] = print) -> dict | None:
    """``timing``: "cached" (the cache if it fits this machine, else None), "measure" (the cache, else time
    now and store), "force" (time now and store), "off" (None)."""
    if timing == "off":
        return None
    path = cache_path()
    fp = device_fingerprint()
    if timing != "force" and path.is_file():
        try:
            cached = json.loads(path.read_text())
            if cached.get("fingerprint") == fp:
                return cached
        except ValueError:
            pass
    if timing == "cached":
        return None
    t = time_steps(log=log)
    io.write_json(path, t)
    return t


def estimate(stages: list[PlanStage], timing: dict | None) -> None:
    if timing is None:
        return
    gpu = timing["fingerprint"]["device"] == "cuda"
    for s in stages:
        kind = KIND_OF.get(s.kind)
        if kind is None or not s.macs_per_step or kind not in timing["kinds"]:
            continue
        if callable(s.macs_per_step):
            s.macs_per_step = float(s.macs_per_step())
        rate = timing["kinds"][kind]["rate"]
        if not gpu:
            rate = rate * cpu_factor(timing, kind)
        s.gpu_hours = s.macs_per_step * s.steps / rate / 3600


def cpu_factor(timing: dict, kind: str) -> float:
    """V100 rate / this CPU's rate for ``kind`` (FLOP/s = 2 x MAC/s)."""
    return V100_SUSTAINED_TFLOPS * 1e12 / (2 * timing["kinds"][kind]["rate"])


def cached_status(profile: str, name: str) -> str:
    if finished(profile, name) is not None:
        return "cached"
    d = config.results_dir(profile) / "artifacts" / name
    if d.is_dir():
        return "partial (resumes)" if any(d.glob("checkpoint*")) else "started"
    return "to run"


def build_plan(profile: str = "paper", *, timing: str = "cached", results_profile: str | None = None,
               log: Callable[[str], None] = print) -> Plan:
    """The plan of ``profile``: stages of every planner, cached status (under ``results/<profile>``, or
    ``results_profile``), and estimates when step timings are available (``timing``: see :func:`load_or_time`)."""
    prof = config.load(profile)
    stages: list[PlanStage] = []
    for fn in PLANNERS.values():
        stages += fn(prof)
    stages = _unique(stages)
    for s in stages:
        s.cached = cached_status(results_profile or profile, s.name)
    t = load_or_time(timing, log=log)
    estimate(stages, t)
    dev = ""
    if t:
        f = t["fingerprint"]
        dev = f"{f['name']} ({f['device']})"
    return Plan(profile=profile, stages=stages, timing=t, device=dev)


def basis_text(plan: Plan) -> str:
    t = plan.timing
    if t is None:
        return ("GPU-hours not estimated: no step timings for this machine yet (`srlib plan --profile "
                f"{plan.profile}` times a few steps per kind and caches them in {cache_path()}).")
    f = t["fingerprint"]
    kinds = t["kinds"]
    rates = "; ".join(f"{k} {v['seconds']:.3g} s/step at batch {v['batch']} = {2 * v['rate'] / 1e9:.1f} GFLOP/s"
                      for k, v in kinds.items())
    if f["device"] == "cuda":
        return (f"Basis: measured on this GPU ({f['name']}, torch {f['torch']}), one representative step per kind "
                f"at MFAGAN's {t['shape']}: {rates}. Each stage's MACs per step (counted on its own architectures) "
                f"/ its kind's rate x its iterations; GPU-hours on {f['name']}, not a V100.")
    facs = ", ".join(f"{k} x{cpu_factor(t, k):,.0f}" for k in kinds)
    return (f"Basis: measured on this CPU ({f['name']}, {f['threads']} torch threads, torch {f['torch']}): one "
            f"representative step per kind at MFAGAN's {t['shape']}: {rates}. Scaled to a V100 by the stated "
            f"factor (a V100 assumed to sustain {V100_SUSTAINED_TFLOPS:g} TFLOP/s fp32 on these steps, about a third "
            f"of its 15.7 peak; not measured): {facs}. Each stage's MACs per step (counted on its own architectures) "
            "/ the scaled rate x its iterations: V100 GPU-hours, an estimate from a CPU.")


def fmt_hours(h: float | None) -> str:
    if h is None:
        return "—"
    return f"{h:.2g}" if h < 1 else (f"{h:.2f}" if h < 10 else f"{h:,.0f}")


def fmt_int(x: int | None) -> str:
    return "—" if x is None else f"{x:,}"


def format_plan(plan: Plan) -> str:
    lines = [f"Plan of the {plan.profile!r} profile (results/{plan.profile}/artifacts; cached = a complete "
             "manifest there; its key is checked when the stage runs)", ""]
    w = max([46] + [len(s.name) for s in plan.stages])
    hdr = f"{'paper':<17} {'stage':<{w}} {'kind':<9} {'iters':>10} {'batch':>5} {'patch':>5} {'cached':<11} {'GPU-h':>8}  what"
    lines.append(hdr)
    lines.append("-" * len(hdr))
    for s in plan.stages:
        lines.append(f"{s.paper:<17} {s.name:<{w}} {s.kind:<9} {fmt_int(s.iterations):>10} {fmt_int(s.batch):>5} "
                     f"{s.patch:>5} {s.cached:<11} {fmt_hours(s.gpu_hours):>8}  {s.what}")
    lines += ["", "Totals (GPU-hours, estimated):"]
    for what, h, printed in plan.totals():
        lines.append(f"  {what:<66} {fmt_hours(h):>8}" + (f"   paper: {printed}" if printed else ""))
    lines += ["", basis_text(plan)]
    return "\n".join(lines)
