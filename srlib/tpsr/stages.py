"""TPSR's generator pipeline as cached stages (Lee et al., ECCV 2020, Alg. 1 lines 25-26, Sec. 4.1).

    generator_search   Alg. 1 line 25: s*_G <- search(S_G, T_G, E_G), ONE stage; every candidate is
                       trained in-process (srlib/tpsr/proxy_task.py) and the search state is checkpointed
                       atomically after each one (after each policy update's batch with
                       ``tpsr.parallel_candidates``), so a killed stage resumes where it was. Writes
                       history.json, the weight cache and G.pt = s* at x2 initialised from the cache.
    full_task          Alg. 1 line 26 / Sec. 4.1: s* trained on the full distortion task at x2 (from the
                       cache when a search is given), then at x4 starting from the x2 model (the new x4
                       upsampling conv starts fresh). The published cell (TPSR_GENOTYPE) goes through the
                       same stages from scratch.

    tpsr_nogan         TPSR-NOGAN x4 (Sec. 4.2): the searched cell's full task (``d_search.generator``:
                       "searched"), or the published cell's ("published").
    discriminator_search  Alg. 1 line 31: s*_D <- search(S_D, T_D, E_D), ONE resumable stage like the
                       generator's (same loop, no weight cache, no limit); writes history.json and the
                       ``top_k`` discriminators by E_D.
    d_study_run        Sec. 4.2 / Fig. 3: one discriminator x one run: TPSR-NOGAN fine-tuned with Eq. 8 on the
                       full perceptual task (``d_study``), validated by PSNR and the perceptual metric.

``tpsr.parallel_candidates`` (srlib/tpsr/config.py): both searches use the batch-synchronous rule of
srlib/tpsr/search_loop.py and run on every rank under torchrun (``python -m srlib.tpsr``): candidate i of a
policy update trains on rank i mod R; rank 0 keeps the controller, the cache and the checkpoint and writes
the outputs. Without it the searches run on rank 0 alone (the serial rule).

Only this module reads ``profile.tpsr`` (srlib/tpsr/config.py); the method modules take explicit values.
The x2 stages read the profile's data at scale 2 (same images; LR made by MATLAB bicubic at x2).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math

import numpy as np
import torch

from .. import data, io, pipeline
from ..data import load_set
from ..metrics.psnr_ssim import psnr, quantize
from ..models.bicubic import Bicubic
from ..training import distributed, losses, runs, tensorboard
from ..training.gan import GANStep, GANWeights
from ..training.runs import spec
from . import cell, discriminator, perceptual_reward, proxy_task, search_loop, weight_cache
from .cell import TPSR_GENOTYPE, TPSRGenerator

PAPER = "tpsr"


def _stage_name(kind: str, tag: str, seed: int) -> str:
    return f"tpsr_{kind}_{tag}_s{seed}"


def _at_scale(profile, scale: int):
    """``profile`` with ``data.scale`` = ``scale`` (the x2 proxy and full x2 task; the images are the same)."""
    if profile.data.scale == scale:
        return profile
    p = dataclasses.replace(profile, data=dataclasses.replace(profile.data, scale=scale))
    p.data.validate("data")
    return p


def _x2_data(profile):
    """(train pairs, validation (lr, hr) tensors, bicubic validation PSNR: the reward's floor) at x2."""
    d = profile.data
    train = [pr for s in d.train_sets for pr in load_set(s, 2, None)]
    val = [pr.tensors() for pr in load_set(d.val_set, 2, d.max_eval_hr)]
    floor = float(np.mean([psnr(quantize(Bicubic(2)(lr)), hr, 2) for lr, hr in val]))
    return train, val, floor


def _candidate_seed(seed: int, index: int) -> int:
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0])


