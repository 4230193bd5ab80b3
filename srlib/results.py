"""Tidy result rows (design.md, "Results"): one measurement per row, written per table.

Columns: paper, table, model, dataset, metric, value, unit, profile, seed, stage, note.
A number that could not be measured is a row with ``value=None`` and the reason in ``note``.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Iterable, Mapping

import pandas as pd

from . import config, io

COLUMNS = ("paper", "table", "model", "dataset", "metric", "value", "unit", "profile", "seed", "stage",
           "note")
REQUIRED = ("paper", "table", "model", "metric", "profile")


def row(*, paper: str, table: str, model: str, metric: str, value: float | None, profile: str,
        dataset: str = "", unit: str = "", seed: int | None = None, stage: str = "",
        note: str = "") -> dict[str, Any]:
    """One tidy row. ``value=None`` (or NaN) needs a ``note`` saying why it is missing."""
    if value is not None:
        value = float(value)
        if math.isnan(value):
            value = None
    if value is None and not note:
        raise ValueError(f"row {paper}/{table}/{model}/{metric}: a missing value needs a note saying why")
    return {"paper": paper, "table": table, "model": model, "dataset": dataset, "metric": metric,
            "value": value, "unit": unit, "profile": profile, "seed": seed, "stage": stage, "note": note}


def frame(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """Rows -> DataFrame with exactly :data:`COLUMNS`; unknown or missing required columns fail."""
    rows = list(rows)
    for i, r in enumerate(rows):
        extra = set(r) - set(COLUMNS)
        if extra:
            raise ValueError(f"row {i}: unknown columns {sorted(extra)}; valid: {', '.join(COLUMNS)}")
        missing = [c for c in REQUIRED if not r.get(c)]
        if missing:
            raise ValueError(f"row {i}: missing {missing}")
    df = pd.DataFrame(rows, columns=list(COLUMNS))
    df["value"] = pd.to_numeric(df["value"], errors="coerce")
    df["seed"] = df["seed"].astype("Int64")
    return df


def table_path(profile: str, table: str) -> Path:
    return config.results_dir(profile) / "tables" / f"{table}.csv"


def write_table(table: str, rows: Iterable[Mapping[str, Any]], profile: str) -> Path:
    """Write ``results/<profile>/tables/<table>.csv`` atomically (replacing the previous one)."""
    df = frame(rows)
    path = table_path(profile, table)
    with io.atomic_write(path, "w") as f:
        df.to_csv(f, index=False)
    return path


def read_table(table: str, profile: str) -> pd.DataFrame:
    path = table_path(profile, table)
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: run the notebook that writes table {table!r} "
                                f"(make reproduce SRLIB_PROFILE={profile})")
    df = pd.read_csv(path, keep_default_na=False, na_values={"value": [""], "seed": [""]})
    if list(df.columns) != list(COLUMNS):
        raise ValueError(f"{path}: columns {list(df.columns)} are not the tidy columns {list(COLUMNS)}")
    df["seed"] = df["seed"].astype("Int64")
    return df
