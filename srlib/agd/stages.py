"""AGD's SR pipeline as cached stages (shared/notes/agd.md).

    teacher           the reference ESRGAN (srlib.baselines; ``agd.teacher``)
    pretrain_supernet supernet pre-training: pixel L1 to the teacher's outputs, sandwich widths (max + min +
                      2 random), on the weight half of the training images
    search            the bi-level search under one FLOPs budget (``agd.budgets[name]``): architecture step on
                      the other half, weight step, penalty weight halved/doubled against the budget; writes
                      the softmax(alpha) / width-probability trace and the derived genotype
    retrain           the derived network from scratch: pixel (L1 to the teacher) then pixel 1e-2 + content 1
    prune_esrgan      "ESRGAN pruned": L1 filter pruning of the teacher to the AGD model's MACs, then the same
                      distillation fine-tune as AGD's retrain (assumption: AGD's own procedure is unknown)
    vdsr              VDSR (MSE to HR, its paper's loss) at the profile's budget

Only this module reads ``profile.agd``. The supernet stages run their own ``training.loop.train`` (two
optimisers and two data halves); precision fp32 (assumption: the Gumbel widths and the penalty in bf16 were
not checked). Data: the training images split in halves by index (even: weights, odd: architecture).
"""
from __future__ import annotations

import json

import torch
import torch.nn as nn

from .. import baselines, data, io, pipeline
from ..data.datasets import PatchSampler
from ..training import distributed as dist
from ..training import loop, runs, tensorboard
from ..training.runs import spec
from . import bilevel, flops, network, operations, proxy, pruning, supernet
from .network import Genotype
from .supernet import AGDSupernet

PAPER = "agd"


def _stage_name(kind: str, tag: str, seed: int) -> str:
    return f"agd_{kind}_{tag}_s{seed}"


def teacher(profile, seed: int = 0) -> pipeline.StageResult:
    return baselines.reference(profile, profile.agd.teacher, seed)


def _supernet_kw(a) -> dict:
    return {"num_cells": a.num_cells, "layers_per_cell": a.layers_per_cell, "num_feat": a.num_feat,
            "widths": list(a.widths), "ops": list(a.ops)}


def _halves(profile):
    pairs = data.train_pairs(profile)
    if len(pairs) < 2:
        raise ValueError(f"AGD's search splits the training images in halves; {profile.data.train_sets} has "
                         f"{len(pairs)} image(s): add images or use another split")
    return pairs[0::2], pairs[1::2]


def _sampler(profile, pairs, seed: int):
    a = profile.agd
    return PatchSampler(pairs, a.lr_patch, a.batch, profile.data.scale, seed)


class ProxyStep:
    """Retrain / fine-tune step: ``proxy(G(lr), T(lr))`` (teacher outputs as targets, no HR), grad clip 5."""

    def __init__(self, loss: proxy.DistillationProxy, grad_clip: float = 5.0):
        self.loss, self.grad_clip = loss, grad_clip

    def __call__(self, step, batch, models, optimizers):
        G, T = models["G"], models["T"]
        lr = batch[0].to(next(G.parameters()).device)
        with torch.no_grad():
            target = T.eval()(lr)
        self.loss.to(lr.device)
        opt = optimizers["G"]
        opt.zero_grad(set_to_none=True)
        loss, parts = self.loss(G(lr), target)
        loss.backward()
        nn.utils.clip_grad_norm_(G.parameters(), self.grad_clip)
        opt.step()
        return {"loss": loss.detach(), **parts}


def _trace_row(rec: dict, net: AGDSupernet) -> dict:
    """A ``trace.jsonl`` record as TensorBoard tags: one per (cell, layer, op) and (cell, junction, width)."""
    row = {k: v for k, v in rec.items() if k not in ("alpha", "width")}
    for name, where, labels in (("alpha", "layer", net.ops), ("width", "junction", net.widths)):
        for c, cell in enumerate(rec[name]):
            for i, probs in enumerate(cell):
                row.update({f"{name}/cell{c}_{where}{i}/{lab}": x for lab, x in zip(labels, probs)})
    return row


