"""Error bodies tell clients nothing internal outside development (no URLs, hosts, driver exception
text, lists of services): the detail is in the log line with the request id. Development keeps it."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mega.testing import make_client, running, write_project
from tests.integration.lock._redis_server import RedisServer

ROUTES = """
    async def cache(req, reply, ctx):
        return await ctx.cache("main").incr("hits")

    async def lock(req, reply, ctx):
        return await ctx.lock.with_lock("job", lambda: "ran", wait=0)

    async def service(req, reply, ctx):
        return ctx.services.billing

    def routes(router):
        router.get("/cache", cache)
        router.get("/lock", lock)
        router.get("/service", service)
"""


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


def project(root: Path, url: str) -> Path:
    return write_project(root / "project", {
        "mega_config.py": f"""
            config = {{"services": {{"redis": {{"main": {{"url": {url!r}}}}},
                                     "caches": {{"main": {{"driver": "redis", "redis": "main"}}}}}},
                       "lock": {{"redis": "main"}}}}
        """,
        "apps/main/routes/pages.py": ROUTES,
        "apps/main/services/todos.py": """
            class Todos:
                pass
        """,
    })


def internals(url: str, port: int) -> list[str]:
    return [url, "127.0.0.1", str(port), "Error 111", "Connection refused", "ConnectionError", "redis://",
            "todos"]


@pytest.mark.service("redis")
async def test_outside_development_bodies_carry_the_code_and_request_id_only(
        tmp_path: Path, redis: RedisServer, caplog: Any) -> None:
    root = project(tmp_path, redis.url)
    with caplog.at_level(logging.INFO, logger="mega"):
        # env "test" answers as production does (and leaves the log handlers to pytest)
        async with running(root, environ={"MEGA_ENV": "test"}) as rt, make_client(rt) as http:
            assert (await http.get("/cache")).json()["data"] == 1
            redis.stop()
            answers = {path: await http.get(path, headers={"x-request-id": f"rid{path.replace('/', '-')}"})
                       for path in ("/cache", "/lock", "/service")}
            redis.start()
    expected = {"/cache": (503, "cache.unavailable", "Service unavailable"),
                "/lock": (503, "lock.backend_unavailable", "Service unavailable"),
                "/service": (500, "service.not_found", "Internal server error")}
    for path, r in answers.items():
        rid = f"rid{path.replace('/', '-')}"
        assert (r.status_code, r.json()) == (expected[path][0], {"ok": False, "error": {
            "code": expected[path][1], "message": expected[path][2], "details": {"request_id": rid}}})
        leaked = [word for word in internals(redis.url, redis.port) if word in r.text]
        assert leaked == [], f"{path} leaks {leaked}"
        logged = [rec for rec in caplog.records if getattr(rec, "request_id", None) == rid]
        assert logged, f"{path}: no log line with the request id"
    service_log = next(rec for rec in caplog.records if getattr(rec, "request_id", None) == "rid-service")
    assert service_log.dev_details == {"services": ["todos"]}
    lock_log = next(rec for rec in caplog.records if getattr(rec, "request_id", None) == "rid-lock")
    assert str(redis.port) in lock_log.getMessage()  # the operator gets the driver's text


@pytest.mark.service("redis")
@pytest.mark.usefixtures("restore_logging")
async def test_development_keeps_the_detail_in_the_body(tmp_path: Path, redis: RedisServer) -> None:
    root = project(tmp_path, redis.url)
    async with running(root, environ={"MEGA_ENV": "development"}) as rt, make_client(rt) as http:
        service = await http.get("/service")
        redis.stop()
        cache = await http.get("/cache")
        redis.start()
    assert service.json()["error"]["details"] == {"name": "billing", "services": ["todos"]}
    assert cache.status_code == 503
    assert cache.json()["error"]["details"] == {"alias": "main", "driver": "redis", "operation": "incr"}
    assert "cache 'main' (redis) failed during incr" in cache.json()["error"]["message"]