class _SearchBoard:
    """The search's ``checkpoint``: saves the state to ``ckpt``, then writes the new trained candidates (at
    their history ``step``: every numeric field, ``best_metric`` so far, ``rejected`` = rejections so far)
    and controller updates (at ``after_step``) as TensorBoard scalars in ``log_dir``, which is rebuilt from
    the state it starts from (a resumed search's checkpoint)."""

    def __init__(self, log_dir, state: search_loop.SearchState, ckpt):
        self.ckpt, self.done = ckpt, (0, 0)
        self.log = tensorboard.ScalarLog(log_dir, self._new(state))

    def _new(self, state: search_loop.SearchState) -> list[dict]:
        rows, best = [], -math.inf
        for i, r in enumerate(state.trained):
            best = max(best, r["metric"]) if math.isfinite(r["metric"]) else best
            if i >= self.done[0]:
                rows.append({"step": r["step"], **{f"candidate/{k}": v for k, v in r.items() if k not in ("index", "step")},
                             "candidate/best_metric": best, "candidate/rejected": r["index"] - r["step"]})
        rows += [{"step": u["after_step"], **{f"controller/{k}": v for k, v in u.items() if k != "after_step"}}
                 for u in state.updates[self.done[1]:]]
        self.done = (state.steps_done, len(state.updates))
        return rows

    def __call__(self, state: search_loop.SearchState) -> None:
        io.torch_save(state.state_dict(), self.ckpt)
        for row in self._new(state):
            self.log.add(row)
        self.log.flush()


def _device_kind(profile) -> str:
    """The search device in stage keys: its type, the same on every rank (under torchrun rank r uses cuda:r)."""
    return runs.eval_device(profile).type


def _search_params(profile, seed: int) -> dict:
    t = profile.tpsr
    return {"num_feat": t.num_feat, "steps": t.search_steps, "limit_g": t.mult_adds_limit_g,
            "max_rejections": t.max_rejections, "controller": dataclasses.asdict(t.controller),
            "proxy": dataclasses.asdict(t.proxy), "seed": seed, "data": profile.to_dict()["data"],
            "device": _device_kind(profile), "parallel_candidates": t.parallel_candidates}


def run_search(ctx, *, num_feat: int, steps: int, limit_g: float, max_rejections: int, controller: dict,
               proxy: dict, seed: int, train, val, floor: float, device, log=print,
               parallel_candidates: bool = False) -> dict:
    """Algorithm 1's generator search in ``ctx.dir``, resuming from ``search_state.pt`` if present.

    ``parallel_candidates``: the batch-synchronous rule (srlib/tpsr/search_loop.py); under torchrun every
    rank calls this, rank 0 reads and writes the files, and every rank returns the same outputs."""
    c, p = controller, proxy
    sizes = cell.decisions()
    temps = [c["op_temperature"] if i % 2 == 0 else c["input_temperature"] for i in range(len(sizes))]
    state = search_loop.SearchState.new(
        sizes, seed=seed, cache=weight_cache.WeightCache(p["share_template"]),
        controller={"hidden": c["hidden"], "temperature": temps, "tanh_constant": c["tanh_constant"]},
        reinforce={"lr": c["lr"], "baseline_decay": c["baseline_decay"], "entropy_weight": c["entropy_weight"]})
    ckpt = ctx.path("search_state.pt")
    main = distributed.is_main()                # rank 0 (or one process): the only reader and writer
    if main and ckpt.is_file():
        state.load_state_dict(io.torch_load(ckpt))
        log(f"[tpsr search] resuming after {state.steps_done} trained / {len(state.history)} sampled candidates")
    board = _SearchBoard(ctx.path(tensorboard.TB_DIR), state, ckpt) if main else None

    def train_from(genotype, index, cache):     # E_G (Alg. 1 lines 15-24), initialised from ``cache``
        return proxy_task.evaluate(genotype, cache=cache, train=train, val=val, limit=limit_g,
                                   iterations=p["iterations"], batch=p["batch"], patch=p["patch"], lr=p["lr"],
                                   seed=_candidate_seed(seed, index), reward_floor=floor,
                                   reward_span=p["reward_span_db"], num_feat=num_feat, device=device)

    def screen(genotype, index):                # Alg. 1 lines 17-20, before any training (Sec. 3.2)
        geno = tuple((str(o), int(i)) for o, i in genotype)
        f_s = proxy_task.mult_adds(geno, num_feat)
        return proxy_task.Rejected(geno, f_s, float(limit_g)) if f_s > limit_g else None

    if parallel_candidates:                     # batch-synchronous: a private batch-start cache per candidate
        rule = dict(evaluate=train_from, screen=screen, sync_cache_per_update=True)
    else:                                       # serial: the shared cache
        rule = dict(evaluate=lambda genotype, index: train_from(genotype, index, state.cache))
    search_loop.search(state, steps=steps, decode=cell.genotype, update_every=c["update_every"], **rule,
                       max_rejections=max_rejections, checkpoint=board, log=log,
                       name="tpsr g-search", metric_name="x2 proxy val PSNR (dB)")
    if board is not None:
        board.log.close()
    best = state.best
    genotype = tuple((str(o), int(i)) for o, i in best["genotype"])
    torch.manual_seed(seed)
    g = TPSRGenerator(num_feat=num_feat, genotype=genotype, scale=2)
    loaded = state.cache.initialise(g, genotype)  # Alg. 1 line 26: "initialize from cache"
    if main:
        io.torch_save(g.state_dict(), ctx.path("G.pt"))
        io.torch_save(state.cache.state_dict(), ctx.path("weight_cache.pt"))
        io.write_json(ctx.path("history.json"), state.history)
        io.write_json(ctx.path("updates.json"), state.updates)
    return {"best_genotype": [list(x) for x in genotype], "best_psnr": best["metric"], "best_step": best["step"],
            "best_mult_adds_g": best["mult_adds_g"], "n_trained": state.steps_done,
            "n_rejected": len(state.history) - state.steps_done, "bicubic_psnr": floor,
            "cache_entries_loaded_into_G": loaded, "history": "history.json", "weights": {"G": "G.pt"},
            "published_mult_adds_g": proxy_task.mult_adds(TPSR_GENOTYPE, num_feat)}


