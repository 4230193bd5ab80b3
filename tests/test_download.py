"""Downloads against a local HTTP server on 127.0.0.1, safe extraction, the sources table, dataset lookup."""
from __future__ import annotations

import csv
import hashlib
import http.server
import io
import tarfile
import threading
import zipfile
from pathlib import Path

import pytest

from srlib.data import download, paper
from srlib.data.download import (ChecksumMismatch, DownloadError, IncompleteDownload, UnsafeArchive,
                                 UnverifiedSource, fetch, safe_extract)


# --------------------------------------------------------------------------------------------------
# A local server: routes[path] = (body, mode); mode "ok" or "truncate" (announces len(body), sends 1/3)
# --------------------------------------------------------------------------------------------------
class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        self.server.requests.append(self.path)
        route = self.server.routes.get(self.path)
        if route is None:
            self.send_error(404)
            return
        body, mode = route
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body if mode == "ok" else body[: len(body) // 3])
        self.wfile.flush()
        self.close_connection = True

    def log_message(self, *args):
        pass


class _Server:
    def __init__(self):
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.routes, self.httpd.requests = {}, []
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()

    def add(self, path: str, body: bytes, mode: str = "ok") -> str:
        self.httpd.routes[path] = (body, mode)
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    @property
    def requests(self) -> list[str]:
        return self.httpd.requests

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


@pytest.fixture
def server():
    s = _Server()
    yield s
    s.close()


# --------------------------------------------------------------------------------------------------
# Archives made here
# --------------------------------------------------------------------------------------------------
def _targz(entries: list[tuple[str, bytes | None, dict]]) -> bytes:
    """entries: (name, data or None, TarInfo attributes such as type/linkname)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data, attrs in entries:
            ti = tarfile.TarInfo(name)
            for k, v in attrs.items():
                setattr(ti, k, v)
            if data is not None:
                ti.size = len(data)
                tf.addfile(ti, io.BytesIO(data))
            else:
                tf.addfile(ti)
    return buf.getvalue()


def _zip(entries: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in entries.items():
            zf.writestr(zipfile.ZipInfo(name), data)
    return buf.getvalue()


IMAGES = {f"{n}.png": f"fake png {n}".encode() for n in ("baby", "bird", "butterfly", "head", "woman")}


def _set5_archive() -> bytes:
    return _targz([("Set5_HR", None, {"type": tarfile.DIRTYPE, "mode": 0o755})]
                  + [(f"Set5_HR/{k}", v, {}) for k, v in IMAGES.items()])


def _sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def _tree(p: Path) -> list[str]:
    return sorted(str(q.relative_to(p)) for q in p.rglob("*"))


def _write_sources(path: Path, rows: list[dict]) -> Path:
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["name", "url", "sha256", "size", "archive_member_root", "target",
                                          "note"])
        w.writeheader()
        for r in rows:
            w.writerow({"size": "", "note": "test row", **r})
    return path


# --------------------------------------------------------------------------------------------------
# fetch
# --------------------------------------------------------------------------------------------------
def test_fetch_good_archive_then_extract(server, tmp_path):
    body = _set5_archive()
    url = server.add("/Set5_HR.tar.gz", body)
    dest = tmp_path / "dl" / "Set5_HR.tar.gz"
    assert fetch(url, dest, _sha(body), size=len(body), progress=False) == dest
    assert dest.read_bytes() == body and _tree(dest.parent) == ["Set5_HR.tar.gz"]
    # a verified file is not downloaded again
    fetch(url, dest, _sha(body), progress=False)
    assert server.requests == ["/Set5_HR.tar.gz"]

    out = safe_extract(dest, tmp_path / "data" / "Set5" / "HR", member_root="Set5_HR")
    assert sorted(p.name for p in out.iterdir()) == sorted(IMAGES)
    assert (out / "bird.png").read_bytes() == IMAGES["bird.png"]
    assert _tree(tmp_path / "data") == ["Set5", "Set5/HR"] + [f"Set5/HR/{k}" for k in sorted(IMAGES)]


def test_wrong_checksum_leaves_nothing(server, tmp_path):
    body = _set5_archive()
    url = server.add("/a.tar.gz", body)
    wrong = "0" * 64
    with pytest.raises(ChecksumMismatch) as ei:
        fetch(url, tmp_path / "a.tar.gz", wrong, progress=False)
    msg = str(ei.value)
    assert url in msg and wrong in msg and _sha(body) in msg
    assert list(tmp_path.iterdir()) == []


def test_wrong_size_leaves_nothing(server, tmp_path):
    body = _set5_archive()
    url = server.add("/a.tar.gz", body)
    with pytest.raises(ChecksumMismatch, match=str(len(body) + 1)):
        fetch(url, tmp_path / "a.tar.gz", _sha(body), size=len(body) + 1, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_truncated_transfer_leaves_nothing(server, tmp_path):
    body = _set5_archive() * 20
    url = server.add("/big.tar.gz", body, mode="truncate")
    with pytest.raises(IncompleteDownload) as ei:
        fetch(url, tmp_path / "big.tar.gz", _sha(body), progress=False, timeout=10)
    msg = str(ei.value)
    assert url in msg and str(len(body)) in msg and str(len(body) // 3) in msg
    assert list(tmp_path.iterdir()) == []


def test_http_error_and_bad_sha_argument(server, tmp_path):
    url = server.add("/exists", b"x")
    with pytest.raises(DownloadError, match="404"):
        fetch(url.replace("/exists", "/missing"), tmp_path / "m", _sha(b"x"), progress=False)
    with pytest.raises(UnverifiedSource):
        fetch(url, tmp_path / "m", "", progress=False)
    with pytest.raises(DownloadError, match="scheme"):
        fetch("ftp://127.0.0.1/x", tmp_path / "m", _sha(b"x"), progress=False)
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------------------------------
# safe_extract refuses what would escape, and leaves nothing
# --------------------------------------------------------------------------------------------------
EVIL_TARS = {
    "dotdot": [("Set5_HR/ok.png", b"ok", {}), ("Set5_HR/../../evil.txt", b"evil", {})],
    "absolute": [("Set5_HR/ok.png", b"ok", {}), ("/tmp/srlib_evil_abs.txt", b"evil", {})],
    "symlink_out": [("Set5_HR/ok.png", b"ok", {}),
                    ("Set5_HR/link", None, {"type": tarfile.SYMTYPE, "linkname": "../../.."})],
    "symlink_abs": [("Set5_HR/link", None, {"type": tarfile.SYMTYPE, "linkname": "/etc"})],
    "below_symlink": [("Set5_HR/d", None, {"type": tarfile.SYMTYPE, "linkname": "."}),
                      ("Set5_HR/d/evil.txt", b"evil", {})],
    "chained_symlinks": [("Set5_HR/a", None, {"type": tarfile.SYMTYPE, "linkname": "."}),
                         ("Set5_HR/a/b", None, {"type": tarfile.SYMTYPE, "linkname": "../.."})],
    "hardlink_out": [("Set5_HR/h", None, {"type": tarfile.LNKTYPE, "linkname": "/etc/passwd"})],
    "device": [("Set5_HR/dev", None, {"type": tarfile.CHRTYPE, "devmajor": 1, "devminor": 3})],
    "fifo": [("Set5_HR/fifo", None, {"type": tarfile.FIFOTYPE})],
}


@pytest.mark.parametrize("case", sorted(EVIL_TARS))
def test_unsafe_tar_refused_nothing_extracted(case, tmp_path):
    arch_dir, work = tmp_path / "arch", tmp_path / "work" / "inner"
    arch_dir.mkdir()
    work.mkdir(parents=True)
    archive = arch_dir / f"{case}.tar.gz"
    archive.write_bytes(_targz(EVIL_TARS[case]))
    for kwargs in ({"member_root": "Set5_HR"}, {}):
        with pytest.raises(UnsafeArchive):
            safe_extract(archive, work / "out", **kwargs)
        assert list(work.iterdir()) == []
    assert _tree(tmp_path) == ["arch", f"arch/{case}.tar.gz", "work", "work/inner"]
    assert not Path("/tmp/srlib_evil_abs.txt").exists()


def test_symlink_leaving_member_root_refused(tmp_path):
    """Inside the archive, but outside the folder that becomes dest: would point next to dest afterwards."""
    archive = tmp_path / "a.tar.gz"
    archive.write_bytes(_targz([("Set5_HR/ok.png", b"ok", {}),
                                ("Set5_HR/link", None, {"type": tarfile.SYMTYPE, "linkname": "../x"}),
                                ("x", b"x", {})]))
    with pytest.raises(UnsafeArchive, match="outside"):
        safe_extract(archive, tmp_path / "out", member_root="Set5_HR")
    assert _tree(tmp_path) == ["a.tar.gz"]
    # a link that stays inside the member root is fine
    archive.write_bytes(_targz([("Set5_HR/ok.png", b"ok", {}),
                                ("Set5_HR/alias.png", None, {"type": tarfile.SYMTYPE, "linkname": "ok.png"})]))
    out = safe_extract(archive, tmp_path / "out", member_root="Set5_HR")
    assert (out / "alias.png").read_bytes() == b"ok"


@pytest.mark.parametrize("name", ["../evil.txt", "Set5_HR/../../evil.txt", "/tmp/srlib_evil_abs.txt",
                                  "C:/evil.txt", "Set5_HR\\..\\..\\evil.txt"])
def test_unsafe_zip_refused_nothing_extracted(name, tmp_path):
    archive = tmp_path / "a.zip"
    archive.write_bytes(_zip({"Set5_HR/ok.png": b"ok", name: b"evil"}))
    work = tmp_path / "work"
    work.mkdir()
    with pytest.raises(UnsafeArchive):
        safe_extract(archive, work / "out")
    assert list(work.iterdir()) == [] and _tree(tmp_path) == ["a.zip", "work"]


def test_zip_symlink_refused(tmp_path):
    info = zipfile.ZipInfo("Set5_HR/link")
    info.external_attr = (0o120777 << 16)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(info, "/etc/passwd")
    (tmp_path / "a.zip").write_bytes(buf.getvalue())
    with pytest.raises(UnsafeArchive, match="link"):
        safe_extract(tmp_path / "a.zip", tmp_path / "out")
    assert _tree(tmp_path) == ["a.zip"]


def test_zip_good_and_layout_errors(tmp_path):
    archive = tmp_path / "DIV2K_valid_HR.zip"
    archive.write_bytes(_zip({"DIV2K_valid_HR/0801.png": b"a", "DIV2K_valid_HR/0802.png": b"b"}))
    out = safe_extract(archive, tmp_path / "data" / "DIV2K" / "DIV2K_valid_HR", member_root="DIV2K_valid_HR")
    assert sorted(p.name for p in out.iterdir()) == ["0801.png", "0802.png"]
    with pytest.raises(FileExistsError):                       # never extracts over an existing folder
        safe_extract(archive, out, member_root="DIV2K_valid_HR")
    with pytest.raises(FileNotFoundError, match="DIV2K_valid_HR"):  # wrong member root names what is there
        safe_extract(archive, tmp_path / "other", member_root="Set5_HR")
    # without member_root: top-level entries go into dest; clashes are refused before anything moves
    safe_extract(archive, tmp_path / "plain")
    assert _tree(tmp_path / "plain") == ["DIV2K_valid_HR", "DIV2K_valid_HR/0801.png", "DIV2K_valid_HR/0802.png"]
    with pytest.raises(FileExistsError):
        safe_extract(archive, tmp_path / "plain")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["DIV2K_valid_HR.zip", "data", "plain"]


def test_not_an_archive(tmp_path):
    (tmp_path / "x.tar.gz").write_bytes(b"not an archive at all")
    with pytest.raises(UnsafeArchive):
        safe_extract(tmp_path / "x.tar.gz", tmp_path / "out")
    assert _tree(tmp_path) == ["x.tar.gz"]


# --------------------------------------------------------------------------------------------------
# The sources table and the command line
# --------------------------------------------------------------------------------------------------
def test_sources_table_is_well_formed():
    sources = download.load_sources()
    assert list(sources) == ["DIV2K_train_HR", "DIV2K_valid_HR", "Set5", "Set14", "B100", "Urban100"]
    for s in sources.values():
        assert s.url.startswith("https://") and s.note and s.archive_member_root and s.target
        assert s.sha256 == "" or len(s.sha256) == 64
    assert sources["DIV2K_train_HR"].url == "https://data.vision.ee.ethz.ch/cvl/DIV2K/DIV2K_train_HR.zip"
    assert sources["DIV2K_valid_HR"].size == 448993893
    assert download.canonical_name("BSD100") == "B100" and download.canonical_name("DIV2K_train") == "DIV2K_train_HR"


def test_cli_list(capsys, tmp_path):
    assert download.main(["--list", "--data-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    for name in ("DIV2K_train_HR", "DIV2K_valid_HR", "Set5", "Set14", "B100", "Urban100"):
        assert name in out
    assert "NO sha256" in out


@pytest.fixture
def local_sources(server, tmp_path, monkeypatch):
    body = _set5_archive()
    url = server.add("/Set5_HR.tar.gz", body)
    csv_path = _write_sources(tmp_path / "sources.csv", [
        {"name": "Set5", "url": url, "sha256": _sha(body), "size": str(len(body)), "archive_member_root": "Set5_HR",
         "target": "Set5/HR"},
        {"name": "Set14", "url": url, "sha256": "", "archive_member_root": "Set5_HR", "target": "Set14/HR"},
    ])
    monkeypatch.setattr(download, "SOURCES_CSV", csv_path)
    return body, url


def test_cli_downloads_verifies_extracts(local_sources, server, tmp_path, capsys):
    data = tmp_path / "data"
    assert download.main(["Set5", "--data-dir", str(data), "--no-progress"]) == 0
    hr = data / "Set5" / "HR"
    assert sorted(p.name for p in hr.iterdir()) == sorted(IMAGES)
    assert paper.locate("Set5", data) == hr
    assert [p.name for p in paper.list_images("set5", data)] == sorted(IMAGES)
    assert download.main(["Set5", "--data-dir", str(data)]) == 0      # already present: no second request
    assert server.requests == ["/Set5_HR.tar.gz"] and "already present" in capsys.readouterr().out


def test_cli_refuses_source_without_sha256(local_sources, server, tmp_path, capsys):
    body, url = local_sources
    data = tmp_path / "data"
    assert download.main(["Set14", "--data-dir", str(data)]) == 1
    err = capsys.readouterr().err
    assert "--sha256" in err and str(data / "Set14" / "HR") in err and url in err
    assert server.requests == [] and not data.exists()
    # after checking the file, the user passes its sum: downloaded and verified against it
    assert download.main(["Set14", "--data-dir", str(data), "--sha256", _sha(body), "--no-progress"]) == 0
    assert len(list((data / "Set14" / "HR").iterdir())) == 5
    # a hand-downloaded archive with a wrong sum is refused, nothing extracted
    local = tmp_path / "hand.tar.gz"
    local.write_bytes(body)
    assert download.main(["Set5", "--data-dir", str(tmp_path / "d2"), "--archive", str(local),
                          "--sha256", "1" * 64]) == 1
    assert not (tmp_path / "d2" / "Set5").exists()
    assert download.main(["Set5", "--data-dir", str(tmp_path / "d2"), "--archive", str(local)]) == 0
    assert len(server.requests) == 1


def test_missing_dataset_message_names_the_command(tmp_path):
    with pytest.raises(FileNotFoundError) as ei:
        paper.locate("Set5", tmp_path)
    msg = str(ei.value)
    assert "python -m srlib.data.download Set5" in msg
    assert download.source("Set5").url in msg and str(tmp_path / "Set5" / "HR") in msg
    with pytest.raises(FileNotFoundError) as ei:
        paper.list_images("Urban100", tmp_path)
    assert "python -m srlib.data.download Urban100" in str(ei.value) and "--sha256" in str(ei.value)


def test_locate_other_layouts_and_count_check(tmp_path):
    flat = tmp_path / "BSDS100"
    flat.mkdir()
    for i in range(100):
        (flat / f"{i:03d}.png").write_bytes(b"x")
    assert paper.locate("B100", tmp_path) == flat
    assert len(paper.list_images("BSD100", tmp_path)) == 100
    bench = tmp_path / "benchmark" / "Set14" / "HR"
    bench.mkdir(parents=True)
    for i in range(13):
        (bench / f"{i}.png").write_bytes(b"x")
    assert paper.locate("Set14", tmp_path) == bench
    with pytest.raises(ValueError, match="13 images, but Set14 has 14"):
        paper.list_images("Set14", tmp_path)
    assert len(paper.list_images("Set14", tmp_path, strict=False)) == 13
    div2k = tmp_path / "DIV2K" / "DIV2K_train_HR" / "DIV2K_train_HR"     # unzipped one level too deep
    div2k.mkdir(parents=True)
    (div2k / "0001.png").write_bytes(b"x")
    assert paper.locate("DIV2K_train", tmp_path) == div2k
