"""The papers' datasets on disk: find a dataset's HR folder under ``data/`` in the usual layouts.

``locate(name)`` tries, in order, the folder ``python -m srlib.data.download NAME`` creates and then the
layouts other SR code bases use (EDSR's ``benchmark/``, BasicSR-style ``original``, a flat folder of
images, ``*_HR`` folders as the archives unpack, BSD100/BSDS100 for B100, ...). ``list_images(name)``
returns the sorted image files and checks their number against the dataset (Set5 has 5, ...), so that a
half-copied folder cannot silently shift a paper comparison.

A missing dataset raises :class:`FileNotFoundError` whose message gives the exact command that fetches it,
the URL and the folder it is expected in.
"""
from __future__ import annotations

import os
from pathlib import Path

from .download import IMAGE_SUFFIXES, Source, canonical_name, load_sources

__all__ = ["EXPECTED_COUNT", "candidates", "locate", "list_images", "missing_message"]

# Number of HR images of each dataset (the papers' standard versions).
EXPECTED_COUNT = {"DIV2K_train_HR": 800, "DIV2K_valid_HR": 100, "Set5": 5, "Set14": 14, "B100": 100,
                  "Urban100": 100}

# Folder spellings other than the canonical name, and archive folder names.
_SPELLINGS = {
    "DIV2K_train_HR": (),
    "DIV2K_valid_HR": (),
    "Set5": ("set5",),
    "Set14": ("set14",),
    "B100": ("BSD100", "BSDS100", "bsd100", "b100"),
    "Urban100": ("urban100",),
}


def _data_dir(data_dir: str | os.PathLike | None) -> Path:
    if data_dir is not None:
        return Path(data_dir).expanduser().resolve()
    from ..config import data_dir as default_data_dir

    return default_data_dir()


def candidates(name: str, data_dir: str | os.PathLike | None = None) -> list[Path]:
    """The folders :func:`locate` looks at for ``name``, in order of preference."""
    sources = load_sources()
    key = canonical_name(name, sources)
    root = _data_dir(data_dir)
    src = sources[key]
    out: list[Path] = [root / src.target]
    if key.startswith("DIV2K_"):
        out += [root / "DIV2K" / key / key,          # unzipped into a folder of the same name
                root / key,
                root / "benchmark" / "DIV2K" / key]
    else:
        spellings = (key,) + _SPELLINGS.get(key, ())
        archive_dir = src.archive_member_root        # e.g. Set5_HR, BSD100_HR
        for s in spellings:
            for base in (root / s, root / "benchmark" / s, root / "testsets" / s, root / "test" / s):
                out += [base / "HR", base / "original", base / archive_dir, base]
        out += [root / archive_dir]
    seen: set[Path] = set()
    return [p for p in out if not (p in seen or seen.add(p))]


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
                  and not p.name.startswith("."))


def locate(name: str, data_dir: str | os.PathLike | None = None) -> Path:
    """The HR folder of a paper dataset (``DIV2K_train_HR``, ``Set5``, ``B100`` ... or an alias such as
    ``BSD100``, ``DIV2K_train``); :class:`FileNotFoundError` with the fix when it is not there."""
    for folder in candidates(name, data_dir):
        if folder.is_dir() and _images(folder):
            return folder
    raise FileNotFoundError(missing_message(name, data_dir))


def missing_message(name: str, data_dir: str | os.PathLike | None = None) -> str:
    sources = load_sources()
    key = canonical_name(name, sources)
    src: Source = sources[key]
    root = _data_dir(data_dir)
    looked = candidates(key, data_dir)
    shown = ", ".join(str(p.relative_to(root)) for p in looked[:6]) + (", ..." if len(looked) > 6 else "")
    dd = f" --data-dir {root}" if data_dir is not None or os.environ.get("SRLIB_DATA") else ""
    msg = (f"dataset {key!r} not found under {root} (looked in {shown}).\n"
           f"Fix: python -m srlib.data.download {key}{dd}\n"
           f"  downloads {src.url}\n"
           f"  and extracts its HR images into {root / src.target}/ "
           f"({EXPECTED_COUNT.get(key, '?')} images).")
    if not src.sha256:
        msg += (f"\n  No trustworthy sha256 is recorded for that file, so the command will ask you to check it "
                f"and pass --sha256 (or to place the {EXPECTED_COUNT.get(key, '')} HR images by hand in "
                f"{root / src.target}/). {src.note}")
    return msg


def list_images(name: str, data_dir: str | os.PathLike | None = None, *, strict: bool = True) -> list[Path]:
    """Sorted image paths of a paper dataset.

    With ``strict`` (the default) the number of images must be the dataset's (Set5: 5, Set14: 14,
    B100/Urban100: 100, DIV2K: 800 train / 100 valid); otherwise a :class:`ValueError` names the folder.
    """
    key = canonical_name(name)
    folder = locate(key, data_dir)
    images = _images(folder)
    expected = EXPECTED_COUNT.get(key)
    if strict and expected is not None and len(images) != expected:
        raise ValueError(f"{folder}: {len(images)} images, but {key} has {expected}. The folder is incomplete "
                         f"or mixes other files; delete it and run `python -m srlib.data.download {key}`, "
                         "or pass strict=False to use it anyway.")
    return images
