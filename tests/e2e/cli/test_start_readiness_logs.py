"""Readiness during an outage: `mega start` logs a check's change of state, not every failed probe."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mega.testing import write_project
from tests.e2e.cli.conftest import Server, environ, free_port, get, wait_for
from tests.integration.lock._redis_server import RedisServer, answers

pytestmark = pytest.mark.integration

PROBES = 20


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A private redis-server: this test kills it, the shared one stays up for everyone else."""
    workdir = tmp_path / "redis"
    workdir.mkdir()
    server = RedisServer(workdir)
    server.start()
    try:
        yield server
    finally:
        if answers(server.port):
            with contextlib.suppress(Exception):
                server.stop()


def test_an_outage_logs_one_warning_per_check_and_one_line_when_it_passes_again(
        tmp_path: Path, redis: RedisServer, start_server: Callable[..., Server]) -> None:
    project = write_project(tmp_path / "project", {
        "mega_config.py": f"""
            config = {{"logger": {{"format": "json"}}, "services": {{
                "redis": {{"main": {{"url": "{redis.url}", "socket_timeout": 1}}}},
                "caches": {{"pages": {{"driver": "redis", "redis": "main"}}}},
            }}}}
        """,
        "apps/main/app_config.py": "config = {}\n",
        "apps/main/routes/home.py": "def routes(router):\n    router.get('/', lambda: 'home')\n",
    })
    port = free_port()
    server = start_server("start", "--port", str(port), cwd=project, env=environ(MEGA_ENV="development"))
    wait_for(lambda: get(port, "/health/ready").status_code == 200, 30, "readiness")

    redis.stop()
    for _ in range(PROBES):
        assert get_ready(port) == 503
    during = health_lines(server)
    redis.start()
    wait_for(lambda: get_ready(port) == 200, 30, "readiness after Redis is back")
    for _ in range(5):
        assert get_ready(port) == 200
    assert server.terminate(timeout=20) == 0, server.output()

    after = health_lines(server)[len(during):]
    # One warning per failing check (redis:main, cache:pages), each on one line, reason included.
    assert sorted((r["level"], r["check"]) for r in during) == [("warning", "cache:pages"),
                                                                ("warning", "redis:main")]
    messages = sorted(r["msg"] for r in during)
    assert messages[0].startswith("health check cache:pages failed: cache.unavailable: "), messages
    assert messages[1].startswith("health check redis:main failed: ConnectionError: "), messages
    assert sorted((r["level"], r["check"]) for r in after) == [("info", "cache:pages"),
                                                               ("info", "redis:main")]
    assert all("passes again" in r["msg"] for r in after), after
    assert "Traceback" not in server.output()


def get_ready(port: int) -> int:
    return get(port, "/health/ready").status_code


def health_lines(server: Server) -> list[dict[str, Any]]:
    """mega.health's records; any line that is not JSON (a traceback's) counts as one too."""
    records = []
    for line in server.output().splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            records.append({"level": "?", "check": "?", "msg": line})  # a traceback line, say
            continue
        if record.get("logger") == "mega.health":
            records.append(record)
    return records
