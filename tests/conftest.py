"""Shared test helpers for mega's own suite."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import pytest_asyncio

from mega.app.app import MegaApp
from mega.http.router import Router
from tests import services

if TYPE_CHECKING:
    from mega.cluster.ipc import ClusterHost

# mega's own suite runs as a test environment unless a test says otherwise (pytest owns logging).
os.environ.setdefault("MEGA_ENV", "test")


def pytest_runtest_setup(item: pytest.Item) -> None:
    """`@pytest.mark.service("nats")`: skip when the service is down, fail under CI (tests.services)."""
    for mark in item.iter_markers("service"):
        for name in mark.args:
            services.require(name)


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """For a test that boots outside env 'test': boot configures mega's and uvicorn's loggers for the
    process; put them back as they were so later tests (caplog) see what they expect."""
    from mega.observe import logging as mega_logging

    names = ("mega", "uvicorn", "uvicorn.error", "uvicorn.access", "mega.access", "mega.health")
    saved = {n: (list(lg.handlers), lg.level, lg.propagate, lg.disabled)
             for n, lg in ((n, logging.getLogger(n)) for n in names)}
    yield
    mega_logging._uninstall()
    for name, (handlers, level, propagate, disabled) in saved.items():
        logger = logging.getLogger(name)
        logger.handlers[:] = handlers
        logger.setLevel(level)
        logger.propagate = propagate
        logger.disabled = disabled


def build_app(declare: Callable[[Router], None], name: str = "main", **kwargs: Any) -> MegaApp:
    """An app compiled from a `routes(router)` function, without a project directory."""
    router = Router()
    declare(router)
    app = MegaApp(name, **kwargs)
    app.add_routes(router.routes)
    app.compile()
    return app


def asgi_client(app: Any, host: str = "testserver") -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=f"http://{host}")


@pytest.fixture
def make_client() -> Callable[..., httpx.AsyncClient]:
    def factory(declare: Callable[[Router], None], **kwargs: Any) -> httpx.AsyncClient:
        return asgi_client(build_app(declare, **kwargs))

    return factory


@pytest_asyncio.fixture
async def cluster_host() -> AsyncIterator[ClusterHost]:
    """A cluster primary's IPC host on a fresh socket (in /tmp: a socket path has 107 bytes at most)."""
    from mega.cluster.ipc import ClusterHost  # imported by the tests that use it, not by every test

    folder = tempfile.mkdtemp(prefix="mega-ipc-", dir="/tmp")
    srv = ClusterHost(Path(folder) / "cluster.sock")
    await srv.start()
    yield srv
    await srv.close()
    shutil.rmtree(folder, ignore_errors=True)
