"""A training run as a cached stage: models from registry specs, Adam + step-decay, the shared loop,
final weights saved beside the checkpoint, and loading a finished run's models back.

Model specs are ``{"name": registry name, "kw": {...}}`` so they are plain JSON in the stage key.
Every paper package builds its stages from :func:`train_stage`.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping

import numpy as np
import torch
import torch.nn as nn

from .. import data, io, pipeline
from ..metrics.psnr_ssim import psnr, quantize
from ..models import build, module_of
from . import distributed as dist
from . import loop, precision


def spec(name: str, **kw: Any) -> dict:
    return {"name": name, "kw": kw}


def build_spec(s: Mapping[str, Any]) -> nn.Module:
    return build(s["name"], **dict(s.get("kw", {})))


def load_model(result: pipeline.StageResult, role: str = "G") -> nn.Module:
    """The trained ``role`` model of a finished training stage (weights-only load)."""
    specs = result.manifest["params"]["models"]
    if role not in specs:
        raise KeyError(f"stage {result.name!r} trained {sorted(specs)}, not {role!r}")
    m = build_spec(specs[role])
    m.load_state_dict(io.torch_load(result.path(f"{role}.pt")))
    return m.eval()


def adam(params, lr: float, betas=(0.5, 0.999), eps: float = 1e-8, fused: bool | None = None) -> torch.optim.Adam:
    """MFAGAN Sec. 4.1: Adam (beta1 0.5, beta2 0.999, eps 1e-8) for every model.

    ``fused`` (default: whenever every parameter is a floating-point tensor on CPU or CUDA): PyTorch's
    fused kernel, one call per parameter group, instead of its per-tensor loop, which on CPU is the
    default and costs a dozen small operations per tensor (MFANet-32: 158 tensors; the update took
    about a tenth of a mini training step, benchmarks/train_throughput.py). The same update rule;
    rounding may differ in the last bit from the per-tensor loop."""
    params = list(params)
    if fused is None:
        tensors = [t for g in params for t in (g["params"] if isinstance(g, dict) else [g])]
        fused = bool(tensors) and all(t.is_floating_point() and t.device.type in ("cpu", "cuda") for t in tensors)
    return torch.optim.Adam(params, lr=lr, betas=tuple(betas), eps=eps, **({"fused": True} if fused else {}))


def val_psnr(profile, pairs=None) -> Callable[[nn.Module], dict[str, float]]:
    """A validation hook: mean Y-PSNR (shave = scale) of ``G`` on the profile's validation split.

    Always fp32: it leaves the training step's bfloat16 autocast (``train.precision``), so validation
    numbers do not depend on the training precision's rounding of the forward pass."""
    pairs = data.val_pairs(profile) if pairs is None else pairs
    tensors = [p.tensors() for p in pairs]

    @torch.no_grad()
    def fn(G: nn.Module) -> dict[str, float]:
        was = G.training
        G.eval()
        dev = next(G.parameters()).device
        with torch.autocast(dev.type, enabled=False):
            vals = [psnr(quantize(G(lr.to(dev)).float().cpu()), hr, profile.crop_border) for lr, hr in tensors]
        G.train(was)
        return {"val_psnr": float(np.mean(vals))}

    return fn


