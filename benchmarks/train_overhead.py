"""Overhead of srlib.training.loop.train over a bare PyTorch loop on the same model and data.

Model: MFANet(num_feat=32), LR patches 24x24 (HR 96x96), batch 8, Adam, L1. The same step body runs in
both; the loop adds its bookkeeping (metric meter with a ``.item()`` per scalar, tqdm progress, the metrics
log every ``--log-every`` steps, the stop-signal check; no scheduler). A step's time is the interval
between the starts of two consecutive steps (batch creation + step + bookkeeping), with a CUDA
synchronisation at each stamp on GPU. Blocks of ``--block`` steps alternate bare/loop (ABBA order) after
a warm-up; each loop block is one ``train()`` call in a fresh run folder (its setup and final checkpoint
fall outside the timed intervals; the checkpoint time is reported separately, amortised over
``--ckpt-every``). Estimates: (1) the medians over all timed steps; (2) drift-robust: the median over
rounds of (loop block median / bare block median - 1); (3) immune to the model's timing noise: the loop's
own mean cost per step with a no-op step function (500 steps), as a percentage of the bare step.
Blocks of one step (the default) interleave finest: on the shared 2-core CPU, 5-step blocks scattered
by +-15% from run to run, 1-step blocks by +-1.5%. A 1-step block never reaches a log line; (3) includes
the log writes (mean over 500 steps).

    python benchmarks/train_overhead.py [--profile mini] [--device auto|cpu|cuda] [--steps 30] [--threads N]

Writes ``results/<profile>/artifacts/benchmarks/train_overhead.json`` and prints the medians and the
overhead in percent (target < 5%).
"""
from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from srlib import config, io
from srlib.mfagan.mfanet import MFANet
from srlib.training import loop

