"""MFAGAN's hardware-aware NAS channel pruning (Sec. 3.6) as cached stages.

    supergenerator  importance-sort a trained MFANet's channels, then train it as a weight-shared
                    SuperGenerator with the sandwich rule (lambda1 = lambda4 = 1; lr 1e-4 halved at
                    200k/400k/600k at paper scale)
    search          evolutionary search over SubGenerator widths (3^8 space): fitness = validation PSNR of
                    the SubGenerator sliced from the SuperGenerator (no training); constraint = latency
                    from the lookup table (srlib/latency) <= ``search_latency_ratio`` x the largest
                    SubGenerator's, or MACs; every evaluated candidate cached; one TensorBoard point per
                    generation in ``tb/`` (a resumed search replays every generation from the cache)
    finetune        the found SubGenerator with the (distilled) discriminator, Eq. (1), 10k iterations
"""
from __future__ import annotations

import time
from typing import Callable, Sequence

import numpy as np
import torch

from .. import data, io, pipeline
from ..metrics.psnr_ssim import psnr, quantize
from ..search import evolution
from ..training import runs, tensorboard
from ..training.runs import load_model, spec
from . import stages, supernet
from .mfanet import MFANet


def supergenerator(profile, seed: int, init: pipeline.StageResult, tag: str) -> pipeline.StageResult:
    """Train a SuperGenerator initialised from ``init``'s G (importance-sorted first)."""
    m = profile.mfagan
    g_width = load_model(init, "G").widths
    g = spec("mfanet", widths=list(g_width))
    percep, percep_desc = stages.perceptual("mse")

    def make_step(nets):
        supernet.sort_channels_by_importance(nets["G"])
        space = supernet.width_space(nets["G"], m.width_choices)
        return supernet.SupernetStep(space, n_random=m.supernet_random_samples, lambda_recon=m.lambda_recon,
                                     lambda_percep=m.lambda_percep, perceptual=percep, seed=seed), {}

    return runs.train_stage(profile, f"mfagan_supergenerator_{tag}_s{seed}", models={"G": g},
                            params={"width_choices": list(m.width_choices), "tag": tag,
                                    "perceptual": percep_desc, "n_random": m.supernet_random_samples,
                                    "lambda_recon": m.lambda_recon, "lambda_percep": m.lambda_percep},
                            make_step=make_step, lrs={"G": m.lr_gan}, total=m.supernet_iters,
                            milestones=m.supernet_milestones, seed=seed, init={"G": (init, "G")},
                            code=[supernet], ddp=False)


def psnr_fitness(profile, net: MFANet) -> Callable[[Sequence[int]], float]:
    """Validation PSNR of a SubGenerator of ``net`` (Y, shave = scale, 8-bit output), computed on the
    profile's device (a GPU at ``paper``)."""
    dev = runs.eval_device(profile)
    tensors = [(lr.to(dev), hr) for lr, hr in (p.tensors() for p in data.val_pairs(profile))]
    net = net.to(dev).eval()

    @torch.no_grad()
    def fit(widths) -> float:
        vals = [psnr(quantize(supernet.subnet_forward(net, widths, lr).float().cpu()), hr, profile.crop_border)
                for lr, hr in tensors]
        return float(np.mean(vals))

    return fit


