"""`mega start`: serves the project, stops cleanly on SIGTERM, refuses a taken or invalid port."""

from __future__ import annotations

import contextlib
import os
import re
import signal
from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import Server, environ, free_port, get, mega, wait_for

pytestmark = pytest.mark.integration


def test_start_serves_and_stops_on_sigterm(project: Path, start_server: Callable[..., Server]) -> None:
    port = free_port()
    server = start_server("start", cwd=project, env=environ(PORT=str(port)))  # PORT beats .env's 3000
    wait_for(lambda: get(port, "/health/live").status_code == 200, 15, "GET /health/live")
    home = get(port, "/")
    assert home.status_code == 200
    assert home.json() == {"ok": True, "data": {"message": "Hello from demo"}}

    taken = mega("start", "--port", str(port), cwd=project, timeout=30)
    assert taken.returncode == 1
    assert f"boot failed at stage 'listen': port {port} on 127.0.0.1 is already in use" in taken.stderr
    assert "hint:" in taken.stderr
    assert "Traceback" not in taken.stderr

    assert server.terminate(timeout=10) == 0, server.output()


def test_port_out_of_range_exits_2(project: Path) -> None:
    result = mega("start", "--port", "70000", cwd=project)
    assert result.returncode == 2
    assert "70000 is not in the range 1<=x<=65535" in result.stderr


def test_watch_reloads_on_change(fresh_project: Path, start_server: Callable[..., Server]) -> None:
    port = free_port()
    server = start_server("start", "--watch", "--port", str(port), cwd=fresh_project)
    try:
        wait_for(lambda: message(port) == "Hello from demo", 15, "the first server")
        (fresh_project / "apps/main/routes/home.py").write_text(
            "async def changed(req, reply, ctx):\n"
            "    return {'message': 'changed'}\n\n\n"
            "def routes(router):\n"
            "    router.get('/', changed)\n"
        )
        wait_for(lambda: message(port) == "changed", 15, "the reloaded server")
        assert server.terminate(timeout=20) == 0, server.output()
        # The server (a child of the watcher) went down with it.
        with pytest.raises(Exception):  # noqa: B017 - any connection error
            get(port, "/health/live")
    finally:
        _kill_reloaded_servers(server)
    assert "changed: restarting" in server.output()


def message(port: int) -> str:
    text: str = get(port, "/").json()["data"]["message"]
    return text


def _kill_reloaded_servers(server: Server) -> None:
    """The watcher's servers run in their own session: if the watcher did not stop them, end them by pid."""
    if server.proc.poll() == 0:
        return
    for pid in {int(p) for p in re.findall(r"\bpid (\d+)\)", server.output())}:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
