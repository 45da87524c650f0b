"""A booted two-app project on NATS: per-app prefixes on the wire, cross-app emit, readiness, fallback."""

from __future__ import annotations

import asyncio
from pathlib import Path

import nats
import pytest
from nats_control import URL

from mega import get_app
from mega.boot.stages import BootError
from mega.bus.nats import NatsBus
from mega.testing import make_client, running, write_project

pytestmark = [pytest.mark.integration, pytest.mark.service("nats")]


PROJECT = {
    "mega_config.py": f"""
        config = {{
            "logger": {{"level": "warning"}},
            "services": {{"buses": {{"events": {{"driver": "nats", "url": "{URL}"}}}}}},
            "bus": {{"nats": "events", "prefix": "glob."}},
        }}
    """,
    "apps/web/app_config.py": """
        config = {"hosts": ["a.com"], "bus": {"nats": "events", "prefix": "web."}}
    """,
    "apps/web/routes/pages.py": """
        from mega import get_app

        async def whoami(req, reply, ctx):
            return {"app": "web", "bus": (await ctx.bus.stats())["driver"]}

        async def emit(req, reply, ctx):
            await ctx.bus.emit("order.created", {"from": "web"})
            return {"emitted": "order.created"}

        async def cross(req, reply, ctx):
            await get_app("admin").bus.emit("notice", {"from": "web", "message": "hello admin"})
            return {"sent": "notice"}

        def routes(router):
            router.get("/whoami", whoami)
            router.get("/emit", emit)
            router.get("/cross", cross)
    """,
    "apps/admin/app_config.py": 'config = {"hosts": ["b.com"]}\n',
    "apps/api/app_config.py": 'config = {"hosts": ["c.com"], "bus": {"prefix": "api."}}\n',
}


class Inbox:
    def __init__(self) -> None:
        self.items: list[object] = []
        self.arrived = asyncio.Event()

    def __call__(self, payload: object) -> None:
        self.items.append(payload)
        self.arrived.set()


async def test_prefixes_isolate_apps_on_one_nats_server(tmp_path: Path) -> None:
    raw = await nats.connect(URL)
    wire: list[str] = []

    async def tap(msg: object) -> None:
        wire.append(msg.subject)  # type: ignore[attr-defined]

    await raw.subscribe("web.order.created", cb=tap)
    await raw.subscribe("glob.order.created", cb=tap)
    await raw.flush()
    try:
        async with running(write_project(tmp_path, PROJECT)) as rt:
            web, admin, api = (rt.apps[n].bus for n in ("web", "admin", "api"))
            assert all(isinstance(b, NatsBus) for b in (web, admin, api))
            assert (web.prefix, admin.prefix, api.prefix) == ("web.", "glob.", "api.")
            assert web.adapter is admin.adapter is api.adapter  # one connection for the alias
            web_orders, admin_orders, notices = Inbox(), Inbox(), Inbox()
            await web.on("order.created", web_orders)
            await get_app("admin").bus.on("order.created", admin_orders)
            await admin.on("notice", notices)
            async with make_client(rt, host="a.com") as http:
                assert (await http.get("/whoami")).json()["data"] == {"app": "web", "bus": "nats"}
                assert (await http.get("/emit")).json()["data"] == {"emitted": "order.created"}
                assert (await http.get("/cross")).json()["data"] == {"sent": "notice"}
            await asyncio.wait_for(web_orders.arrived.wait(), 5)
            await asyncio.wait_for(notices.arrived.wait(), 5)
            await asyncio.sleep(0.2)
            assert web_orders.items == [{"from": "web"}]
            assert admin_orders.items == []  # glob.order.created was never published
            assert notices.items == [{"from": "web", "message": "hello admin"}]
            assert wire == ["web.order.created"]
            # Code without a ctx reaches another app's bus, and requests stay in their prefix.
            await admin.on("ping", lambda p: {"pong": p, "app": "admin"})
            assert await get_app("admin").bus.request("ping", 1) == {"pong": 1, "app": "admin"}
            with pytest.raises(Exception) as err:
                await web.request("ping", 1, timeout=1)
            assert getattr(err.value, "code", None) == "bus.no_responders"
            async with make_client(rt, host="b.com") as http:
                ready = await http.get("/health/ready")
                assert ready.status_code == 200
                assert ready.json()["data"]["checks"]["bus:events"] == "ok"
        assert web.closed and admin.closed
    finally:
        await raw.close()


