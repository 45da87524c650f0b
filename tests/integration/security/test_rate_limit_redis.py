"""RedisRateLimiter against a real Redis: shared counting, window keys and their expiry, failing open.
What every limiter does (clock-aligned windows) is in tests/contract."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from mega.security._rate_limit import RateLimitPolicy, RedisRateLimiter
from mega.testing import make_client, running, write_project
from mega.testing.contracts.rate_limit import HandClock
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
    clock = HandClock(1_000_000.5)  # window number 100_000
    a, b = (RedisRateLimiter(policy, client, prefix=prefix, clock=clock) for client in clients)
    assert [await a.hit("1.2.3.4"), await b.hit("1.2.3.4"), await a.hit("1.2.3.4")] == [0.0, 0.0, 0.0]
    assert await b.hit("1.2.3.4") == pytest.approx(9.5)
    assert await a.hit("5.6.7.8") == 0.0  # keys are independent
    assert await clients[0].get(prefix + "1.2.3.4:100000") == b"4"
    assert a.stats() == {"store": "redis", "max": 3, "window": 10, "prefix": prefix, "allowed": 3,
                         "limited": 0, "errors": 0}
    assert b.stats()["allowed"] == 1 and b.stats()["limited"] == 1


async def test_a_window_counter_expires_a_second_after_its_window(
        clients: tuple[aioredis.Redis, aioredis.Redis], prefix: str) -> None:
    client = clients[0]
    clock = HandClock(1_000_000.0)
    limiter = RedisRateLimiter(RateLimitPolicy(max=1, window=0.5), client, prefix=prefix, clock=clock)
    assert await limiter.hit("ip") == 0.0
    key = prefix + "ip:2000000"
    assert 1000 < await client.pttl(key) <= 1500  # the window's 0.5 s, plus 1 s of grace
    assert await limiter.hit("ip") == pytest.approx(0.5)
    clock.now += 0.5  # the next window: a new counter
    assert await limiter.hit("ip") == 0.0
    await asyncio.sleep(1.6)
    assert await client.exists(key) == 0


async def test_a_counter_without_ttl_gets_one(clients: tuple[aioredis.Redis, aioredis.Redis],
                                              prefix: str) -> None:
    client = clients[0]
    clock = HandClock(1_000_001.0)
    await client.set(prefix + "ip:200000", 50)  # left by something else, no expiry: must not block forever
    limiter = RedisRateLimiter(RateLimitPolicy(max=10, window=5), client, prefix=prefix, clock=clock)
    assert await limiter.hit("ip") == pytest.approx(4.0)
    assert 4000 < await client.pttl(prefix + "ip:200000") <= 5000


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


# -- through a booted app: the connection alias ------------------------------------------------------

ROUTES = """
    async def hello():
        return {"hello": "world"}

    def routes(router):
        router.get("/", hello, rate_limit={"max": 2, "window": 60})
        router.get("/app", hello)
"""


def project(root: Path, redis: str, app_config: str) -> Path:
    return write_project(root, {
        "mega_config.py": f'config = {{"logger": {{"level": "warning"}}, '
                          f'"services": {{"redis": {redis}}}}}\n',
        "apps/web/app_config.py": app_config,
        "apps/web/routes/main.py": ROUTES,
    })


async def test_services_redis_rate_makes_the_count_shared(tmp_path: Path) -> None:
    url = require_redis()
    root = project(tmp_path, f'{{"rate": {{"url": {url!r}}}}}', "config = {}\n")
    async with running(root) as rt, make_client(rt) as http:
        limiters = list(rt.apps["web"].security.limiters.values())
        client = rt.adapters.redis("rate")
        assert limiters and all(isinstance(x, RedisRateLimiter) and x.client is client for x in limiters)
        statuses = [(await http.get("/")).status_code for _ in range(3)]
        assert statuses == [200, 200, 429]
        for limiter in limiters:
            assert isinstance(limiter, RedisRateLimiter)
            keys = [k async for k in client.scan_iter(match=limiter.prefix + "*")]
            if keys:
                await client.delete(*keys)


async def test_an_undeclared_redis_alias_fails_boot_naming_the_declared_ones(tmp_path: Path) -> None:
    from mega.boot.stages import BootError

    url = require_redis()
    root = project(tmp_path, f'{{"main": {{"url": {url!r}}}}}',
                   'config = {"rate_limit": {"max": 5, "window": 60, "redis": "mian"}}\n')
    with pytest.raises(BootError) as info:
        async with running(root):
            pass
    assert info.value.stage == "config"
    [problem] = info.value.original.problems  # type: ignore[attr-defined]
    assert (problem.code, problem.key) == ("config.unknown_alias", "rate_limit.redis")
    assert "'mian'" in problem.message and "(declared: main)" in problem.message
    assert (problem.hint or "").startswith("did you mean 'main'?")
