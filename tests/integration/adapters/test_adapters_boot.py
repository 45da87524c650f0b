"""The 'adapters' boot stage in booted projects: ctx.cache/ctx.db, errors, readiness, shutdown."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from mega.app.registry import get_app
from mega.boot.stages import BootError
from mega.testing import make_client, running, write_project
from tests.integration.adapters._services import TcpProxy, redis_address, require_redis

pytestmark = pytest.mark.integration

ROUTES = """
    async def count(req, reply, ctx):
        hits = await ctx.cache("demo").incr("hits")
        return {"hits": hits, "default_cache": ctx.cache().alias, "db": ctx.db().alias,
                "db_driver": ctx.db().driver}

    async def remember(req, reply, ctx):
        await ctx.cache().set("last", {"path": req.path})
        return await ctx.cache().get("last")

    async def missing(req, reply, ctx):
        return ctx.cache("nope")

    def routes(router):
        router.get("/count", count)
        router.get("/remember", remember)
        router.get("/missing", missing)
"""


def project(root: Path, services: str) -> Path:
    files = {
        "mega_config.py": f'config = {{"logger": {{"level": "warning"}}, "services": {services}}}\n',
        "apps/main/routes/demo.py": ROUTES,
    }
    return write_project(root, files)


async def test_handlers_reach_adapters_by_alias(tmp_path: Path) -> None:
    url = require_redis()
    prefix = f"t{uuid.uuid4().hex[:10]}:"
    root = project(tmp_path, f'{{"redis": {{"main": {{"url": {url!r}}}}}, "caches": {{"demo": {{'
                             f'"driver": "redis", "prefix": {prefix!r}}}, '
                             '"local": {"driver": "memory"}}}')
    async with running(root) as rt:
        assert get_app("main").adapters is rt.adapters
        assert set(rt.health.names) >= {"db:default", "cache:demo", "cache:local", "redis:main"}
        async with make_client(rt) as http:
            first = (await http.get("/count")).json()["data"]
            second = (await http.get("/count")).json()["data"]
            assert first == {"hits": 1, "default_cache": "demo", "db": "default", "db_driver": "sqlite"}
            assert second["hits"] == 2
            ready = await http.get("/health/ready")
            assert ready.status_code == 200, ready.text
            checks = ready.json()["data"]["checks"]
            assert checks.items() >= {"db:default": "ok", "cache:demo": "ok", "cache:local": "ok",
                                      "redis:main": "ok"}.items()
        await rt.adapters.cache("demo").clear()
        adapters = rt.adapters.all()
    assert (tmp_path / "var" / "mega.sqlite3").exists()
    assert not any(a.connected for a in adapters)  # the shutdown hook closed them


async def test_without_services_the_project_runs_on_embedded_defaults(tmp_path: Path) -> None:
    root = project(tmp_path, "{}")
    async with running(root) as rt:
        assert rt.adapters.cache().driver == "memory"
        async with make_client(rt) as http:
            r = await http.get("/remember")
            assert r.status_code == 200 and r.json()["data"] == {"path": "/remember"}
        outcomes = await rt.close()
    assert ("adapters", "ok") in outcomes


@pytest.mark.usefixtures("restore_logging")
async def test_an_unknown_alias_is_a_500_naming_it(tmp_path: Path) -> None:
    root = project(tmp_path, '{"caches": {"demo": {"driver": "memory"}}}')
    async with running(root, environ={"MEGA_ENV": "development"}) as rt, make_client(rt) as http:
        r = await http.get("/missing")
    assert r.status_code == 500
    error = r.json()["error"]
    assert error["code"] == "adapter.not_found"
    assert "'nope'" in error["message"]
    assert error["details"] == {"group": "caches", "alias": "nope", "declared": ["demo"]}
    async with running(root) as rt, make_client(rt) as http:  # outside development: no names
        r = await http.get("/missing")
    assert r.json()["error"] == {"code": "adapter.not_found", "message": "Internal server error",
                                 "details": {"request_id": r.headers["x-request-id"]}}


async def test_an_unreachable_service_fails_the_adapters_stage(tmp_path: Path) -> None:
    root = project(tmp_path, '{"caches": {"local": {"driver": "memory"}, "sessions": {"driver": "redis"}}, '
                             '"redis": {"sessions": {"url": "redis://app:hunter2@127.0.0.1:1/0"}}}')
    with pytest.raises(BootError) as info:
        async with running(root):
            pass
    err = info.value
    assert err.stage == "adapters"
    assert err.details["cause"] == "adapter.connect_failed"
    assert "'sessions'" in err.message and "127.0.0.1:1" in err.message
    assert "hunter2" not in f"{err} {err.details} {err.hint}"
    assert "boot failed at stage 'adapters'" in str(err)


async def test_a_bad_cache_option_fails_the_adapters_stage(tmp_path: Path) -> None:
    root = project(tmp_path, '{"caches": {"demo": {"driver": "memory", "max_entires": 10}}}')
    with pytest.raises(BootError) as info:
        async with running(root):
            pass
    assert info.value.stage == "adapters"
    assert info.value.details["cause"] == "cache.invalid_option"
    assert "did you mean 'max_entries'" in str(info.value)


async def test_readiness_fails_while_redis_is_unreachable(tmp_path: Path) -> None:
    require_redis()
    proxy = await TcpProxy(*redis_address()).start()
    prefix = f"t{uuid.uuid4().hex[:10]}:"
    root = project(tmp_path, f'{{"redis": {{"main": {{"url": "redis://127.0.0.1:{proxy.port}/0"}}}}, '
                             f'"caches": {{"demo": {{"driver": "redis", "prefix": {prefix!r}}}}}}}')
    try:
        async with running(root) as rt, make_client(rt) as http:
            assert (await http.get("/health/ready")).status_code == 200
            await proxy.cut()
            r = await http.get("/health/ready")
            assert r.status_code == 503
            assert {"cache:demo", "redis:main"} <= set(r.json()["error"]["details"]["failed"])
            r = await http.get("/count")
            assert r.status_code == 503 and r.json()["error"]["code"] == "cache.unavailable"
            await proxy.resume()
            assert (await http.get("/health/ready")).status_code == 200
            await rt.adapters.cache("demo").clear()
    finally:
        await proxy.cut()


def test_the_stage_runs_right_after_runtime() -> None:
    from mega.boot.stages import STAGES

    names = [s.name for s in STAGES]
    assert names.index("adapters") == names.index("runtime") + 1
    assert names.index("adapters") < names.index("apps")
