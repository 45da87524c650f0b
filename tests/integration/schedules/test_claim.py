"""`lock.claim(key, ttl=...)`: taken once, left to expire (no release, no loss warning, nothing left)."""

from __future__ import annotations

import asyncio
import logging
import uuid

import pytest

from mega.lock.memory import MemoryLock
from mega.lock.redis import RedisLock
from tests.integration.adapters._services import require_redis

pytestmark = pytest.mark.integration


async def check_claims(lock: MemoryLock | RedisLock, caplog: pytest.LogCaptureFixture) -> None:
    key = f"claim:{uuid.uuid4().hex}"
    with caplog.at_level(logging.WARNING, logger="mega.lock"):
        assert await lock.claim(key, ttl=0.5) is True
        assert await lock.claim(key, ttl=0.5) is False  # a peer a few ms later
        assert (await lock.stats())["held"] == 0  # not held by anyone of this process: nothing to release
        await asyncio.sleep(0.7)
        assert await lock.claim(key, ttl=0.5) is True  # it expired
        await asyncio.sleep(0.7)
        await lock.close()  # close() does not release a claim early (it just expires)
    assert caplog.text == ""


async def test_a_memory_claim_expires_and_leaves_no_key(caplog: pytest.LogCaptureFixture) -> None:
    lock = MemoryLock()
    await check_claims(lock, caplog)
    assert (await lock.stats())["keys"] == 0


async def test_a_redis_claim_expires_in_redis(caplog: pytest.LogCaptureFixture) -> None:
    import redis.asyncio as redis

    client = redis.Redis.from_url(require_redis())
    prefix = f"mega:test:claim:{uuid.uuid4().hex}:"
    try:
        await check_claims(RedisLock(client, prefix=prefix), caplog)
        assert [k async for k in client.scan_iter(match=f"{prefix}*")] == []
    finally:
        await client.aclose()
