"""A tiny seeded training run for the loop tests; also a script the tests run (and kill) in a subprocess.

    python tests/_train_script.py RUN_DIR [--steps N] [--sleep S] [--log-every K] [--ckpt-every C]
"""
from __future__ import annotations

import argparse
import time

import torch
import torch.nn as nn

from srlib.training import loop

SEED = 7
STEPS = 30
CKPT_EVERY = 5
LOG_EVERY = 2   # not a divisor of CKPT_EVERY: the checkpointed metric sums matter


def build(seed: int = SEED):
    """Model (with dropout), Adam and StepLR, built from ``seed``."""
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Dropout2d(0.2),
                          nn.Conv2d(8, 12, 3, padding=1), nn.PixelShuffle(2))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=7, gamma=0.5)
    return {"net": model}, {"opt": opt}, {"sched": sched}


def batches(step: int):
    """Synthetic LR/HR pairs: a pure function of (SEED, step)."""
    g = loop.step_generator(SEED, step)
    hr = torch.rand(4, 3, 16, 16, generator=g)
    lr = nn.functional.avg_pool2d(hr, 2)
    return lr, hr


def make_step_fn(sleep: float = 0.0, on_step=None):
    def step_fn(step, batch, models, optimizers):
        if on_step is not None:
            on_step(step)
        lr, hr = batch
        noisy = lr + 0.05 * torch.randn_like(lr)        # global RNG: restored on resume
        loss = nn.functional.l1_loss(models["net"](noisy), hr)
        optimizers["opt"].zero_grad()
        loss.backward()
        optimizers["opt"].step()
        if sleep:
            time.sleep(sleep)
        return {"loss": loss, "lr": optimizers["opt"].param_groups[0]["lr"]}
    return step_fn


def run(run_dir, *, steps: int = STEPS, sleep: float = 0.0, log_every: int = LOG_EVERY,
        ckpt_every: int = CKPT_EVERY, on_step=None):
    models, opts, scheds = build()
    res = loop.train(run_dir, models=models, optimizers=opts, schedulers=scheds,
                     step_fn=make_step_fn(sleep, on_step), batches=batches, total_steps=steps, seed=SEED,
                     log_every=log_every, ckpt_every=ckpt_every, progress=False)
    return res, models, opts, scheds


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("run_dir")
    p.add_argument("--steps", type=int, default=STEPS)
    p.add_argument("--sleep", type=float, default=0.0)
    p.add_argument("--log-every", type=int, default=LOG_EVERY)
    p.add_argument("--ckpt-every", type=int, default=CKPT_EVERY)
    a = p.parse_args()
    torch.set_num_threads(1)
    run(a.run_dir, steps=a.steps, sleep=a.sleep, log_every=a.log_every, ckpt_every=a.ckpt_every)
