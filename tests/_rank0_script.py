"""Rank-0-only stages under torchrun, for tests/test_pipeline_ranks.py (2 gloo processes).

    torchrun --nproc_per_node=2 --standalone tests/_rank0_script.py RESULTS_DIR
Each rank writes RESULTS_DIR/result_rank<r>.json (files, not stdout: two ranks printing at once can
interleave their lines): what it got from a search stage, a nested pair of stages, and a stage that fails
on rank 0.
"""
from __future__ import annotations

import json
import os
import sys

from srlib import pipeline
from srlib.search import evolution
from srlib.training import distributed as dist


def search(ctx):
    with open(ctx.path("ran_on.txt"), "a") as f:  # every rank that runs fn appends here
        f.write(f"rank{dist.rank()} world{dist.world_size()}\n")
    space = [(1, 2, 3)] * 6
    res = evolution.evolve(space, lambda c: -sum((x - 2) ** 2 for x in c), population=8, generations=3, seed=0)
    inner = pipeline.stage("inner", {"n": 1}, lambda c: {"inner": dist.world_size()}, profile="ranks")
    return {"best": list(res.best), "fitness": res.best_fitness, "inner": inner["inner"]}


def fails(ctx):
    raise ValueError("broken table")


def main(root: str) -> None:
    os.environ["SRLIB_RESULTS"] = root
    dist.init_from_env()
    out = {"rank": dist.rank()}
    st = pipeline.stage("search", {"seed": 0}, search, profile="ranks")
    out.update(best=st["best"], fitness=st["fitness"], inner=st["inner"],
               ran_on=open(st.dir / "ran_on.txt").read().split("\n")[:-1])
    try:
        pipeline.stage("fails", {}, fails, profile="ranks")
        out["error"] = None
    except Exception as e:  # noqa: BLE001 - the message is what the test reads
        out["error"] = f"{type(e).__name__}: {e}"
    path = os.path.join(root, f"result_rank{dist.rank()}.json")
    with open(path + ".tmp", "w") as f:
        json.dump(out, f)
    os.replace(path + ".tmp", path)
    dist.cleanup()


if __name__ == "__main__":
    main(sys.argv[1])
