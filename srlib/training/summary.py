"""What a training stage produced, as tidy rows: PSNR on the validation and test splits, iterations,
seconds, precision -- so a table can set every trained generator beside bicubic (``<profile>_training``).

The PSNR follows the suite's convention (Y BT.601, shave = scale, 8-bit output; srlib.metrics.evaluate)
and is a cached stage keyed by the training stage's key, so a re-run reads it.
"""
from __future__ import annotations

from .. import data, io, pipeline, results
from ..metrics.evaluate import evaluate_rows
from .runs import eval_device, load_model


def _sets(profile) -> dict:
    sets = {f"{profile.data.val_set} (val)": data.val_pairs(profile)}
    sets.update(data.test_sets(profile))
    return sets


def _psnr(profile, name: str, key: str, model_fn, note: str) -> dict[str, float]:
    params = {"of": [name, key], "eval": profile.to_dict()["eval"], "data": profile.to_dict()["data"]}

    def run(ctx):
        dev = eval_device(profile)
        rows = evaluate_rows(model_fn().to(dev), _sets(profile), model_name=name, paper="common",
                             table="training", profile=profile, stage=name, note=note, device=dev)
        out = {r["dataset"]: r["value"] for r in rows if r["metric"] == "psnr"}
        io.write_json(ctx.path("psnr.json"), out)
        return {"psnr": out}

    return pipeline.stage(f"psnr_{name}", params, run, profile=profile.name, code=[evaluate_rows])["psnr"]


def stage_rows(profile, model_id: str, res: pipeline.StageResult, *, what: str, table: str,
               seed: int | None = None, paper: str = "common") -> list[dict]:
    """Rows for one training stage: ``psnr`` per split, ``iterations`` and ``train_seconds``.

    ``what``: which step of the model's recipe this is (e.g. "L1 pre-training", "GAN stage")."""
    p = res.manifest["params"]
    if "checkpoint" in p:
        note = f"{what}; the authors' released weights ({p['source']})"
        iters, secs = None, None
    else:
        prec = p.get("precision", "fp32")
        note = (f"{what}; {p['total']} iterations, batch {p['batch_size']} x LR {p.get('lr_patch', '?')}px, "
                f"precision {prec}")
        iters, secs = p["total"], res.manifest.get("wall_s")
    psnr = _psnr(profile, res.name, res.key, lambda: load_model(res, "G"), note)
    common = dict(paper=paper, table=table, model=model_id, profile=profile.name, seed=seed, stage=res.name)
    rows = [results.row(**common, dataset=ds, metric="psnr", value=v, unit="dB", note=note)
            for ds, v in psnr.items()]
    rows.append(results.row(**common, metric="iterations", value=iters, note=note if iters is not None else
                            "not trained here: released weights"))
    rows.append(results.row(**common, metric="train_seconds", value=secs, unit="s",
                            note=(note + "; wall time of the stage when it ran") if secs is not None else
                            "not trained here: released weights"))
    return rows


def bicubic_rows(profile, table: str, paper: str = "common") -> list[dict]:
    """Bicubic on the same splits, the bar every trained generator is set against: the PSNR of notebook 00's
    cached :func:`~srlib.metrics.stages.bicubic_baseline` (one bicubic stage for the whole suite), the
    validation split named as :func:`stage_rows` names it."""
    from ..metrics.stages import bicubic_baseline

    st = bicubic_baseline(profile)
    val = profile.data.val_set
    return [results.row(paper=paper, table=table, model="bicubic", dataset=f"{r['dataset']} (val)" if r["dataset"] == val
                        else r["dataset"], metric="psnr", value=r["value"], unit="dB", profile=profile.name,
                        stage=st.name, note="MATLAB bicubic")
            for r in io.read_json(st.path("rows.json")) if r["metric"] == "psnr"]
