"""The notebook suite's own rules: sources in sync, parameters cell, no stored outputs, and
misspelled papermill parameters fail naming the valid ones."""
from pathlib import Path

import jupytext
import nbformat
import pytest

from srlib import notebook
from srlib.notebook import ParameterError

NB_DIR = Path(__file__).resolve().parent.parent / "notebooks"
SOURCES = sorted(NB_DIR.glob("*.py"))


def test_there_are_notebooks():
    assert {p.stem for p in SOURCES} >= {"00_data_and_metrics"}


@pytest.mark.parametrize("src", SOURCES, ids=lambda p: p.stem)
def test_ipynb_matches_its_jupytext_source(src):
    ipynb = src.with_suffix(".ipynb")
    assert ipynb.is_file(), f"{ipynb.name} missing: run `make notebooks`"
    want = [(c.cell_type, c.source.strip()) for c in jupytext.read(src).cells]
    nb = nbformat.read(ipynb, 4)
    got = [(c.cell_type, c.source.strip()) for c in nb.cells]
    assert got == want, f"{ipynb.name} is out of date with {src.name}: run `make notebooks`"
    for c in nb.cells:
        if c.cell_type == "code":
            assert not c.outputs, f"{ipynb.name}: stored outputs (executed copies live in results/)"
    params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1 and "profile = None" in params[0].source
    assert "nb.setup(globals()" in nb.cells[nb.cells.index(params[0]) + 1].source


def test_misspelled_parameter_is_an_error():
    ns = {"profile": "smoke", "overrides": {}, "profle": "mini", "nb": notebook}
    with pytest.raises(ParameterError, match=r"unknown notebook parameter 'profle'; valid parameters: profile, overrides"):
        notebook.setup(ns, ["profile", "overrides"], quiet=True)


def test_setup_loads_profile_and_overrides(monkeypatch):
    monkeypatch.setenv("SRLIB_PROFILE", "smoke")
    cfg = notebook.setup({"profile": None, "overrides": {"data.batch_size": 3}}, quiet=True)
    assert cfg.name == "smoke" and cfg.data.batch_size == 3
