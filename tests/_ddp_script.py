"""A few DDP training steps for tests/test_training_ddp.py; run it under torchrun (gloo on CPU).

    torchrun --nproc_per_node=2 --standalone tests/_ddp_script.py RUN_DIR:STEPS [RUN_DIR:STEPS ...]
Trains each run in turn (one process group, to save start-up time); each rank writes
RUN_DIR/final/rank{R}.pt (its final weights); rank 0 also writes RUN_DIR/final/init.pt.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch
import torch.nn as nn

from srlib.training import distributed as dist
from srlib.training import loop

SEED = 11


def run(run_dir: Path, steps: int) -> None:
    out = run_dir / "final"
    if dist.is_main():
        out.mkdir(parents=True, exist_ok=True)
    dist.barrier()

    g = torch.Generator().manual_seed(0)
    hr = torch.rand(32, 3, 16, 16, generator=g)
    data = torch.utils.data.TensorDataset(nn.functional.avg_pool2d(hr, 2), hr)

    torch.manual_seed(SEED + dist.rank())      # different inits: DDP must broadcast rank 0's
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Dropout2d(0.2),
                        nn.Conv2d(8, 12, 3, padding=1), nn.PixelShuffle(2))
    if dist.is_main():
        torch.save(net.state_dict(), out / "init.pt")
    net = dist.wrap(net)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=3, gamma=0.5)

    def step_fn(step, batch, models, optimizers):
        lr, hr = batch
        loss = nn.functional.l1_loss(models["net"](lr + 0.05 * torch.randn_like(lr)), hr)
        optimizers["opt"].zero_grad()
        loss.backward()
        optimizers["opt"].step()
        return {"loss": loss}

    res = loop.train(run_dir, models={"net": net}, optimizers={"opt": opt}, schedulers={"sched": sched},
                     step_fn=step_fn, batches=loop.dataset_batches(data, 4, SEED), total_steps=steps,
                     seed=SEED, log_every=1, ckpt_every=3, progress=False)
    torch.save(dist.unwrap(net).state_dict(), out / f"rank{dist.rank()}.pt")
    print(f"rank {dist.rank()}: {run_dir.name} steps {res.start_step}->{res.step}", flush=True)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("runs", nargs="+", help="RUN_DIR:STEPS")
    a = p.parse_args()
    torch.set_num_threads(1)
    dist.init_from_env()
    assert dist.world_size() == 2, "run me with --nproc_per_node=2"
    for spec in a.runs:
        run_dir, steps = spec.rsplit(":", 1)
        run(Path(run_dir), int(steps))
    dist.cleanup()


if __name__ == "__main__":
    main()
