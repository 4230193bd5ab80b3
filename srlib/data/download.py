"""Checksummed downloads and safe archive extraction for the paper datasets.

``fetch(url, dest, sha256)`` streams to a temp file beside ``dest`` (through :func:`srlib.io.atomic_write`),
checks the byte count against ``Content-Length`` (and the expected size, when known) and the sha256, and
only then moves the file onto ``dest``. A mismatch, a short transfer or any network error raises a
:class:`DownloadError` that names the URL, what was expected and what arrived; neither the temp file nor
``dest`` is left behind.

``safe_extract(archive, dest)`` unpacks ``.zip`` / ``.tar`` / ``.tar.gz`` into a temp folder beside
``dest`` and moves the result into place only when everything was extracted. Every member is checked
*before* anything is written: absolute paths, ``..`` components, links that leave the archive, members
below a link, devices and FIFOs make it refuse the whole archive (:class:`UnsafeArchive`), leaving nothing.

The datasets are listed in ``sources.csv`` beside this file (name, url, sha256, size,
archive_member_root, target, note). A row without a sha256 is never downloaded silently: the command
refuses and says how to place the files by hand or how to pass ``--sha256`` after checking the file.

Command line::

    python -m srlib.data.download --list
    python -m srlib.data.download Set5 [--data-dir D]
    python -m srlib.data.download Set14 --archive ~/Downloads/Set14_HR.tar.gz --sha256 <sum you checked>
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import http.client
import os
import re
import shutil
import socket
import stat
import sys
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Iterable

from ..io import atomic_write, sha256_file

__all__ = [
    "DownloadError", "ChecksumMismatch", "IncompleteDownload", "UnverifiedSource", "UnsafeArchive",
    "Source", "SOURCES_CSV", "load_sources", "source", "canonical_name", "fetch", "verify_file",
    "safe_extract", "install", "main",
]

SOURCES_CSV = Path(__file__).with_name("sources.csv")
DEFAULT_TIMEOUT = 60.0          # seconds per blocking socket operation (connect, each read)
_CHUNK = 1 << 20
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_ALLOWED_SCHEMES = ("http", "https", "file")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")

# Other spellings people use for the same dataset -> the name in sources.csv.
ALIASES = {
    "div2k_train": "DIV2K_train_HR", "div2k_train_hr": "DIV2K_train_HR", "div2k": "DIV2K_train_HR",
    "div2k_valid": "DIV2K_valid_HR", "div2k_valid_hr": "DIV2K_valid_HR", "div2k_val": "DIV2K_valid_HR",
    "set5": "Set5", "set14": "Set14",
    "b100": "B100", "bsd100": "B100", "bsds100": "B100",
    "urban100": "Urban100",
}


# --------------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------------
class DownloadError(RuntimeError):
    """A download that did not produce the verified file; nothing was left on disk."""


class ChecksumMismatch(DownloadError):
    """The bytes arrived completely but their sha256 (or size) is not the expected one."""


class IncompleteDownload(DownloadError):
    """The server closed the connection (or timed out) before sending every byte it announced."""


class UnverifiedSource(DownloadError):
    """No trustworthy sha256 is recorded for this file, so it is not downloaded automatically."""


class UnsafeArchive(ValueError):
    """An archive member would land outside the destination (or is a device, FIFO, ...)."""


# --------------------------------------------------------------------------------------------------
# The sources table
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Source:
    name: str
    url: str
    sha256: str                 # "" = no trustworthy sum known: refuse automatic download
    size: int | None            # bytes, when a trustworthy source gives it
    archive_member_root: str    # the folder inside the archive that holds the HR images
    target: str                 # where those images go, relative to data_dir()
    note: str

    @property
    def filename(self) -> str:
        return PurePosixPath(urllib.parse.urlparse(self.url).path).name

    def target_dir(self, data_dir: str | os.PathLike | None = None) -> Path:
        return _data_dir(data_dir) / self.target


_COLUMNS = ("name", "url", "sha256", "size", "archive_member_root", "target", "note")


def load_sources(path: str | os.PathLike | None = None) -> dict[str, Source]:
    """Parse and validate ``sources.csv``; a malformed row is an error naming the file and line."""
    path = Path(SOURCES_CSV if path is None else path)
    out: dict[str, Source] = {}
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if tuple(reader.fieldnames or ()) != _COLUMNS:
            raise ValueError(f"{path}: header must be {','.join(_COLUMNS)}, got {reader.fieldnames}")
        for row in reader:
            where = f"{path}:{reader.line_num}"
            name = row["name"].strip()
            sha = row["sha256"].strip().lower()
            if sha and not _SHA256_RE.match(sha):
                raise ValueError(f"{where}: sha256 of {name!r} must be 64 hex digits or empty, got {sha!r}")
            size = row["size"].strip()
            if size and not size.isdigit():
                raise ValueError(f"{where}: size of {name!r} must be a byte count or empty, got {size!r}")
            scheme = urllib.parse.urlparse(row["url"].strip()).scheme
            if scheme not in ("http", "https"):
                raise ValueError(f"{where}: url of {name!r} must be http(s), got {row['url']!r}")
            target = row["target"].strip()
            if not target or PurePosixPath(target).is_absolute() or ".." in PurePosixPath(target).parts:
                raise ValueError(f"{where}: target of {name!r} must be a relative folder, got {target!r}")
            if name in out:
                raise ValueError(f"{where}: duplicate name {name!r}")
            out[name] = Source(name=name, url=row["url"].strip(), sha256=sha, size=int(size) if size else None,
                               archive_member_root=row["archive_member_root"].strip().strip("/"),
                               target=target, note=row["note"].strip())
    return out


def canonical_name(name: str, sources: dict[str, Source] | None = None) -> str:
    """``Set5``, ``set5``, ``BSD100``, ``DIV2K_train`` ... -> the name used in ``sources.csv``."""
    sources = load_sources() if sources is None else sources
    if name in sources:
        return name
    key = ALIASES.get(name.lower())
    if key in sources:
        return key
    for n in sources:
        if n.lower() == name.lower():
            return n
    raise KeyError(f"unknown dataset {name!r}; valid names: {', '.join(sources)} "
                   f"(also accepted: {', '.join(sorted(ALIASES))})")


def source(name: str) -> Source:
    sources = load_sources()
    return sources[canonical_name(name, sources)]


def _data_dir(data_dir: str | os.PathLike | None) -> Path:
    if data_dir is not None:
        return Path(data_dir).expanduser().resolve()
    from ..config import data_dir as default_data_dir

    return default_data_dir()


# --------------------------------------------------------------------------------------------------
# fetch
# --------------------------------------------------------------------------------------------------
def _check_sha256(sha256: str | None, what: str) -> str:
    sha = (sha256 or "").strip().lower()
    if not _SHA256_RE.match(sha):
        raise UnverifiedSource(
            f"{what}: no valid sha256 given ({sha256!r}); srlib never downloads a file it cannot verify. "
            "Pass the 64-hex-digit sha256 of the file (after checking it yourself).")
    return sha


def verify_file(path: str | os.PathLike, sha256: str, size: int | None = None) -> tuple[bool, str]:
    """``(True, "")`` when ``path`` has the expected size and sha256, else ``(False, why)``."""
    path = Path(path)
    if not path.is_file():
        return False, f"{path} does not exist"
    n = path.stat().st_size
    if size is not None and n != size:
        return False, f"{path} has {n} bytes, expected {size}"
    got = sha256_file(path)
    if got != sha256.lower():
        return False, f"{path} has sha256 {got}, expected {sha256.lower()}"
    return True, ""


def fetch(url: str, dest: str | os.PathLike, sha256: str, *, size: int | None = None,
          timeout: float = DEFAULT_TIMEOUT, progress: bool = True) -> Path:
    """Download ``url`` to ``dest`` and verify it; return ``dest``.

    If ``dest`` already holds the verified file nothing is downloaded. Otherwise the bytes stream into a
    temp file in ``dest``'s folder; the byte count is checked against ``Content-Length`` and ``size``,
    the sha256 against ``sha256``, and only then is the temp file moved onto ``dest`` (``os.replace``).
    Any failure raises :class:`DownloadError` (a :class:`ChecksumMismatch` or :class:`IncompleteDownload`
    when it is one of those) naming the URL, expected and received values; the temp file is deleted and
    ``dest`` is not touched.
    """
    dest = Path(dest)
    sha = _check_sha256(sha256, f"refusing to download {url}")
    scheme = urllib.parse.urlparse(url).scheme
    if scheme not in _ALLOWED_SCHEMES:
        raise DownloadError(f"refusing to download {url}: scheme {scheme!r} is not one of {_ALLOWED_SCHEMES}")
    if dest.is_file():
        ok, _ = verify_file(dest, sha, size)
        if ok:
            return dest
    dest.parent.mkdir(parents=True, exist_ok=True)

    from tqdm.auto import tqdm

    req = urllib.request.Request(url, headers={"User-Agent": "srlib-download/0.1"})
    received = 0
    announced: int | None = None
    try:
        with atomic_write(dest, "wb") as f:
            h = hashlib.sha256()
            try:
                with urllib.request.urlopen(req, timeout=timeout) as resp:
                    length = resp.headers.get("Content-Length")
                    announced = int(length) if length and length.strip().isdigit() else None
                    if announced is not None and size is not None and announced != size:
                        raise ChecksumMismatch(
                            f"download of {url} refused: the server announces {announced} bytes, "
                            f"expected {size} (sha256 {sha}); the file on the server is not the recorded one")
                    total = announced if announced is not None else size
                    with tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024,
                              desc=dest.name, disable=not progress, leave=False) as bar:
                        while True:
                            block = resp.read(_CHUNK)
                            if not block:
                                break
                            f.write(block)
                            h.update(block)
                            received += len(block)
                            bar.update(len(block))
            except DownloadError:
                raise
            except http.client.IncompleteRead as e:
                received += len(e.partial or b"")
                raise IncompleteDownload(_short_msg(url, received, announced, size, sha,
                                                    "connection closed early")) from e
            except urllib.error.HTTPError as e:
                raise DownloadError(f"download of {url} failed: HTTP {e.code} {e.reason}") from e
            except urllib.error.URLError as e:
                raise DownloadError(f"download of {url} failed: {e.reason}") from e
            except (socket.timeout, TimeoutError) as e:
                raise IncompleteDownload(_short_msg(url, received, announced, size, sha,
                                                    f"timed out after {timeout:g} s without data")) from e
            except (ConnectionError, http.client.HTTPException, OSError) as e:
                raise IncompleteDownload(_short_msg(url, received, announced, size, sha,
                                                    f"{type(e).__name__}: {e}")) from e
            expected_len = announced if announced is not None else size
            if expected_len is not None and received < expected_len:
                raise IncompleteDownload(_short_msg(url, received, announced, size, sha,
                                                    "connection closed early"))
            if size is not None and received != size:
                raise ChecksumMismatch(f"download of {url} failed: got {received} bytes, expected {size} "
                                       f"bytes (sha256 {sha}); nothing was kept")
            got = h.hexdigest()
            if got != sha:
                raise ChecksumMismatch(
                    f"download of {url} failed: sha256 mismatch: expected {sha}, got {got} "
                    f"({received} bytes); nothing was kept. The file on the server differs from the one "
                    "recorded (changed upstream, a proxy/captive page, or tampering). Check it by hand "
                    "before passing a different --sha256.")
    except DownloadError:
        raise
    except OSError as e:  # writing the temp file / replacing dest
        raise DownloadError(f"download of {url} to {dest} failed: {type(e).__name__}: {e}") from e
    return dest


def _short_msg(url: str, received: int, announced: int | None, size: int | None, sha: str, why: str) -> str:
    expected = announced if announced is not None else size
    exp = f"expected {expected} bytes" if expected is not None else "expected size unknown"
    return (f"download of {url} is incomplete ({why}): got {received} bytes, {exp} (sha256 {sha}); "
            "the partial file was deleted. Run the command again; if it keeps failing, download the file "
            "by hand and pass it with --archive.")


# --------------------------------------------------------------------------------------------------
# safe_extract
# --------------------------------------------------------------------------------------------------
def _member_parts(name: str, archive: Path) -> tuple[str, ...]:
    """The normalised path components of a member name, or :class:`UnsafeArchive`."""
    if not name or "\x00" in name:
        raise UnsafeArchive(f"{archive}: member with an empty or NUL-containing name {name!r}")
    unified = name.replace("\\", "/")
    if unified.startswith("/") or re.match(r"^[A-Za-z]:", unified):
        raise UnsafeArchive(f"{archive}: member {name!r} has an absolute path; refusing the archive")
    parts = tuple(p for p in unified.split("/") if p not in ("", "."))
    if ".." in parts:
        raise UnsafeArchive(f"{archive}: member {name!r} contains a '..' component; refusing the archive")
    return parts


def _inside(parts_base: tuple[str, ...], link: str) -> tuple[str, ...] | None:
    """Resolve ``link`` (a link target) relative to the folder ``parts_base`` lexically; ``None`` = escapes."""
    unified = link.replace("\\", "/")
    if unified.startswith("/") or re.match(r"^[A-Za-z]:", unified):
        return None
    stack = list(parts_base)
    for p in unified.split("/"):
        if p in ("", "."):
            continue
        if p == "..":
            if not stack:
                return None
            stack.pop()
        else:
            stack.append(p)
    return tuple(stack)


def _check_tar(tf: tarfile.TarFile, archive: Path, root: tuple[str, ...] = ()) -> list[tarfile.TarInfo]:
    """Validate every member; ``root`` = the member root that will become the destination (symlinks under
    it must stay under it)."""
    members = tf.getmembers()
    links: set[tuple[str, ...]] = set()
    files: set[tuple[str, ...]] = set()
    for m in members:
        parts = _member_parts(m.name, archive)
        if not parts:
            if m.isdir():
                continue
            raise UnsafeArchive(f"{archive}: member {m.name!r} has no file name")
        for i in range(1, len(parts)):
            if parts[:i] in links:
                raise UnsafeArchive(f"{archive}: member {m.name!r} lies below the link "
                                    f"{'/'.join(parts[:i])!r}; refusing the archive")
        if m.issym():
            resolved = _inside(parts[:-1], m.linkname)
            if resolved is None or (parts[:len(root)] == root and resolved[:len(root)] != root):
                raise UnsafeArchive(f"{archive}: symlink {m.name!r} -> {m.linkname!r} points outside the "
                                    "destination; refusing the archive")
            links.add(parts)
        elif m.islnk():
            target = _inside((), m.linkname)
            if target is None or target not in files:
                raise UnsafeArchive(f"{archive}: hard link {m.name!r} -> {m.linkname!r} does not point to a "
                                    "regular file earlier in the archive; refusing the archive")
            files.add(parts)
        elif m.ischr() or m.isblk() or m.isfifo() or m.isdev():
            raise UnsafeArchive(f"{archive}: member {m.name!r} is a device or FIFO; refusing the archive")
        elif m.isfile():
            files.add(parts)
        elif not m.isdir():
            raise UnsafeArchive(f"{archive}: member {m.name!r} has an unsupported type {m.type!r}")
    return members


def _check_zip(zf: zipfile.ZipFile, archive: Path) -> list[zipfile.ZipInfo]:
    infos = zf.infolist()
    for info in infos:
        _member_parts(info.filename, archive)
        mode = info.external_attr >> 16
        if mode and (stat.S_ISLNK(mode) or stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISFIFO(mode)
                     or stat.S_ISSOCK(mode)):
            raise UnsafeArchive(f"{archive}: zip member {info.filename!r} is a link or special file "
                                f"(mode {oct(mode)}); refusing the archive")
    return infos


def _archive_kind(archive: Path) -> str:
    if zipfile.is_zipfile(archive):
        return "zip"
    try:
        if tarfile.is_tarfile(archive):
            return "tar"
    except OSError:
        pass
    raise UnsafeArchive(f"{archive}: not a zip or tar archive (or it is truncated)")


def safe_extract(archive: str | os.PathLike, dest: str | os.PathLike, *,
                 member_root: str | None = None) -> Path:
    """Extract a ``.zip`` / ``.tar`` / ``.tar.gz`` archive safely; return ``dest``.

    Without ``member_root`` the archive's top-level entries end up inside ``dest`` (created if needed;
    an entry that already exists there is an error, raised before anything moves). With ``member_root``
    (a folder inside the archive), that folder's contents become ``dest``, which must not exist yet.

    All members are validated before anything is written (see the module docstring); extraction happens
    in a temp folder beside ``dest`` that is deleted on any error, so a refused or broken archive leaves
    nothing behind.
    """
    archive, dest = Path(archive), Path(dest)
    if not archive.is_file():
        raise FileNotFoundError(f"archive not found: {archive}")
    root_parts = _member_parts(member_root, archive) if member_root else ()
    if root_parts and dest.exists():
        raise FileExistsError(f"{dest} already exists; delete it to extract {archive} again")
    kind = _archive_kind(archive)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.extract-", dir=dest.parent))
    try:
        if kind == "zip":
            with zipfile.ZipFile(archive) as zf:
                infos = _check_zip(zf, archive)
                for info in infos:
                    parts = _member_parts(info.filename, archive)
                    if not parts:
                        continue
                    out = tmp.joinpath(*parts)
                    if info.is_dir():
                        out.mkdir(parents=True, exist_ok=True)
                        continue
                    out.parent.mkdir(parents=True, exist_ok=True)
                    with zf.open(info) as src, open(out, "wb") as dst:
                        shutil.copyfileobj(src, dst, _CHUNK)
        else:
            with tarfile.open(archive) as tf:
                members = _check_tar(tf, archive, root_parts)
                kwargs = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
                tf.extractall(tmp, members=members, **kwargs)
        _move_into_place(tmp, dest, root_parts, archive)
    except tarfile.TarError as e:
        raise UnsafeArchive(f"{archive}: refused or unreadable tar member ({type(e).__name__}: {e})") from e
    except (zipfile.BadZipFile, EOFError) as e:
        raise UnsafeArchive(f"{archive}: broken archive ({type(e).__name__}: {e})") from e
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


def _move_into_place(tmp: Path, dest: Path, root_parts: tuple[str, ...], archive: Path) -> None:
    if root_parts:
        src = tmp.joinpath(*root_parts)
        if not src.is_dir() or src.is_symlink():
            found = sorted(p.name for p in tmp.iterdir())
            raise FileNotFoundError(f"{archive}: has no folder {'/'.join(root_parts)!r}; its top-level "
                                    f"entries are {found}")
        os.replace(src, dest)
        return
    dest.mkdir(parents=True, exist_ok=True)
    entries = sorted(tmp.iterdir())
    clashes = [e.name for e in entries if (dest / e.name).exists() or (dest / e.name).is_symlink()]
    if clashes:
        raise FileExistsError(f"{dest}: {clashes} already exist; nothing from {archive} was moved")
    for e in entries:
        os.replace(e, dest / e.name)


# --------------------------------------------------------------------------------------------------
# Dataset installation and the command line
# --------------------------------------------------------------------------------------------------
def count_images(folder: Path) -> int:
    return sum(1 for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def manual_instructions(src: Source, data_dir: str | os.PathLike | None = None) -> str:
    target = src.target_dir(data_dir)
    return (f"  - place the HR images by hand in {target}/ (flat: {target}/<image>.png ...), e.g. by extracting "
            f"the folder {src.archive_member_root!r} of {src.url} there; or\n"
            f"  - download {src.url} yourself, check it (see the note below), then run\n"
            f"      python -m srlib.data.download {src.name} --archive <file> --sha256 <its sha256>\n"
            f"    (or without --archive to let srlib download it and verify it against that sum).\n"
            f"  note: {src.note}")


def install(name: str, data_dir: str | os.PathLike | None = None, *, sha256: str | None = None,
            archive: str | os.PathLike | None = None, timeout: float = DEFAULT_TIMEOUT,
            progress: bool = True, keep_archive: bool = True,
            sources: dict[str, Source] | None = None) -> Path:
    """Download (or take ``archive``), verify and extract one dataset; return its HR folder.

    The sha256 is ``sha256`` if given, else the one in ``sources.csv``; with neither,
    :class:`UnverifiedSource` explains how to place the files by hand. Nothing is downloaded when the
    target folder already holds images.
    """
    sources = load_sources() if sources is None else sources
    src = sources[canonical_name(name, sources)]
    target = src.target_dir(data_dir)
    if target.is_dir() and count_images(target) > 0:
        print(f"{src.name}: already present in {target} ({count_images(target)} images); "
              "delete that folder to install it again")
        return target
    if target.is_dir() and not any(target.iterdir()):
        target.rmdir()                                  # an empty placeholder folder: extract into its place
    if sha256 and src.sha256 and sha256.strip().lower() != src.sha256:
        print(f"warning: --sha256 {sha256} overrides the sum recorded in {SOURCES_CSV.name} "
              f"({src.sha256}) for {src.name}", file=sys.stderr)
    sha = (sha256 or src.sha256 or "").strip().lower()
    if not sha:
        raise UnverifiedSource(
            f"{src.name}: no trustworthy sha256 is recorded for {src.url}, so srlib will not download it "
            f"unverified. Either\n{manual_instructions(src, data_dir)}")
    sha = _check_sha256(sha, src.name)
    size = src.size if (not sha256 or sha == src.sha256) else None
    if archive is not None:
        archive = Path(archive).expanduser()
        ok, why = verify_file(archive, sha, size)
        if not ok:
            raise ChecksumMismatch(f"{src.name}: {why} (archive given with --archive for {src.url}); "
                                   "nothing was extracted")
    else:
        archive = _data_dir(data_dir) / "downloads" / src.filename
        print(f"{src.name}: downloading {src.url}\n  -> {archive} (sha256 {sha})")
        fetch(src.url, archive, sha, size=size, timeout=timeout, progress=progress)
    safe_extract(archive, target, member_root=src.archive_member_root or None)
    n = count_images(target)
    print(f"{src.name}: {n} images in {target}")
    if not keep_archive and archive.parent == _data_dir(data_dir) / "downloads":
        archive.unlink(missing_ok=True)
    return target


def _format_table(sources: Iterable[Source], data_dir: str | os.PathLike | None) -> str:
    lines = []
    for s in sources:
        tgt = s.target_dir(data_dir)
        present = tgt.is_dir() and count_images(tgt) > 0
        state = f"present ({count_images(tgt)} images)" if present else "missing"
        verified = "sha256 recorded" if s.sha256 else "NO sha256 (manual placement or --sha256 needed)"
        lines.append(f"{s.name:15s} {state:22s} {verified}\n    {s.url}\n    -> {tgt}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    sources = load_sources()
    ap = argparse.ArgumentParser(
        prog="python -m srlib.data.download",
        description="Download, verify (sha256) and safely extract a paper dataset listed in "
                    f"{SOURCES_CSV}.")
    ap.add_argument("name", nargs="?", help=f"dataset: {', '.join(sources)}")
    ap.add_argument("--list", action="store_true", help="list the datasets, their URLs and whether present")
    ap.add_argument("--data-dir", help="data folder (default: $SRLIB_DATA or <project>/data)")
    ap.add_argument("--sha256", help="expected sha256 of the archive (required where the table has none; "
                                     "check the file yourself first)")
    ap.add_argument("--archive", help="use this already-downloaded archive instead of downloading")
    ap.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, help="socket timeout in seconds")
    ap.add_argument("--remove-archive", action="store_true",
                    help="delete the downloaded archive from <data>/downloads after extracting")
    ap.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = ap.parse_args(argv)
    if args.list or not args.name:
        print(_format_table(sources.values(), args.data_dir))
        return 0 if args.list else 2
    try:
        install(args.name, args.data_dir, sha256=args.sha256, archive=args.archive, timeout=args.timeout,
                progress=not args.no_progress, keep_archive=not args.remove_archive, sources=sources)
    except KeyError as e:
        print(f"error: {e.args[0]}", file=sys.stderr)
        return 2
    except (DownloadError, UnsafeArchive, FileExistsError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
