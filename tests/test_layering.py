"""Layering (shared/design.md, "imports only point down"): no shared building block and nothing at the
config/pipeline layer imports a paper package, and neither does the report, which reads only tidy rows and
``srlib/reference``.

Checked on the source with :mod:`ast` (nothing is imported): every ``import`` / ``from ... import`` at any
depth (inside functions and classes too), relative forms resolved against the file's package
(``from ..mfagan import x``, ``from .. import tpsr``), and ``importlib.import_module("...")`` /
``__import__("...")`` calls with a literal name. Strings that are not imported -- the ``_MODEL_MODULES``
names in ``srlib/models/__init__.py``, which ``build`` imports lazily so that paper packages can register
their architectures -- are not imports and pass.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRLIB = ROOT / "srlib"

#: The paper packages: each paper's own contribution, above every layer checked here.
PAPERS = ("mfagan", "tpsr", "adasr", "agd")

#: Shared building blocks (folders; one not created yet is skipped) and the config/pipeline layer (files).
SHARED_DIRS = ("models", "training", "search", "latency", "baselines", "complexity", "metrics", "data", "weights")
BASE_FILES = ("config.py", "pipeline.py", "io.py", "results.py")
#: Above the paper packages in the picture, but it joins tidy rows with srlib/reference: no paper code.
REPORT = "report.py"

_IMPORT_FUNCS = {"import_module", "__import__"}


def _module_name(path: Path) -> tuple[str, bool]:
    """Dotted module name of a file under the repository root, and whether it is a package __init__."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    is_pkg = parts[-1] == "__init__"
    if is_pkg:
        parts = parts[:-1]
    return ".".join(parts), is_pkg


def _resolve(module: str | None, level: int, this: str, is_pkg: bool) -> str:
    """Absolute module of ``from <level dots><module> import ...`` written in module ``this``."""
    if level == 0:
        return module or ""
    package = this.split(".") if is_pkg else this.split(".")[:-1]
    base = package[: len(package) - (level - 1)] if level > 1 else package
    return ".".join(base + ([module] if module else []))


def _paper(name: str) -> str | None:
    parts = name.split(".")
    if len(parts) >= 2 and parts[0] == "srlib" and parts[1] in PAPERS:
        return "srlib." + parts[1]
    return None


def paper_imports(source: str, module: str, is_pkg: bool = False) -> list[tuple[int, str]]:
    """``(line, import statement)`` for every import of a paper package in ``source`` (module ``module``)."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if _paper(alias.name):
                    found.append((node.lineno, f"import {alias.name}"))
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(node.module, node.level, module, is_pkg)
            written = "." * node.level + (node.module or "")
            for alias in node.names:
                target = base if _paper(base) else f"{base}.{alias.name}"
                if _paper(target):
                    found.append((node.lineno, f"from {written} import {alias.name}"))
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            fname = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            arg = node.args[0]
            if fname in _IMPORT_FUNCS and isinstance(arg, ast.Constant) and isinstance(arg.value, str) \
                    and _paper(arg.value):
                found.append((node.lineno, f"{fname}({arg.value!r})"))
    return sorted(found)


def _files(rel: str) -> list[Path]:
    p = SRLIB / rel
    return sorted(p.rglob("*.py")) if p.is_dir() else [p]


def _violations(files: list[Path]) -> list[str]:
    out = []
    for f in files:
        module, is_pkg = _module_name(f)
        for line, stmt in paper_imports(f.read_text(encoding="utf-8"), module, is_pkg):
            out.append(f"{f.relative_to(ROOT)}:{line}: {stmt}")
    return out


@pytest.mark.parametrize("rel", SHARED_DIRS + BASE_FILES + (REPORT,))
def test_layer_imports_no_paper_package(rel):
    if not (SRLIB / rel).exists():
        if rel == "baselines":
            pytest.skip(f"srlib/{rel} does not exist yet")
        pytest.fail(f"srlib/{rel} is missing: update tests/test_layering.py if it moved")
    files = _files(rel)
    assert files, f"no Python files under srlib/{rel}"
    bad = _violations(files)
    assert not bad, ("shared layers must not import a paper package (" + ", ".join(f"srlib.{p}" for p in PAPERS)
                     + "); move the code into the paper package or pass it in from there:\n  " + "\n  ".join(bad))


def test_model_registry_names_paper_modules_only_as_strings():
    """The one sanctioned reach upward: ``_MODEL_MODULES`` strings, imported lazily by ``build``."""
    src = (SRLIB / "models" / "__init__.py").read_text(encoding="utf-8")
    assert paper_imports(src, "srlib.models", is_pkg=True) == []
    assert '"srlib.tpsr.cell"' in src  # so this test notices if the registry stops naming paper modules


@pytest.mark.parametrize("source,module,is_pkg,expected", [
    ("import srlib.mfagan.nas", "srlib.models.x", False, ["import srlib.mfagan.nas"]),
    ("import srlib.tpsr as t", "srlib.models.x", False, ["import srlib.tpsr"]),
    ("from srlib.agd.search import f", "srlib.search.x", False, ["from srlib.agd.search import f"]),
    ("from srlib import adasr", "srlib.io", False, ["from srlib import adasr"]),
    ("from srlib import io, mfagan", "srlib.io", False, ["from srlib import mfagan"]),
    ("from ..mfagan import nas", "srlib.training.gan", False, ["from ..mfagan import nas"]),
    ("from .. import tpsr", "srlib.models.x", False, ["from .. import tpsr"]),
    ("from . import mfagan", "srlib.config", False, ["from . import mfagan"]),
    # in a package's __init__, "." is the package itself
    ("from ..tpsr.cell import OPS", "srlib.models", True, ["from ..tpsr.cell import OPS"]),
    ("from .tpsr.cell import OPS", "srlib.models", True, []),  # srlib.models.tpsr: not a paper package
    ("from ..tpsr.cell import OPS", "srlib.data.sub", True, []),  # srlib.data.tpsr
    ("from ...tpsr import cell", "srlib.data.sub.mod", False, ["from ...tpsr import cell"]),
    ("def f():\n    from srlib.tpsr.cell import OPS\n    return OPS", "srlib.models.x", False,
     ["from srlib.tpsr.cell import OPS"]),
    ("class A:\n    def f(self):\n        import srlib.agd", "srlib.models.x", False, ["import srlib.agd"]),
    ("importlib.import_module('srlib.mfagan.mfanet')", "srlib.x", False, ["import_module('srlib.mfagan.mfanet')"]),
    ("__import__('srlib.tpsr')", "srlib.x", False, ["__import__('srlib.tpsr')"]),
    ("M = ('srlib.tpsr.cell', 'srlib.mfagan.mfanet')\nimportlib.import_module(M[0])", "srlib.models", True, []),
    ("from srlib import models\nimport srlib.mfaganx\nfrom .. import agdx", "srlib.models.x", False, []),
])
def test_checker_sees_every_import_form(source, module, is_pkg, expected):
    assert [s for _, s in paper_imports(source, module, is_pkg)] == expected
