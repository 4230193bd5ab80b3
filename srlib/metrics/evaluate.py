"""Run a generator over evaluation sets and return tidy rows (PSNR, SSIM, LPIPS or why not).

Convention (shared/notes/conventions.md): the SR output is clipped and rounded to 8 bits (as saving a
PNG does), then PSNR/SSIM on Y (BT.601) with ``crop_border`` = scale shaved; LPIPS on the whole RGB
image. When LPIPS backbone weights are absent, each LPIPS row has an empty value and the reason.
"""
from __future__ import annotations

from typing import Callable, Iterable, Mapping, Sequence

import numpy as np
import torch

from .. import results
from .psnr_ssim import psnr, quantize, ssim


def _lpips_fn(net: str) -> tuple[Callable | None, str]:
    """An LPIPS callable for ``net``, or None and the reason it is unavailable."""
    from . import lpips as lp

    ok, reason = lp.lpips_available(net)
    if not ok:
        return None, reason
    metric = lp.LPIPSMetric(net)
    return metric, ""


@torch.no_grad()
def evaluate_images(model: torch.nn.Module | Callable, pairs: Sequence, crop_border: int,
                    y_channel: bool = True, lpips_nets: Iterable[str] = (),
                    device: str | torch.device = "cpu") -> tuple[list[dict], dict[str, str]]:
    """Per-image scores ``[{image, psnr, ssim, lpips_<net>...}]`` and {lpips_<net>: reason} if missing."""
    fns, missing = {}, {}
    for net in lpips_nets:
        fn, why = _lpips_fn(net)
        if fn is None:
            missing[f"lpips_{net}"] = why
        else:
            fns[f"lpips_{net}"] = fn
    if isinstance(model, torch.nn.Module):
        model.eval()
    out = []
    for p in pairs:
        lr, hr = p.tensors()
        sr = quantize(model(lr.to(device)).float().cpu())
        if sr.shape != hr.shape:
            raise ValueError(f"{p.name}: model output {tuple(sr.shape)} != HR {tuple(hr.shape)}")
        rec = {"image": p.name, "psnr": psnr(sr, hr, crop_border, y_channel),
               "ssim": ssim(sr, hr, crop_border, y_channel)}
        for k, fn in fns.items():
            rec[k] = float(fn(sr, hr))
        out.append(rec)
    return out, missing


def evaluate_rows(model, sets: Mapping[str, Sequence], *, model_name: str, paper: str, table: str,
                  profile, seed: int | None = None, stage: str = "", note: str = "",
                  device: str | torch.device = "cpu") -> list[dict]:
    """Mean PSNR/SSIM/LPIPS per set as tidy rows (``profile`` is a srlib.config.Profile)."""
    rows = []
    nets = profile.eval.lpips_nets
    for set_name, pairs in sets.items():
        per_image, missing = evaluate_images(model, pairs, profile.crop_border, profile.eval.y_channel,
                                             nets, device)
        conv = f"Y BT.601, shave {profile.crop_border}, 8-bit output" if profile.eval.y_channel else \
            f"RGB, shave {profile.crop_border}, 8-bit output"
        common = dict(paper=paper, table=table, model=model_name, dataset=set_name,
                      profile=profile.name, seed=seed, stage=stage)
        for metric, unit in (("psnr", "dB"), ("ssim", "")):
            rows.append(results.row(**common, metric=metric, unit=unit,
                                    value=float(np.mean([r[metric] for r in per_image])),
                                    note="; ".join(x for x in (conv, note) if x)))
        for net in nets:
            key = metric = f"lpips_{net}"
            if key in missing:
                rows.append(results.row(**common, metric=metric, value=None,
                                        note=f"LPIPS ({net}) unavailable: {missing[key]}"))
            else:
                rows.append(results.row(**common, metric=metric,
                                        value=float(np.mean([r[key] for r in per_image])),
                                        note=f"LPIPS v0.1 {net}, RGB in [-1,1], whole image"))
    return rows
