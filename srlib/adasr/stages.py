"""AdaSR as cached stages (Sec. 3-4): the teacher, the Bayesian-tuned lambdas, the adaptable student by
progressive KD, its ablations, the ensemble of separately trained sub-models, and their measurements.

    teacher            the frozen original model B^T: the suite's reference model (srlib.baselines)
    tune_lambda        Sec. 3.2.4: Eq. 6's lambda per teacher anchor by BO; ONE stage, resumable per trial
                       (every measured (lambda, PSNR) is written at once and replayed on resume)
    progressive_kd     Alg. 1: the adaptable student, every (D, W) of the grid per batch, one update;
                       ``mode`` "progressive" (the paper), "output" / "none" and ``max_norm=False`` (the
                       ablations of issue 13 item 6) with the same sub-models, data and budget
    separate_model     the ensemble's (D, W) twin: that sub-model alone, from scratch, L1 to HR, same
                       iterations, batches and learning-rate schedule ("the ensemble of separate models")
    measure_submodels  every (D, W) of a trained stage: PSNR/SSIM per test set, parameters and FLOPs under
                       AdaSR's Table 1 convention; tidy rows

Only this module reads ``profile.adasr`` (srlib/adasr/config.py); the method modules take explicit values.
Assumptions written here (the paper does not say): the "exponential learning rate scheduling" is a
staircase of ten equal decays ending at ``lr_final_ratio`` x the rate (MultiStepLR of the shared training
stage); one BO trial is ``bo.trial_steps`` progressive-KD steps from the current weights on the *same*
batches for every trial (common random numbers: trials differ only by lambda), scored by the mean
validation PSNR of the sub-models distilled through that anchor, then everything restored; trials run in
fp32. The separately trained twin is the same (D, W) slice of a fresh model of the teacher's architecture,
so its parameters are exactly those of a narrow model of that size (the slice of one (D, W) is its own
network: srlib/adasr/adaptable.py ``extract`` equality test).
"""
from __future__ import annotations

import dataclasses

import numpy as np
import torch
import torch.nn as nn

from .. import baselines, data, io, pipeline, results
from ..complexity.conventions import convention, printed_flops, printed_params
from ..metrics.conventions import metric_convention
from ..metrics.evaluate import evaluate_rows
from ..training import runs, tensorboard
from . import adaptable, descriptions, loss_tuning, matching, progressive_kd
from .adaptable import Adaptable
from .matching import MappingLayers, teacher_anchors
from .progressive_kd import ProgressiveKDStep

PAPER = "adasr"
DECAYS = 10   # assumption: the exponential schedule as ten equal decays (see the module docstring)


def _stage_name(kind: str, tag: str, seed: int) -> str:
    return f"adasr_{kind}_{tag}_s{seed}"


def teacher(profile, name: str, seed: int = 0) -> pipeline.StageResult:
    """B^T: the reference model ``name`` of the baselines (trained once per profile, or released)."""
    return baselines.reference(profile, name, seed)


def wrap(model: nn.Module) -> Adaptable:
    """``model`` as an :class:`Adaptable` with its zoo description."""
    return Adaptable(model, descriptions.describe(model))


def grid(profile, name: str, model: nn.Module) -> list[tuple[int, int]]:
    """The (D, W) options of ``profile.adasr.grid`` for teacher ``name`` (the full Sec. 3.2.1 grid if unset)."""
    return wrap(model).options(*profile.adasr.grid_for(name))


def schedule(total: int, lr_final_ratio: float) -> tuple[list[int], float]:
    """(milestones, gamma): ``DECAYS`` equal decays over ``total`` steps ending at ``lr_final_ratio``."""
    n = min(DECAYS, total - 1)
    if lr_final_ratio >= 1 or n < 1:
        return [], 1.0
    return [round(total * k / (n + 1)) for k in range(1, n + 1)], float(lr_final_ratio ** (1.0 / n))


class At(nn.Module):
    """One (D, W) of an :class:`Adaptable` as a plain ``G(lr)`` module (for validation and evaluation)."""

    def __init__(self, model: Adaptable, depth: int, width: int):
        super().__init__()
        self.model, self.depth, self.width = model, int(depth), int(width)

    def forward(self, x):
        return self.model(x, self.depth, self.width)


class _Validated:
    """The Alg. 1 step on the nets ``train_stage`` built, plus the validation PSNR of the smallest and
    largest sub-model every ``val_every`` steps."""

    def __init__(self, step: ProgressiveKDStep, models: dict, validate, val_every: int):
        self.step, self.models, self.validate, self.val_every = step, models, validate, val_every

    def __call__(self, step, batch, nets, optimizers):
        out = self.step(step, batch, self.models, optimizers)
        if self.validate is not None and self.val_every and (step + 1) % self.val_every == 0:
            S = self.models["S"]
            for tag, (d, w) in (("small", self.step.options[0]), ("large", self.step.options[-1])):
                out[f"val_psnr_{tag}"] = self.validate(At(S, d, w))["val_psnr"]
        return out


