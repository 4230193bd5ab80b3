"""MFAGAN Fig. 5 as notebooks 01, 11 and 51 draw it (``srlib.mfagan.experiments.fig5``), checked on the rendered
artists: no two labels overlap, no label touches a tick label or a bubble, tick labels of an axis do not
collide, and every bubble lies inside the axes."""
from __future__ import annotations

import itertools

import matplotlib
import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.transforms import Affine2D

from srlib.mfagan.experiments import fig5

# Notebook 01: every buildable x4 generator, MFAGAN's convention (the same numbers at every profile):
# model: (FLOPs G, memory GB, params M)
ZOO = {"carn": (25.85, 0.7107, 1.112), "carn_m": (9.242, 0.7835, 0.2942), "enhancenet": (34.30, 0.6560, 0.8529),
       "esrgan": (293.7, 4.319, 16.70), "feqe": (1.580, 0.1296, 0.09646), "fmen": (5.570, 0.1489, 0.3411),
       "imdn": (11.63, 0.2725, 0.7152), "mfanet_24": (3.485, 0.2194, 0.2285), "mfanet_32": (6.116, 0.2897, 0.4016),
       "mfanet_48": (13.58, 0.4310, 0.8906), "mfanet_64": (23.98, 0.5729, 1.572), "rcan": (260.8, 3.864, 15.59),
       "rfdn": (6.757, 0.2838, 0.4334), "srgan": (36.34, 0.6303, 1.549), "tpsr": (1.016, 0.04697, 0.06112)}
# Notebooks 11 / 51: memory GB (paper architectures), PSNR dB on the test split (LPIPS offline stand-in), FLOPs G
TABLE2 = {"enhancenet": (0.6560, 17.66, 34.30), "esrgan": (4.319, 9.759, 293.7), "mfagan": (0.3217, 10.79, 7.962),
          "srgan": (0.6303, 13.21, 36.34)}
WITH_AGD = {**TABLE2, "agd (mini widths)": (0.065, 12.50, 2.0)}
LPIPS = {"enhancenet": (0.6560, 0.1342, 34.30), "esrgan": (4.319, 0.1150, 293.7), "mfagan": (0.3217, 0.1261, 7.962),
         "srgan": (0.6303, 0.1678, 36.34)}                     # close y values: LPIPS-like


LEADERS = {"01_zoo": 1, "11_table2": 0, "51_with_agd": 0, "11_lpips": 0}   # enhancenet inside srgan's bubble


def _draw(case: str, save_dpi: float | None = None) -> tuple[Figure, object, object, list[str]]:
    """The figure as a notebook draws it; ``save_dpi``: then rendered again at the dpi it is saved with."""
    import seaborn as sns

    with matplotlib.rc_context():
        sns.set_theme(context="notebook", style="whitegrid")   # the notebooks' style (srlib.notebook.setup)
        if case == "01_zoo":
            fig = Figure(figsize=(8, 5))
            FigureCanvasAgg(fig)
            ax = fig.add_subplot()
            names = sorted(ZOO)
            coll = fig5(ax, [ZOO[m][0] for m in names], [ZOO[m][1] for m in names], [ZOO[m][2] for m in names],
                        names, sizes=(30, 1500), xscale="log", yscale="log", fontsize=8)
            ax.set(xlabel="FLOPs (G) = MACs at 128x128 LR", ylabel="memory access cost (GB)", title="x4 generators")
        else:
            pts = {"11_table2": TABLE2, "51_with_agd": WITH_AGD, "11_lpips": LPIPS}[case]
            fig = Figure(figsize=(7, 4.5))
            FigureCanvasAgg(fig)
            ax = fig.add_subplot()
            names = list(pts)
            coll = fig5(ax, [v[0] for v in pts.values()], [v[1] for v in pts.values()],
                        [v[2] for v in pts.values()], names, sizes=(40, 1200))
            ax.set(xlabel="memory access cost (GB, 128x128 LR)", ylabel="PSNR (dB)", title="MFAGAN Fig. 5 axes")
        if save_dpi:
            fig.set_dpi(save_dpi)
        fig.canvas.draw()
    return fig, ax, coll, names


def _tick_labels(axis):
    lo, hi = sorted(axis.get_view_interval())
    return [t.label1 for t in axis.get_major_ticks()
            if lo <= t.get_loc() <= hi and t.label1.get_visible() and t.label1.get_text()]


