"""The real services the suite talks to: where each one is, and what a test does when it is down.

URLs come from MEGA_TEST_<NAME>_URL with this machine's defaults. A service that is down skips its
tests locally, with a one-line reason; under CI (`CI=true`) or `MEGA_REQUIRE_SERVICES=1` it fails them,
so a green CI run means every service test ran.
"""

from __future__ import annotations

import functools
import os
import socket
from dataclasses import dataclass
from typing import NoReturn
from urllib.parse import urlsplit

import pytest


@dataclass(frozen=True)
class Service:
    title: str
    env: str
    default: str
    port: int
    start: str  # how to bring it up on a Debian machine like this one

    @property
    def url(self) -> str:
        return os.environ.get(self.env, self.default)


SERVICES = {
    "postgres": Service("PostgreSQL", "MEGA_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test", 5432,
                        "pg_ctlcluster <version> main start (trust auth, database `test`)"),
    "maria": Service("MariaDB", "MEGA_TEST_MARIA_URL", "mysql://root@127.0.0.1:3306/test", 3306,
                     "/usr/sbin/mariadbd &, or your service manager (root, no password, database `test`)"),
    "redis": Service("Redis", "MEGA_TEST_REDIS_URL", "redis://127.0.0.1:6379/0", 6379,
                     "redis-server --daemonize yes --port 6379 --save ''"),
    "nats": Service("NATS", "MEGA_TEST_NATS_URL", "nats://127.0.0.1:4222", 4222,
                    "nats-server -a 127.0.0.1 -p 4222 -js &"),
}


def required() -> bool:
    """True when a missing service must fail the run rather than skip its tests."""
    return os.environ.get("CI", "").lower() in ("true", "1") or os.environ.get("MEGA_REQUIRE_SERVICES") == "1"


def url(name: str) -> str:
    return SERVICES[name].url


@functools.cache
def _probe(host: str, port: int) -> str | None:
    # Cached per address: a service that is down costs one connect timeout per run, not one per test.
    try:
        socket.create_connection((host, port), timeout=1).close()
    except OSError as exc:
        return str(exc)
    return None


def unreachable(name: str) -> str | None:
    """Why `name` cannot be reached (a connect error), or None when it answers."""
    service = SERVICES[name]
    parts = urlsplit(service.url)
    return _probe(parts.hostname or "127.0.0.1", parts.port or service.port)


def require(name: str) -> str:
    """The service's URL; skips (locally) or fails (under CI) the test when it does not answer."""
    problem = unreachable(name)
    if problem is not None:
        down(name, problem)
    return url(name)


def down(name: str, detail: str) -> NoReturn:
    """Skip or fail the current test because service `name` is down; `detail` says what went wrong."""
    service = SERVICES[name]
    unavailable(f"{service.title} is not reachable at {service.url} ({detail}); "
                f"start it: {service.start}, or point {service.env} at one")


def unavailable(message: str) -> NoReturn:
    """Skip locally, fail under CI: for a service or tool a test needs and cannot have."""
    if required():
        pytest.fail(f"{message} [a service test cannot skip under CI or MEGA_REQUIRE_SERVICES=1]",
                    pytrace=False)
    pytest.skip(message)
