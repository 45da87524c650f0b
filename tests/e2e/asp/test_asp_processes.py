"""The replay cache across processes: two `mega start` servers of one project share used nonces through
a Redis cache, so a request replayed to the other process is refused; with each process's own memory
it would be accepted there (the second test shows why the first is needed)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from mega.asp import Client
from mega.testing import write_project
from tests.e2e.cli.conftest import Server, environ, free_port, get, wait_for
from tests.services import require

pytestmark = pytest.mark.integration

SECRET = "two-process-asp-secret-0123456789abcdefghij"

ROUTES = """
    async def echo(req):
        return {"got": await req.json()}

    def routes(router):
        router.post("/api/echo", echo)
"""


def serve_twice(root: Path, start_server: Callable[..., Server]) -> tuple[int, int]:
    ports = free_port(), free_port()
    for port in ports:
        start_server("start", "--port", str(port), cwd=root,
                     env=environ(ASP_MASTER_SECRET=SECRET, MEGA_ENV="development"))
    for port in ports:
        wait_for(lambda port=port: get(port, "/health/ready").status_code == 200, 30, f"port {port} ready")
    return ports


def project(root: Path, replay_cache: str) -> Path:
    redis_url = require("redis")
    prefix = f"test:asp:{uuid.uuid4().hex[:12]}:"
    services = (f"'services': {{'redis': {{'main': {{'url': {redis_url!r}}}}}, 'caches': {{'replay': "
                f"{{'driver': 'redis', 'redis': 'main', 'prefix': {prefix!r}}}}}}}, ")
    return write_project(root, {
        "mega_config.py": f"config = {{{services}'logger': {{'level': 'warning'}}}}\n",
        "apps/web/app_config.py":
            f"config = {{'asp': {{'paths': ['/api/*'], 'replay_cache': {replay_cache}}}}}\n",
        "apps/web/routes/main.py": ROUTES,
    })


def send_to(port: int, sealed_body: bytes, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(f"http://127.0.0.1:{port}/api/echo", content=sealed_body,
                      headers={"content-type": "application/json", **headers}, timeout=5)


def test_a_replay_to_the_other_process_is_refused_through_redis(
        tmp_path: Path, start_server: Callable[..., Server]) -> None:
    first, second = serve_twice(project(tmp_path, "'replay'"), start_server)
    asp = Client(SECRET)
    sealed = asp.seal("POST", "/api/echo", b'{"n": 1}')
    accepted = send_to(first, sealed.body, sealed.headers)
    assert accepted.status_code == 200, accepted.text
    replayed = send_to(second, sealed.body, sealed.headers)
    assert replayed.status_code == 401
    error = asp.open(401, replayed.headers, replayed.content, sealed.nonce)
    assert b'"asp.replay"' in error
    fresh = asp.seal("POST", "/api/echo", b'{"n": 2}')  # a new request is fine on either
    assert send_to(second, fresh.body, fresh.headers).status_code == 200


def test_with_memory_each_process_only_knows_its_own_nonces(
        tmp_path: Path, start_server: Callable[..., Server]) -> None:
    first, second = serve_twice(project(tmp_path, "None"), start_server)
    sealed = Client(SECRET).seal("POST", "/api/echo", b'{"n": 1}')
    assert send_to(first, sealed.body, sealed.headers).status_code == 200
    assert send_to(first, sealed.body, sealed.headers).status_code == 401
    assert send_to(second, sealed.body, sealed.headers).status_code == 200  # why replay_cache exists
