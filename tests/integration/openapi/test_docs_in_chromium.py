"""/docs of samples/simple in Debian's headless Chromium, offline: only 127.0.0.1 resolves, every other
request goes to a proxy that does not exist. The page must render every operation from the assets
mega ships, with no Content-Security-Policy violation."""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from tests.services import unavailable

pytestmark = pytest.mark.integration

OFFLINE = ["--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1", "--proxy-server=http://0.0.0.0:9",
           "--proxy-bypass-list=127.0.0.1"]
OPERATIONS = [("GET", "/"), ("GET", "/todos"), ("POST", "/todos"), ("GET", "/todos/{id}"),
              ("PATCH", "/todos/{id}"), ("DELETE", "/todos/{id}")]


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("chromium")
    if binary is None:
        unavailable("Debian's chromium is not on PATH; install it: scripts/install-debian-packages.sh")
    command = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
               f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0",
               "--virtual-time-budget=10000", *OFFLINE, *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=90, cwd=tmp_path)


def console_lines(run: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in run.stderr.splitlines() if ":CONSOLE" in line]


def test_the_docs_page_lists_every_operation(simple_url: str, tmp_path: Path) -> None:
    run = chromium(tmp_path, "--dump-dom", f"{simple_url}/docs")
    assert run.returncode == 0, run.stderr[-2000:]
    dom = run.stdout
    assert "mega simple sample" in dom
    for method, path in OPERATIONS:
        assert f'data-path="{path}"' in dom, f"{method} {path} is not on the page"
    assert dom.count('class="opblock-summary-method"') == len(OPERATIONS)
    assert "List todos" in dom and "Remove a todo" in dom  # the summaries
    assert console_lines(run) == []  # no CSP violation, no failed asset, no script error


def test_a_screenshot_of_the_docs_page_is_not_blank(simple_url: str, tmp_path: Path) -> None:
    shot = tmp_path / "docs.png"
    run = chromium(tmp_path, "--window-size=1280,1000", f"--screenshot={shot}", f"{simple_url}/docs")
    assert run.returncode == 0 and shot.exists(), run.stderr[-2000:]
    png = shot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])  # IHDR
    assert (width, height) == (1280, 1000)
    # A blank or unstyled page compresses to a few KiB; the rendered operation list does not.
    assert len(png) > 30_000, len(png)
    assert console_lines(run) == []
