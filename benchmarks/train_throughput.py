"""Training throughput of the suite's steps beside the machine's own dense-convolution FLOP/s (same run).

Steps (the suite's own step classes and registry models, the mini profile's widths and loss weights):

  mfanet_l1       PixelStep (L1), MFANet-32                               (MFAGAN pre-training)
  mfagan_gan      GANStep (Eq. 1: L1 + perceptual + 10 x vanilla adv.), MFANet-32 + PatchGAN-24 (MFAGAN.L)
  esrgan_gan      GANStep (RaGAN, 1e-2 L1 + perceptual + 5e-3 adv.), ESRGAN-mini (24 ch, 2 RRDBs) + ESRGAN D-16
  mfagan_distill  DistillationStep (Eqs. 3-4, lambda 0.05 each), G24/D16 from frozen G32/D24 teachers,
                  srlib.training.distill.FeatureDistiller projections
  carn_l1         PixelStep (L1), CARN-32                                 (reference baseline)
  tpsr_l1         PixelStep (L1), TPSR's published cell                   (reference baseline)

The perceptual term is the offline pixel-space stand-in (srlib.training.losses.PixelStandIn), as in every
stage on machines without the VGG19 ImageNet weights; no validation inside the timed steps.

Modes: ``fp32`` (NCHW), ``fp32_cl`` (channels_last), ``bf16_cl`` (bfloat16 autocast + channels_last),
``bf16`` (autocast, NCHW): the training loop's ``train.precision`` / ``train.channels_last``
(srlib.training.loop; autocast with ``cache_enabled=False`` as there). Shapes ``BxP``: batch B of LR
patches P x P (HR 4P x 4P), synthetic uniform data made before timing.

FLOP convention (printed with the table): MACs per forward from srlib.complexity.counters.measure
(convolutions and matrix products, no bias adds), 2 FLOP per MAC, and per model call a factor 3 when
its backward computes weight and input gradients (forward + backward ~ 3 forwards), 2 for the
discriminator inside the generator update (input gradients only; its weights are frozen there), 1 for
forwards without gradient (teachers, RaGAN's detached D(hr)). Elementwise ops, losses and the optimizer
count 0 (torch.utils.flop_counter agrees within 1%, TPSR 4%: tests/test_training_precision.py). Achieved
GFLOP/s = those FLOPs / step time. Dense conv = conv3x3 64->64 on 16x64x64, forward + input and weight
gradients (6 x MACs), in the same mode; ratio = step GFLOP/s / dense conv GFLOP/s.

Timing: every (step, mode) of a shape and the dense conv of each mode are built first, warmed up, then
visited round-robin (order reversed every round) for ``--rounds`` rounds of ``--per-visit`` steps, each
step timed alone. Throughput uses the fastest of those steps (``--stat min``, default) or their median;
both times are printed. The shared 2-vCPU machine this was written on loses a vCPU to other work now and
then (a step 3-10x slower at random): such slowdowns only ever add time, so the best of the interleaved
steps, and the same statistic for the dense conv, keep them out of the ratio. ``--breakdown`` profiles
the fastest of 5 steps per case (convolutions, optimizer, casts, other ops, time outside any op).
``--tables-from A.json B.json`` prints the tables of several runs together (e.g. one run per shape).

    python benchmarks/train_throughput.py --quick                       # < 1 min
    python benchmarks/train_throughput.py                               # every step, 3 modes, 3 shapes
    python benchmarks/train_throughput.py --steps mfanet_l1 --shapes 4x16,16x32,32x32 --modes fp32,bf16_cl
    python benchmarks/train_throughput.py --steps mfanet_l1 --shapes 4x16 --compile

Writes ``results/<profile>/artifacts/benchmarks/train_throughput.json`` (or ``--json``) and prints
markdown tables.

What it found on the 2-vCPU AMD EPYC (Zen 4, AVX512-BF16, no AMX) it was written on, torch 2.11, best
of interleaved steps: dense conv 125-180 GFLOP/s in fp32 (channels_last the faster) and 300-370 in bf16
+ channels_last. At the mini shape (4 x 16x16) bf16 + channels_last makes the steps 1.1-1.8x faster
than fp32, yet they reach only 12-34% of the bf16 dense conv. At 16 x 32x32 and 16 x 48x48 (bf16 +
channels_last) ESRGAN-mini, CARN and the MFAGAN GAN step reach 42-60% (fp32 + channels_last: 50-69% of
the fp32 conv), MFANet, TPSR and the distillation step 29-40%. Why (``--breakdown``): at 4 x 16x16 a
conv sees 1,024 LR positions; the convolution kernels run at 21-38% of the dense conv and take only
41-58% of the step, the rest being elementwise, concatenation and pooling ops (20-31%) and time outside
any op (12-23%: Python, autograd, dispatch); the second thread adds only 10-20% there (``--threads 1``).
At 16 x 32x32 the kernels reach 57-79% of the dense conv, but MFANet's other ops take 46% of its bf16
step (a fifth of it gradient accumulation, ``add_``): bf16 speeds up the convolutions only.
``--compile`` (inductor): 0-25% faster steps at 4 x 16x16, after 20-65 s of compilation per model,
shape and precision (cold cache): no gain over a mini stage of 60-200 steps.
"""
from __future__ import annotations