def _supernet_run(ctx, profile, *, net: AGDSupernet, T: nn.Module, step_fn, opts: dict, batches, total: int,
                  seed: int, trace_every: int = 0) -> dict:
    """``loop.train`` for the supernet stages; every ``trace_every`` steps softmax(alpha) and the width
    probabilities are appended to ``trace.jsonl`` (on resume, the lines past the step resumed from are dropped
    first, so each step appears once) and written as TensorBoard scalars to ``tb/trace`` (rebuilt from the
    lines kept)."""
    trace = ctx.path("trace.jsonl")
    board: list[tensorboard.ScalarLog] = []    # opened at the first step run, the step resumed from

    def fn(step, batch, models, optimizers):
        out = step_fn(step, batch, {"G": net, "T": T}, optimizers)
        if trace_every and not board:   # the first step run: drop the lines past the step resumed from
            kept = [r for r in tensorboard.read_rows(trace) if r["step"] <= step]
            if dist.is_main() and trace.is_file():
                io.write_text(trace, "".join(json.dumps(r) + "\n" for r in kept))
            board.append(tensorboard.ScalarLog(ctx.path(tensorboard.TB_DIR, "trace"), [_trace_row(r, net) for r in kept]))
        if trace_every and (step + 1) % trace_every == 0:
            with torch.no_grad():
                rec = {"step": step + 1, "alpha": torch.softmax(net.alpha, -1).tolist(),
                       "width": torch.softmax(net.width_logits, -1).tolist(),
                       **{k: float(v) for k, v in out.items() if k in ("flops_weight", "penalty_gmacs", "derived_gmacs")}}
            if dist.is_main():   # one writer under torchrun
                with open(trace, "a") as f:
                    f.write(json.dumps(rec) + "\n")
            board[0].add(_trace_row(rec, net))
        return out

    stateful = {"step": step_fn} if hasattr(step_fn, "state_dict") else None
    if dist.world_size() > 1:   # under torchrun each rank takes its shard of every batch (both halves)
        full, rank, world = batches, dist.rank(), dist.world_size()
        batches = lambda s: full(s, rank, world)   # noqa: E731
    try:
        res = loop.train(ctx.dir, models={"G": net}, optimizers=opts, step_fn=fn, batches=batches, total_steps=total,
                         seed=seed, log_every=min(profile.train.log_every, total), ckpt_every=profile.train.ckpt_every,
                         progress=profile.train.progress, deterministic=profile.train.deterministic, desc=ctx.name,
                         stateful=stateful)
    finally:
        for b in board:
            b.close()
    io.torch_save(net.state_dict(), ctx.path("G.pt"))
    return {"weights": {"G": "G.pt"}, "final": res.metrics, "metrics": loop.METRICS}


class _Halves:
    """The bi-level step's batch: ``{"weight": ..., "arch": ...}`` from the two halves' samplers (a pure
    function of the step, and of the rank under torchrun, like a :class:`PatchSampler`)."""

    def __init__(self, weight: PatchSampler, arch: PatchSampler):
        self.weight, self.arch = weight, arch

    def __call__(self, step: int, rank: int = 0, world: int = 1) -> dict:
        return {"weight": self.weight(step, rank, world), "arch": self.arch(step, rank, world)}