TARGET_PCT = 5.0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--profile", default=None,
                    help="results go to results/<profile>/ (default: $SRLIB_PROFILE or mini)")
    ap.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    ap.add_argument("--steps", type=int, default=30, help="timed steps per variant")
    ap.add_argument("--block", type=int, default=1, help="steps per interleaved block")
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--log-every", type=int, default=10)
    ap.add_argument("--ckpt-every", type=int, default=100, help="only used to amortise the checkpoint time")
    ap.add_argument("--num-feat", type=int, default=32)
    ap.add_argument("--patch", type=int, default=24)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: leave torch's default)")
    args = ap.parse_args(argv)
    if args.threads > 0:
        torch.set_num_threads(args.threads)

    dev = torch.device("cuda" if args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
                       else "cpu")
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    seed = 0
    io.seed_everything(seed, True)               # what train() sets up: both variants run under it
    model = MFANet(num_feat=args.num_feat).to(dev).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-4, betas=(0.5, 0.999))

    def batches(step: int):
        g = loop.step_generator(seed, step)
        hr = torch.rand(args.batch, 3, 4 * args.patch, 4 * args.patch, generator=g)
        return F.avg_pool2d(hr, 4), hr

    def body(batch):
        lr, hr = (t.to(dev, non_blocking=True) for t in batch)
        opt.zero_grad(set_to_none=True)
        loss = F.l1_loss(model(lr), hr)
        loss.backward()
        opt.step()
        return loss

    def now() -> float:
        sync()
        return time.perf_counter()

    def bare(n: int, start: int) -> list[float]:
        stamps = []
        for step in range(start, start + n + 1):
            stamps.append(now())
            if step < start + n:
                body(batches(step))
        return [b - a for a, b in zip(stamps, stamps[1:])]

    tmp = Path(tempfile.mkdtemp(prefix="train_overhead_"))
    ckpt_times: list[float] = []

    def looped(n: int, tag: str) -> list[float]:
        stamps: list[float] = []

        def step_fn(step, batch, models, optimizers):
            stamps.append(now())
            return {"loss": body(batch)}

        res = loop.train(tmp / tag, models={"G": model}, optimizers={"G": opt}, step_fn=step_fn,
                         batches=batches, total_steps=n + 1, seed=seed, log_every=args.log_every,
                         ckpt_every=10 ** 9, desc=f"loop {tag}")
        end = now()
        ckpt_times.append(end - stamps[-1])      # last step + final checkpoint + teardown (upper bound)
        assert res.step == n + 1
        return [b - a for a, b in zip(stamps, stamps[1:])]

    bare(args.warmup, 0)
    looped(args.warmup, "warmup")
    t_bare: list[float] = []
    t_loop: list[float] = []
    paired: list[float] = []                     # per round: loop block median / bare block median - 1
    rounds = max(1, -(-args.steps // args.block))
    for r in range(rounds):
        order = ("bare", "loop") if r % 2 == 0 else ("loop", "bare")
        blk = {}
        for kind in order:
            blk[kind] = bare(args.block, 1000 * (r + 1)) if kind == "bare" else looped(args.block, f"r{r}")
        t_bare += blk["bare"]
        t_loop += blk["loop"]
        paired.append(statistics.median(blk["loop"]) / statistics.median(blk["bare"]) - 1)

    # the loop's own per-step cost, free of the model's noise: a step function that only returns a scalar
    noop_stamps: list[float] = []

    def noop(step, batch, models, optimizers):
        noop_stamps.append(time.perf_counter())
        return {"loss": torch.zeros((), device=dev)}

    n_noop = 500
    loop.train(tmp / "noop", models={"G": model}, optimizers={"G": opt}, step_fn=noop, batches=lambda s: None,
               total_steps=n_noop, seed=seed, log_every=args.log_every, ckpt_every=10 ** 9, desc="noop")
    noop_s = statistics.fmean(b - a for a, b in zip(noop_stamps, noop_stamps[1:]))   # mean: log writes included

    med_b, med_l = statistics.median(t_bare), statistics.median(t_loop)
    overhead = 100.0 * (med_l - med_b) / med_b
    ckpt_s = statistics.median(ckpt_times[1:] or ckpt_times)
    out = {
        "device": str(dev),
        "device_name": torch.cuda.get_device_name(dev) if dev.type == "cuda" else platform.processor(),
        "torch": torch.__version__, "threads": torch.get_num_threads(),
        "model": f"MFANet(num_feat={args.num_feat})", "lr_patch": args.patch, "batch": args.batch,
        "optimizer": "Adam", "loss": "L1", "log_every": args.log_every,
        "timed_steps": {"bare": len(t_bare), "loop": len(t_loop)}, "block": args.block, "warmup": args.warmup,
        "median_step_s": {"bare": med_b, "loop": med_l},
        "mean_step_s": {"bare": statistics.fmean(t_bare), "loop": statistics.fmean(t_loop)},
        "overhead_pct": overhead, "overhead_ms_per_step": 1000 * (med_l - med_b),
        "overhead_pct_paired": 100.0 * statistics.median(paired), "paired_rounds_pct": [100 * p for p in paired],
        "loop_bookkeeping_s_per_step": noop_s, "overhead_pct_bookkeeping": 100.0 * noop_s / med_b,
        "last_step_plus_checkpoint_s": ckpt_s,
        "checkpoint_amortised_pct": 100.0 * max(ckpt_s - med_b, 0.0) / args.ckpt_every / med_b,
        "ckpt_every": args.ckpt_every, "target_pct": TARGET_PCT, "within_target": overhead < TARGET_PCT,
        "steps_bare_s": t_bare, "steps_loop_s": t_loop,
    }
    path = config.results_dir(config.profile_name(args.profile)) / "artifacts" / "benchmarks" / "train_overhead.json"
    io.write_json(path, out)
    print(f"device {dev} ({out['device_name']}), {torch.get_num_threads()} threads, "
          f"{len(t_bare)}+{len(t_loop)} timed steps")
    print(f"bare PyTorch loop : {1000 * med_b:8.2f} ms/step (median)")
    print(f"srlib loop.train  : {1000 * med_l:8.2f} ms/step (median)")
    print(f"overhead          : {overhead:+.2f}%  ({1000 * (med_l - med_b):+.2f} ms/step; target < {TARGET_PCT:.0f}%)")
    print(f"paired estimate   : {out['overhead_pct_paired']:+.2f}% (median over {len(paired)} ABBA rounds of "
          f"{args.block}+{args.block} steps)")
    print(f"loop bookkeeping  : {1e6 * noop_s:.0f} us/step (mean) with a no-op step = "
          f"{out['overhead_pct_bookkeeping']:.3f}% of the bare step")
    print(f"checkpoint        : {ckpt_s:.3f} s (last step incl.), {out['checkpoint_amortised_pct']:.2f}% "
          f"amortised at ckpt_every={args.ckpt_every}")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
