"""A reference model from the authors' released checkpoint (``baselines.<name>.source: released``).

The stage verifies and strictly loads the file (:mod:`srlib.weights.released`: sha256, every tensor used,
units bridged to [0, 1]) and stores the loaded weights, so its handle reads like a trained stage's:
``load_model(stage, "G")`` rebuilds the ``released`` zoo architecture and loads them. Its key covers the
file's sha256, so another file makes it stale.
"""
from __future__ import annotations

from .. import io, pipeline
from ..training.runs import spec
from ..weights import released as rel


def stage(profile, name: str) -> pipeline.StageResult:
    """The released checkpoint ``baselines.<name>.released`` as the reference model ``name``."""
    r = profile.baselines.recipe(name)
    s = rel.spec(r.released)
    if s.model != r.model:
        raise ValueError(f"baselines.{name}.released={r.released!r} is a {s.model!r} checkpoint, not a "
                         f"{r.model!r}; choose one of: "
                         f"{', '.join(n for n in rel.names() if rel.spec(n).model == r.model) or 'none exists'}")
    path = rel.path(r.released)  # raises WeightsUnavailable with the fetch command
    params = {"checkpoint": r.released, "sha256": s.sha256 or rel.file_sha256(path),
              "source": f"{s.title}: {s.repo}@{s.commit[:7] if s.commit else '(user-placed file)'} {s.repo_path}",
              "models": {"G": spec("released", checkpoint=r.released)}}

    def run(ctx):
        model = rel.load(r.released)
        io.torch_save(model.state_dict(), ctx.path("G.pt"))
        return {"weights": {"G": "G.pt"}}

    return pipeline.stage(f"baseline_{name}_released_{r.released}", params, run, profile=profile.name,
                          code=[rel, rel.formats])