def pretrain_supernet(profile, seed: int = 0) -> pipeline.StageResult:
    """Supernet pre-training (pixel only, sandwich widths) on the weight half."""
    a, t = profile.agd, teacher(profile, seed)
    params = {"supernet": _supernet_kw(a), "teacher": [t.name, t.key], "iters": a.pretrain_iters,
              "lr": a.pretrain_lr, "batch": a.batch, "lr_patch": a.lr_patch, "seed": seed,
              "data": profile.to_dict()["data"]}

    def run(ctx):
        io.seed_everything(seed, profile.train.deterministic)
        net, T = AGDSupernet(**_supernet_kw(a)), runs.load_model(t, "G").requires_grad_(False)
        opt = runs.adam(net.weight_parameters(), a.pretrain_lr, (0.9, 0.999))   # assumption: default betas
        weight_half, _ = _halves(profile)
        return _supernet_run(ctx, profile, net=net, T=T, step_fn=bilevel.SupernetPretrainStep(seed=seed),
                             opts={"G": opt}, batches=_sampler(profile, weight_half, seed), total=a.pretrain_iters,
                             seed=seed)

    return pipeline.stage(_stage_name("pretrain", "supernet", seed), params, run, profile=profile.name, seed=seed,
                          code=[supernet, operations, bilevel, proxy])


def search(profile, budget: str, seed: int = 0) -> pipeline.StageResult:
    """The bi-level search under ``agd.budgets[budget]`` from the pre-trained supernet."""
    a, t = profile.agd, teacher(profile, seed)
    b = a.budgets[budget]
    pre = pretrain_supernet(profile, seed)
    params = {"supernet": _supernet_kw(a), "pretrained": [pre.name, pre.key], "teacher": [t.name, t.key],
              "budget": dict(b), "penalty_hw": list(a.penalty_hw), "adapt_every": a.adapt_every,
              **{k: getattr(a, k) for k in ("search_iters", "search_lr", "arch_lr", "batch", "lr_patch", "w_pix",
                                            "w_content")}, "arch_betas": list(a.arch_betas), "seed": seed,
              "data": profile.to_dict()["data"]}

    def run(ctx):
        io.seed_everything(seed, profile.train.deterministic)
        net = AGDSupernet(**_supernet_kw(a))
        net.load_state_dict(io.torch_load(pre.path("G.pt")))
        T = runs.load_model(t, "G").requires_grad_(False)
        table = flops.MacsTable(tuple(a.penalty_hw), widths=a.widths, num_feat=a.num_feat, ops=a.ops)
        penalty = flops.PenaltyWeight(b["flops_weight"], lower=b["lower"] * 1e9, upper=b["upper"] * 1e9)
        loss = proxy.DistillationProxy(w_pix=a.w_pix, w_content=a.w_content)
        step = bilevel.BilevelStep(table, penalty=penalty, proxy=loss, adapt_every=a.adapt_every, seed=seed)
        opts = {"G": runs.adam(net.weight_parameters(), a.search_lr, (0.9, 0.999)),
                "arch": runs.adam(net.arch_parameters(), a.arch_lr, tuple(a.arch_betas))}
        w_half, a_half = _halves(profile)
        sw, sa = _sampler(profile, w_half, seed), _sampler(profile, a_half, seed + 1)
        out = _supernet_run(ctx, profile, net=net, T=T, step_fn=step, opts=opts,
                            batches=_Halves(sw, sa), total=a.search_iters, seed=seed,
                            trace_every=min(profile.train.log_every, a.search_iters))
        g = net.derive()
        io.write_json(ctx.path("genotype.json"), g.to_dict())
        return {**out, "genotype": g.to_dict(), "derived_gmacs_penalty_hw": table.genotype_macs(g) / 1e9,
                "flops_weight": step.penalty.weight, "penalty_updates": step.penalty.state_dict()["updates"],
                "content_loss": loss.content_description, "trace": "trace.jsonl"}

    return pipeline.stage(_stage_name("search", budget, seed), params, run, profile=profile.name, seed=seed,
                          code=[supernet, operations, bilevel, proxy, flops])


def _teacher_spec(t: pipeline.StageResult) -> dict:
    return t.manifest["params"]["models"]["G"]


