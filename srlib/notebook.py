"""What every notebook does first: validate its papermill parameters, load the profile, set plotting.

A notebook's ``parameters`` cell holds plain literals only (papermill injects overrides after it)::

    profile = None   # None: $SRLIB_PROFILE, else "mini"
    overrides = {}   # dotted profile keys, e.g. {"data.batch_size": 4}

and the next cell calls ``cfg = srlib.notebook.setup(globals(), ["profile", "overrides", ...])``.
papermill only *warns* about a misspelled parameter; ``setup`` turns it into an error naming the
parameter and the valid ones (any user variable defined before ``setup`` that is not a declared
parameter can only have come from the injected cell).
"""
from __future__ import annotations

import types
from pathlib import Path
from typing import Any, Iterable, Mapping, MutableMapping

from . import config, io

_IPYTHON_NAMES = {"In", "Out", "get_ipython", "exit", "quit", "open"}


class ParameterError(config.ConfigError):
    """A notebook parameter that the notebook does not declare."""


def check_parameters(ns: MutableMapping[str, Any], declared: Iterable[str]) -> None:
    declared = list(declared)
    unknown = sorted(k for k, v in ns.items()
                     if not k.startswith("_") and k not in declared and k not in _IPYTHON_NAMES
                     and not isinstance(v, (types.ModuleType, types.FunctionType, type)))
    if unknown:
        raise ParameterError(f"unknown notebook parameter {unknown[0]!r}; valid parameters: "
                             f"{', '.join(declared)} (plus profile keys through overrides="
                             "{'section.key': value})")


def setup(ns: MutableMapping[str, Any], declared: Iterable[str] = ("profile", "overrides"),
          quiet: bool = False) -> config.Profile:
    """Validate parameters, load the profile (``profile`` or ``$SRLIB_PROFILE``), set plot style."""
    declared = list(declared)
    check_parameters(ns, declared)
    overrides = ns.get("overrides") or None
    if isinstance(overrides, str):          # `papermill -p overrides '{...}'` passes the text, `-y` the mapping
        import yaml

        try:
            overrides = yaml.safe_load(overrides)
        except yaml.YAMLError as e:
            raise ParameterError(f"overrides: not a YAML/JSON mapping ({e}); e.g. -y 'overrides: {{adasr.batch: 4}}'") from None
    if overrides is not None and not isinstance(overrides, Mapping):
        raise ParameterError(f"overrides must map dotted profile keys to values, got {overrides!r}; "
                             "e.g. -y 'overrides: {adasr.batch: 4}'")
    prof = config.load(ns.get("profile"), overrides)
    io.seed_everything(prof.seed, prof.train.deterministic)
    _plot_style()
    if not quiet:
        print(f"profile: {prof.name} — {prof.description}")
        print(f"results: {prof.results_dir}")
    return prof


def _plot_style() -> None:
    import matplotlib

    matplotlib.use("Agg" if not _in_notebook() else matplotlib.get_backend())
    import seaborn as sns

    sns.set_theme(context="notebook", style="whitegrid")


def _in_notebook() -> bool:
    try:
        from IPython import get_ipython
        return get_ipython() is not None and "IPKernelApp" in get_ipython().config
    except Exception:
        return False


def save_figure(fig, name: str, profile: config.Profile, caption: str | None = None) -> Path:
    """Save ``fig`` to ``results/<profile>/figures/<name>.png`` atomically, with a sidecar
    ``<name>.json`` the report reads: ``caption`` (what each axis is, which values are stand-ins; None:
    the report builds one from the axes) and every axis' title, labels and scales as drawn."""
    path = prof_dir(profile, "figures") / f"{name}.png"
    with io.atomic_write(path, "wb") as f:
        fig.savefig(f, format="png", dpi=120, bbox_inches="tight")
    io.write_json(path.with_suffix(".json"), {"caption": caption, "axes": figure_axes(fig)})
    return path


def figure_axes(fig) -> list[dict[str, str]]:
    """Title, axis labels and scales of every visible axis of ``fig`` (image panels: their titles)."""
    out = []
    for ax in fig.get_axes():
        if not ax.get_visible() or not (ax.axison or ax.get_title()):
            continue
        out.append({"title": ax.get_title(), "xlabel": ax.get_xlabel(), "ylabel": ax.get_ylabel(),
                    "xscale": ax.get_xscale(), "yscale": ax.get_yscale()})
    sup = fig.get_suptitle() if hasattr(fig, "get_suptitle") else ""
    if sup:
        out.insert(0, {"title": sup, "xlabel": "", "ylabel": "", "xscale": "", "yscale": ""})
    return out


def prof_dir(profile: config.Profile, sub: str) -> Path:
    d = profile.results_dir / sub
    d.mkdir(parents=True, exist_ok=True)
    return d