import argparse
import ctypes
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from srlib import config, io
from srlib.complexity.counters import measure
from srlib.models import build
from srlib.training import gan, losses, loop, precision, runs
from srlib.training.distill import FeatureDistiller

STEPS = ("mfanet_l1", "mfagan_gan", "esrgan_gan", "mfagan_distill", "carn_l1", "tpsr_l1")
MODES = {"fp32": (None, False), "fp32_cl": (None, True), "bf16_cl": (torch.bfloat16, True),
         "bf16": (torch.bfloat16, False)}
DEFAULT_MODES = ("fp32", "fp32_cl", "bf16_cl")
DEFAULT_SHAPES = ("4x16", "16x32", "16x48")
QUICK = {"steps": ("mfanet_l1", "carn_l1", "esrgan_gan"), "shapes": ("4x16", "16x32"), "rounds": 2,
         "per_visit": 1, "warmup": 1}
CONV = {"n": 16, "c": 64, "hw": 64}       # the dense reference: conv3x3 64->64 on 16x64x64
SCALE = 4


# --------------------------------------------------------------------------------------------------
# The steps
# --------------------------------------------------------------------------------------------------
@dataclass
class Case:
    """One (step, mode, shape): what to call, and the forward calls its FLOPs are counted from."""
    step: str
    mode: str
    batch_size: int
    patch: int
    fn: Callable[[int], Any]
    models: dict[str, nn.Module]
    calls: list[tuple[str, int]] = field(default_factory=list)   # (role, factor): roles in count_models
    count_models: dict[str, tuple[nn.Module, int]] = field(default_factory=dict)  # role -> (model, input side)
    extra_macs: int = 0                                           # per step, factor included
    times: list[float] = field(default_factory=list)
    first_s: float | None = None

    @property
    def key(self) -> str:
        return f"{self.step}/{self.mode}"


ADAM_FUSED: bool | None = None     # None: srlib.training.runs.adam's default (fused on CPU/CUDA)


def _adam(params, lr):
    return runs.adam(list(params), lr, (0.5, 0.999), fused=ADAM_FUSED)


