"""The cache contract over every built-in driver: memory, file, redis (real Redis, skipped when down)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from mega.adapters import registry
from mega.cache.contract import Cache
from mega.errors import MegaError
from mega.testing.contracts.cache import CacheContract, CacheFactory
from tests import services

REDIS_URL = services.url("redis")


def driver_options(driver: str, tmp_path: Path) -> dict[str, object]:
    return {"memory": {}, "file": {"path": str(tmp_path / "cache")}, "redis": {"url": REDIS_URL}}[driver]


class TestCacheContract(CacheContract):
    @pytest_asyncio.fixture(params=["memory", "file", "redis"])
    async def cache_factory(self, request: pytest.FixtureRequest,
                            tmp_path: Path) -> AsyncIterator[CacheFactory]:
        driver: str = request.param
        cls = registry.driver_class("cache", driver)
        made: list[Cache] = []

        async def make(prefix: str) -> Cache:
            cache = cls("contract", {**driver_options(driver, tmp_path), "prefix": prefix})
            assert isinstance(cache, Cache)
            try:
                await cache.connect()
            except MegaError as exc:
                if driver == "redis" and exc.code == "adapter.connect_failed":
                    services.down("redis", exc.message)
                raise
            made.append(cache)
            return cache

        yield make
        for cache in made:
            await cache.clear()
            await cache.disconnect()
