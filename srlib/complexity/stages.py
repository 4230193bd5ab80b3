"""The complexity stage of notebook 01 (cheap, but cached like every computation of the suite)."""
from __future__ import annotations

import inspect

from .. import io, models, pipeline
from . import conventions, counters, table


def complexity_stage(profile: str) -> pipeline.StageResult:
    """Rows of every printed complexity number (ours under each paper's convention) + Fig. 5 axes."""

    def run(ctx):
        rows = table.paper_rows(profile) + table.fig5_rows(profile)
        io.write_json(ctx.path("rows.json"), rows)
        return {"rows": "rows.json", "n_rows": len(rows)}

    model_code = [inspect.getmodule(models._REGISTRY[n]) for n in models.names()]
    return pipeline.stage("complexity", {"profile": profile}, run, profile=profile,
                          code=[table, conventions, counters, *model_code])