def train_stage(profile, name: str, *, models: Mapping[str, Mapping], params: Mapping[str, Any],
                make_step: Callable[[dict[str, nn.Module]], tuple[Callable, dict[str, list]]],
                lrs: Mapping[str, float], total: int, milestones=(), seed: int = 0,
                init: Mapping[str, tuple[pipeline.StageResult, str]] | None = None,
                betas=(0.5, 0.999), code=(), batch_size: int | None = None, lr_patch: int | None = None,
                gamma: float = 0.5, ddp: bool = True) -> pipeline.StageResult:
    """Train ``models`` (role -> spec) for ``total`` steps as the cached stage ``name``.

    Runs on :func:`srlib.training.distributed.device` (``profile.device``: cpu, cuda or auto); under
    ``torchrun`` the trainable models are wrapped in DDP and each rank draws its shard of every batch.

    ``make_step(models) -> (step_fn, extra)``: the step function, and extra trainable parameters per
    optimiser role (e.g. distillation projections). ``init``: role -> (finished stage, its role) to start
    from its weights. Learning rates are multiplied by ``gamma`` (default: halved) at ``milestones``
    (MultiStepLR). ``batch_size`` / ``lr_patch`` override the profile's data section.
    ``ddp=False``: the step function synchronises gradients itself (the SuperGenerator's sandwich step).

    ``profile.train.precision`` / ``channels_last`` (:mod:`srlib.training.precision`): the *resolved*
    precision (``"fp32"``, ``"bf16 (autocast, avx512_bf16)"``, ...) and the layout enter the stage params,
    hence its key and manifest; :func:`train_note` gives the text for a table row's note.
    """
    amp_dtype, amp_desc = precision.resolve(profile.train.precision, _device(profile))
    channels_last = bool(profile.train.channels_last)
    full = {"models": dict(models), "lrs": dict(lrs), "total": total, "milestones": list(milestones),
            "seed": seed, "betas": list(betas), "batch_size": batch_size or profile.data.batch_size,
            "lr_patch": lr_patch or profile.data.lr_patch, **({"gamma": gamma} if gamma != 0.5 else {}),
            "data": profile.to_dict()["data"],
            "init": {r: [res.name, res.key, role] for r, (res, role) in (init or {}).items()},
            "precision": amp_desc, "channels_last": channels_last, **dict(params)}

    def run(ctx):
        io.seed_everything(seed, profile.train.deterministic)
        device = _device(profile)
        nets = {r: build_spec(s) for r, s in models.items()}
        for r, (res, role) in (init or {}).items():
            nets[r].load_state_dict(io.torch_load(res.path(f"{role}.pt")))
        nets = {r: m.to(device) for r, m in nets.items()}
        if channels_last:   # before DDP and the optimisers see the parameters (converted in place)
            nets = {r: m.to(memory_format=torch.channels_last) for r, m in nets.items()}
        step_fn, extra = make_step(nets)
        if ddp and dist.world_size() > 1:
            # broadcast_buffers=False: a GAN step runs D several times before one backward; re-broadcasting
            # BatchNorm buffers in place between those forwards would break autograd (BN stats stay per rank)
            nets = {r: dist.wrap(m, find_unused_parameters=True, broadcast_buffers=False) for r, m in nets.items()}
        opts = {r: adam(list(nets[r].parameters()) + list(extra.get(r, [])), lrs[r], betas) for r in lrs}
        scheds = {r: torch.optim.lr_scheduler.MultiStepLR(o, list(milestones), gamma=gamma) for r, o in opts.items()}
        patches = data.sampler(profile, seed=seed, batch_size=batch_size, lr_patch=lr_patch)
        sampler = (lambda step: patches(step, dist.rank(), dist.world_size())) if dist.world_size() > 1 else patches
        extra_modules = {f"extra_{r}": _ParamHolder(ps) for r, ps in extra.items() if ps}
        res = loop.train(ctx.dir, models={**nets, **extra_modules}, optimizers=opts, schedulers=scheds,
                         step_fn=lambda s, b, m, o: step_fn(s, b, nets, o), batches=sampler,
                         total_steps=total, seed=seed, log_every=min(profile.train.log_every, total),
                         ckpt_every=profile.train.ckpt_every, progress=profile.train.progress,
                         deterministic=profile.train.deterministic, desc=name,
                         autocast=amp_dtype if amp_dtype == torch.bfloat16 else None, channels_last=channels_last)
        if dist.is_main():
            for r, m in nets.items():
                io.torch_save(dist.unwrap(m).state_dict(), ctx.path(f"{r}.pt"))
        dist.barrier()
        return {"weights": {r: f"{r}.pt" for r in nets}, "final": res.metrics, "metrics": loop.METRICS}

    built = [module_of(s["name"]) for s in models.values()]  # registered by name: not an import
    return pipeline.stage(name, full, run, profile=profile.name, seed=seed, code=[loop, *code, *built],
                          all_ranks=True)  # data-parallel training: every rank runs it


def train_note(result: pipeline.StageResult) -> str:
    """How a training stage ran, for a table row's note: ``"trained in bf16 (autocast, avx512_bf16),
    channels_last"`` or ``"trained in fp32"`` (older manifests without the key: fp32)."""
    p = result.manifest.get("params", {})
    return f"trained in {p.get('precision', 'fp32')}" + (", channels_last" if p.get("channels_last") else "")


