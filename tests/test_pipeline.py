"""Cached stages: skip when complete, recompute on param change / force, resume when unfinished."""
import json

import pytest

from srlib import io, pipeline


def _counting_stage(calls):
    def fn(ctx):
        calls.append(ctx.key)
        io.write_text(ctx.path("out.txt"), str(ctx.params["x"] * 2))
        return {"out": "out.txt", "value": ctx.params["x"] * 2}
    return fn


def test_stage_runs_once_then_skips(capsys):
    calls = []
    r1 = pipeline.stage("double", {"x": 3}, _counting_stage(calls), profile="t")
    r2 = pipeline.stage("double", {"x": 3}, _counting_stage(calls), profile="t")
    assert len(calls) == 1 and not r1.skipped and r2.skipped
    assert r2["value"] == 6 and r2.path("out.txt").read_text() == "6"
    m = json.loads((r1.dir / "manifest.json").read_text())
    assert m["complete"] and m["params"] == {"x": 3} and m["key"] == r1.key
    for k in ("git_commit", "packages", "device", "start", "end", "wall_s"):
        assert k in m
    out = capsys.readouterr().out
    assert "[stage] double: done in" in out and "skipped, complete" in out


def test_param_change_and_force_recompute(monkeypatch):
    calls = []
    pipeline.stage("double", {"x": 3}, _counting_stage(calls), profile="t")
    r = pipeline.stage("double", {"x": 4}, _counting_stage(calls), profile="t")
    assert len(calls) == 2 and r["value"] == 8
    monkeypatch.setenv("SRLIB_FORCE", "double")
    assert not pipeline.is_complete("double", {"x": 4}, _counting_stage(calls), profile="t")
    pipeline.stage("double", {"x": 4}, _counting_stage(calls), profile="t")
    assert len(calls) == 3
    # once per process: the same stage and key again reads the forced run; another key is forced again
    assert pipeline.stage("double", {"x": 4}, _counting_stage(calls), profile="t").skipped and len(calls) == 3
    assert pipeline.is_complete("double", {"x": 4}, _counting_stage(calls), profile="t")
    pipeline.stage("double", {"x": 5}, _counting_stage(calls), profile="t")
    assert len(calls) == 4
    monkeypatch.setenv("SRLIB_FORCE", "other")
    pipeline.stage("double", {"x": 5}, _counting_stage(calls), profile="t")
    assert len(calls) == 4


def test_failed_stage_leaves_no_manifest_and_resumes_from_its_folder():
    attempts = []

    def flaky(ctx):
        attempts.append(1)
        ckpt = ctx.path("ckpt.txt")
        if not ckpt.exists():
            io.write_text(ckpt, "half")
            raise RuntimeError("killed")
        return {"resumed_from": ckpt.read_text()}

    with pytest.raises(RuntimeError):
        pipeline.stage("flaky", {}, flaky, profile="t")
    d = pipeline.stage_dir("t", "flaky")
    assert (d / "ckpt.txt").exists() and not (d / "manifest.json").exists()
    r = pipeline.stage("flaky", {}, flaky, profile="t")
    assert r["resumed_from"] == "half" and len(attempts) == 2


def test_stale_unfinished_folder_is_cleared():
    def fails(ctx):
        io.write_text(ctx.path("junk"), "x")
        raise RuntimeError

    with pytest.raises(RuntimeError):
        pipeline.stage("s", {"a": 1}, fails, profile="t")
    r = pipeline.stage("s", {"a": 2}, lambda ctx: {"n": len(list(ctx.dir.iterdir()))}, profile="t")
    assert r["n"] == 1  # only the key file: the other params' junk is gone


def test_code_change_changes_key():
    k1 = pipeline.stage_key("s", {"a": 1}, "code1")
    assert k1 != pipeline.stage_key("s", {"a": 1}, "code2") != pipeline.stage_key("s", {"a": 2}, "code1")


def test_missing_output_names_stage():
    r = pipeline.stage("empty", {}, lambda ctx: {}, profile="t")
    with pytest.raises(FileNotFoundError, match="stage 'empty' has no output 'x.pt'"):
        r.path("x.pt")


def test_bad_stage_name():
    with pytest.raises(ValueError, match="bad stage name"):
        pipeline.stage("a/b", {}, lambda ctx: {}, profile="t")


def test_stage_key_follows_the_import_closure(tmp_path, monkeypatch):
    """Editing a module the stage's code imports (at any depth) makes it stale; an unrelated one does not."""
    import importlib
    import sys

    pkg = tmp_path / "keypkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "leaf.py").write_text("SCALE = 2\n")
    (pkg / "mid.py").write_text("from . import leaf\n\ndef f(x):\n    return x * leaf.SCALE\n")
    (pkg / "other.py").write_text("UNUSED = 1\n")
    (pkg / "stagefn.py").write_text("def run(ctx):\n    from .mid import f\n    return {'y': f(3)}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(pipeline, "ROOTS", ("srlib", "keypkg"))
    mod = importlib.import_module("keypkg.stagefn")
    assert pipeline.import_closure(["keypkg.stagefn"]) == {"keypkg", "keypkg.stagefn", "keypkg.mid", "keypkg.leaf"}
    first = pipeline.stage("closure", {}, mod.run, profile="t")
    assert pipeline.stage("closure", {}, mod.run, profile="t").skipped
    (pkg / "other.py").write_text("UNUSED = 2\n")       # unrelated: still complete
    assert pipeline.stage("closure", {}, mod.run, profile="t").skipped
    (pkg / "leaf.py").write_text("SCALE = 50\n")        # a leaf two imports away: stale
    for m in [m for m in sys.modules if m.startswith("keypkg") and m != "keypkg.stagefn"]:
        sys.modules.pop(m)  # so the re-run imports the edited leaf
    again = pipeline.stage("closure", {}, mod.run, profile="t")
    assert not again.skipped and again.key != first.key and again["y"] == 150
    for m in [m for m in sys.modules if m.startswith("keypkg")]:
        sys.modules.pop(m)


def test_training_stage_key_covers_the_model_it_builds_by_name():
    from srlib.models import module_of

    closure = pipeline.import_closure([module_of("mfanet").__name__])
    assert {"srlib.mfagan.mfanet", "srlib.models.common"} <= closure
    assert "srlib.mfagan.nas" not in closure
