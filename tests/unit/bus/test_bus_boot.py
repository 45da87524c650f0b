"""The bus stage: which bus each app gets, memory isolation by prefix, config errors, HTTP statuses."""

from __future__ import annotations

import asyncio

import pytest

from mega import get_app
from mega.adapters import registry
from mega.adapters.base import Adapter
from mega.boot._loader import forget_project_modules
from mega.boot.stages import BootError
from mega.bus.memory import MemoryBus
from mega.testing import boot_for_test, make_client, running, write_project

TWO_APPS = {
    "mega_config.py": 'config = {"logger": {"level": "warning"}, "bus": {"prefix": "glob."}}\n',
    "apps/web/app_config.py": 'config = {"hosts": ["a.com"], "bus": {"prefix": "web."}}\n',
    "apps/web/routes/pages.py": """
        from mega import get_app

        async def emit(req, reply, ctx):
            await ctx.bus.emit("order.created", {"from": "web"})
            return {"emitted": True}

        async def cross(req, reply, ctx):
            await get_app("admin").bus.emit("notice", {"from": "web"})
            return {"sent": True}

        async def ask(req, reply, ctx):
            return await ctx.bus.request(req.query.get("event", "nobody"), 1, timeout=0.2)

        def routes(router):
            router.get("/emit", emit)
            router.get("/cross", cross)
            router.get("/ask", ask)
    """,
    "apps/admin/app_config.py": 'config = {"hosts": ["b.com"]}\n',
}


class Inbox:
    def __init__(self) -> None:
        self.items: list[object] = []

    def __call__(self, payload: object) -> None:
        self.items.append(payload)


async def test_default_is_a_memory_bus_per_app(tmp_path):
    files = {"mega_config.py": "config = {}\n", "apps/main/app_config.py": "config = {}\n"}
    async with running(write_project(tmp_path, files)) as rt:
        bus = rt.apps["main"].bus
        assert isinstance(bus, MemoryBus)
        stats = await bus.stats()
        assert (stats["driver"], stats["prefix"]) == ("memory", "")
        assert "bus" not in rt.health.names  # nothing to check without NATS


async def test_memory_buses_share_one_broker_and_prefixes_isolate(tmp_path):
    async with running(write_project(tmp_path, TWO_APPS)) as rt:
        web, admin = rt.apps["web"].bus, get_app("admin").bus
        assert (web.prefix, admin.prefix) == ("web.", "glob.")
        web_orders, admin_orders, notices = Inbox(), Inbox(), Inbox()
        await web.on("order.created", web_orders)
        await admin.on("order.created", admin_orders)
        await admin.on("notice", notices)
        async with make_client(rt, host="a.com") as http:
            assert (await http.get("/emit")).json() == {"ok": True, "data": {"emitted": True}}
            assert (await http.get("/cross")).json()["data"] == {"sent": True}
        await asyncio.sleep(0.05)
        assert web_orders.items == [{"from": "web"}]
        assert admin_orders.items == []  # web. is not glob.
        assert notices.items == [{"from": "web"}]  # get_app('admin').bus reaches admin


async def test_bus_errors_map_to_http_statuses(tmp_path):
    async with running(write_project(tmp_path, TWO_APPS)) as rt:
        await rt.apps["web"].bus.on("stuck", lambda p: asyncio.sleep(5))
        async with make_client(rt, host="a.com") as http:
            r = await http.get("/ask", params={"event": "nobody"})
            assert r.status_code == 503  # outside development a 5xx body names no subject
            assert r.json()["error"] == {"code": "bus.no_responders", "message": "Service unavailable",
                                         "details": {"request_id": r.headers["x-request-id"]}}
            r = await http.get("/ask", params={"event": "stuck"})
            assert r.status_code == 504
            assert r.json()["error"]["code"] == "bus.request_timeout"
            assert r.json()["error"]["message"] == "Gateway timeout"


