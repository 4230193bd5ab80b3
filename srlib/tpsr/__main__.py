"""Run TPSR's stages outside the notebooks, e.g. on GPUs with torchrun:

    torchrun --nproc_per_node=8 -m srlib.tpsr --profile paper --stage generator_search   # Alg. 1 line 25
    torchrun --nproc_per_node=8 -m srlib.tpsr --profile paper                              # every stage below
    python -m srlib.tpsr --profile mini --stage generator_search                           # one process

Stages, in order (``all`` runs them in this order; each one also runs, or finds cached, what it needs):

    generator_search      Alg. 1 line 25, one stage per ``tpsr.search_seeds``
    full_task             Alg. 1 line 26 / Sec. 4.1: the found cell (from the cache) and the published cell,
                          x2 then x4 (notebook 30's stages), first search seed
    discriminator_search  Alg. 1 line 31 (TPSR-NOGAN first), first search seed
    d_study               Fig. 3: the searched and the fixed discriminators fine-tuning TPSR-NOGAN (notebook 31)

Every stage is cached under results/<profile>/artifacts/, so the notebooks (make reproduce) then read the
finished stages instead of training again. Under torchrun each rank walks the same stage sequence: the
training stages use DDP on every rank; with ``tpsr.parallel_candidates`` (paper) both searches run on every
rank too -- the candidates of one policy update train in parallel, candidate i on rank i mod R, while the
controller, the weight cache and the checkpoint stay on rank 0 (srlib/tpsr/search_loop.py); without it a
search runs on rank 0 alone while the others wait, then read its result. Only rank 0 writes files.
"""
from __future__ import annotations

import argparse

from .. import config
from ..training import distributed as dist

STAGES = ("generator_search", "full_task", "discriminator_search", "d_study")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m srlib.tpsr", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default=None, help="smoke | mini | paper (default: $SRLIB_PROFILE, else mini)")
    ap.add_argument("--stage", choices=STAGES + ("all",), default="all")
    args = ap.parse_args(argv)
    prof = config.load(args.profile)
    todo = STAGES if args.stage == "all" else (args.stage,)
    dist.init_from_env()
    try:
        from . import stages
        from .cell import TPSR_GENOTYPE

        seeds = prof.tpsr.search_seeds
        if "generator_search" in todo:
            for seed in seeds:
                stages.generator_search(prof, seed)
        if "full_task" in todo:
            found = stages.generator_search(prof, seeds[0])
            stages.full_task(prof, found["best_genotype"], seeds[0], init=found)
            stages.full_task(prof, TPSR_GENOTYPE, seeds[0])
        if "discriminator_search" in todo:
            stages.discriminator_search(prof, seeds[0])
        if "d_study" in todo:
            from . import experiments

            experiments.study(prof, seeds[0])
    finally:
        dist.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
