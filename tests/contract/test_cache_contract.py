"""The cache contract over every built-in driver: memory, file, redis (real Redis, skipped when down)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from mega.adapters import registry
from mega.adapters.redis import RedisConnection
from mega.cache.contract import Cache
from mega.cache.redis import RedisCache
from mega.errors import MegaError
from mega.testing.contracts.cache import CacheContract, CacheFactory
from tests import services

REDIS_URL = services.url("redis")


class TestCacheContract(CacheContract):
    @pytest_asyncio.fixture(params=["memory", "file", "redis"])
    async def cache_factory(self, request: pytest.FixtureRequest,
                            tmp_path: Path) -> AsyncIterator[CacheFactory]:
        driver: str = request.param
        made: list[Cache] = []
        connection: RedisConnection | None = None
        if driver == "redis":
            connection = RedisConnection("contract", {"url": REDIS_URL})
            try:
                await connection.connect()
            except MegaError as exc:
                if exc.code == "adapter.connect_failed":
                    services.down("redis", exc.message)
                raise

        async def make(prefix: str) -> Cache:
            cache: Cache
            if connection is not None:
                cache = RedisCache("contract", {"prefix": prefix}, connection=connection)
            else:
                options = {"path": str(tmp_path / "cache")} if driver == "file" else {}
                cache = registry.driver_class("cache", driver)("contract", {**options, "prefix": prefix})
            assert isinstance(cache, Cache)
            await cache.connect()
            made.append(cache)
            return cache

        yield make
        for cache in made:
            await cache.clear()
            await cache.disconnect()
        if connection is not None:
            await connection.disconnect()
