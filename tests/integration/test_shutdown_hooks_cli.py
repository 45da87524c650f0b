"""`mega worker` and `mega scheduler` run the one shutdown registry (mega.shutdown) as `mega start` does:
hooks by order, a hanging one cut at its timeout, the next one still run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mega.testing import write_project
from tests.shutdown_hooks import hooks_routes

pytestmark = pytest.mark.integration

HOOKS = hooks_routes([("second", 200, None), ("hang", 100, "300ms"), ("first", 1, None)])


def _project(root: Path) -> Path:
    return write_project(root, {
        "mega_config.py": 'config = {"logger": {"level": "info"}}\n',
        "apps/main/routes/hooks.py": HOOKS,
    })


def _run(root: Path, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "MEGA_ENV": "development"}
    env.pop("MEGA_TEST_RUN", None)
    return subprocess.Popen([sys.executable, "-m", "mega.cli.main", "--root", str(root), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)


def test_mega_worker_runs_the_registry_when_it_stops(tmp_path: Path) -> None:
    root = _project(tmp_path / "p")
    proc = _run(root, "worker", "--burst")
    output, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, output
    assert (root / "hooks.txt").read_text().split() == ["first", "hang", "second"], output
    assert "shutdown hook hang timed out after 0.3s" in output


def test_mega_scheduler_runs_the_registry_on_sigterm(tmp_path: Path) -> None:
    root = _project(tmp_path / "p")
    proc = _run(root, "scheduler")
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 60
        seen = ""
        while "mega scheduler:" not in seen and time.monotonic() < deadline:
            seen += proc.stdout.readline()
        assert "mega scheduler:" in seen, seen
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, seen + output
    assert (root / "hooks.txt").read_text().split() == ["first", "hang", "second"], seen + output
    assert "shutdown hook hang timed out after 0.3s" in output
