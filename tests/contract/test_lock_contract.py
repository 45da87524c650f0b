"""The lock contract (mega.testing.contracts.lock) on every built-in driver: memory and redis.

For redis, `peer` is a second lock on its own client with the same prefix: another process's view.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import pytest
import pytest_asyncio
import redis.asyncio as aioredis

from mega.lock.contract import Lock
from mega.lock.memory import MemoryLock
from mega.lock.redis import RedisLock
from mega.testing.contracts.lock import LockContract

REDIS_URL = os.environ.get("MEGA_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _redis_up() -> bool:
    parts = urlsplit(REDIS_URL)
    try:
        socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 6379), timeout=0.5).close()
        return True
    except OSError:
        return False


class TestLockContract(LockContract):
    @pytest_asyncio.fixture(params=["memory", "redis"])
    async def lock(self, request: pytest.FixtureRequest) -> AsyncIterator[Lock]:
        if request.param == "memory":
            lock: Lock = MemoryLock()
            yield lock
            await lock.close()
            return
        if not _redis_up():
            pytest.skip(f"Redis is not reachable at {REDIS_URL}")
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
