"""The lock contract (mega.testing.contracts.lock) on every built-in driver: memory and redis.

For redis, `peer` is a second lock on its own client with the same prefix: another process's view.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
import redis.asyncio as aioredis

from mega.lock.contract import Lock
from mega.lock.memory import MemoryLock
from mega.lock.redis import RedisLock
from mega.testing.contracts.lock import LockContract
from tests import services

REDIS_URL = services.url("redis")


class TestLockContract(LockContract):
    @pytest_asyncio.fixture(params=["memory", "redis"])
    async def lock(self, request: pytest.FixtureRequest) -> AsyncIterator[Lock]:
        if request.param == "memory":
            lock: Lock = MemoryLock()
            yield lock
            await lock.close()
            return
        services.require("redis")
        client = aioredis.Redis.from_url(REDIS_URL)
        lock = RedisLock(client, prefix=f"t{uuid.uuid4().hex[:10]}:")
        yield lock
        await lock.close()
        await client.aclose()

    @pytest_asyncio.fixture
    async def peer(self, lock: Lock) -> AsyncIterator[Lock]:
        if not isinstance(lock, RedisLock):
            yield lock
            return
        client = aioredis.Redis.from_url(REDIS_URL)
        other = RedisLock(client, prefix=lock.prefix)
        yield other
        await other.close()
        await client.aclose()
