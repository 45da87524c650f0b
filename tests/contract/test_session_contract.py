"""The session store contract over every built-in cache driver: memory, file, redis (real Redis)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from mega.adapters import registry
from mega.adapters.redis import RedisConnection
from mega.cache.contract import Cache
from mega.errors import MegaError
from mega.sessions.factory import session_store_for
from mega.sessions.store import SessionStore
from mega.testing.contracts.sessions import SessionStoreContract, StoreFactory
from tests import services

REDIS_URL = services.url("redis")


async def connected_cache(driver: str, tmp_path: Path) -> tuple[Cache, RedisConnection | None]:
    prefix = f"t{uuid.uuid4().hex[:12]}:"
    if driver != "redis":
        options = {"path": str(tmp_path / "cache")} if driver == "file" else {}
        cache = registry.driver_class("cache", driver)("sessions", {**options, "prefix": prefix})
        assert isinstance(cache, Cache)
        await cache.connect()
        return cache, None
    from mega.cache.redis import RedisCache

    connection = RedisConnection("main", {"url": REDIS_URL})
    try:
        await connection.connect()
    except MegaError as exc:
        if exc.code == "adapter.connect_failed":
            services.down("redis", exc.message)
        raise
    cache = RedisCache("sessions", {"prefix": prefix}, connection=connection)
    await cache.connect()
    return cache, connection


class TestSessionStoreContract(SessionStoreContract):
    @pytest_asyncio.fixture(params=["memory", "file", "redis"])
    async def store_factory(self, request: pytest.FixtureRequest,
                            tmp_path: Path) -> AsyncIterator[StoreFactory]:
        cache, connection = await connected_cache(request.param, tmp_path)

        def make(ttl: float = 60.0) -> SessionStore:
            return session_store_for(cache, ttl=ttl, prefix="sess:")

        yield make
        await cache.clear()
        await cache.disconnect()
        if connection is not None:
            await connection.disconnect()