def generator_search(profile, seed: int) -> pipeline.StageResult:
    """Alg. 1 line 25 at ``profile.tpsr`` (T_G steps, limit f, the x2 proxy) as one resumable stage; with
    ``tpsr.parallel_candidates`` it runs on every rank under torchrun (candidates in parallel)."""
    params = _search_params(profile, seed)

    def run(ctx):
        train, val, floor = _x2_data(profile)
        kw = {k: params[k] for k in ("num_feat", "steps", "limit_g", "max_rejections", "controller", "proxy", "seed",
                                     "parallel_candidates")}
        return run_search(ctx, **kw, train=train, val=val, floor=floor, device=runs.eval_device(profile))

    return pipeline.stage(_stage_name("search", "g", seed), params, run, profile=profile.name, seed=seed,
                          code=[cell, proxy_task, search_loop, weight_cache],
                          all_ranks=profile.tpsr.parallel_candidates)


def _tag(genotype, init: pipeline.StageResult | None) -> str:
    geno = tuple((str(o), int(i)) for o, i in genotype)
    base = "published" if geno == TPSR_GENOTYPE else "cell" + hashlib.sha1(json.dumps(geno).encode()).hexdigest()[:8]
    return base + ("_cached" if init is not None else "")


def _x4_init(profile, x2: pipeline.StageResult, g4: dict, seed: int, tag: str) -> pipeline.StageResult:
    """The x4 model starting from the x2 one (Sec. 4.1): every x2 weight copied, the second upsampling conv
    fresh (seeded)."""
    def run(ctx):
        torch.manual_seed(seed)
        m4 = runs.build_spec(g4)
        missing, unexpected = m4.load_state_dict(io.torch_load(x2.path("G.pt")), strict=False)
        if unexpected or any(not k.startswith("upsample.2.") for k in missing):
            raise RuntimeError(f"x2 -> x4: unexpected keys {unexpected}, missing {missing}")
        io.torch_save(m4.state_dict(), ctx.path("G.pt"))
        return {"fresh": sorted(missing), "weights": {"G": "G.pt"}}

    return pipeline.stage(_stage_name("x4_from_x2", tag, seed), {"x2": [x2.name, x2.key], "models": {"G": g4},
                                                                 "seed": seed},
                          run, profile=profile.name, seed=seed, code=[cell])


