"""A client that hangs up mid-upload, against the real server (mega.server in a subprocess): the file
already spooled to disk is removed."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mega.testing import write_project

ROUTES = """
    async def upload(req):
        form = await req.form()
        return {"size": form.file("doc").size}

    def routes(router):
        router.post("/upload", upload)
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _until(check: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    uploads = tmp_path / "uploads"
    root = write_project(tmp_path / "project", {
        "mega_config.py": 'config = {"logger": {"level": "error", "access_log": False}}\n',
        "apps/web/app_config.py": f'config = {{"csrf": False, "forms": {{"temp_dir": {str(uploads)!r}}}}}\n',
        "apps/web/routes/main.py": ROUTES,
    })
    port = _free_port()
    code = f"from pathlib import Path; from mega.server import run; run(Path('.'), port={port})"
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=root, env={**os.environ, "MEGA_ENV": "test"})
    try:
        def listening() -> bool:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited with {proc.returncode}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                return True
            except OSError:
                return False

        _until(listening, "the server to listen", timeout=30)
        yield port, uploads
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _spooled(uploads: Path) -> list[Path]:
    return [p for p in uploads.rglob("*") if p.is_file()] if uploads.exists() else []


def test_disconnect_mid_upload_leaves_no_temp_file(server: tuple[int, Path]) -> None:
    port, uploads = server
    head = (b"--b\r\nContent-Disposition: form-data; name=\"doc\"; filename=\"big.bin\"\r\n"
            b"Content-Type: application/octet-stream\r\n\r\n")
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"POST /upload HTTP/1.1\r\nHost: localhost\r\n"
                     b"Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 5000000\r\n\r\n")
        sock.sendall(head + b"x" * 300_000)
        # The upload is on disk, part written, while the client is still sending...
        _until(lambda: any(p.stat().st_size > 0 for p in _spooled(uploads)), "the upload to reach the disk")
    # ...and the client hangs up: the server sees http.disconnect and the request ends.
    _until(lambda: not any(uploads.iterdir()), "the temp dir to be removed")
    with socket.create_connection(("127.0.0.1", port)) as sock:  # the server is still serving
        body = head + b"abc\r\n--b--\r\n"
        request = (b"POST /upload HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
                   b"Content-Type: multipart/form-data; boundary=b\r\nContent-Length: %d\r\n\r\n")
        sock.sendall(request % len(body) + body)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b'"data":{"size":3}}')
    assert not any(uploads.iterdir())