async def test_an_unknown_alias_fails_boot_naming_the_declared_ones(tmp_path: Path) -> None:
    files = dict(PROJECT)
    files["apps/web/app_config.py"] = 'config = {"bus": {"nats": "event", "prefix": "web."}}\n'
    with pytest.raises(BootError) as info:
        async with running(write_project(tmp_path, files)):
            pass
    assert info.value.stage == "config"
    [problem] = info.value.original.problems
    assert (problem.code, problem.key) == ("config.unknown_alias", "bus.nats")
    assert problem.message == ("apps/web/app_config.py: bus.nats names 'event', which is not declared in "
                               "services.buses (declared: events)")
    assert problem.hint is not None and problem.hint.startswith("did you mean 'events'?")


ALIASES = {
    "mega_config.py": f"""
        config = {{
            "logger": {{"level": "warning"}},
            "services": {{"buses": {{"events": {{"driver": "nats", "url": "{URL}"}},
                                     "audit": {{"driver": "nats", "url": "{URL}"}}}}}},
        }}
    """,
    "apps/web/app_config.py": 'config = {"bus": {"driver": "memory", "prefix": "web."}}\n',
    "apps/web/routes/pages.py": """
        async def login(req, reply, ctx):
            await ctx.bus("audit").emit("login", {"user": "ann"})
            return {"same": ctx.bus("audit") is ctx.bus("audit"), "own": ctx.bus() is ctx.bus,
                    "driver": (await ctx.bus.stats())["driver"]}

        async def nope(req, reply, ctx):
            ctx.bus("audti")

        def routes(router):
            router.get("/login", login)
            router.get("/nope", nope)
    """,
}


async def test_ctx_bus_by_alias_keeps_the_app_prefix_over_that_connection(tmp_path: Path) -> None:
    raw = await nats.connect(URL)
    wire: list[tuple[str, bytes]] = []

    async def tap(msg: object) -> None:
        wire.append((msg.subject, msg.data))  # type: ignore[attr-defined]

    await raw.subscribe("web.>", cb=tap)
    await raw.flush()
    try:
        async with running(write_project(tmp_path, ALIASES)) as rt:
            web = rt.apps["web"].bus
            audit = web("audit")
            assert isinstance(audit, NatsBus) and web.driver == "memory"
            assert (audit.prefix, audit.request_timeout) == ("web.", web.request_timeout)
            assert audit.adapter is not web("events").adapter  # one connection per alias
            async with make_client(rt) as http:
                body = (await http.get("/login")).json()
                assert body["data"] == {"same": True, "own": True, "driver": "memory"}
                failed = await http.get("/nope")
                assert failed.status_code == 500
                assert failed.json()["error"]["code"] == "adapter.not_found"  # like ctx.db('typo')
            with pytest.raises(Exception) as err:
                web("audti")
            assert getattr(err.value, "code", None) == "adapter.not_found"
            assert "declared: events, audit" in str(err.value) and "did you mean 'audit'" in err.value.hint
            await asyncio.sleep(0.2)
            assert wire == [("web.login", b'{"user":"ann"}')]
            # Requests over the alias reach responders over the same alias, inside the prefix.
            await audit.on("echo", lambda p: p)
            assert await get_app("web").bus("audit").request("echo", [1]) == [1]
        assert audit.closed
    finally:
        await raw.close()
