"""Run MFAGAN's stages outside the notebooks, e.g. on GPUs with torchrun:

    torchrun --nproc_per_node=8 -m srlib.mfagan --profile paper            # Tables 1-2 and Fig. 6
    python -m srlib.mfagan --profile mini --only table1                      # one process

Every stage is cached under results/<profile>/artifacts/, so the notebooks (make reproduce) then read
the finished stages instead of training again. Under torchrun each rank walks the same stage sequence: the
training stages use DDP on every rank (only rank 0 writes checkpoints, logs and manifests); the lookup
table, the search and the evaluations run on rank 0 alone while the others wait, then read its result.
"""
from __future__ import annotations

import argparse

from .. import config
from ..training import distributed as dist
from . import experiments


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m srlib.mfagan", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default=None, help="smoke | mini | paper (default: $SRLIB_PROFILE, else mini)")
    ap.add_argument("--only", choices=("table1", "table2", "fig6", "all"), default="all")
    args = ap.parse_args(argv)
    prof = config.load(args.profile)
    dist.init_from_env()
    try:
        cost = experiments.cost_model(prof)
        for seed in prof.mfagan.seeds:
            if args.only in ("table1", "table2", "all"):
                t1 = experiments.table1(prof, seed, cost)
            if args.only in ("table2", "all"):
                experiments.table2(prof, seed, t1)
        if args.only in ("fig6", "all"):
            experiments.fig6(prof)
    finally:
        dist.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
