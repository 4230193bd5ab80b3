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
                    device: str | torch.device = "cpu", lpips_on: str = "rgb") -> tuple[list[dict], dict[str, str]]:
    """Per-image scores ``[{image, psnr, ssim, lpips_<net>...}]`` and {lpips_<net>: reason} if missing.

    ``lpips_on``: "rgb" (the whole image) or "y3" (its Y channel replicated to three channels, MFAGAN's
    "LPIPS on the Y channel"; srlib.metrics.conventions); y3 metrics are named ``lpips_<net>_y3``."""
    from .conventions import y_as_rgb

    if lpips_on not in ("rgb", "y3"):
        raise ValueError(f"lpips_on must be 'rgb' or 'y3', got {lpips_on!r}")
    suffix = "_y3" if lpips_on == "y3" else ""
    fns, missing = {}, {}
    for net in lpips_nets:
        fn, why = _lpips_fn(net)
        if fn is None:
            missing[f"lpips_{net}{suffix}"] = why
        else:
            fns[f"lpips_{net}{suffix}"] = (lambda f: (lambda a, b: f(y_as_rgb(a), y_as_rgb(b))))(fn) if suffix else fn
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
                  device: str | torch.device = "cpu", convention=None) -> list[dict]:
    """Mean PSNR/SSIM/LPIPS per set as tidy rows (``profile`` is a srlib.config.Profile).

    ``convention``: a :class:`srlib.metrics.conventions.MetricConvention` (the paper's Y/RGB, LPIPS
    variant and input); None: the profile's ``eval`` section, LPIPS on RGB."""
    rows = []
    nets = profile.eval.lpips_nets
    y_channel, lpips_on = profile.eval.y_channel, "rgb"
    if convention is not None:
        nets = (convention.lpips_net,) if convention.lpips_net else ()
        y_channel, lpips_on = convention.y_channel, convention.lpips_on
    suffix = "_y3" if lpips_on == "y3" else ""
    for set_name, pairs in sets.items():
        per_image, missing = evaluate_images(model, pairs, profile.crop_border, y_channel,
                                             nets, device, lpips_on=lpips_on)
        conv = f"Y BT.601, shave {profile.crop_border}, 8-bit output" if y_channel else \
            f"RGB, shave {profile.crop_border}, 8-bit output"
        common = dict(paper=paper, table=table, model=model_name, dataset=set_name,
                      profile=profile.name, seed=seed, stage=stage)
        for metric, unit in (("psnr", "dB"), ("ssim", "")):
            rows.append(results.row(**common, metric=metric, unit=unit,
                                    value=float(np.mean([r[metric] for r in per_image])),
                                    note="; ".join(x for x in (conv, note) if x)))
        how = ("Y replicated to 3 channels" if suffix else "RGB") + " in [-1,1], whole image"
        for net in nets:
            key = metric = f"lpips_{net}{suffix}"
            if key in missing:
                rows.append(results.row(**common, metric=metric, value=None,
                                        note=f"LPIPS ({net}, {how}) unavailable: {missing[key]}"))
            else:
                rows.append(results.row(**common, metric=metric,
                                        value=float(np.mean([r[key] for r in per_image])),
                                        note=f"LPIPS v0.1 {net}, {how}"))
    return rows