def _batch(b: int, p: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    hr = torch.rand(b, 3, SCALE * p, SCALE * p, generator=g)
    return F.avg_pool2d(hr, SCALE), hr


def _mini():
    return config.load("mini")


def build_case(step: str, mode: str, b: int, p: int, *, compile_models: bool = False) -> Case:
    prof = _mini()
    torch.manual_seed(0)
    dtype, cl = MODES[mode]
    hr_side = SCALE * p
    m = prof.mfagan
    percep = losses.PixelStandIn("mse")
    if step in ("mfanet_l1", "carn_l1", "tpsr_l1"):
        name, kw = {"mfanet_l1": ("mfanet", {"num_feat": m.teacher_g}),
                    "carn_l1": ("carn", dict(prof.baselines.recipe("carn").kw)),
                    "tpsr_l1": ("tpsr", dict(prof.baselines.recipe("tpsr").kw))}[step]
        nets = {"G": build(name, **kw)}
        opts = {"G": _adam(nets["G"].parameters(), 5e-4)}
        step_obj = gan.PixelStep("l1")
        calls = [("G", 3)]
        counted = {"G": (nets["G"], p)}
    elif step == "mfagan_gan":
        nets = {"G": build("mfanet", num_feat=m.teacher_g), "D": build("patchgan_mfagan", num_feat=m.teacher_d)}
        opts = {r: _adam(n.parameters(), m.lr_gan) for r, n in nets.items()}
        w = gan.GANWeights(recon=m.lambda_recon, percep=m.lambda_percep, adv=m.lambda_adv)
        step_obj = gan.GANStep(w, losses.GANLoss("vanilla"), percep)
        calls = [("G", 3), ("D", 2), ("D", 3), ("D", 3)]
        counted = {"G": (nets["G"], p), "D": (nets["D"], hr_side)}
    elif step == "esrgan_gan":
        r = prof.baselines.recipe("esrgan")
        nets = {"G": build("esrgan", **dict(r.kw)), "D": build(r.d, **{**dict(r.d_kw), "input_size": hr_side})}
        opts = {k: _adam(n.parameters(), r.gan_lr) for k, n in nets.items()}
        w = gan.GANWeights(recon=r.w_recon, percep=r.w_percep, adv=r.w_adv, recon_kind=r.recon_loss)
        step_obj = gan.GANStep(w, losses.GANLoss(r.gan), losses.PixelStandIn(r.percep_criterion))
        calls = [("G", 3), ("D", 2), ("D", 1), ("D", 3), ("D", 3)]      # RaGAN: D(hr) detached in the G update
        counted = {"G": (nets["G"], p), "D": (nets["D"], hr_side)}
    elif step == "mfagan_distill":
        from srlib.mfagan import distillation
        from srlib.mfagan.stages import _d_widths, _mfam_widths

        nets = {"G": build("mfanet", num_feat=m.student_g), "D": build("patchgan_mfagan", num_feat=m.student_d)}
        tg, td = build("mfanet", num_feat=m.teacher_g), build("patchgan_mfagan", num_feat=m.teacher_d)
        for t in (tg, td):
            t.requires_grad_(False)
        dg = FeatureDistiller(_mfam_widths(nets["G"]), _mfam_widths(tg))
        dd = FeatureDistiller(_d_widths(nets["D"]), _d_widths(td))
        nets.update({"distill_g": dg, "distill_d": dd, "teacher_g": tg, "teacher_d": td})
        opts = {"G": _adam(list(nets["G"].parameters()) + list(dg.parameters()), m.lr_gan),
                "D": _adam(list(nets["D"].parameters()) + list(dd.parameters()), m.lr_gan)}
        w = gan.GANWeights(recon=m.lambda_recon, percep=m.lambda_percep, adv=m.lambda_adv)
        step_obj = distillation.DistillationStep(w, losses.GANLoss("vanilla"), percep,
                                                 lambda_g=m.lambda_distill_g, lambda_d=m.lambda_distill_d,
                                                 teacher_g=tg, teacher_d=td, distill_g=dg, distill_d=dd)
        calls = [("G", 3), ("TG", 1), ("D", 2), ("D", 3), ("D", 3), ("TD", 1), ("TD", 1)]
        counted = {"G": (nets["G"], p), "TG": (tg, p), "D": (nets["D"], hr_side), "TD": (td, hr_side)}
    else:
        raise ValueError(f"unknown step {step!r}; valid: {', '.join(STEPS)}")

    if cl:
        for n in nets.values():
            n.to(memory_format=torch.channels_last)
    lr_t, hr_t = _batch(b, p)
    batch = loop.to_channels_last((lr_t, hr_t)) if cl else (lr_t, hr_t)
    models = {k: v for k, v in nets.items() if k in ("G", "D")}
    if compile_models:
        models = {k: torch.compile(v) for k, v in models.items()}
        if step == "mfagan_distill":   # the step holds the teachers itself
            step_obj.teacher_g, step_obj.teacher_d = torch.compile(nets["teacher_g"]), torch.compile(nets["teacher_d"])
    amp = (lambda: torch.autocast("cpu", dtype=dtype, cache_enabled=False)) if dtype is not None else None

    def fn(i: int):
        if amp is None:
            return step_obj(i, batch, models, opts)
        with amp():
            return step_obj(i, batch, models, opts)

    case = Case(step, mode, b, p, fn, nets, calls, counted)
    if step == "mfagan_distill":
        case.extra_macs = _projection_macs(nets, b, p)
    return case


def _projection_macs(nets, b: int, p: int) -> int:
    """MACs of the distillation projections (1x1 convs) per step: G's on the student's MFAM maps (x3,
    trained), D's on the real and fake feature maps (2 calls x3)."""
    macs = 0
    for proj, cs, ct in zip(nets["distill_g"].projections, nets["distill_g"].student_channels,
                            nets["distill_g"].teacher_channels):
        if isinstance(proj, nn.Conv2d):
            macs += 3 * b * p * p * cs * ct
    with torch.no_grad():
        _, feats = nets["D"](torch.zeros(1, 3, SCALE * p, SCALE * p), return_features=True)
    for proj, f, ct in zip(nets["distill_d"].projections, feats, nets["distill_d"].teacher_channels):
        if isinstance(proj, nn.Conv2d):
            macs += 2 * 3 * b * f.shape[-2] * f.shape[-1] * f.shape[1] * ct
    return macs


_MAC_CACHE: dict[tuple, int] = {}


def step_macs(case: Case) -> int:
    """Forward-equivalent MACs x factors of one step (module docstring)."""
    total = case.extra_macs
    for role, factor in case.calls:
        model, side = case.count_models[role]
        key = (case.step, role, case.batch_size, side)
        if key not in _MAC_CACHE:
            _MAC_CACHE[key] = measure(model, (side, side), batch=case.batch_size).macs_no_bias
        total += factor * _MAC_CACHE[key]
    return total


# --------------------------------------------------------------------------------------------------
# The dense reference
# --------------------------------------------------------------------------------------------------
def conv_case(mode: str) -> Case:
    dtype, cl = MODES[mode]
    g = torch.Generator().manual_seed(0)
    n, c, hw = CONV["n"], CONV["c"], CONV["hw"]
    x = torch.randn(n, c, hw, hw, generator=g)
    conv = nn.Conv2d(c, c, 3, padding=1, bias=False)
    if cl:
        x, conv = x.contiguous(memory_format=torch.channels_last), conv.to(memory_format=torch.channels_last)
    x.requires_grad_(True)

    def fn(i: int):
        with torch.autocast("cpu", dtype=dtype or torch.bfloat16, enabled=dtype is not None, cache_enabled=False):
            y = conv(x)
        conv.weight.grad = x.grad = None
        y.backward(torch.ones_like(y))

    case = Case("dense_conv3x3", mode, n, hw, fn, {"conv": conv})
    case.extra_macs = 3 * n * c * hw * hw * c * 9
    return case


# --------------------------------------------------------------------------------------------------
# Timing
# --------------------------------------------------------------------------------------------------
def _time(case: Case, n: int, start: int) -> None:
    for i in range(start, start + n):
        t = time.perf_counter()
        case.fn(i)
        case.times.append(time.perf_counter() - t)


def run_cases(cases: list[Case], *, warmup: int, rounds: int, per_visit: int, log=print) -> None:
    for c in cases:
        t = time.perf_counter()
        c.fn(0)
        c.first_s = time.perf_counter() - t
        for i in range(1, warmup):
            c.fn(i)
    for r in range(rounds):
        order = cases if r % 2 == 0 else cases[::-1]
        for c in order:
            _time(c, per_visit, 1000 * (r + 1))
        log(f"  round {r + 1}/{rounds} done, load {os.getloadavg()[0]:.2f}")


def malloc_tune() -> bool:
    """glibc: keep freed memory in the heap (no per-step mmap/munmap and page faults for big tensors)."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    m_trim_threshold, m_top_pad, m_mmap_threshold = -1, -2, -3
    ok = libc.mallopt(m_mmap_threshold, 32 * 2 ** 20)
    ok &= libc.mallopt(m_trim_threshold, 2 ** 31 - 1)
    ok &= libc.mallopt(m_top_pad, 64 * 2 ** 20)
    return bool(ok)


# --------------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------------
def _fmt_px(x: float) -> str:
    return f"{x / 1e3:.1f}k"


def print_tables(results: list[dict], *, compile_: bool = False, breakdown: bool = False) -> None:
    """Markdown tables of ``results`` (rows of one or several runs: each row carries its own dense-conv
    reference, measured in the run that timed it)."""
    steps = list(dict.fromkeys(r["step"] for r in results))
    modes = list(dict.fromkeys(r["mode"] for r in results))
    shapes = sorted(dict.fromkeys((r["batch"], r["lr_patch"]) for r in results), key=lambda s: (s[0] * s[1] ** 2, s))
    base = {r["step"]: r["lr_px_per_s"] for r in results if (r["batch"], r["lr_patch"]) == shapes[0]
            and r["mode"] == modes[0]}
    print()
    print("FLOPs per step = 2 FLOP/MAC x forward MACs (srlib.complexity.counters.measure: conv + matmul, no bias "
          "adds) x 3 for each trained forward (forward + backward), x2 for D inside the G update, x1 for no-grad "
          f"forwards. Dense conv = conv3x3 {CONV['c']}->{CONV['c']} on {CONV['n']}x{CONV['hw']}x{CONV['hw']}, "
          "forward + backward (6 x MACs), same dtype and layout, same run. ratio = GFLOP/s / dense conv GFLOP/s. "
          f"px/s x = LR pixels/s over {modes[0]} at {shapes[0][0]}x{shapes[0][1]}.")
    print()
    stat = results[0].get("stat", "median")
    why = ("the best of the interleaved steps: other work on a shared machine only slows steps down"
           if stat == "min" else "the median of the interleaved steps")
    print(f"Throughput columns use the {stat} step time ({why}), the dense conv likewise; ms/step shows "
          "min / median.")
    print()
    print("| step | B x LR | mode | ms/step min / med | LR px/s | px/s x | GFLOP/step | GFLOP/s | dense conv GFLOP/s | ratio |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|")
    order = sorted(results, key=lambda r: (steps.index(r["step"]), shapes.index((r["batch"], r["lr_patch"])),
                                           modes.index(r["mode"])))
    for r in order:
        rel = f"{r['lr_px_per_s'] / base[r['step']]:.2f}" if r["step"] in base else ""
        print(f"| {r['step']} | {r['batch']}x{r['lr_patch']} | {r['mode']} | {1e3 * r['min_s']:.1f} / {1e3 * r['median_s']:.1f} | "
              f"{_fmt_px(r['lr_px_per_s'])} | {rel} | {r['gflop_per_step']:.2f} | "
              f"{r['gflops']:.1f} | {r['dense_conv_gflops']:.1f} | {100 * r['ratio']:.0f}% |")
    print()
    print("| step | B x LR | " + " | ".join(modes) + " |")
    print("|---|---|" + "---:|" * len(modes))
    for s in steps:
        for b, p in shapes:
            cells = []
            for mo in modes:
                r = next((x for x in results if (x["step"], x["mode"], x["batch"], x["lr_patch"]) == (s, mo, b, p)), None)
                cells.append("" if r is None else
                             f"{1e3 * r.get('step_s', r['median_s']):.0f} ms, {r['gflops']:.0f} GF/s ({100 * r['ratio']:.0f}%)")
            print(f"| {s} | {b}x{p} | " + " | ".join(cells) + " |")
    if breakdown and any("breakdown" in r for r in results):
        print()
        print("Where a step's time goes (torch.profiler, self CPU time of the fastest of 5 profiled steps; the "
              "profiler adds a little per op): conv = aten convolution forward + backward kernels; conv GFLOP/s = the step's FLOPs / conv "
              "time; optimizer = Adam.step; casts = autocast's dtype copies; other ops = every other aten op "
              "(elementwise, concatenation, pooling, losses...); outside ops = the rest of the wall time (Python, "
              "autograd engine, dispatcher).")
        print()
        print("| step | B x LR | mode | ms (profiled step) | conv | conv GFLOP/s | conv / dense | optimizer | casts | other ops | outside ops |")
        print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for r in order:
            bd = r.get("breakdown")
            if not bd:
                continue
            sh = {k: 100 * v / bd["wall_s"] for k, v in bd.items() if k.endswith("_s") and k != "wall_s"}
            conv_gf = r["gflop_per_step"] / bd["conv_s"] if bd["conv_s"] else float("nan")
            print(f"| {r['step']} | {r['batch']}x{r['lr_patch']} | {r['mode']} | {1e3 * bd['wall_s']:.1f} | "
                  f"{sh['conv_s']:.0f}% | {conv_gf:.0f} | {100 * conv_gf / r['dense_conv_gflops']:.0f}% | "
                  f"{sh['optimizer_s']:.0f}% | {sh['casts_s']:.0f}% | {sh['other_s']:.0f}% | {sh['outside_s']:.0f}% |")
    if compile_:
        print()
        print("torch.compile: first step (compilation included) vs median step")
        for r in order:
            print(f"  {r['step']} {r['batch']}x{r['lr_patch']} {r['mode']}: first {r['first_step_s']:.1f} s, "
                  f"median {1e3 * r['median_s']:.1f} ms")


_CONV_OPS = ("aten::mkldnn_convolution", "aten::convolution_backward", "aten::_convolution",
             "aten::convolution_overrideable", "aten::slow_conv2d_forward", "aten::_slow_conv2d_backward",
             "aten::thnn_conv2d", "aten::slow_conv_transpose2d")
_CAST_OPS = ("aten::_to_copy", "aten::copy_", "aten::to")


def breakdown(case: Case, tries: int = 5) -> dict:
    """Self CPU time per category of one profiled step, the fastest of ``tries`` (see :func:`print_tables`)."""
    best = None
    for i in range(tries):
        bd = _profile_one(case, i)
        if best is None or bd["wall_s"] < best["wall_s"]:
            best = bd
    return best


def _profile_one(case: Case, i: int) -> dict:
    from torch.profiler import ProfilerActivity, profile

    steps = 1
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        t = time.perf_counter()
        case.fn(i)
        wall = time.perf_counter() - t
    cats = {"conv_s": 0.0, "optimizer_s": 0.0, "casts_s": 0.0, "other_s": 0.0}
    for ev in prof.key_averages():
        self_s = ev.self_cpu_time_total / 1e6
        if ev.key in _CONV_OPS:
            cats["conv_s"] += self_s
        elif ev.key.startswith("Optimizer.step") or ev.key.startswith("aten::_fused_adam") or ev.key.startswith("aten::_foreach"):
            cats["optimizer_s"] += self_s
        elif ev.key in _CAST_OPS:
            cats["casts_s"] += self_s
        elif ev.key.startswith("aten::"):
            cats["other_s"] += self_s
    out = {k: v / steps for k, v in cats.items()}
    out["wall_s"] = wall / steps
    out["outside_s"] = max(out["wall_s"] - sum(out[k] for k in cats), 0.0)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help=f"{', '.join(QUICK['steps'])} at "
                    f"{', '.join(QUICK['shapes'])}, 2 rounds (< 1 min; few samples, so ratios can be off by "
                    "a third on a busy machine)")
    ap.add_argument("--steps", default=None, help=f"comma-separated, from {', '.join(STEPS)} (default: all)")
    ap.add_argument("--modes", default=None, help=f"comma-separated, from {', '.join(MODES)} "
                    f"(default: {','.join(DEFAULT_MODES)})")
    ap.add_argument("--shapes", default=None, help=f"comma-separated BxP: batch x LR patch side "
                    f"(default: {','.join(DEFAULT_SHAPES)}; mini trains 4x16)")
    ap.add_argument("--rounds", type=int, default=None, help="interleaved rounds (default 4; quick 3)")
    ap.add_argument("--per-visit", type=int, default=None, help="steps timed per visit (default 2; up to 4x "
                    "that below 16x32x32 LR pixels per batch)")
    ap.add_argument("--warmup", type=int, default=None, help="untimed steps per case first (default 3)")
    ap.add_argument("--stat", choices=("min", "median"), default="min",
                    help="per-step time behind the throughput columns (default min: the best of the interleaved "
                    "steps; on a shared machine other work only ever slows a step down); both are printed")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    ap.add_argument("--compile", action="store_true", help="torch.compile every trained model (the first "
                    "step's time includes compilation)")
    ap.add_argument("--malloc-tune", action="store_true", help="glibc mallopt: keep freed memory (no page "
                    "faults per step for large tensors; no measurable effect at 16x32 on the 2-vCPU machine)")
    ap.add_argument("--adam", choices=("suite", "loop"), default="suite", help="suite: srlib.training.runs.adam "
                    "(fused kernel); loop: PyTorch's per-tensor loop (its CPU default, the suite's before)")
    ap.add_argument("--no-deterministic", action="store_true",
                    help="skip torch.use_deterministic_algorithms (the training loop sets it)")
    ap.add_argument("--breakdown", action="store_true", help="also profile the fastest of 5 steps of every "
                    "case: where the time goes (convolutions, optimizer, casts, other ops, outside ops)")
    ap.add_argument("--tables-from", nargs="+", default=None, metavar="JSON",
                    help="print the tables of earlier runs' JSON files (e.g. one run per shape) and exit")
    ap.add_argument("--profile", default=None, help="results go to results/<profile>/ (default: $SRLIB_PROFILE or mini)")
    ap.add_argument("--json", default=None, help="output path (default: results/<profile>/artifacts/"
                    "benchmarks/train_throughput.json)")
    args = ap.parse_args(argv)
    if args.tables_from:
        runs_ = [io.read_json(f) for f in args.tables_from]
        for f, r in zip(args.tables_from, runs_):
            print(f"{f}: {r['cpu']}, torch {r['torch']}, {r['threads']} threads, bf16 modes {r['bf16_modes']}, "
                  f"Adam {r.get('adam')}, load {r['load_avg_start'][0]:.2f} -> {r['load_avg_end'][0]:.2f}")
        print_tables([row for r in runs_ for row in r["results"]], compile_=any(r["compile"] for r in runs_),
                     breakdown=True)
        return 0

    q = QUICK if args.quick else {}
    steps = args.steps.split(",") if args.steps else list(q.get("steps", STEPS))
    modes = args.modes.split(",") if args.modes else list(DEFAULT_MODES)
    shapes = args.shapes.split(",") if args.shapes else list(q.get("shapes", DEFAULT_SHAPES))
    rounds = args.rounds or q.get("rounds", 4)
    per_visit = args.per_visit or q.get("per_visit", 2)
    warmup = args.warmup if args.warmup is not None else q.get("warmup", 3)
    for s in steps:
        if s not in STEPS:
            ap.error(f"unknown step {s!r}; valid: {', '.join(STEPS)}")
    for mo in modes:
        if mo not in MODES:
            ap.error(f"unknown mode {mo!r}; valid: {', '.join(MODES)}")
    try:
        shape_list = [tuple(int(v) for v in s.lower().split("x")) for s in shapes]
        assert all(len(s) == 2 and min(s) > 0 for s in shape_list)
    except (ValueError, AssertionError):
        ap.error(f"--shapes takes BxP pairs such as 4x16,16x32, got {args.shapes!r}")
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    global ADAM_FUSED
    ADAM_FUSED = False if args.adam == "loop" else None
    tuned = malloc_tune() if args.malloc_tune else False
    io.seed_everything(0, not args.no_deterministic)

    bf16_desc = precision.resolve("bf16", "cpu")[1]
    auto_desc = precision.resolve("auto", "cpu")[1]
    load_before = os.getloadavg()
    t_start = time.time()
    print(f"CPU: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads; bf16 modes run {bf16_desc}; train.precision=auto resolves to "
          f"{auto_desc!r}; Adam: {args.adam}; compile: {args.compile}; malloc tuned: {tuned}; deterministic: "
          f"{not args.no_deterministic}; load average {load_before[0]:.2f} at start", flush=True)

    conv_cases = {mo: conv_case(mo) for mo in modes}
    results: list[dict] = []
    for b, p in shape_list:
        print(f"shape {b}x{p}: building {len(steps) * len(modes)} cases", flush=True)
        cases = [build_case(s, mo, b, p, compile_models=args.compile) for s in steps for mo in modes]
        for c in conv_cases.values():
            c.times = []
        # small shapes: more steps per visit (up to 4x), so each visit lasts about as long
        visit = per_visit * min(4, max(1, (16 * 32 * 32) // (b * p * p)))
        run_cases(cases + list(conv_cases.values()), warmup=warmup, rounds=rounds, per_visit=visit)
        stat = min if args.stat == "min" else statistics.median
        conv_gf = {mo: c.extra_macs * 2 / stat(c.times) / 1e9 for mo, c in conv_cases.items()}
        for c in cases:
            t = stat(c.times)
            flops = 2 * step_macs(c)
            results.append({
                "step": c.step, "mode": c.mode, "batch": b, "lr_patch": p, "stat": args.stat, "step_s": t,
                "median_s": statistics.median(c.times), "min_s": min(c.times), "n": len(c.times),
                "first_step_s": c.first_s, "lr_px_per_s": b * p * p / t, "gflop_per_step": flops / 1e9,
                "gflops": flops / t / 1e9, "dense_conv_gflops": conv_gf[c.mode],
                "dense_conv_median_gflops": conv_cases[c.mode].extra_macs * 2
                / statistics.median(conv_cases[c.mode].times) / 1e9,
                "ratio": flops / t / 1e9 / conv_gf[c.mode], "times_s": c.times,
            })
            if args.breakdown:
                results[-1]["breakdown"] = breakdown(c)
        del cases
    load_after = os.getloadavg()

    print_tables(results, compile_=args.compile, breakdown=args.breakdown)
    print(f"\nload average {load_before[0]:.2f} at start, {load_after[0]:.2f} at the end; "
          f"{time.time() - t_start:.0f} s")

    out = {
        "cpu": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
        "bf16_native": precision.cpu_bf16_native(), "bf16_modes": bf16_desc, "auto_resolves_to": auto_desc,
        "torch": torch.__version__, "threads": torch.get_num_threads(), "deterministic": not args.no_deterministic,
        "compile": args.compile, "malloc_tune": tuned, "adam": args.adam, "rounds": rounds, "per_visit": per_visit,
        "warmup": warmup, "load_avg_start": load_before, "load_avg_end": load_after,
        "dense_conv": dict(CONV), "results": results,
    }
    path = args.json or (config.results_dir(config.profile_name(args.profile)) / "artifacts" / "benchmarks"
                         / "train_throughput.json")
    io.write_json(path, out)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