async def test_shutdown_closes_the_buses_after_handlers_finish(tmp_path):
    done = []

    async def slow(payload):
        await asyncio.sleep(0.1)
        done.append(payload)

    rt = await boot_for_test(write_project(tmp_path, TWO_APPS))
    try:
        bus = rt.apps["web"].bus
        await bus.on("work", slow)
        await bus.emit("work", 1)
        await asyncio.sleep(0.01)
        outcomes = dict(await rt.close())
    finally:
        await rt.close()
        forget_project_modules()
    assert outcomes["bus"] == "ok"
    assert done == [1]
    assert (await bus.stats())["subscriptions"] == 0 and bus.closed


class FakeBusAdapter(Adapter):
    """A bus connection that is not NATS (a plugin's driver)."""

    family = "bus"
    driver = "fake"

    async def _connect(self) -> object:
        return object()

    async def _disconnect(self, native: object) -> None:
        pass



@pytest.mark.parametrize(("global_bus", "app_bus", "code", "key", "file", "message"), [
    ("{'nats': 'evnts'}", None, "config.unknown_alias", "bus.nats", "mega_config.py",
     "bus.nats names 'evnts', which is not declared in services.buses (declared: events)"),
    (None, "{'nats': 'nope'}", "config.unknown_alias", "bus.nats", "apps/web/app_config.py",
     "bus.nats names 'nope', which is not declared in services.buses (declared: events)"),
    (None, "{'driver': 'kafka'}", "config.invalid_value", "bus.driver", "apps/web/app_config.py",
     "bus.driver must be one of memory, nats, cluster, got 'kafka'"),
    (None, "{'prefix': 'a b'}", "config.invalid_value", "bus.prefix", "apps/web/app_config.py",
     "bus.prefix must be dot-separated tokens without whitespace or wildcards, got 'a b'"),
    (None, "{'request_timeout': 0}", "config.invalid_value", "bus.request_timeout", "apps/web/app_config.py",
     "bus.request_timeout must be a duration > 0 (seconds, or a string like '30s', '5m', '1h'), got 0"),
    (None, "{'driver': 'memory', 'nats': 'events'}", "config.invalid_value", "bus.nats",
     "apps/web/app_config.py", "bus.nats names 'events' but bus.driver is 'memory'"),
    (None, "{'nats': 'cache'}", "config.invalid_value", "bus.nats", "apps/web/app_config.py",
     "bus.nats names 'cache', which is not a NATS bus (services.buses.cache has driver 'fake')"),
])
async def test_bad_bus_config_fails_boot_naming_the_problem(tmp_path, monkeypatch, global_bus, app_bus, code,
                                                            key, file, message):
    monkeypatch.setitem(registry._classes, ("bus", "fake"), FakeBusAdapter)  # no unregister_driver
    files = {
        "mega_config.py": f"""
            buses = {{"events": {{"driver": "nats"}}, "cache": {{"driver": "fake"}}}}
            config = {{"services": {{"buses": buses}}, "bus": {global_bus}}}
        """,
        "apps/web/app_config.py": f"config = {{'bus': {app_bus}}}\n",
    }
    with pytest.raises(BootError) as info:
        async with running(write_project(tmp_path, files)):
            pass
    err = info.value
    assert err.stage == "config"
    [problem] = err.original.problems
    assert (problem.code, problem.key, problem.file) == (code, key, file)
    assert problem.message == f"{file}: {message}"


async def test_unknown_bus_key_gets_a_did_you_mean(tmp_path):
    files = {"mega_config.py": "config = {}\n",
             "apps/web/app_config.py": "config = {'bus': {'prefx': 'web.'}}\n"}
    with pytest.raises(BootError) as info:
        async with running(write_project(tmp_path, files)):
            pass
    [problem] = info.value.original.problems
    assert problem.message == "unknown key 'bus.prefx' in apps/web/app_config.py — did you mean 'bus.prefix'?"
