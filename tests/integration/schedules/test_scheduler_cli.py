"""`mega scheduler` as a process: --once, unknown names, probes, SIGTERM (graceful) and a second signal."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from mega.testing import write_project

pytestmark = pytest.mark.integration


def project(root: Path, marker: Path) -> Path:
    return write_project(root, {
        "mega_config.py": 'config = {"logger": {"level": "info"}, "schedules": {"shutdown_timeout": 10}}\n',
        "apps/main/schedules/jobs.py": f"""
            import asyncio

            from mega.schedules import Schedule


            class Quick(Schedule):
                cron = "@daily"
                lock = {{"ttl": 2, "key": "cli-test:{marker.name}"}}

                async def run(self, ctx):
                    return 42


            class Long(Schedule):
                cron = "* * * * * *"

                async def run(self, ctx):
                    with open({str(marker)!r}, "a") as f:
                        f.write("start\\n")
                    await asyncio.sleep(2)
                    with open({str(marker)!r}, "a") as f:
                        f.write("end\\n")
        """,
    })


def mega(root: Path, *args: str, **kwargs: object) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "MEGA_ENV": "development"}
    env.pop("MEGA_TEST_RUN", None)
    return subprocess.Popen([sys.executable, "-m", "mega.cli.main", "--root", str(root), "scheduler", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, **kwargs)  # type: ignore[call-overload]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def get(port: int, path: str) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


def wait_for(path: Path, text: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text():
            return
        time.sleep(0.05)
    raise AssertionError(f"{text!r} never appeared in {path}")


def test_once_fires_through_the_lock_and_prints_the_outcome(tmp_path: Path) -> None:
    root = project(tmp_path / "p", tmp_path / "marker")
    out, _ = mega(root, "--once", "Quick").communicate(timeout=60)
    outcome = json.loads(out.strip().splitlines()[-1])
    got = (outcome["name"], outcome["ran"], outcome["ok"], outcome["skipped"])
    assert got == ("Quick", True, True, False)


@pytest.mark.parametrize("args", [("--once", "Nope"), ("--only", "Quick", "--only", "Nope")])
def test_an_unknown_name_exits_2(tmp_path: Path, args: tuple[str, ...]) -> None:
    root = project(tmp_path / "p", tmp_path / "marker")
    proc = mega(root, *args)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert "code: schedule.unknown" in err and "no schedule named 'Nope'" in err and "Quick" in err


def test_sigterm_lets_the_run_finish_and_exits_0_with_probes_draining(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    port = free_port()
    root = project(tmp_path / "p", marker)
    proc = mega(root, "--only", "Long", "--http-port", str(port))
    try:
        wait_for(marker, "start")
        assert (get(port, "/health/live"), get(port, "/health/ready")) == (200, 200)
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        assert get(port, "/health/ready") == 503  # draining while the run finishes
        assert get(port, "/health/live") == 200
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0
    assert marker.read_text().splitlines()[-1] == "end"  # the run in flight finished
    assert marker.read_text().count("start") == marker.read_text().count("end")
    assert "has no lock: every scheduler instance runs it" in err


def test_a_second_signal_exits_at_once(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    root = project(tmp_path / "p", marker)
    proc = mega(root, "--only", "Long")
    try:
        wait_for(marker, "start")
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.2)
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=10)
        took = time.monotonic() - started
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1
    assert took < 1.5  # not the ~2 s the run still had to go
    assert marker.read_text().splitlines()[-1] == "start"