def _fresh(model: nn.Module, seed: int) -> nn.Module:
    """``model`` re-initialised (a released checkpoint as a scratch student): every module's
    ``reset_parameters`` (PyTorch's defaults, not the architecture's own init: stated in the row note)."""
    torch.manual_seed(seed)
    for m in model.modules():
        if hasattr(m, "reset_parameters"):
            m.reset_parameters()
    return model


def _options_and_spec(profile, name: str, seed: int):
    t = teacher(profile, name, seed)
    g = t.manifest["params"]["models"]["G"]
    return t, g, grid(profile, name, runs.build_spec(g))


def _lambdas(profile, name: str, seed: int, mode: str) -> list[float] | float:
    a = profile.adasr
    if mode != "progressive":
        return a.lambda_init
    if not a.bo.enabled:
        return a.lambda_init
    return tune_lambda(profile, name, seed)["lambdas"]


def progressive_kd(profile, name: str = "carn", seed: int = 0, *, mode: str = "progressive",
                   max_norm: bool = True) -> pipeline.StageResult:
    """Alg. 1 at ``profile.adasr``: the adaptable student of teacher ``name`` (``S.pt``: the one weight set).
    ``mode`` / ``max_norm``: the ablations (issue 13 item 6)."""
    a = profile.adasr
    t, g, options = _options_and_spec(profile, name, seed)
    lambdas = _lambdas(profile, name, seed, mode)
    lr = a.lr if a.lr is not None else profile.baselines.recipe(name).pixel_lr
    milestones, gamma = schedule(a.iterations, a.lr_final_ratio)
    released = g["name"] == "released"
    m_t = wrap(runs.build_spec(g)).description.depth

    def make_step(nets):
        S, T = wrap(nets["S"] if a.init == "teacher" or not released else _fresh(nets["S"], seed)), wrap(nets["T"])
        T.requires_grad_(False)
        maps = MappingLayers(options, m_t, T.description.width, kernel=a.mapping_kernel,
                             identity=a.mapping_identity, max_norm=a.max_norm if max_norm else None)
        maps = maps.to(next(nets["S"].parameters()).device)
        step = ProgressiveKDStep(options, lambdas=lambdas, mode=mode, max_norm=a.max_norm if max_norm else None,
                                 output_weight=a.output_weight, pixel_weight=a.pixel_weight,
                                 temperature=a.kl_temperature)
        extra = {"S": list(maps.parameters())} if mode == "progressive" else {}
        return _Validated(step, {"S": S, "T": T, "maps": maps}, runs.val_psnr(profile), a.val_every), extra

    init = {"T": (t, "G"), **({"S": (t, "G")} if a.init == "teacher" else {})}
    tag = f"{name}_{mode}{'' if max_norm else '_nomaxnorm'}"
    return runs.train_stage(
        profile, _stage_name("kd", tag, seed), models={"S": g, "T": g}, make_step=make_step, lrs={"S": lr},
        params={"paper": PAPER, "options": [list(o) for o in options], "mode": mode, "lambdas": lambdas,
                "max_norm": a.max_norm if max_norm else None, "teacher": [t.name, t.key],
                **{k: getattr(a, k) for k in ("init", "mapping_kernel", "mapping_identity", "kl_temperature",
                                              "output_weight", "pixel_weight", "val_every")}},
        total=a.iterations, milestones=milestones, gamma=gamma, seed=seed, init=init, betas=a.betas,
        batch_size=a.batch, lr_patch=a.lr_patch, ddp=False,   # the step averages gradients itself
        code=[adaptable, descriptions, matching, progressive_kd])


def separate_model(profile, name: str, depth: int, width: int, seed: int = 0) -> pipeline.StageResult:
    """The ensemble's (D, W) member: that sub-model alone from scratch, L1 to HR (Alg. 1 ``mode="none"``
    with one option), the adaptable model's iterations (or ``separate_iterations``), batches and schedule."""
    a = profile.adasr
    t, g, _ = _options_and_spec(profile, name, seed)
    released = g["name"] == "released"
    total = a.separate_iterations or a.iterations
    milestones, gamma = schedule(total, a.lr_final_ratio)
    lr = a.lr if a.lr is not None else profile.baselines.recipe(name).pixel_lr

    def make_step(nets):
        S = wrap(_fresh(nets["S"], seed) if released and a.init != "teacher" else nets["S"])
        step = ProgressiveKDStep([(depth, width)], mode="none")
        return _Validated(step, {"S": S}, runs.val_psnr(profile), a.val_every), {}

    return runs.train_stage(
        profile, _stage_name("separate", f"{name}_{depth}_{width}", seed), models={"S": g}, make_step=make_step,
        init={"S": (t, "G")} if a.init == "teacher" else None,
        lrs={"S": lr}, params={"paper": PAPER, "options": [[depth, width]], "mode": "separate", "init": a.init,
                               "teacher_arch": [t.name, t.key], "val_every": a.val_every},
        total=total, milestones=milestones, gamma=gamma, seed=seed, betas=a.betas, batch_size=a.batch,
        lr_patch=a.lr_patch, ddp=False, code=[adaptable, descriptions, progressive_kd])


