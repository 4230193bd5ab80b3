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
beside ours and never used in our column.
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

        if name == "vgg19_conv5_4":
            model = _vgg_for_timing()
        else:
            from .models import build

            model = build(name, **dict(kw or {}))
        _MACS[key] = float(measure(model, tuple(hw)).macs)
    return _MACS[key]


def _vgg_for_timing():
    """VGG19 features up to conv5_4 with random weights: its cost only (never a training loss)."""
    from .training.vgg import VGG19_CFG, VGG19_LAYERS, _features

    f = _features(VGG19_CFG, VGG19_LAYERS["conv5_4"])
    for p in f.parameters():
        p.requires_grad_(False)
    return f.eval()


def pixel_macs(g: dict, batch: int, patch: int) -> float:
    return 3 * macs(g["name"], g.get("kw"), (patch, patch)) * batch


def gan_macs(g: dict, d: dict, batch: int, patch: int, scale: int, *, percep: bool = True, ragan: bool = False,
             teacher_g: dict | None = None, teacher_d: dict | None = None) -> float:
    hr = patch * scale
    dk = {k: v for k, v in (d.get("kw") or {}).items()}
    dm = macs(d["name"], dk, (hr, hr))
    total = 3 * macs(g["name"], g.get("kw"), (patch, patch)) + (2 + 6 + (1 if ragan else 0)) * dm
    if percep:
        total += 3 * macs("vgg19_conv5_4", {}, (hr, hr))
    if teacher_g:
        total += macs(teacher_g["name"], teacher_g.get("kw"), (patch, patch))
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
    per_px = macs(g["name"], g.get("kw"), FORWARD_LR) / (FORWARD_LR[0] * FORWARD_LR[1])
    return per_px * lr_pixels


# ------------------------------------------------------------------------------------------------------
# The stages each paper's notebooks run (one planner per paper; TPSR, AdaSR and AGD add theirs)
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
                out.append(PlanStage(paper, f"baseline_{n}_s{seed}", "cpu", f"{n}: the authors' released weights "
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
    d = config.results_dir(profile) / "artifacts" / name
    if (d / "manifest.json").is_file():
        try:
            if json.loads((d / "manifest.json").read_text()).get("complete"):
                return "cached"
        except ValueError:
            pass
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
    hdr = f"{'paper':<17} {'stage':<46} {'kind':<9} {'iters':>10} {'batch':>5} {'patch':>5} {'cached':<11} {'GPU-h':>8}  what"
    lines.append(hdr)
    lines.append("-" * len(hdr))
    for s in plan.stages:
        lines.append(f"{s.paper:<17} {s.name:<46} {s.kind:<9} {fmt_int(s.iterations):>10} {fmt_int(s.batch):>5} "
                     f"{s.patch:>5} {s.cached:<11} {fmt_hours(s.gpu_hours):>8}  {s.what}")
    lines += ["", "Totals (GPU-hours, estimated):"]
    for what, h, printed in plan.totals():
        lines.append(f"  {what:<66} {fmt_hours(h):>8}" + (f"   paper: {printed}" if printed else ""))
    lines += ["", basis_text(plan)]
    return "\n".join(lines)