def pixel_stage(profile, name: str, *, g: Mapping, seed: int, iters: int, lr: float, loss: str = "l1",
                milestones=(), gamma: float = 0.5, betas=(0.9, 0.999), val_every: int = 0,
                batch_size: int | None = None, lr_patch: int | None = None,
                init: pipeline.StageResult | None = None, params: Mapping | None = None) -> pipeline.StageResult:
    """A generator trained with one pixel loss (L1 or MSE) as the cached stage ``name``: a PSNR-oriented
    model, or a GAN's pre-training. ``init``: a finished stage whose ``G`` to start from; ``params`` adds
    to the stage key."""
    from . import gan

    def make_step(nets):
        return gan.PixelStep(loss, validate=val_psnr(profile), val_every=val_every), {}

    return train_stage(profile, name, models={"G": g}, params={"recon": loss, "val_every": val_every, **dict(params or {})},
                       make_step=make_step, lrs={"G": lr}, total=iters, milestones=milestones, gamma=gamma,
                       seed=seed, betas=betas, batch_size=batch_size, lr_patch=lr_patch,
                       init={"G": (init, "G")} if init is not None else None, code=[gan])


def gan_stage(profile, name: str, *, g: Mapping, d: Mapping, init_g: pipeline.StageResult, seed: int,
              weights, gan_kind: str = "vanilla", percep: Mapping | None = None, texture: Mapping | None = None,
              iters: int, lr: float, milestones=(), gamma: float = 0.5, betas=(0.5, 0.999), val_every: int = 0,
              init_d: pipeline.StageResult | None = None, batch_size: int | None = None,
              lr_patch: int | None = None, make_step: Callable | None = None, params: Mapping | None = None,
              code=()) -> pipeline.StageResult:
    """A GAN stage (:class:`srlib.training.gan.GANStep`) that starts from ``init_g`` (and ``init_d``).

    ``percep`` / ``texture``: keyword arguments of :func:`srlib.training.losses.perceptual_or_stand_in` /
    :func:`~srlib.training.losses.texture_or_stand_in` (None: no such term). Offline their labelled
    pixel-space stand-ins are used and the stage's params record which (``perceptual``, ``texture``).
    ``make_step(nets, percep_module, texture_module, validate) -> (step, extra)`` replaces the plain
    :class:`GANStep` for methods that add terms (MFAGAN's distillation); ``params`` adds to the stage key.
    """
    from . import gan, losses

    percep_mod, percep_desc = losses.perceptual_or_stand_in(**percep) if percep is not None else (None, "")
    tex_mod, tex_desc = losses.texture_or_stand_in(**texture) if texture is not None else (None, "")
    full = {"weights": weights.__dict__, "gan": gan_kind, "perceptual": percep_desc, "val_every": val_every,
            **({"texture": tex_desc} if texture is not None else {}), **dict(params or {})}

    def build_step(nets):
        device = next(nets["G"].parameters()).device
        pm = percep_mod.to(device) if percep_mod is not None else None
        tm = tex_mod.to(device) if tex_mod is not None else None
        if make_step is not None:
            return make_step(nets, pm, tm, val_psnr(profile))
        return gan.GANStep(weights, losses.GANLoss(gan_kind), pm, texture=tm, validate=val_psnr(profile),
                           val_every=val_every), {}

    init = {"G": (init_g, "G")}
    if init_d is not None:
        init["D"] = (init_d, "D")
    return train_stage(profile, name, models={"G": g, "D": d}, params=full, make_step=build_step,
                       lrs={"G": lr, "D": lr}, total=iters, milestones=milestones, gamma=gamma, seed=seed,
                       init=init, betas=betas, batch_size=batch_size, lr_patch=lr_patch,
                       code=[gan, losses, *code])


def eval_device(profile) -> torch.device:
    """Where evaluations and search fitness run: the profile's device (``device: cpu | cuda | auto``)."""
    return _device(profile)


def _device(profile) -> torch.device:
    if profile.device == "cpu":
        return torch.device("cpu")
    d = dist.device()
    if profile.device == "cuda" and d.type != "cuda":
        raise RuntimeError("profile.device is 'cuda' but no CUDA device is available; set device: auto or cpu")
    return d


class _ParamHolder(nn.Module):
    """Lets the loop checkpoint loose trainable parameters (e.g. distillation projections)."""

    def __init__(self, params):
        super().__init__()
        self.params = nn.ParameterList([p if isinstance(p, nn.Parameter) else nn.Parameter(p) for p in params])
