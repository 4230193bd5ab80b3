"""Cached stages of notebook 00: the bicubic baseline and the metric-convention example."""
from __future__ import annotations

from .. import data, io, pipeline, results
from ..models.bicubic import Bicubic
from .evaluate import evaluate_rows
from .psnr_ssim import psnr, quantize, ssim

TABLE = "data_and_metrics"


def _eval_sets(profile) -> dict:
    sets = dict(data.test_sets(profile))
    sets[profile.data.val_set] = data.val_pairs(profile)
    return sets


def bicubic_baseline(profile) -> pipeline.StageResult:
    """PSNR/SSIM/LPIPS of MATLAB-bicubic x``scale`` on the profile's validation and test sets."""

    def run(ctx):
        rows = evaluate_rows(Bicubic(profile.data.scale), _eval_sets(profile), model_name="bicubic",
                             paper="common", table=TABLE, profile=profile, stage=ctx.name,
                             note="MATLAB bicubic upsampling of the MATLAB-bicubic LR")
        io.write_json(ctx.path("rows.json"), rows)
        return {"rows": "rows.json", "n_rows": len(rows)}

    params = {"data": profile.to_dict()["data"], "eval": profile.to_dict()["eval"]}
    return pipeline.stage("bicubic_baseline", params, run, profile=profile.name, code=[evaluate_rows, data])


def bicubic_psnr(profile, dataset: str) -> float:
    """Bicubic's PSNR on ``dataset`` (:func:`bicubic_baseline`'s row): the bar trained networks are set against."""
    rows = io.read_json(bicubic_baseline(profile).path("rows.json"))
    found = [r["value"] for r in rows if r["dataset"] == dataset and r["metric"] == "psnr"]
    if not found:
        raise KeyError(f"no bicubic PSNR on {dataset!r}; the profile's sets: "
                       f"{sorted({r['dataset'] for r in rows})}")
    return float(found[0])


def convention_rows(profile, pair) -> list[dict]:
    """One image, bicubic SR, PSNR/SSIM under each convention (Y vs RGB, shave vs none, 8-bit or not)."""
    lr, hr = pair.tensors()
    sr = Bicubic(profile.data.scale)(lr)
    s = profile.data.scale
    rows = []
    for q_name, img in (("8bit", quantize(sr)), ("float", sr.clamp(0, 1))):
        for y in (True, False):
            for shave in (s, 0):
                tag = f"{'y' if y else 'rgb'}_shave{shave}_{q_name}"
                for metric, fn in (("psnr", psnr), ("ssim", ssim)):
                    if metric == "ssim" and q_name == "float":
                        continue
                    rows.append(results.row(
                        paper="common", table="metric_conventions", model="bicubic", dataset=pair.name,
                        metric=f"{metric}_{tag}", value=fn(img, hr, shave, y), unit="dB" if metric == "psnr" else "",
                        profile=profile.name,
                        note=("Y of BT.601" if y else "RGB") + f", shave {shave}, " +
                             ("output rounded to 8 bits" if q_name == "8bit" else "float output clipped to [0,1]")))
    return rows
