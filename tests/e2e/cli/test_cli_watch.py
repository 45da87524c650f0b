"""`mega start --watch`: how it stops, what it ignores, and what the port says while the code is broken."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from .conftest import MEGA, Server, environ, free_port, get, wait_for

pytestmark = pytest.mark.integration

BROKEN = "def routes(router)\n    pass\n"  # a syntax error: the server cannot boot


@pytest.fixture
def reaper() -> Iterator[list[int]]:
    """Watcher pids: their servers (own sessions, so not killed with them) are killed at the end,
    while the watcher still runs (this fixture is torn down before `start_server`)."""
    watchers: list[int] = []
    yield watchers
    for pid in watchers:
        for child in children(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGKILL)


def children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:  # the field after the state is the parent's pid
                found.append(int(stat.parent.name))
    return found


def watch(start_server: Callable[..., Server], project: Path, port: int, reaper: list[int],
          env: str = "development") -> Server:
    server = start_server("start", "--watch", "--port", str(port), cwd=project, env=environ(MEGA_ENV=env))
    reaper.append(server.proc.pid)
    return server


def home(port: int) -> httpx.Response:
    return get(port, "/")


def restarts(server: Server) -> list[str]:
    return [line for line in server.output().splitlines() if line.endswith("changed: restarting")]


def test_sigint_stops_the_watcher_and_its_server_even_when_the_shell_ignored_it(
        fresh_project: Path, tmp_path: Path, reaper: list[int]) -> None:
    # `mega start --watch &` in a script: the shell starts it with SIGINT ignored; `kill -INT` must
    # still stop it as SIGTERM does (plain `mega start` does: uvicorn sets its own handlers).
    port = free_port()
    log = (tmp_path / "watch.log").open("wb")
    proc = subprocess.Popen(["sh", "-c", f"trap '' INT; exec {MEGA} start --watch --port {port}"],
                            cwd=fresh_project, stdout=log, stderr=subprocess.STDOUT,
                            env=environ(MEGA_ENV="development"))
    reaper.append(proc.pid)
    try:
        wait_for(lambda: home(port).status_code == 200, 30, "the first server")
        [server_pid] = children(proc.pid)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 0, (tmp_path / "watch.log").read_text()
    finally:
        if proc.poll() is None:  # its server first: killed, the watcher would leave it to init
            for child in children(proc.pid):
                os.kill(child, signal.SIGKILL)
            proc.kill()
            proc.wait(10)
        log.close()
    with pytest.raises(ProcessLookupError):
        os.kill(server_pid, 0)
    with pytest.raises(httpx.ConnectError):
        home(port)
    assert "mega: stopping" in (tmp_path / "watch.log").read_text()


def test_editor_temp_files_do_not_restart_the_server(
        fresh_project: Path, start_server: Callable[..., Server], reaper: list[int]) -> None:
    port = free_port()
    server = watch(start_server, fresh_project, port, reaper)
    wait_for(lambda: home(port).status_code == 200, 30, "the first server")
    routes = fresh_project / "apps/main/routes"
    # What vim, emacs, kate, gedit, JetBrains and atomic savers write while saving home.py.
    temps = [".home.py.swp", ".home.py.swx", "home.py~", ".#home.py", "#home.py#", "4913", "home.py.tmp",
             ".home.py.kate-swp", ".goutputstream-X1Y2Z3", "home.py___jb_tmp___"]
    for name in temps:
        (routes / name).write_text("scratch")
    (routes / "4913").unlink()
    time.sleep(3)  # longer than the watcher's debounce (1.6 s) and its 1 s poll
    assert restarts(server) == []
    for name in temps[:-1]:
        if (routes / name).exists():
            (routes / name).unlink()
    (routes / "home.py~").write_text("scratch")  # left behind, as a backup is
    time.sleep(3)
    assert restarts(server) == []

    (routes / "home.py").write_text(
        "def routes(router):\n    router.get('/', lambda: {'message': 'saved'})\n")
    wait_for(lambda: home(port).json()["data"] == {"message": "saved"}, 30, "the restarted server")
    assert restarts(server) == ["mega: apps/main/routes/home.py changed: restarting"]
    assert server.terminate(timeout=30) == 0, server.output()


def test_a_broken_route_file_answers_503_with_the_boot_error_until_it_is_fixed(
        fresh_project: Path, start_server: Callable[..., Server], reaper: list[int]) -> None:
    port = free_port()
    server = watch(start_server, fresh_project, port, reaper)
    wait_for(lambda: home(port).status_code == 200, 30, "the first server")
    route = fresh_project / "apps/main/routes/home.py"
    fixed = route.read_text()
    route.write_text(BROKEN)

    res = wait_for(lambda: (r := home(port)).status_code == 503 and r, 30, "the boot error page")
    assert res.headers["content-type"] == "application/json"
    error = res.json()["error"]
    assert res.json()["ok"] is False
    assert error["code"] == "boot.import_failed"
    assert "apps/main/routes/home.py, line 1: SyntaxError" in error["message"]
    assert error["details"]["stage"] == "apps"
    for _ in range(10):  # the port stays open: every method and path, a body or none
        assert get(port, "/health/ready").status_code == 503
        posted = httpx.post(f"http://127.0.0.1:{port}/todos", json={"title": "x" * 100_000}, timeout=5)
        assert posted.status_code == 503 and posted.json()["error"]["code"] == "boot.import_failed"
    assert server.output().count("code: boot.import_failed") == 1  # printed once, not per request

    route.write_text(fixed)
    wait_for(lambda: home(port).status_code == 200, 30, "the fixed server")
    assert home(port).json() == {"ok": True, "data": {"message": "Hello from demo"}}
    assert server.terminate(timeout=30) == 0, server.output()


def test_outside_development_the_boot_error_page_tells_nothing_internal(
        fresh_project: Path, start_server: Callable[..., Server], reaper: list[int]) -> None:
    (fresh_project / "apps/main/routes/home.py").write_text(BROKEN)
    port = free_port()
    server = watch(start_server, fresh_project, port, reaper, env="production")
    res = wait_for(lambda: (r := home(port)).status_code == 503 and r, 30, "the boot error page")
    assert res.json() == {"ok": False, "error": {"code": "boot.failed", "details": {},
                                                 "message": "the server failed to boot: its log says why"}}
    assert "SyntaxError" in server.output()  # the log has it
    assert server.terminate(timeout=30) == 0, server.output()


def test_a_changed_env_file_applies_at_the_next_restart(
        fresh_project: Path, start_server: Callable[..., Server], reaper: list[int]) -> None:
    (fresh_project / "apps/main/routes/greet.py").write_text(
        "import os\n\n\ndef routes(router):\n    router.get('/greet', lambda: os.environ.get('GREETING'))\n")
    dotenv = fresh_project / ".env"
    dotenv.write_text(dotenv.read_text() + "GREETING=first\n")
    config = fresh_project / "mega_config.py"  # a config that reads a .env value itself
    config.write_text("import os\n\nGREETING = os.environ['GREETING']\n" + config.read_text())
    port = free_port()
    server = watch(start_server, fresh_project, port, reaper)
    wait_for(lambda: get(port, "/greet").json()["data"] == "first", 30, "the first server")
    dotenv.write_text(re.sub("GREETING=first", "GREETING=second", dotenv.read_text()))
    wait_for(lambda: get(port, "/greet").json()["data"] == "second", 30, "the server with the new .env")
    assert server.terminate(timeout=30) == 0, server.output()
