"""Graceful shutdown of `mega start`: in-flight requests finish, hooks run in order, exit 0."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.cli.conftest import environ, free_port, get, wait_for

pytestmark = pytest.mark.integration

SLOW_ROUTE = '''
import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import mega

MARKER = Path(__file__).resolve().parents[3] / "hooks.txt"
IN_FLIGHT = MARKER.with_name("in_flight.txt")


async def slow():
    IN_FLIGHT.touch()
    await asyncio.sleep(1.5)
    return "finished"


async def slower():  # a drain would wait the whole shutdown_timeout for it
    IN_FLIGHT.touch()
    await asyncio.sleep(120)
    return "finished"


def _hook(name):
    def run():
        with MARKER.open("a") as fh:
            fh.write(name + "\\n")
    return run


def routes(router):
    if not mega.has_app():  # hooks are registered once per boot, from the first routes file
        mega.register_shutdown_hook("second", _hook("second"))
        mega.shutdown.register("first", _hook("first"), order=10)
    router.get("/slow", slow)
    router.get("/slower", slower)
'''


def prepare(project: Path) -> None:
    (project / "apps/main/routes/slow.py").write_text(SLOW_ROUTE)
    (project / "mega_config.py").write_text(
        'config = {"logger": {"level": "info"}, "server": {"shutdown_timeout": 60}}\n')


def start_with_a_request_in_flight(project: Path, start_server: Callable[..., Any], path: str,
                                   result: dict[str, object], server: str) -> tuple[Any, threading.Thread]:
    """`mega start`, then a request to `path` that the handler has begun (order, not a sleep)."""
    prepare(project)
    port = free_port()
    proc = start_server("start", "--port", str(port), "--server", server, cwd=project,
                        env=environ(MEGA_ENV="production"))
    wait_for(lambda: get(port, "/health/ready").status_code == 200, 30, "readiness")

    def call() -> None:
        try:
            result["response"] = httpx.get(f"http://127.0.0.1:{port}{path}", timeout=60)
        except httpx.HTTPError as exc:
            result["error"] = exc

    worker = threading.Thread(target=call)
    worker.start()
    wait_for(lambda: (project / "in_flight.txt").exists(), 30, f"GET {path} in flight")
    return proc, worker


def test_sigterm_drains_in_flight_requests_then_runs_hooks(fresh_project: Path, start_server, mega_server):
    result: dict[str, object] = {}
    server, worker = start_with_a_request_in_flight(fresh_project, start_server, "/slow", result, mega_server)
    started = time.monotonic()
    server.proc.send_signal(signal.SIGTERM)
    worker.join(60)
    code = server.proc.wait(60)
    response = result.get("response")
    assert isinstance(response, httpx.Response), result
    assert response.status_code == 200 and response.json()["data"] == "finished"
    assert code == 0, server.output()
    assert time.monotonic() - started < 30  # the request's 1.5 s, not the 60 s shutdown_timeout
    assert (fresh_project / "hooks.txt").read_text().split() == ["first", "second"]  # by order
    assert "draining" in server.output()


def test_second_signal_exits_at_once(fresh_project: Path, start_server, mega_server):
    result: dict[str, object] = {}
    server, worker = start_with_a_request_in_flight(fresh_project, start_server, "/slower", result,
                                                    mega_server)
    server.proc.send_signal(signal.SIGTERM)
    # Two pending SIGTERMs merge into one: send the second once the first has been handled.
    wait_for(lambda: "draining" in server.output(), 30, "the first SIGTERM handled")
    started = time.monotonic()
    server.proc.send_signal(signal.SIGTERM)
    code = server.proc.wait(60)
    assert time.monotonic() - started < 30  # not the 60 s a drain of /slower would take
    assert code == 1, server.output()
    worker.join(60)
    assert "error" in result  # the forced exit dropped the connection
    assert not (fresh_project / "hooks.txt").exists()