def full_task(profile, genotype=TPSR_GENOTYPE, seed: int = 0, *,
              init: pipeline.StageResult | None = None) -> dict[str, pipeline.StageResult]:
    """Alg. 1 line 26 / Sec. 4.1: ``genotype`` on the full distortion task, x2 (from ``init``'s G.pt, a
    :func:`generator_search` stage, if given) then x4 from the x2 model. Returns the stages
    {"x2", "x4_init" (the x2 weights in the x4 template), "x4"}."""
    t = profile.tpsr
    tag = _tag(genotype, init)
    geno = [[str(o), int(i)] for o, i in genotype]
    g2, g4 = (spec("tpsr", num_feat=t.num_feat, genotype=geno, scale=s) for s in (2, 4))
    common = dict(seed=seed, lr=t.full_lr, milestones=t.full_milestones, batch_size=t.full_batch,
                  lr_patch=t.full_patch, val_every=t.full_val_every)
    x2 = runs.pixel_stage(_at_scale(profile, 2), _stage_name("full_x2", tag, seed), g=g2, iters=t.full_iters_x2,
                          init=init, **common)
    x4_init = _x4_init(profile, x2, g4, seed, tag)
    x4 = runs.pixel_stage(_at_scale(profile, 4), _stage_name("full_x4", tag, seed), g=g4, iters=t.full_iters_x4,
                          init=x4_init, **common)
    return {"x2": x2, "x4_init": x4_init, "x4": x4}


# ---- the discriminator search (Alg. 1 lines 27-31, Sec. 3.3, 4.2) ------------------------------------------
def tpsr_nogan(profile, seed: int = 0) -> pipeline.StageResult:
    """TPSR-NOGAN x4, the generator the discriminator search and study fine-tune (Sec. 4.2): the searched cell
    after the full task (``tpsr.d_search.generator: searched``) or the published cell's (``published``)."""
    if profile.tpsr.d_search.generator == "published":
        return full_task(profile, TPSR_GENOTYPE, seed)["x4"]
    found = generator_search(profile, seed)
    return full_task(profile, found["best_genotype"], seed, init=found)["x4"]


def _percep(layer: str):
    """(module, description): VGG19 ``layer`` MSE (Eq. 8's squared distance), or the labelled stand-in."""
    return losses.perceptual_or_stand_in("mse", (layer,), (1.0,))


def d_search_label(metric: perceptual_reward.PerceptualMetric) -> str:
    """How the D search's progress lines name E_D: the metric itself, lower is better."""
    what = metric.name if metric.is_paper_metric else f"{metric.name} stand-in"
    return f"perceptual metric ({what}, lower is better)"


def d_search_line(history: list[dict], i: int, steps: int, label: str) -> str:
    """The progress line of the D search's trained history row ``i`` in E_D's terms: E_D = ``perceptual``
    (lower is better), R, and s* so far (lowest E_D, the first on ties = the loop's argmax of its ``metric``,
    -E_D). The shared loop's own lines would print -E_D; the history keeps -E_D as ``metric``."""
    r = history[i]
    best = min((x for x in history[:i + 1] if x["status"] == "trained" and math.isfinite(x["perceptual"])),
               key=lambda x: x["perceptual"], default=None)
    return (f"[tpsr d-search] step {r['step'] + 1}/{steps}: {label} {r['perceptual']:.4g}, "
            f"reward {r['reward']:.4f}" + (f", best {best['perceptual']:.4g} (step {best['step']})" if best else ""))


