"""Shared test helpers for mega's own suite."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from mega.app.app import MegaApp
from mega.http.router import Router
from tests import services

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
