"""`make lab` starts JupyterLab as root and on a machine without a display, and prints a URL that serves
the notebooks (containers and these machines run as root)."""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(shutil.which("make") is None or not (ROOT / ".venv" / ".srlib-installed").exists(),
                    reason="needs make and the project's .venv (make test builds it)")
def test_make_lab_prints_a_url_that_serves_the_notebooks():
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env["JUPYTER_RUNTIME_DIR"] = str(ROOT / ".venv" / "jupyter-runtime-test")
    proc = subprocess.Popen(["make", "-s", "lab", f"LAB_ARGS=--port {port} --ServerApp.port_retries=0"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                            start_new_session=True)
    url, seen = None, []
    try:
        deadline = time.time() + 90
        while time.time() < deadline and url is None:
            line = proc.stdout.readline()
            if not line and proc.poll() is not None:
                break
            seen.append(line)
            m = re.search(rf"(http://127\.0\.0\.1:{port}/lab\?token=[0-9a-f]+)", line)
            url = m.group(1) if m else None
        assert url, "no URL printed:\n" + "".join(seen[-20:])
        assert "Running as root is not recommended" not in "".join(seen)
        api = url.replace("/lab?token=", "/api/contents?token=")
        for _ in range(60):  # the URL can be printed a moment before the socket accepts
            try:
                listing = json.load(urllib.request.urlopen(api, timeout=30))
                break
            except OSError:
                time.sleep(0.5)
        else:
            raise AssertionError(f"{api} did not answer; output:\n" + "".join(seen[-20:]))
        names = {c["name"] for c in listing["content"]}
        assert "00_data_and_metrics.ipynb" in names
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)