def _bubbles(coll, renderer):
    """Each bubble's rendered extent: its marker path under its size transform, at its display offset."""
    path = coll.get_paths()[0]
    offsets = coll.get_offset_transform().transform(coll.get_offsets())
    half_edge = renderer.points_to_pixels(coll.get_linewidths()[0]) / 2
    out = []
    for trans, (ox, oy) in zip(coll.get_transforms(), offsets):
        box = path.get_extents(Affine2D(trans).translate(ox, oy))
        out.append(box.padded(half_edge))
    return out


@pytest.mark.parametrize("save_dpi", [None, 120])             # 120: srlib.notebook.save_figure's
@pytest.mark.parametrize("case", ["01_zoo", "11_table2", "51_with_agd", "11_lpips"])
def test_fig5_labels_ticks_and_bubbles_do_not_collide(case, save_dpi):
    fig, ax, coll, names = _draw(case, save_dpi)
    r = fig.canvas.get_renderer()
    axes_box = ax.get_window_extent(r)
    labels = list(ax.texts)
    assert sorted(t.get_text() for t in labels) == sorted(names)
    lab_boxes = [t.get_window_extent(r) for t in labels]
    ticks = _tick_labels(ax.xaxis) + _tick_labels(ax.yaxis)
    tick_boxes = [t.get_window_extent(r) for t in ticks]
    assert len(_tick_labels(ax.xaxis)) >= 2 and len(_tick_labels(ax.yaxis)) >= 2

    for a, b in itertools.combinations(lab_boxes, 2):
        assert not a.overlaps(b)
    for a, b in itertools.product(lab_boxes, tick_boxes):
        assert not a.overlaps(b)
    for axis in (ax.xaxis, ax.yaxis):                            # e.g. "3x10^-1" and "4x10^-1" no more
        boxes = [t.get_window_extent(r) for t in _tick_labels(axis)]
        for a, b in itertools.combinations(boxes, 2):
            assert not a.overlaps(b)
        assert not any(t.get_text() for t in axis.get_minorticklabels())

    bubbles = _bubbles(coll, r)
    for b in bubbles:                                            # no bubble cut at the edges
        assert axes_box.x0 <= b.x0 and b.x1 <= axes_box.x1 and axes_box.y0 <= b.y0 and b.y1 <= axes_box.y1
    centres = np.array([[(b.x0 + b.x1) / 2, (b.y0 + b.y1) / 2] for b in bubbles])
    radii = np.array([b.width / 2 for b in bubbles])
    for i, box in enumerate(lab_boxes):
        assert axes_box.contains(box.x0, box.y0) and axes_box.contains(box.x1, box.y1)
        nx, ny = np.clip(centres[:, 0], box.x0, box.x1), np.clip(centres[:, 1], box.y0, box.y1)
        gap = np.hypot(nx - centres[:, 0], ny - centres[:, 1]) - radii
        assert gap.min() > 0                                     # over no bubble
        own = names.index(labels[i].get_text())
        if int(np.argmin(gap)) != own:                           # else a leader line from its bubble to it
            ends = [ax.transData.transform(ln.get_xydata()) for ln in ax.lines]
            assert any(abs(np.hypot(*(e[0] - centres[own])) - radii[own]) < 2 * fig.dpi / 100
                       and box.padded(3 * fig.dpi / 100).contains(*e[1]) for e in ends), labels[i].get_text()
    assert len(ax.lines) == LEADERS[case]


def test_fig5_sizes_and_plain_log_ticks():
    fig, ax, coll, names = _draw("11_table2")
    flops = np.array([TABLE2[m][2] for m in names])
    want = 40 + (flops - flops.min()) / (flops.max() - flops.min()) * (1200 - 40)
    np.testing.assert_allclose(coll.get_sizes(), want)
    assert [t.get_text() for t in _tick_labels(ax.xaxis)] == ["0.5", "1", "2", "5"]
    lo, hi = ax.get_xlim()
    assert lo < 0.3217 and hi > 4.319 and ax.get_xscale() == "log" and ax.get_yscale() == "linear"
    fig, ax, _, _ = _draw("01_zoo")
    assert [t.get_text() for t in _tick_labels(ax.xaxis)] == ["1", "10", "100"]
    assert [t.get_text() for t in _tick_labels(ax.yaxis)] == ["0.05", "0.1", "0.2", "0.5", "1", "2", "5"]


def test_fig5_rejects_mismatched_inputs():
    fig = Figure()
    FigureCanvasAgg(fig)
    with pytest.raises(ValueError, match="one x, y, size and label"):
        fig5(fig.add_subplot(), [1, 2], [1, 2], [1, 2], ["a"])
