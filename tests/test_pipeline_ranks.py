"""Under torchrun, stages that are not data-parallel training run on rank 0 alone: 2 gloo processes
get one search run (not two), identical results, and a failure on rank 0 raised on both ranks."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = Path(__file__).with_name("_rank0_script.py")
pytestmark = pytest.mark.skipif(not torch.distributed.is_available()
                                or not torch.distributed.is_gloo_available(), reason="needs gloo")


def test_search_stage_runs_once_on_rank0_and_both_ranks_read_it(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(k, None)
    p = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--standalone",
                        str(SCRIPT), str(tmp_path)], env=env, capture_output=True, text=True, timeout=150)
    assert p.returncode == 0, p.stdout + p.stderr
    got = {r["rank"]: r for r in (json.loads(f.read_text()) for f in sorted(tmp_path.glob("result_rank*.json")))}
    assert set(got) == {0, 1}
    assert got[0]["ran_on"] == ["rank0 world1"]                 # run once, by rank 0, as one process
    assert got[0]["best"] == got[1]["best"] and got[0]["fitness"] == got[1]["fitness"] >= -1
    assert got[0]["inner"] == got[1]["inner"] == 1              # a nested stage did not wait for rank 1
    assert got[0]["error"] == "ValueError: broken table"
    assert got[1]["error"] == "RuntimeError: stage 'fails' failed on rank 0: ValueError: broken table"
