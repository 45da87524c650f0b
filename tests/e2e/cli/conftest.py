"""Helpers for the CLI end-to-end tests: the real `mega` console script, run as a subprocess."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

MEGA = Path(sys.executable).parent / "mega"


def mega(
    *args: str, cwd: Path, timeout: float = 60, stdin: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `mega ARGS` to completion and capture its output."""
    return subprocess.run(
        [str(MEGA), *args], cwd=cwd, input=stdin, capture_output=True, text=True, timeout=timeout, env=env
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for(check: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll `check` until it returns a truthy value (exceptions count as not yet)."""
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            value = check()
            if value:
                return value
        except Exception as exc:
            last = exc
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last error: {last!r})")


def get(port: int, path: str) -> httpx.Response:
    return httpx.get(f"http://127.0.0.1:{port}{path}", timeout=2)


class Server:
    """A `mega start ...` subprocess whose output goes to a file (pipes could fill up and block it)."""

    def __init__(self, args: list[str], cwd: Path, log: Path, env: dict[str, str] | None = None) -> None:
        self.log_path = log
        self._log = log.open("wb")
        self.proc = subprocess.Popen(
            [str(MEGA), *args], cwd=cwd, stdout=self._log, stderr=subprocess.STDOUT, env=env
        )

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def terminate(self, timeout: float = 10) -> int:
        """SIGTERM and wait; returns the exit code."""
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        self._log.close()


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """Start `mega` servers; every one is killed at the end of the test, whatever happened."""
    started: list[Server] = []

    def start(*args: str, cwd: Path, env: dict[str, str] | None = None) -> Server:
        server = Server(list(args), cwd, tmp_path / f"server-{len(started)}.log", env)
        started.append(server)
        return server

    yield start
    for server in started:
        server.kill()


@pytest.fixture(scope="session")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project made by `mega new demo`, shared by the tests that only read it."""
    parent = tmp_path_factory.mktemp("projects")
    result = mega("new", "demo", cwd=parent)
    assert result.returncode == 0, result.stderr
    return parent / "demo"


@pytest.fixture
def fresh_project(tmp_path: Path) -> Path:
    """A project of this test's own, for tests that change files."""
    result = mega("new", "demo", "--dir", str(tmp_path), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    return tmp_path / "demo"


SERVERS = ("uvicorn", "granian")


@pytest.fixture(params=SERVERS)
def mega_server(request: pytest.FixtureRequest) -> str:
    """Each server `mega start --server` offers: a test taking this runs against both."""
    return str(request.param)


def environ(**changes: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(changes)
    return env