# ---- Sec. 3.2.4: Bayesian-tuned lambda ---------------------------------------------------------------------
def run_lambda_search(ctx, *, student: Adaptable, teacher_model: Adaptable, maps: MappingLayers,
                      optimizer, options, batches, validate, bo: dict, initial: float, temperature: float,
                      output_weight: float, max_norm: float, seed: int, log=print) -> dict:
    """Each teacher anchor in turn (the others at the values found so far): BO of lambda; one trial =
    ``bo["trial_steps"]`` KD steps on batches 0..k-1 from the current weights, scored by the mean validation
    PSNR of the sub-models distilled through the anchor, then restored. ``trials.json`` holds every measured
    score; a resumed search replays them (same seed, same questions). When an anchor's search ends, its
    questions (repeats and replayed ones included) go to TensorBoard in ``tb/``, step = question number."""
    m_t = teacher_model.description.depth
    lambdas = [float(initial)] * m_t
    path = ctx.path("trials.json")
    known = {int(k): {float(x): s for x, s in v.items()} for k, v in io.read_json(path).items()} if path.is_file() else {}
    searches = {}
    board = tensorboard.ScalarLog(ctx.path(tensorboard.TB_DIR))   # rebuilt: every anchor's search is replayed

    def score(opts):   # the mean of the sub-models' validation PSNRs (the same images each)
        return float(np.mean([validate(At(student, d, w))["val_psnr"] for d, w in opts]))

    for t in range(m_t):
        through = [(d, w) for d, w in options if t in teacher_anchors(m_t, d)]
        if not through:
            continue

        def trial(lam, t=t, through=through):
            lams = list(lambdas)
            lams[t] = lam
            step = ProgressiveKDStep(options, lambdas=lams, max_norm=max_norm,
                                     output_weight=output_weight, temperature=temperature)
            models = {"S": student, "T": teacher_model, "maps": maps}
            with loss_tuning.restoring(student, maps, optimizer):
                for k in range(bo["trial_steps"]):
                    step(k, batches(k), models, {"S": optimizer})
                s = score(through)
            known.setdefault(t, {})[float(lam)] = s
            io.write_json(path, {str(k): {str(x): v for x, v in d.items()} for k, d in known.items()})
            log(f"[adasr lambda] anchor {t} lambda {lam:.2f}: val PSNR {s:.3f} dB")
            return s

        res = loss_tuning.tune_lambda(trial, grid=bo["grid"], patience=bo["patience"], n_init=bo["n_init"],
                                      max_trials=bo["max_trials"], xi=bo["xi"], seed=seed + t, cache=known.get(t))
        lambdas[t] = res.best
        best = -np.inf
        for n, (lam, s, _) in enumerate(res.trials):
            best = max(best, s)
            board.add({"step": n, f"lambda/anchor{t}/lambda": lam, f"lambda/anchor{t}/val_psnr": s,
                       f"lambda/anchor{t}/best_val_psnr": best})
        board.flush()
        searches[str(t)] = {**res.state_dict(), "evaluations": res.evaluations, "sub_models": [list(o) for o in through]}
    board.close()
    io.write_json(ctx.path("searches.json"), searches)
    return {"lambdas": lambdas, "searches": "searches.json", "trials": "trials.json"}