def run_d_search(ctx, *, nogan: pipeline.StageResult, d: dict, controller: dict, seed: int, profile,
                 log=print, parallel_candidates: bool = False) -> dict:
    """Algorithm 1's discriminator search in ``ctx.dir``, resuming from ``search_state.pt`` if present.

    ``parallel_candidates``: the batch-synchronous loop, candidates in parallel under torchrun (every rank
    calls this; rank 0 reads and writes the files). S_D has no cache: the history is the serial rule's."""
    c, dev = controller, runs.eval_device(profile)
    G = runs.load_model(nogan, "G").to(dev)
    train, val = data.train_pairs(profile), [p.tensors() for p in data.val_pairs(profile)]
    metric = perceptual_reward.perceptual_metric(dev)
    percep, percep_desc = _percep(d["vgg_layer"])
    start = perceptual_reward.validation_score(G, val, metric)         # m_0: TPSR-NOGAN before any fine-tune
    opts = tuple(d["bottleneck_options"])
    sizes = discriminator.decisions(opts)
    state = search_loop.SearchState.new(
        sizes, seed=seed, cache=None,
        controller={"hidden": c["hidden"], "temperature": c["op_temperature"], "tanh_constant": c["tanh_constant"]},
        reinforce={"lr": c["lr"], "baseline_decay": c["baseline_decay"], "entropy_weight": c["entropy_weight"]})
    ckpt = ctx.path("search_state.pt")
    main = distributed.is_main()                # rank 0 (or one process): the only reader and writer
    if main and ckpt.is_file():
        state.load_state_dict(io.torch_load(ckpt))
        log(f"[tpsr d-search] resuming after {state.steps_done} trained candidates")
    board = _SearchBoard(ctx.path(tensorboard.TB_DIR), state, ckpt) if main else None
    label, logged = d_search_label(metric), [len(state.history)]

    def checkpoint(s):          # the board saves; then the new rows' lines in E_D's terms (the loop logs none)
        board(s)
        for i in range(logged[0], len(s.history)):
            if s.history[i]["status"] == "trained":
                log(d_search_line(s.history, i, d["steps"], label))
        logged[0] = len(s.history)

    keys = ("iterations", "eval_every", "batch", "patch", "lr", "alpha", "lam", "gamma")

    def evaluate(cfg, index, cache=None):       # E_D (Alg. 1 lines 27-30); S_D has no cache
        return perceptual_reward.evaluate(cfg, generator=G, start=start, train=train, scale=profile.data.scale,
                                          val=val, metric=metric, percep=percep, seed=_candidate_seed(seed, index),
                                          device=dev, **{k: d[k] for k in keys})

    search_loop.search(state, steps=d["steps"], evaluate=evaluate, update_every=c["update_every"],
                       decode=lambda a: discriminator.config(a, opts, base_channels=d["base_channels"]),
                       checkpoint=checkpoint, log=None, name="tpsr d-search",
                       sync_cache_per_update=parallel_candidates)
    if board is not None:
        board.log.close()
    trained = sorted(state.trained, key=lambda r: (r["perceptual"], r["index"]))
    top, seen = [], set()
    for r in trained:
        k = json.dumps([r["ops"], r["reductions"], r["bottleneck"]])
        if k not in seen:
            seen.add(k)
            top.append({x: r[x] for x in ("index", "ops", "reductions", "bottleneck", "base_channels",
                                          "perceptual", "d_params")})
    if main:
        io.write_json(ctx.path("history.json"), state.history)
        io.write_json(ctx.path("updates.json"), state.updates)
    return {"top": top, "start": start, "metric": metric.name, "metric_title": metric.title,
            "metric_note": metric.note, "perceptual_loss": percep_desc, "n_trained": state.steps_done,
            "history": "history.json"}


def discriminator_search(profile, seed: int = 0) -> pipeline.StageResult:
    """Alg. 1 line 31 at ``profile.tpsr.d_search`` as one resumable stage."""
    t = profile.tpsr
    nogan = tpsr_nogan(profile, seed)
    metric = perceptual_reward.perceptual_metric("cpu")
    params = {"d_search": dataclasses.asdict(t.d_search), "controller": dataclasses.asdict(t.controller),
              "nogan": [nogan.name, nogan.key], "seed": seed, "data": profile.to_dict()["data"],
              "metric": metric.name, "perceptual_loss": _percep(t.d_search.vgg_layer)[1],
              "device": _device_kind(profile), "parallel_candidates": t.parallel_candidates}

    def run(ctx):
        return run_d_search(ctx, nogan=nogan, d=params["d_search"], controller=params["controller"], seed=seed,
                            profile=profile, parallel_candidates=t.parallel_candidates)

    return pipeline.stage(_stage_name("search", "d", seed), params, run, profile=profile.name, seed=seed,
                          code=[discriminator, perceptual_reward, search_loop], all_ranks=t.parallel_candidates)