def search(profile, seed: int, sgen: pipeline.StageResult, cost_fn: Callable[[Sequence[int]], float],
           cost_name: str, cost_key: dict) -> pipeline.StageResult:
    """Evolutionary search (once-for-all style) for the best-PSNR SubGenerator within the cost budget.

    ``cost_fn(widths)`` is the constraint's cost (LUT latency in ms, or MACs); the budget is
    ``search_latency_ratio`` x the cost of the largest SubGenerator. ``cost_key`` identifies the cost
    model in the stage key (e.g. the LUT stage's key).
    """
    m = profile.mfagan
    params = {"supergenerator": [sgen.name, sgen.key], "cost": cost_name, "cost_key": cost_key,
              "population": m.search_population, "generations": m.search_generations,
              "parent_ratio": m.search_parent_ratio, "mutate_prob": m.search_mutate_prob,
              "ratio": m.search_latency_ratio, "seed": seed}

    def run(ctx):
        net = load_model(sgen, "G")
        space = supernet.width_space(net, m.width_choices)
        largest = tuple(max(o) for o in space)
        budget = m.search_latency_ratio * cost_fn(largest)
        cache_path = ctx.path("fitness_cache.json")
        cache = evolution.load_cache(cache_path) if cache_path.exists() else {}
        costs: dict = {}

        def cost(c):
            if c not in costs:
                costs[c] = float(cost_fn(c))
            return costs[c]

        fit = psnr_fitness(profile, net)
        board = tensorboard.ScalarLog(ctx.path(tensorboard.TB_DIR))   # rebuilt: the search restarts at gen 0

        def generation(row):
            evolution.save_cache(cache_path, cache)
            board.add({"step": row["gen"], **{f"evolution/{k}": row[k] for k in (
                "best_fitness", "mean", "best_so_far_fitness", "n_evaluated", "n_cached")}})
            board.flush()

        t0 = time.time()
        try:
            res = evolution.evolve(space, fit, lambda c: cost(c) <= budget, population=m.search_population,
                                   generations=m.search_generations, parent_ratio=m.search_parent_ratio,
                                   mutate_prob=m.search_mutate_prob, seed=seed, cache=cache, callback=generation)
        finally:
            board.close()
        wall = time.time() - t0
        evolution.save_cache(cache_path, cache)
        n_scored = sum(r["n_evaluated"] + r["n_cached"] for r in res.history)
        io.write_json(ctx.path("history.json"), res.history)

        # The same search replayed with every PSNR cached: its speed is the search machinery + LUT alone
        # (the rate at which the hardware-aware search can score candidates once fitness is known).
        def no_fit(c):
            raise RuntimeError(f"candidate {c} missing from the fitness cache")

        t1 = time.time()
        replay = evolution.evolve(space, no_fit, lambda c: cost(c) <= budget, population=m.search_population,
                                  generations=m.search_generations, parent_ratio=m.search_parent_ratio,
                                  mutate_prob=m.search_mutate_prob, seed=seed, cache=dict(cache))
        wall_cached = time.time() - t1
        n_replayed = sum(r["n_evaluated"] + r["n_cached"] for r in replay.history)
        if tuple(replay.best) != tuple(res.best):
            raise RuntimeError("the replayed search found another candidate: the search is not deterministic")
        return {"best": list(res.best), "best_psnr": res.best_fitness, "best_cost": cost(res.best),
                "budget": budget, "largest": list(largest), "largest_cost": cost(largest),
                "cost": cost_name, "history": "history.json", "n_scored": n_scored,
                "n_fitness_calls": len(res.evaluated), "search_s": wall,
                "candidates_per_minute": 60 * n_scored / max(wall, 1e-9),
                "candidates_per_minute_cached_psnr": 60 * n_replayed / max(wall_cached, 1e-9)}

    return pipeline.stage(f"mfagan_search_{sgen.name.removeprefix('mfagan_supergenerator_')}", params, run,
                          profile=profile.name, seed=seed, code=[evolution, supernet])


def subgenerator_stage(profile, sgen: pipeline.StageResult, found: pipeline.StageResult) -> pipeline.StageResult:
    """Extract the found SubGenerator's weights from the SuperGenerator as a standalone MFANet."""
    widths = found["best"]

    def run(ctx):
        sub = supernet.extract_subgenerator(load_model(sgen, "G"), widths)
        io.torch_save(sub.state_dict(), ctx.path("G.pt"))
        return {"widths": widths}

    params = {"supergenerator": [sgen.name, sgen.key], "search": [found.name, found.key],
              "models": {"G": spec("mfanet", widths=list(widths))}}
    return pipeline.stage(found.name.replace("search", "subgenerator"), params, run, profile=profile.name,
                          code=[supernet])


