"""What a MegaApp holds: resources from the boot stages, and its frozen serving settings."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from mega.app.app import MegaApp
from mega.errors import MegaError
from mega.http.router import Router
from mega.lock.memory import MemoryLock


@pytest.mark.parametrize("read", [
    lambda app: app.lock,
    lambda app: app.bus,
    lambda app: app.db(),
    lambda app: app.cache("demo"),
    lambda app: app.session_for(None),
    lambda app: app.settings,
])
def test_resources_read_before_boot_say_so(read: Any) -> None:
    app = MegaApp("shop")
    with pytest.raises(MegaError) as info:
        read(app)
    assert info.value.code == "app.not_initialized"
    assert "app 'shop'" in info.value.message


def test_a_session_free_app_says_sessions_are_off() -> None:
    app = MegaApp("shop", config={"session": False})
    with pytest.raises(MegaError) as info:
        app.session_for(None)
    assert info.value.code == "session.disabled"


def test_the_lock_a_stage_sets_is_what_the_app_returns() -> None:
    app = MegaApp("shop")
    lock = MemoryLock(name="app 'shop'")
    app.lock = lock
    assert app.lock is lock


def test_compile_freezes_the_serving_settings() -> None:
    router = Router()
    router.get("/x", lambda: 1)
    app = MegaApp("shop", config={"hosts": ["Shop.example"], "headers": {"x-shop": "1"}},
                  env="production", body_limit=10, trailing_slash="strict")
    app.add_routes(router.routes)
    app.compile()
    settings = app.settings
    assert (settings.name, settings.env, settings.hosts, settings.body_limit, settings.trailing_slash) == (
        "shop", "production", ("shop.example",), 10, "strict")
    pairs, block = settings.constant
    assert pairs[0] == (b"x-shop", b"1") and (b"x-content-type-options", b"nosniff") in pairs
    assert block == b"".join(n + b": " + v + b"\r\n" for n, v in pairs)
    assert settings.custom_headers == [(b"x-shop", b"1")]
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.body_limit = 1  # type: ignore[misc]
    with pytest.raises(MegaError) as info:
        app.add_constant_header("x-late", "1")
    assert info.value.code == "app.frozen"


async def test_an_app_called_before_compile_refuses_the_request() -> None:
    app = MegaApp("shop")
    scope = {"type": "http", "method": "GET", "path": "/x", "headers": []}
    with pytest.raises(MegaError) as info:
        await app(scope, None, None)
    assert info.value.code == "app.not_initialized"
    assert "GET /x reached an app that is not compiled" in info.value.message
