"""samples/simple served by the real `mega start` (in production, where the sample enables openapi)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.cli.conftest import Server, environ, free_port, get, wait_for

SAMPLE = Path(__file__).resolve().parents[3] / "samples" / "simple"


@pytest.fixture(scope="session")
def simple_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of a copy of samples/simple served by `mega start` on a free port."""
    parent = tmp_path_factory.mktemp("simple")
    root = parent / "simple"
    shutil.copytree(SAMPLE, root, ignore=shutil.ignore_patterns("__pycache__", "tests", ".env"))
    port = free_port()
    server = Server(["start", "--port", str(port)], root, parent / "server.log",
                    environ(MEGA_ENV="production", LOG_LEVEL="warning", SESSION_SECRET="s" * 32))
    try:
        wait_for(lambda: get(port, "/health/ready").status_code == 200, 30, "mega start to serve the sample")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.kill()
        log = server.output()
        assert "Traceback" not in log, log  # nothing the runs below sent may crash a handler
