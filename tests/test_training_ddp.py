"""srlib.training under DDP: 2 CPU processes (gloo) via torchrun keep identical replicas, and a run
stopped and resumed under DDP ends with the same weights as an uninterrupted one."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from srlib import io
from srlib.training import loop

SCRIPT = Path(__file__).with_name("_ddp_script.py")
ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.skipif(not torch.distributed.is_available()
                                or not torch.distributed.is_gloo_available(), reason="needs gloo")


def _torchrun(*runs: tuple[Path, int]) -> str:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(k, None)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--standalone",
           str(SCRIPT), *(f"{d}:{n}" for d, n in runs)]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=150)
    assert p.returncode == 0, p.stdout + p.stderr
    return p.stdout


def _final(run_dir: Path) -> dict:
    r0, r1 = (io.torch_load(run_dir / "final" / f"rank{r}.pt") for r in (0, 1))
    for k in r0:
        assert torch.equal(r0[k], r1[k]), f"replicas differ in {k}"
    return r0


def test_ddp_replicas_identical_and_resume_exact(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    # a: 6 steps uninterrupted; b: stopped after 4 (checkpoints at 3 and 4) ...
    out = _torchrun((a, 6), (b, 4))
    for r in (0, 1):
        assert f"rank {r}: a steps 0->6" in out and f"rank {r}: b steps 0->4" in out
    wa = _final(a)                       # ranks start from different inits: DDP synchronised them
    init = io.torch_load(a / "final" / "init.pt")
    assert any(not torch.equal(wa[k], init[k]) for k in wa), "training did not change the weights"
    assert loop.read_metrics(a)["step"].tolist() == [1, 2, 3, 4, 5, 6]   # rank 0 writes, once

    # ... then resumed to 6 by both ranks in a fresh process group: the same weights as a
    out = _torchrun((b, 6))
    assert "rank 0: b steps 4->6" in out and "rank 1: b steps 4->6" in out
    wb = _final(b)
    for k in wa:
        assert torch.equal(wa[k], wb[k]), f"resumed DDP run differs in {k}"
    ck = io.torch_load(b / loop.CHECKPOINT)
    assert ck["step"] == 6 and ck["world_size"] == 2 and len(ck["rng"]) == 2
    assert loop.read_metrics(b)["step"].tolist() == [1, 2, 3, 4, 5, 6]
