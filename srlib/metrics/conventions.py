"""Each paper's quality-metric conventions as data, one place for every notebook to take them from
(as :mod:`srlib.complexity.conventions` is for counting). shared/notes/conventions.md has the facts.

============  ===========  ========  ===============================  =========================================
paper         PSNR / SSIM  shave     LPIPS                            source
============  ===========  ========  ===============================  =========================================
mfagan        Y (BT.601)   scale     v0.1 AlexNet on Y x 3 channels   Sec. 4.1 "PSNR and LPIPS on the Y channel"
tpsr          Y (BT.601)   scale     v0.1 VGG on RGB                  Sec. 4, Table 1; royson/tpsr evaluate.py
adasr         Y (BT.601)   scale     v0.1 AlexNet on RGB (assumed)    Sec. 4 (LPIPS variant not named)
agd           Y (BT.601)   scale     --                               the authors' code (PSNR only)
============  ===========  ========  ===============================  =========================================

Readings where a paper is loose: MFAGAN's "LPIPS on the Y channel" is read as the Y channel replicated to
three channels in [-1, 1] (LPIPS takes RGB), and its variant as AlexNet, the lpips package's default (the
paper does not name it). AdaSR does not name its LPIPS variant either.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class MetricConvention:
    paper: str
    y_channel: bool = True          # PSNR/SSIM on Y of BT.601 (MATLAB constants)
    lpips_net: str | None = "alex"  # None: the paper reports no LPIPS
    lpips_on: str = "rgb"           # rgb | y3 (Y replicated to three channels)
    note: str = ""

    @property
    def lpips_metric(self) -> str | None:
        """The tidy-row metric name of this paper's LPIPS (``lpips_alex``, ``lpips_vgg_y3`` ...)."""
        if self.lpips_net is None:
            return None
        return f"lpips_{self.lpips_net}" + ("_y3" if self.lpips_on == "y3" else "")


METRICS: dict[str, MetricConvention] = {c.paper: c for c in (
    MetricConvention("mfagan", lpips_net="alex", lpips_on="y3",
                     note="Sec. 4.1: PSNR and LPIPS on the Y channel; LPIPS on Y replicated to 3 channels "
                          "(our reading); AlexNet (not named: the lpips default)"),
    MetricConvention("tpsr", lpips_net="vgg", lpips_on="rgb",
                     note="TPSR Sec. 4: LPIPS v0.1 VGG on the whole RGB image; PSNR on Y, shave 4"),
    MetricConvention("adasr", lpips_net="alex", lpips_on="rgb",
                     note="AdaSR Sec. 4: PSNR/SSIM on Y; LPIPS variant not named (AlexNet assumed)"),
    MetricConvention("agd", lpips_net=None, note="AGD's SR code reports PSNR on Y"),
)}


def metric_convention(paper: str) -> MetricConvention:
    try:
        return METRICS[paper]
    except KeyError:
        raise KeyError(f"no metric convention for paper {paper!r}; valid: {', '.join(METRICS)}") from None


def y_as_rgb(img: torch.Tensor) -> torch.Tensor:
    """RGB in [0, 1] (N, 3, H, W) -> its BT.601 Y (MATLAB constants, rescaled to [0, 1]) replicated to three
    channels: the input MFAGAN's "LPIPS on the Y channel" reading gives LPIPS."""
    w = torch.tensor([65.481, 128.553, 24.966], dtype=img.dtype, device=img.device).view(1, 3, 1, 1)
    y = (16.0 + (img * 255.0 * w).sum(1, keepdim=True) / 255.0) / 255.0
    return y.expand(-1, 3, -1, -1)
