"""Graceful shutdown of `mega start`: in-flight requests finish, hooks run in order, exit 0."""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.cli.conftest import environ, free_port, get, wait_for

pytestmark = pytest.mark.integration

SLOW_ROUTE = '''
import asyncio
from pathlib import Path

import mega

MARKER = Path(__file__).resolve().parents[3] / "hooks.txt"


async def slow():
    await asyncio.sleep(1.5)
    return "finished"


def _hook(name):
    def run():
        with MARKER.open("a") as fh:
            fh.write(name + "\\n")
    return run


def routes(router):
    if not mega.has_app():  # hooks are registered once per boot, from the first routes file
        mega.register_shutdown_hook("first", _hook("first"))
        mega.register_shutdown_hook("second", _hook("second"))
    router.get("/slow", slow)
'''


def prepare(project: Path) -> None:
    (project / "apps/main/routes/slow.py").write_text(SLOW_ROUTE)
    (project / "mega_config.py").write_text('config = {"logger": {"level": "info"}}\n')


def test_sigterm_drains_in_flight_requests_then_runs_hooks(fresh_project: Path, start_server):
    prepare(fresh_project)
    port = free_port()
    server = start_server("start", "--port", str(port), cwd=fresh_project, env=environ(MEGA_ENV="production"))
    wait_for(lambda: get(port, "/health/ready").status_code == 200, 20, "readiness")
    result: dict[str, object] = {}

    def call() -> None:
        result["response"] = httpx.get(f"http://127.0.0.1:{port}/slow", timeout=10)

    worker = threading.Thread(target=call)
    worker.start()
    time.sleep(0.4)  # the slow request is in flight
    started = time.monotonic()
    server.proc.send_signal(signal.SIGTERM)
    worker.join(10)
    code = server.proc.wait(15)
    response = result["response"]
    assert isinstance(response, httpx.Response)
    assert response.status_code == 200 and response.json()["data"] == "finished"
    assert code == 0, server.output()
    assert time.monotonic() - started < 5
    assert (fresh_project / "hooks.txt").read_text().split() == ["second", "first"]
    assert "draining" in server.output()


def test_second_signal_exits_at_once(fresh_project: Path, start_server):
    prepare(fresh_project)
    port = free_port()
    server = start_server("start", "--port", str(port), cwd=fresh_project, env=environ(MEGA_ENV="production"))
    wait_for(lambda: get(port, "/health/ready").status_code == 200, 20, "readiness")

    def call() -> None:
        with contextlib.suppress(httpx.HTTPError):  # the forced exit drops the connection: the point
            httpx.get(f"http://127.0.0.1:{port}/slow", timeout=10)

    worker = threading.Thread(target=call)
    worker.start()
    time.sleep(0.3)
    server.proc.send_signal(signal.SIGTERM)
    time.sleep(0.2)
    started = time.monotonic()
    server.proc.send_signal(signal.SIGTERM)
    code = server.proc.wait(5)
    assert time.monotonic() - started < 1.0
    assert code == 1
    worker.join(10)
    assert not (fresh_project / "hooks.txt").exists()
