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


def _make_order() -> list[str]:
    text = (NB_DIR.parent / "Makefile").read_text()
    line = next(ln for ln in text.splitlines() if ln.startswith("NOTEBOOKS"))
    return line.split(":=", 1)[1].split()


def test_make_reproduce_runs_every_notebook_once():
    assert sorted(_make_order()) == [p.stem for p in SOURCES]


@pytest.mark.parametrize("paper, producers", [("agd", ("50_agd_search", "51_agd_comparison"))])
def test_a_notebook_printing_another_papers_rows_runs_after_that_papers_notebooks(paper, producers):
    """Notebooks 11 and 42 print AGD's rows from AGD's stages: `make reproduce` must run them after AGD's
    notebooks, so that the search is computed (and timed) in AGD's share, not in theirs."""
    order = _make_order()
    users = [p.stem for p in SOURCES if f"from srlib.{paper} import" in p.read_text() and p.stem not in producers]
    assert users, f"no notebook outside {producers} uses srlib.{paper}"
    for u in users:
        assert all(order.index(u) > order.index(p) for p in producers), f"{u} runs before {producers}: {order}"


def test_overrides_given_as_text_are_read_as_a_mapping():
    """`papermill -p overrides '{...}'` hands the notebook a string; it is parsed, and a non-mapping refused."""
    cfg = notebook.setup({"profile": "smoke", "overrides": '{"data.batch_size": 3}'}, quiet=True)
    assert cfg.data.batch_size == 3
    with pytest.raises(ParameterError, match=r"overrides must map dotted profile keys to values, got \[1, 2\]"):
        notebook.setup({"profile": "smoke", "overrides": "[1, 2]"}, quiet=True)