def finetune(profile, seed: int, sub: pipeline.StageResult, d_from: pipeline.StageResult,
             tag: str) -> pipeline.StageResult:
    """Sec. 4.1 stage 4: fine-tune the searched SubGenerator with the (distilled) discriminator."""
    m = profile.mfagan
    g = sub.manifest["params"]["models"]["G"]
    d = d_from.manifest["params"]["models"]["D"]
    return stages.gan_stage(profile, f"mfagan_finetune_{tag}_s{seed}", g=g, d=d, init_g=sub, init_d=d_from,
                            seed=seed, weights=stages.eq1_weights(profile), iters=m.finetune_iters,
                            milestones=())


# ------------------------------------------------------------------------------------------------------
# The search's cost model
# ------------------------------------------------------------------------------------------------------
def covering_configs(space: Sequence[Sequence[int]], seed: int = 0, tries: int = 200) -> list[tuple[int, ...]]:
    """A small set of SubGenerators in which every pair of (entry i = a, entry j = b) values occurs.

    Every kernel of an MFANet SubGenerator depends on at most two width entries (a conv reads one width
    and writes another; concatenations depend on the backbone width), so the kernels of these
    configurations are the kernels of the whole 3^8 space: the lookup table measured on them can price
    any candidate of the search (a missing kernel would raise, never count as 0 ms). Greedy pairwise
    covering array, deterministic under ``seed``.
    """
    rng = np.random.default_rng(seed)
    n = len(space)
    need = {(i, a, j, b) for i in range(n) for j in range(i + 1, n) for a in space[i] for b in space[j]}
    configs = []
    while need:
        best, best_cov = None, -1
        for _ in range(tries):
            c = tuple(int(rng.choice(o)) for o in space)
            cov = sum((i, c[i], j, c[j]) in need for i in range(n) for j in range(i + 1, n))
            if cov > best_cov:
                best, best_cov = c, cov
        configs.append(best)
        need -= {(i, best[i], j, best[j]) for i in range(n) for j in range(i + 1, n)}
    return configs


def cost_model(profile) -> tuple[Callable[[Sequence[int]], float], str, dict]:
    """``(cost_fn, description, key)`` of the search constraint ``mfagan.search_constraint``.

    - ``latency``: the lookup table (srlib/latency/lut.py) on the profile's runtime, measured on the
      single kernels of :func:`covering_configs` at ``latency.lut_lr_hw``; a desktop-CPU proxy for the
      paper's phone (MFAGAN measures a Snapdragon 865);
    - ``macs`` / ``memory``: MACs or memory access cost (srlib/complexity) at ``latency.lut_lr_hw``.
    """
    m, lat = profile.mfagan, profile.latency
    hw = tuple(lat.lut_lr_hw)
    probe = MFANet(widths=[m.student_g] * 8)
    space = supernet.width_space(probe, m.width_choices)
    if m.search_constraint == "latency":
        from ..latency.lut_stages import load_lut, lut_stage
        from ..latency.networks import zoo_config_kernels

        if lat.runtime != "litert_xnnpack":
            raise ValueError(f"the MFAGAN lookup table is built for LiteRT (latency.runtime), got {lat.runtime!r}")
        configs = covering_configs(space)
        st = lut_stage([("mfanet", {"widths": list(c)}) for c in configs], hw, name="mfagan_lut",
                       threads=lat.threads, xnnpack=True, profile=profile.name)
        table = load_lut(st)
        fn = table.scorer(zoo_config_kernels("mfanet", hw))
        return fn, (f"LUT latency, LiteRT-XNNPACK {lat.threads} thread(s), {hw[0]}x{hw[1]} LR, "
                    "desktop CPU proxy (ms)"), {"lut": [st.name, st.key]}
    from ..complexity.counters import measure

    cache: dict = {}

    def fn(widths) -> float:
        w = tuple(int(x) for x in widths)
        if w not in cache:
            c = measure(MFANet(widths=list(w)), hw)
            cache[w] = float(c.macs if m.search_constraint == "macs" else c.memory)
        return cache[w]

    unit = "MACs" if m.search_constraint == "macs" else "memory access cost (bytes)"
    return fn, f"{unit} at {hw[0]}x{hw[1]} LR", {"constraint": m.search_constraint, "lr_hw": list(hw)}
