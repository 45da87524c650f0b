"""NATS for the integration tests: the shared server's URL, and private servers a test may restart.

A test that restarts NATS starts its own nats-server on a free port and restarts that one (by its pid),
so test runs sharing the machine's server (127.0.0.1:4222) are never cut off by it.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time

from tests import services

URL = services.url("nats")
NATS_SERVER = shutil.which("nats-server") or "/usr/sbin/nats-server"


def _answers(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=0.5).close()
        return True
    except OSError:
        return False


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class PrivateNats:
    """A nats-server of our own (core NATS, no JetStream) that can be stopped and started again."""

    def __init__(self) -> None:
        if not self.available():
            services.unavailable(f"no nats-server binary at {NATS_SERVER} to run a private server")
        self.port = _free_port()
        self.url = f"nats://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    @staticmethod
    def available() -> bool:
        return os.access(NATS_SERVER, os.X_OK)

    def start(self) -> None:
        self.proc = subprocess.Popen([NATS_SERVER, "-a", "127.0.0.1", "-p", str(self.port)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self._wait(up=True)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc = None
        self._wait(up=False)

    def _wait(self, *, up: bool, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while _answers("127.0.0.1", self.port) is not up:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nats-server on {self.port} still {'down' if up else 'up'}")
            time.sleep(0.01)
