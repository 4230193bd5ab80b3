"""AGD's search as step functions for :func:`srlib.training.loop.train`: supernet pre-training and the
first-order bi-level step (shared/notes/agd.md; the authors' ``train_search.py`` / ``architect.py``).

Per iteration of the search (``update_arch``), in this order:

1. **architecture step** on a batch of the *other half* of the images: loss = proxy at a straight-through
   Gumbel width sample + at all-max + at all-min widths (their ``_loss(pretrain=False)``), plus
   ``flops_weight x`` :func:`~srlib.agd.flops.penalty_macs`; gradients w.r.t. ``alpha`` and
   ``width_logits`` only (``torch.autograd.grad``), then the architecture optimizer (the caller builds it:
   Adam lr 3e-4, betas (0.5, 0.999) over ``supernet.arch_parameters()``).
2. **weight step** on a batch of the weight half: the same three samples (their search weight step is
   ``_loss(input, target, pretrain=<checkpoint path>)``, i.e. Gumbel + max + min; the notes' "max + min +
   2 random" is the *pre-training* form, :class:`SupernetPretrainStep`), at ``softmax(alpha)`` and width
   samples detached from the architecture, gradients summed, grad-norm clip 5, the weight optimizer
   (Adam over ``supernet.weight_parameters()``: search lr 1e-4, betas (0.9, 0.999)).
3. every ``adapt_every`` steps (their evaluation every 20 epochs): derive the argmax genotype, count its
   MACs with the step's :class:`~srlib.agd.flops.MacsTable` and let :class:`~srlib.agd.flops.PenaltyWeight`
   halve/double ``flops_weight``.

Targets are the frozen teacher's outputs (``models[teacher_key]``, run under ``no_grad``; keep it in
eval mode). Batches: the loop hands ``batches(step)`` to the step; for :class:`BilevelStep` it must be a
mapping ``{"weight": lr, "arch": lr}`` (an LR tensor, or a tuple/list whose first item is one): build it
from two :func:`~srlib.training.loop.dataset_batches` over the two halves, which keeps ``batches`` a pure
function of the step (the loop's exact-resume contract), so the step owns no data iterator.

Randomness: Gumbel noise and random widths come from ``step_generator(seed, step, salt)`` (the same on
every rank), never from the global RNG: a resumed search draws what an uninterrupted one would. State
(for the loop's ``stateful``): :class:`BilevelStep` -> ``{"seed", "penalty": {"weight", "lower", "upper",
"updates"}}``; :class:`SupernetPretrainStep` -> ``{"seed"}`` (checked on load).

assumption: the authors clip ``model.parameters()``, which also holds ``alpha`` and the width logits
(their pre-training even lets ``alpha.grad`` accumulate, never zeroed); we clip the weights' norm only
and give the weight step no path to the architecture (under Adam a global gradient rescale changes
little). Under DDP the summed gradients are averaged over ranks here (the supernet runs unwrapped).
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from srlib.training import distributed as dist
from srlib.training.loop import step_generator

from .flops import MacsTable, PenaltyWeight, penalty_macs
from .proxy import DistillationProxy
from .supernet import AGDSupernet

__all__ = ["SupernetPretrainStep", "BilevelStep", "SAMPLES"]

SAMPLES = ("gumbel", "max", "min", "random")
_SALT_ARCH, _SALT_WEIGHT, _SALT_PENALTY = 0xA6D1, 0xA6D2, 0xA6D3


def _lr(batch: Any) -> torch.Tensor:
    return batch[0] if isinstance(batch, (tuple, list)) else batch


def _supernet(models: Mapping[str, nn.Module], key: str) -> AGDSupernet:
    net = dist.unwrap(models[key])
    if not isinstance(net, AGDSupernet):
        raise TypeError(f"models[{key!r}] must be an AGDSupernet, got {type(net).__name__}")
    return net


def _targets(models: Mapping[str, nn.Module], key: str, lr: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return models[key](lr)


def _check_samples(samples: Sequence[str], what: str) -> tuple[str, ...]:
    samples = tuple(samples)
    bad = [s for s in samples if s not in SAMPLES]
    if bad or not samples:
        raise ValueError(f"{what}: samples must be a non-empty sequence of {SAMPLES}, got {samples}")
    return samples


def _widths(net: AGDSupernet, kind: str, g: torch.Generator, tau: float, detach: bool):
    if kind == "max":
        return net.max_widths()
    if kind == "min":
        return net.min_widths()
    if kind == "random":
        return net.random_widths(g)
    return net.sample_widths(g, tau=tau, detach=detach)


def _weight_pass(net: AGDSupernet, proxy: nn.Module, samples: Sequence[str], lr: torch.Tensor,
                 target: torch.Tensor, g: torch.Generator, tau: float) -> list[torch.Tensor]:
    """Backward of the proxy loss of each sample (gradients summed in ``.grad``); the losses, detached."""
    with torch.no_grad():
        op_weights = F.softmax(net.alpha, dim=-1)
    losses = []
    for kind in samples:
        loss, _ = proxy(net(lr, _widths(net, kind, g, tau, True), op_weights=op_weights), target)
        loss.backward()
        losses.append(loss.detach())
    return losses


def _seed_state(seed: int, state: Mapping[str, Any], what: str) -> None:
    if int(state["seed"]) != seed:
        raise ValueError(f"{what}: the checkpoint was written with seed {state['seed']}, this step has {seed}")


def _weight_update(net: AGDSupernet, proxy: nn.Module, samples: Sequence[str], lr: torch.Tensor,
                   target: torch.Tensor, opt: Any, *, seed: int, step: int, tau: float, grad_clip: float):
    """One weight update (pre-training and the search's weight step): the summed proxy losses at ``samples``,
    gradients averaged over ranks, clipped to ``grad_clip`` on the weights only, one optimizer step.
    Returns (losses per sample, the gradient norm before clipping)."""
    opt.zero_grad(set_to_none=True)
    g = step_generator(seed, step, _SALT_WEIGHT, rank=0)
    losses = _weight_pass(net, proxy, samples, lr, target, g, tau)
    params = net.weight_parameters()
    dist.average_gradients(params)
    gn = nn.utils.clip_grad_norm_(params, grad_clip)
    opt.step()
    return losses, gn


class SupernetPretrainStep:
    """Supernet pre-training (their ``pretrain=True``): proxy loss (default pixel L1 to the teacher, w_pix 1)
    at each of ``samples`` (default max + min + 2 uniform random widths, their ``_loss(pretrain=True)``),
    mixed ops at ``softmax(alpha)`` (not trained here), summed gradients, clip ``grad_clip`` on the weights,
    one step of ``optimizers[optimizer_key]`` (Adam lr 2e-4 over ``weight_parameters()``, caller-built).
    ``batch``: an LR tensor or a tuple/list whose first item is one. Logged: ``loss`` (sum over samples),
    ``loss_max``, ``loss_min``, ``grad_norm`` (before clipping)."""

    def __init__(self, *, proxy: nn.Module | None = None, samples: Sequence[str] = ("max", "min", "random", "random"),
                 grad_clip: float = 5.0, seed: int = 0, tau: float = 1.0, model_key: str = "G",
                 teacher_key: str = "T", optimizer_key: str = "G"):
        self.proxy = proxy if proxy is not None else DistillationProxy(w_pix=1.0, w_content=0.0)
        self.samples = _check_samples(samples, "SupernetPretrainStep")
        self.grad_clip, self.seed, self.tau = float(grad_clip), int(seed), float(tau)
        self.model_key, self.teacher_key, self.optimizer_key = model_key, teacher_key, optimizer_key

    def __call__(self, step: int, batch: Any, models: Mapping[str, nn.Module],
                 optimizers: Mapping[str, Any]) -> dict[str, Any]:
        net = _supernet(models, self.model_key)
        opt = optimizers[self.optimizer_key]
        lr = _lr(batch).to(next(net.parameters()).device)
        target = _targets(models, self.teacher_key, lr)
        self.proxy.to(lr.device)
        losses, gn = _weight_update(net, self.proxy, self.samples, lr, target, opt, seed=self.seed, step=step,
                                    tau=self.tau, grad_clip=self.grad_clip)
        out = {"loss": torch.stack(losses).sum(), "grad_norm": gn}
        for kind in ("max", "min"):
            if kind in self.samples:
                out[f"loss_{kind}"] = losses[self.samples.index(kind)]
        return out

    def state_dict(self) -> dict[str, Any]:
        return {"seed": self.seed}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        _seed_state(self.seed, state, "SupernetPretrainStep")


class BilevelStep:
    """One search iteration (module docstring): architecture step, weight step, penalty adaptation.

    ``table``: the :class:`~srlib.agd.flops.MacsTable` of the penalty (the authors': 510 x 350, the
    supernet's widths and ops); ``penalty``: the :class:`~srlib.agd.flops.PenaltyWeight` (default weight 0,
    the public SR config); ``proxy``: default :class:`~srlib.agd.proxy.DistillationProxy` (w_pix 0.01,
    content 1, the labelled stand-in offline). ``alpha_weight`` / ``ratio_weight``: the penalty's 2/7 and
    5/7. ``adapt_every``: steps between penalty adaptations (None: never). Logged: ``loss_arch``,
    ``loss_weight`` (sums over samples), ``penalty_gmacs`` (the penalty term's MACs / 1e9),
    ``flops_weight``, ``grad_norm``, and ``derived_gmacs`` at each adaptation.
    """

    def __init__(self, table: MacsTable, *, penalty: PenaltyWeight | None = None, proxy: nn.Module | None = None,
                 arch_samples: Sequence[str] = ("gumbel", "max", "min"),
                 weight_samples: Sequence[str] = ("gumbel", "max", "min"), alpha_weight: float = 2 / 7,
                 ratio_weight: float = 5 / 7, grad_clip: float = 5.0, adapt_every: int | None = None,
                 seed: int = 0, tau: float = 1.0, model_key: str = "G", teacher_key: str = "T",
                 weight_optimizer_key: str = "G", arch_optimizer_key: str = "arch"):
        if adapt_every is not None and adapt_every < 1:
            raise ValueError(f"adapt_every must be a positive integer or None, got {adapt_every}")
        self.table = table
        self.penalty = penalty if penalty is not None else PenaltyWeight(0.0)
        self.proxy = proxy if proxy is not None else DistillationProxy()
        self.arch_samples = _check_samples(arch_samples, "BilevelStep arch_samples")
        self.weight_samples = _check_samples(weight_samples, "BilevelStep weight_samples")
        self.alpha_weight, self.ratio_weight = float(alpha_weight), float(ratio_weight)
        self.grad_clip, self.adapt_every, self.seed, self.tau = float(grad_clip), adapt_every, int(seed), float(tau)
        self.model_key, self.teacher_key = model_key, teacher_key
        self.weight_optimizer_key, self.arch_optimizer_key = weight_optimizer_key, arch_optimizer_key

    def _check(self, net: AGDSupernet) -> None:
        if (net.widths, net.ops, net.num_feat) != (self.table.widths, self.table.ops, self.table.num_feat):
            raise ValueError(f"the MacsTable (widths {self.table.widths}, ops {self.table.ops}, num_feat "
                             f"{self.table.num_feat}) does not describe the supernet ({net.widths}, {net.ops}, "
                             f"{net.num_feat})")

    def arch_step(self, step: int, net: AGDSupernet, lr: torch.Tensor, target: torch.Tensor,
                  opt: Any) -> dict[str, torch.Tensor]:
        arch = net.arch_parameters()
        grads = [torch.zeros_like(p) for p in arch]
        g = step_generator(self.seed, step, _SALT_ARCH, rank=0)
        total = []
        for kind in self.arch_samples:
            loss, _ = self.proxy(net(lr, _widths(net, kind, g, self.tau, False)), target)
            for acc, d in zip(grads, torch.autograd.grad(loss, arch, allow_unused=True)):
                if d is not None:
                    acc += d
            total.append(loss.detach())
        sample = net.sample_widths(step_generator(self.seed, step, _SALT_PENALTY, rank=0), tau=self.tau)
        macs = penalty_macs(self.table, net.alpha, sample.onehot, alpha_weight=self.alpha_weight,
                            ratio_weight=self.ratio_weight)
        if self.penalty.weight > 0:
            for acc, d in zip(grads, torch.autograd.grad(self.penalty.weight * macs, arch, allow_unused=True)):
                if d is not None:
                    acc += d.to(acc.dtype)
        opt.zero_grad(set_to_none=True)
        for p, d in zip(arch, grads):
            p.grad = d
        dist.average_gradients(arch)
        opt.step()
        return {"loss_arch": torch.stack(total).sum(), "penalty_gmacs": macs.detach() / 1e9}

    def weight_step(self, step: int, net: AGDSupernet, lr: torch.Tensor, target: torch.Tensor,
                    opt: Any) -> dict[str, torch.Tensor]:
        losses, gn = _weight_update(net, self.proxy, self.weight_samples, lr, target, opt, seed=self.seed, step=step,
                                    tau=self.tau, grad_clip=self.grad_clip)
        return {"loss_weight": torch.stack(losses).sum(), "grad_norm": gn}

    def __call__(self, step: int, batch: Mapping[str, Any], models: Mapping[str, nn.Module],
                 optimizers: Mapping[str, Any]) -> dict[str, Any]:
        net = _supernet(models, self.model_key)
        self._check(net)
        if not isinstance(batch, Mapping) or not {"weight", "arch"} <= set(batch):
            raise TypeError("BilevelStep needs batch = {'weight': lr, 'arch': lr} (one batch from each half)")
        dev = next(net.parameters()).device
        lr_w, lr_a = _lr(batch["weight"]).to(dev), _lr(batch["arch"]).to(dev)
        self.proxy.to(dev)
        out = self.arch_step(step, net, lr_a, _targets(models, self.teacher_key, lr_a),
                             optimizers[self.arch_optimizer_key])
        out.update(self.weight_step(step, net, lr_w, _targets(models, self.teacher_key, lr_w),
                                    optimizers[self.weight_optimizer_key]))
        if self.adapt_every is not None and (step + 1) % self.adapt_every == 0:
            derived = self.table.genotype_macs(net.derive())
            self.penalty.update(derived)
            out["derived_gmacs"] = derived / 1e9
        out["flops_weight"] = self.penalty.weight
        return out

    def state_dict(self) -> dict[str, Any]:
        return {"seed": self.seed, "penalty": self.penalty.state_dict()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        _seed_state(self.seed, state, "BilevelStep")
        self.penalty.load_state_dict(state["penalty"])
