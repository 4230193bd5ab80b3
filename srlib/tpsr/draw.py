"""Drawing a TPSR cell (Fig. 2 style) on a matplotlib axis: the cell input ``i``, the 10 nodes with their
operations, one edge per node from its chosen input, and the leaves summed into the output (Sec. 3.2)."""
from __future__ import annotations

from typing import Sequence

from .cell import leaves


def draw_cell(genotype: Sequence[tuple[str, int]], ax, title: str = "") -> None:
    """Nodes left to right in order (input ``i`` first, the leaf sum last); edges arc above/below the row."""
    geno = [(str(o), int(i)) for o, i in genotype]
    n = len(geno)
    xs = list(range(n + 2))                     # 0: input i, 1..n: nodes, n+1: the sum of the leaves
    labels = ["i"] + [f"n{k}\n{op}" for k, (op, _) in enumerate(geno)] + ["+"]
    leaf = leaves(geno)
    for k, (_, inp) in enumerate(geno):
        a, b = inp, k + 1
        rad = 0.0 if b - a == 1 else (-0.35 if k % 2 else 0.35)
        ax.annotate("", xy=(b, 0), xytext=(a, 0),
                    arrowprops=dict(arrowstyle="->", color="0.35", lw=1.0, shrinkA=12, shrinkB=12,
                                    connectionstyle=f"arc3,rad={rad}"))
    for k in leaf:
        ax.annotate("", xy=(n + 1, 0), xytext=(k + 1, 0),
                    arrowprops=dict(arrowstyle="->", color="tab:red", lw=1.0, shrinkA=12, shrinkB=12,
                                    connectionstyle="arc3,rad=-0.25"))
    for x, lab in zip(xs, labels):
        colour = "tab:orange" if 0 < x <= n else "0.85"
        ax.text(x, 0, lab, ha="center", va="center", fontsize=7,
                bbox=dict(boxstyle="round,pad=0.3", fc=colour, ec="0.3", alpha=0.9))
    ax.set_xlim(-0.7, n + 1.7)
    ax.set_ylim(-2.2, 2.2)
    ax.set_title(title + f" (leaves: {', '.join(f'n{k}' for k in leaf)})", fontsize=9)
    ax.axis("off")
