"""Real uvicorn servers (mega's protocol class, uvloop) in subprocesses, one per limit set."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from server_wire import DEFAULTS, KEEP_ALIVE, STRICT

SERVE = Path(__file__).with_name("serve_app.py")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _serve(limits: dict[str, float]) -> Iterator[int]:
    port = _free_port()
    args = [str(limits["header_timeout"]), str(limits["max_header_bytes"]), str(limits["max_headers"]),
            str(int(limits.get("keep_alive_timeout", 5)))]
    proc = subprocess.Popen([sys.executable, str(SERVE), str(port), *args])
    try:
        deadline = time.monotonic() + 15
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"test server exited with {proc.returncode}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session")
def strict_port() -> Iterator[int]:
    """Port of a server with header_timeout=1 s, max_header_bytes=8192, max_headers=32."""
    yield from _serve(STRICT)


@pytest.fixture(scope="session")
def default_port() -> Iterator[int]:
    """Port of a server with make_protocol_class() defaults (30 s, 64 KiB, 100 headers)."""
    yield from _serve(DEFAULTS)


@pytest.fixture(scope="session")
def keep_alive_port() -> Iterator[int]:
    """Port of a server with a 1 s keep-alive timeout (and the default head limits)."""
    yield from _serve(KEEP_ALIVE)