def tune_lambda(profile, name: str = "carn", seed: int = 0) -> pipeline.StageResult:
    """Sec. 3.2.4 as one stage: Eq. 6's lambda for every anchor of teacher ``name`` (``profile.adasr.bo``)."""
    a = profile.adasr
    t, g, options = _options_and_spec(profile, name, seed)
    lr = a.lr if a.lr is not None else profile.baselines.recipe(name).pixel_lr
    params = {"teacher": [t.name, t.key], "options": [list(o) for o in options], "bo": dataclasses.asdict(a.bo),
              "lr": lr, "betas": list(a.betas), "batch": a.batch, "lr_patch": a.lr_patch, "init": a.init,
              "lambda_init": a.lambda_init, "max_norm": a.max_norm, "mapping_kernel": a.mapping_kernel,
              "mapping_identity": a.mapping_identity, "kl_temperature": a.kl_temperature,
              "output_weight": a.output_weight, "seed": seed, "data": profile.to_dict()["data"]}

    def run(ctx):
        io.seed_everything(seed, profile.train.deterministic)
        dev = runs.eval_device(profile)
        T = wrap(runs.load_model(t, "G").to(dev)).requires_grad_(False)
        s_model = runs.load_model(t, "G") if a.init == "teacher" else runs.build_spec(g)
        if a.init != "teacher" and g["name"] == "released":
            _fresh(s_model, seed)
        S = wrap(s_model.to(dev).train())
        maps = MappingLayers(options, T.description.depth, T.description.width, kernel=a.mapping_kernel,
                             identity=a.mapping_identity, max_norm=a.max_norm).to(dev)
        opt = runs.adam(list(S.parameters()) + list(maps.parameters()), lr, a.betas)
        sampler = data.sampler(profile, seed=seed, batch_size=a.batch, lr_patch=a.lr_patch)
        off = a.bo.trial_after
        if off:   # assumption: BO after ``trial_after`` steps at lambda_init (0: from the initial student)
            step = ProgressiveKDStep(options, lambdas=a.lambda_init, max_norm=a.max_norm,
                                     output_weight=a.output_weight, temperature=a.kl_temperature)
            for k in range(off):
                step(k, sampler(k), {"S": S, "T": T, "maps": maps}, {"S": opt})
        return run_lambda_search(ctx, student=S, teacher_model=T, maps=maps, optimizer=opt, options=options,
                                 batches=lambda k: sampler(off + k), validate=runs.val_psnr(profile),
                                 bo=dataclasses.asdict(a.bo), initial=a.lambda_init, max_norm=a.max_norm,
                                 temperature=a.kl_temperature, output_weight=a.output_weight, seed=seed)

    return pipeline.stage(_stage_name("lambda", name, seed), params, run, profile=profile.name, seed=seed,
                          code=[adaptable, descriptions, matching, progressive_kd, loss_tuning])


# ---- measurements ------------------------------------------------------------------------------------------
def model_id(name: str, depth: int, width: int, kind: str = "adaptable") -> str:
    """``carn_2_32`` (ours, adaptable) / ``carn_2_32_separate``: blocks and channels, not the paper's ratios."""
    return f"{name}_{depth}_{width}" + ("" if kind == "adaptable" else f"_{kind}")


def submodel_rows(profile, res: pipeline.StageResult, name: str, kind: str, seed: int = 0) -> list[dict]:
    """Every (D, W) the stage ``res`` trained: PSNR/SSIM per test set (AdaSR's metric convention), params
    and FLOPs under AdaSR Table 1's convention, as tidy rows (table ``fig3``). Cached per stage."""
    options = [tuple(o) for o in res.manifest["params"]["options"]]
    params = {"model": [res.name, res.key], "options": [list(o) for o in options], "kind": kind, "name": name,
              "test_sets": list(profile.data.test_sets), "eval": profile.to_dict()["eval"],
              "max_eval_hr": profile.data.max_eval_hr}

    def run(ctx):
        dev = runs.eval_device(profile)
        S = wrap(runs.load_model(res, "S").to(dev))
        sets = data.test_sets(profile)
        conv = convention(PAPER, "table1")
        rows = []
        for d, w in options:
            sub = S.extract(d, w).eval()
            mid = model_id(name, d, w, kind)
            common = dict(paper=PAPER, table="fig3", model=mid, profile=profile.name, seed=seed, stage=res.name)
            rows += evaluate_rows(sub, sets, model_name=mid, paper=PAPER, table="fig3", profile=profile,
                                  seed=seed, stage=res.name, convention=metric_convention(PAPER), device=dev,
                                  note=runs.train_note(res))
            cpu = sub.cpu()
            rows.append(results.row(**common, metric="params", value=printed_params(cpu, conv),
                                    unit=conv.params_unit, note=f"depth {d}, width {w}; {conv.source}"))
            rows.append(results.row(**common, metric="flops_printed", value=printed_flops(cpu, conv),
                                    unit=conv.flops_unit, note=f"{conv.quantity} at LR {conv.lr_hw}; {conv.source}"))
        io.write_json(ctx.path("rows.json"), rows)
        return {"rows": "rows.json"}

    ev = pipeline.stage(f"eval_adasr_{res.name}", params, run, profile=profile.name, seed=seed,
                        code=[evaluate_rows, adaptable, descriptions])
    return io.read_json(ev.path("rows.json"))