#: The fixed discriminators of Fig. 3: zoo name and GAN loss. TPSR: "the discriminator's architecture in
#: SRGAN and ESRGAN is the same but the latter is trained using the relativistic GAN loss"; we take each
#: paper's own VGG-style net from the zoo (ESRGAN's is BasicSR's, whose widths and head differ slightly).
FIXED_DS = {"srgan": ("srgan_d", "vanilla"), "esrgan": ("esrgan_d", "ragan")}


def study_discriminators(profile, seed: int = 0) -> dict[str, tuple[dict, str]]:
    """{label: (discriminator spec, GAN loss)}: the ``top_k`` searched Ds (d1, d2, ...) in E_D order, then
    SRGAN's and ESRGAN's (at the profile's ``baselines.<name>.d_kw`` width). JAGAN has no public architecture."""
    t = profile.tpsr
    hr = t.d_study.patch * profile.data.scale
    found = discriminator_search(profile, seed)
    keys = ("ops", "reductions", "bottleneck", "base_channels")
    out = {f"d{i + 1}": (spec("tpsr_d", **discriminator.spec_kwargs({k: r[k] for k in keys}), input_size=hr),
                         "vanilla") for i, r in enumerate(found["top"][:t.d_study.top_k])}
    for name, (zoo, kind) in FIXED_DS.items():
        out[name] = (spec(zoo, **{**profile.baselines.recipe(name).d_kw, "input_size": hr}), kind)
    return out


def _study_validate(profile, metric_holder: dict):
    psnr_fn = runs.val_psnr(profile)
    val = [p.tensors() for p in data.val_pairs(profile)]

    def fn(G):
        if "m" not in metric_holder:
            metric_holder["m"] = perceptual_reward.perceptual_metric(next(G.parameters()).device)
        m = metric_holder["m"]
        return {**psnr_fn(G), "val_perceptual": perceptual_reward.validation_score(G, val, m)}

    return fn


def d_study_run(profile, label: str, d_spec: dict, gan_kind: str, run: int, seed: int = 0) -> pipeline.StageResult:
    """Fig. 3: TPSR-NOGAN fine-tuned with discriminator ``d_spec`` on the full perceptual task (Eq. 8 weights
    of ``d_search``, VGG ``d_study.vgg_layer``), run ``run`` (its seed); validation PSNR and perceptual metric
    every ``val_every`` steps in metrics.jsonl."""
    t, st = profile.tpsr, profile.tpsr.d_study
    w = GANWeights(recon=t.d_search.alpha, percep=t.d_search.lam, adv=t.d_search.gamma, recon_kind="l1")
    nogan = tpsr_nogan(profile, seed)
    holder: dict = {}

    def make_step(nets, pm, tm, validate):
        return GANStep(w, losses.GANLoss(gan_kind), pm, validate=_study_validate(profile, holder),
                       val_every=st.val_every), {}

    g = nogan.manifest["params"]["models"]["G"]
    return runs.gan_stage(profile, _stage_name("dstudy", f"{label}_r{run}", seed), g=g, d=d_spec, init_g=nogan,
                          seed=run, weights=w, gan_kind=gan_kind, percep={"criterion": "mse", "layers": (st.vgg_layer,)},
                          iters=st.iters, lr=st.lr, milestones=st.milestones, betas=(0.9, 0.999),
                          batch_size=st.batch, lr_patch=st.patch, make_step=make_step, val_every=st.val_every,
                          params={"study": label, "metric": perceptual_reward.perceptual_metric("cpu").name},
                          code=[perceptual_reward, discriminator])
