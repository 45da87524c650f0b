"""A private redis-server for tests that stop, wipe and restart Redis (other suites keep the shared one)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

from tests import services


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """redis-server on a free port, no persistence: a stop/start loses every key, as in production
    without AOF/RDB. `restart()` returns how long Redis was unreachable."""

    def __init__(self, workdir: Path) -> None:
        if shutil.which("redis-server") is None or shutil.which("redis-cli") is None:
            services.unavailable("redis-server/redis-cli are not installed: a private Redis cannot run")
        self.dir = workdir
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        subprocess.run(["redis-server", "--daemonize", "yes", "--bind", "127.0.0.1", "--port", str(self.port),
                        "--save", "", "--appendonly", "no", "--dir", str(self.dir),
                        "--logfile", str(self.dir / "redis.log"), "--pidfile", str(self.dir / "redis.pid")],
                       check=True, capture_output=True)
        self._wait(up=True)

    def stop(self) -> None:
        subprocess.run(["redis-cli", "-p", str(self.port), "shutdown", "nosave"], capture_output=True)
        self._wait(up=False)

    def restart(self, down_for: float = 0.0) -> float:
        started = time.monotonic()
        self.stop()
        time.sleep(down_for)
        self.start()
        return time.monotonic() - started

    def _wait(self, *, up: bool) -> None:
        deadline = time.monotonic() + 10
        while answers(self.port) != up:
            if time.monotonic() > deadline:
                raise RuntimeError(f"redis-server on port {self.port} did not {'start' if up else 'stop'}")
            time.sleep(0.01)
