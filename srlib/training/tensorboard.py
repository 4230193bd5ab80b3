"""TensorBoard event files beside the JSONL logs: ``tensorboard --logdir results/<profile>/artifacts``.

The JSONL / JSON files stay the record the notebooks read; the event files are a view of the same numbers at
the same steps, written through :class:`ScalarLog` into ``<stage>/tb/`` by the training loop (next to
``metrics.jsonl``) and by the searches (a second series of one stage goes in a subfolder, e.g. ``tb/trace``).
Under torchrun only rank 0 writes: on the other ranks a :class:`ScalarLog` does nothing.

A row is a flat dict: ``step`` (int), optional ``time`` (unix seconds, the event's wall time), and scalars
under their TensorBoard tags. Values that are not finite real numbers (``null`` in a JSONL, lists, strings,
bools) are left out; the events store float32.

Resume: a :class:`ScalarLog` starts by deleting the event files in its folder and writing again the rows
the caller passes (its log up to the checkpoint it resumes from), then appends. This does the job of
SummaryWriter's ``purge_step`` without relying on readers: event file names carry whole seconds, so a file
opened right after a kill can sort before the killed run's file and a reader would meet the stale points
after the purge marker; rebuilt, the folder holds each step once, in order, for any reader.

Without the ``tensorboard`` package (``pip install 'srlib[logs]'``) nothing is written, one line per process
says why, and the JSONL logs are unaffected.
"""
from __future__ import annotations

import math
import numbers
import os
from pathlib import Path
from typing import Any, Iterable, Mapping

from .. import io
from . import distributed as dist

__all__ = ["TB_DIR", "ScalarLog", "unavailable", "merge_rows", "read_rows"]

TB_DIR = "tb"
_EVENTS = "events.out.tfevents.*"
_told = False


def unavailable() -> str | None:
    """Why event files cannot be written, or None when ``torch.utils.tensorboard`` imports."""
    try:
        from torch.utils.tensorboard import SummaryWriter  # noqa: F401
    except Exception as e:  # ImportError, or a broken install (e.g. an incompatible protobuf)
        return f"{type(e).__name__}: {e}"
    return None


def _tell(why: str) -> None:
    global _told
    if not _told:
        _told = True
        print(f"[tensorboard] no event files ({why}); the JSONL logs are unaffected. "
              "Install with: pip install 'srlib[logs]'", flush=True)


def _scalars(row: Mapping[str, Any]) -> dict[str, float]:
    out = {}
    for k, v in row.items():
        if k in ("step", "time") or isinstance(v, bool) or not isinstance(v, numbers.Real):
            continue
        if math.isfinite(v):
            out[k] = float(v)
    return out


def read_rows(path: str | os.PathLike) -> list[dict]:
    """The rows (dicts with a ``step``) of a JSONL file, skipping a line cut short by a kill; [] if absent."""
    path = Path(path)
    return io.jsonl_rows(path.read_text()) if path.is_file() else []


def merge_rows(rows: Iterable[Mapping[str, Any]], upto: int | None = None) -> list[dict]:
    """Rows with ``step <= upto`` merged per step (a later row's tag and time win) and sorted by step."""
    merged: dict[int, dict] = {}
    for r in rows:
        step = int(r["step"])
        if upto is None or step <= upto:
            m = merged.setdefault(step, {"step": step})
            if r.get("time") is not None:
                m["time"] = r["time"]
            m.update(_scalars(r))
    return [merged[s] for s in sorted(merged)]


class ScalarLog:
    """The event files of one folder: rebuilt from ``rows`` (see :func:`merge_rows`), then appended to.

    ``upto``: drop rows past this step (the step a resumed run starts from). Without tensorboard it only
    deletes the folder's old event files (which would disagree with the log) and writes nothing; on a rank
    other than 0 it touches nothing.
    """

    def __init__(self, log_dir: str | os.PathLike, rows: Iterable[Mapping[str, Any]] = (), *,
                 upto: int | None = None, flush_secs: int = 30):
        self.dir = Path(log_dir)
        self._writer = None
        if not dist.is_main():
            return
        if self.dir.is_dir():
            for f in self.dir.glob(_EVENTS):
                f.unlink()
        why = unavailable()
        if why is not None:
            _tell(why)
            return
        from torch.utils.tensorboard import SummaryWriter

        self._writer = SummaryWriter(str(self.dir), flush_secs=flush_secs)
        for row in merge_rows(rows, upto):
            self.add(row)
        self._writer.flush()

    @property
    def enabled(self) -> bool:
        """True when event files are being written."""
        return self._writer is not None

    def add(self, row: Mapping[str, Any]) -> None:
        """Write one row's scalars at ``row["step"]`` (wall time ``row["time"]`` if given)."""
        if self._writer is None:
            return
        step, t = int(row["step"]), row.get("time")
        for tag, v in _scalars(row).items():
            self._writer.add_scalar(tag, v, step, walltime=t)

    def flush(self) -> None:
        if self._writer is not None:
            self._writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def __enter__(self) -> "ScalarLog":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