def _distill(profile, name: str, *, g: dict, t: pipeline.StageResult, iters: int, lr: float, w_pix: float,
             w_content: float, seed: int, init: pipeline.StageResult | None = None) -> pipeline.StageResult:
    a = profile.agd
    loss = proxy.DistillationProxy(w_pix=w_pix, w_content=w_content)

    def make_step(nets):
        nets["T"].requires_grad_(False)
        return ProxyStep(loss), {}

    return runs.train_stage(
        profile, name, models={"G": g, "T": _teacher_spec(t)}, make_step=make_step, lrs={"G": lr}, total=iters,
        milestones=a.milestones(iters), seed=seed, betas=(0.9, 0.999), batch_size=a.batch, lr_patch=a.lr_patch,
        init={"T": (t, "G"), **({"G": (init, "G")} if init is not None else {})},
        params={"paper": PAPER, "proxy": {"w_pix": w_pix, "w_content": w_content,
                                          "content": loss.content_description}},
        code=[proxy, network])


def retrain(profile, genotype: dict, tag: str, seed: int = 0) -> dict[str, pipeline.StageResult]:
    """The derived network from scratch: pixel (w_pix 1) then pixel 1e-2 + content 1 (the authors' two stages)."""
    a, t = profile.agd, teacher(profile, seed)
    g = spec("agd", genotype=genotype)
    pix = _distill(profile, _stage_name("retrain_pixel", tag, seed), g=g, t=t, iters=a.retrain_pixel_iters,
                   lr=a.retrain_pixel_lr, w_pix=1.0, w_content=0.0, seed=seed)
    full = _distill(profile, _stage_name("retrain_content", tag, seed), g=g, t=t, iters=a.retrain_content_iters,
                    lr=a.retrain_content_lr, w_pix=a.w_pix, w_content=a.w_content, seed=seed, init=pix)
    return {"pixel": pix, "content": full}


def prune_esrgan(profile, target_gmacs: float, tag: str, seed: int = 0) -> pipeline.StageResult:
    """"ESRGAN pruned": L1 filter pruning of the teacher to ``target_gmacs`` (MACs at 256x256 LR), then the
    AGD retrain's distillation (pixel + content) for ``prune_finetune_iters`` steps."""
    a, t = profile.agd, teacher(profile, seed)
    tkw = dict(_teacher_spec(t).get("kw", {}))

    def run(ctx):
        p = pruning.prune_esrgan(runs.load_model(t, "G"), target_gmacs * 1e9, lr_hw=(256, 256))
        io.torch_save(p.net.state_dict(), ctx.path("G.pt"))
        return {"weights": {"G": "G.pt"}, "num_feat": p.num_feat, "num_grow_ch": p.num_grow_ch,
                "gmacs_256": p.macs / 1e9, "target_gmacs": target_gmacs}

    cut = pipeline.stage(_stage_name("prune", tag, seed), {"teacher": [t.name, t.key], "target_gmacs": target_gmacs},
                         run, profile=profile.name, seed=seed, code=[pruning])
    g = spec("esrgan", **{**tkw, "num_feat": cut["num_feat"], "num_grow_ch": cut["num_grow_ch"]})
    iters = a.prune_finetune_iters or (a.retrain_pixel_iters + a.retrain_content_iters)
    return _distill(profile, _stage_name("prune_finetune", tag, seed), g=g, t=t, iters=iters,
                    lr=a.retrain_content_lr, w_pix=a.w_pix, w_content=a.w_content, seed=seed, init=cut)


def vdsr(profile, seed: int = 0) -> pipeline.StageResult:
    """VDSR (Kim et al. 2016) trained with MSE to HR at the profile's budget (its paper's loss)."""
    a = profile.agd
    return runs.pixel_stage(profile, _stage_name("vdsr", "mse", seed), g=spec("vdsr", **a.vdsr_kw), seed=seed,
                            iters=a.vdsr_iters, lr=a.vdsr_lr, loss="mse", milestones=a.milestones(a.vdsr_iters),
                            batch_size=a.batch, lr_patch=a.lr_patch, val_every=a.val_every,
                            params={"paper": PAPER})


def genotype_of(res: pipeline.StageResult) -> Genotype:
    return Genotype.from_dict(res["genotype"])
