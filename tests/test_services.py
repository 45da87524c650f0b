"""The suite's service policy: a service that is down skips its tests locally and fails them under CI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

NEEDS_REDIS = """
import pytest
from tests import services

@pytest.mark.service("redis")
def test_marked():
    pass

def test_asks():
    services.require("redis")
"""


def run_pytest(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """pytest over a two-test file needing a Redis that is not there (port 1), with the suite's hooks."""
    (tmp_path / "test_needs_redis.py").write_text(NEEDS_REDIS)
    (tmp_path / "pytest.ini").write_text("[pytest]\nmarkers =\n    service: needs a real service\n")
    base = {k: v for k, v in os.environ.items() if k not in ("CI", "MEGA_REQUIRE_SERVICES")}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tests.conftest", "-p", "no:cacheprovider", "-rA",
         "--strict-markers", str(tmp_path)],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
        env={**base, "PYTHONPATH": str(ROOT), "MEGA_TEST_REDIS_URL": "redis://127.0.0.1:1/0", **env},
    )


def test_a_service_that_is_down_skips_its_tests_locally(tmp_path: Path) -> None:
    done = run_pytest(tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 skipped" in done.stdout
    assert "Redis is not reachable at redis://127.0.0.1:1/0" in done.stdout


@pytest.mark.parametrize("env", [{"CI": "true"}, {"MEGA_REQUIRE_SERVICES": "1"}])
def test_a_service_that_is_down_fails_its_tests_under_ci(tmp_path: Path, env: dict[str, str]) -> None:
    done = run_pytest(tmp_path, **env)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "skipped" not in done.stdout
    # The marked test fails in setup (an error), the asking one in its body (a failure).
    assert "1 failed, 1 error" in done.stdout
    assert done.stdout.count("Redis is not reachable at redis://127.0.0.1:1/0") >= 2
    assert "start it: redis-server" in done.stdout and "MEGA_TEST_REDIS_URL" in done.stdout
