"""get_app/has_app registry and lazy per-request services."""

from __future__ import annotations

import pytest

from mega.app import registry
from mega.app.app import MegaApp
from mega.errors import MegaError
from tests.conftest import asgi_client


@pytest.fixture(autouse=True)
def clean_registry():
    registry.reset()
    yield
    registry.reset()


def test_get_app_before_boot():
    with pytest.raises(MegaError) as info:
        registry.get_app()
    assert info.value.code == "app.not_initialized"
    assert info.value.details == {}
    with pytest.raises(MegaError) as info:
        registry.get_app("web")
    assert info.value.code == "app.not_found"
    assert info.value.message == "get_app('web') — no booted app named 'web'. Booted: [(none)]."
    assert registry.has_app() is False


def test_get_app_single_many_unknown():
    web, admin = MegaApp("web"), MegaApp("admin")
    registry.register(web)
    assert registry.get_app() is web and registry.has_app("web")
    registry.register(admin)
    with pytest.raises(MegaError) as info:
        registry.get_app()
    assert info.value.code == "app.ambiguous" and info.value.details == {"booted": ["web", "admin"]}
    assert registry.get_app("admin") is admin
    with pytest.raises(MegaError) as info:
        registry.get_app("nope")
    assert info.value.code == "app.not_found"
    assert info.value.details == {"name": "nope", "booted": ["web", "admin"]}
    registry.reset()
    assert not registry.has_app()


class Counter:
    made = 0

    def __init__(self, ctx):
        Counter.made += 1
        self.ctx = ctx

    def who(self):
        return self.ctx.request_id


class Plain:
    def value(self):
        return 42


async def test_services_are_lazy_and_per_request():
    app = MegaApp("main")
    app.services.add("counter", Counter)
    app.services.add("plain", Plain)

    async def handler(req, reply, ctx):
        same = ctx.services.counter is ctx.services.counter
        return {"same": same, "rid": ctx.services.counter.who(), "plain": ctx.services.plain.value()}

    async def untouched(req, reply, ctx):
        return "no services"

    async def missing(req, reply, ctx):
        return ctx.services.nope

    from mega.http.router import Router

    r = Router()
    r.get("/", handler)
    r.get("/untouched", untouched)
    r.get("/missing", missing)
    app.add_routes(r.routes)
    app.compile()
    Counter.made = 0
    async with asgi_client(app) as http:
        body = (await http.get("/", headers={"x-request-id": "r1"})).json()["data"]
        assert body == {"same": True, "rid": "r1", "plain": 42}
        await http.get("/")
        assert Counter.made == 2
        await http.get("/untouched")
        assert Counter.made == 2
        err = (await http.get("/missing")).json()["error"]
        assert err["code"] == "service.not_found"
        assert err["details"] == {"name": "nope", "services": ["counter", "plain"]}


def test_service_constructor_must_take_ctx_or_nothing():
    class Bad:
        def __init__(self, a, b):
            pass

    app = MegaApp("main")
    with pytest.raises(MegaError) as info:
        app.services.add("bad", Bad)
    assert info.value.code == "service.invalid_constructor"
