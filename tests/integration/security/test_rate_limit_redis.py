"""RedisRateLimiter against a real Redis: shared counting, expiry, and failing open."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from mega.security.rate_limit import RateLimitPolicy, RedisRateLimiter
from tests.integration.adapters._services import require_redis

pytestmark = pytest.mark.integration


@pytest.fixture
async def clients() -> AsyncIterator[tuple[aioredis.Redis, aioredis.Redis]]:
    url = require_redis()
    first, second = aioredis.Redis.from_url(url), aioredis.Redis.from_url(url)
    yield first, second
    await first.aclose()
    await second.aclose()


@pytest.fixture
async def prefix(clients: tuple[aioredis.Redis, aioredis.Redis]) -> AsyncIterator[str]:
    value = f"test:rl:{uuid.uuid4().hex[:12]}:"
    yield value
    keys = [key async for key in clients[0].scan_iter(match=value + "*")]
    if keys:
        await clients[0].delete(*keys)


async def test_two_processes_share_one_count(clients: tuple[aioredis.Redis, aioredis.Redis],
                                             prefix: str) -> None:
    policy = RateLimitPolicy(max=3, window=10)
    a, b = (RedisRateLimiter(policy, client, prefix=prefix) for client in clients)
    assert [await a.hit("1.2.3.4"), await b.hit("1.2.3.4"), await a.hit("1.2.3.4")] == [0.0, 0.0, 0.0]
    retry = await b.hit("1.2.3.4")
    assert 9 < retry <= 10
    assert await a.hit("5.6.7.8") == 0.0  # keys are independent
    assert await clients[0].get(prefix + "1.2.3.4") == b"4"
    assert a.stats() == {"store": "redis", "max": 3, "window": 10, "prefix": prefix, "allowed": 3,
                         "limited": 0, "errors": 0}
    assert b.stats()["allowed"] == 1 and b.stats()["limited"] == 1


async def test_the_key_expires_with_its_window(clients: tuple[aioredis.Redis, aioredis.Redis],
                                               prefix: str) -> None:
    client = clients[0]
    limiter = RedisRateLimiter(RateLimitPolicy(max=1, window=0.3), client, prefix=prefix)
    assert await limiter.hit("ip") == 0.0
    assert 0 < await client.pttl(prefix + "ip") <= 300
    assert 0 < await limiter.hit("ip") <= 0.3
    await asyncio.sleep(0.35)
    assert await client.exists(prefix + "ip") == 0
    assert await limiter.hit("ip") == 0.0


async def test_a_counter_without_ttl_gets_one(clients: tuple[aioredis.Redis, aioredis.Redis],
                                              prefix: str) -> None:
    client = clients[0]
    await client.set(prefix + "ip", 50)  # left by something else, no expiry: must not block forever
    limiter = RedisRateLimiter(RateLimitPolicy(max=10, window=5), client, prefix=prefix)
    assert 4 < await limiter.hit("ip") <= 5
    assert 0 < await client.pttl(prefix + "ip") <= 5000


async def test_fails_open_when_redis_is_down(caplog: pytest.LogCaptureFixture) -> None:
    client = aioredis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    limiter = RedisRateLimiter(RateLimitPolicy(max=1, window=60), client, prefix="test:rl:down:")
    try:
        with caplog.at_level(logging.WARNING, logger="mega.security"):
            started = time.monotonic()
            assert [await limiter.hit("ip") for _ in range(3)] == [0.0, 0.0, 0.0]
            assert time.monotonic() - started < 5
    finally:
        await client.aclose()
    assert limiter.stats() == {"store": "redis", "max": 1, "window": 60, "prefix": "test:rl:down:",
                               "allowed": 0, "limited": 0, "errors": 3}
    warnings = [r for r in caplog.records if r.name == "mega.security"]
    assert len(warnings) == 1 and warnings[0].levelno == logging.WARNING  # at most one per 10 s
    assert "allowed unchecked" in warnings[0].getMessage() and "ConnectionError" in warnings[0].getMessage()
