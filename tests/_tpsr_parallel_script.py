"""TPSR's searches with ``tpsr.parallel_candidates`` under torchrun, for tests/test_tpsr_parallel_search.py.

    torchrun --nproc_per_node=2 --standalone tests/_tpsr_parallel_script.py RESULTS_DIR
Runs the generator search (parallel_profile) and then the discriminator search (parallel_d_profile, after
its TPSR-NOGAN's DDP stages) in one process group. Each rank writes RESULTS_DIR/result_rank<r>.json (files,
not stdout: two ranks printing at once interleave): the stages' outputs as that rank got them and how many
candidates it trained itself.
"""
from __future__ import annotations

import os
import sys

import torch

from srlib import io
from srlib.tpsr import perceptual_reward, proxy_task, stages
from srlib.training import distributed as dist
from test_tpsr_parallel_search import parallel_d_profile, parallel_profile


def _counting(module, counts: dict, key: str) -> None:
    real = module.evaluate

    def evaluate(*a, **k):
        counts[key] += 1
        return real(*a, **k)

    module.evaluate = evaluate


def main(root: str) -> None:
    os.environ["SRLIB_RESULTS"] = root
    torch.set_num_threads(1)
    dist.init_from_env()
    assert dist.world_size() == 2, "run me with --nproc_per_node=2"
    counts = {"g": 0, "d": 0}
    _counting(proxy_task, counts, "g")
    _counting(perceptual_reward, counts, "d")
    g = stages.generator_search(parallel_profile(), 0)
    d = stages.discriminator_search(parallel_d_profile(), 0)
    out = {"rank": dist.rank(), "trained_here": counts,
           "g": {"dir": str(g.dir), "key": g.key, "outputs": dict(g.outputs)},
           "d": {"dir": str(d.dir), "key": d.key, "outputs": dict(d.outputs)}}
    io.write_json(os.path.join(root, f"result_rank{dist.rank()}.json"), out)   # atomic
    dist.cleanup()


if __name__ == "__main__":
    main(sys.argv[1])
