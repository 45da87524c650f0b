"""The rate limiter contract over every built-in limiter: memory, and redis (real Redis)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from mega.adapters.redis import RedisConnection
from mega.errors import MegaError
from mega.security._rate_limit import MemoryRateLimiter, RateLimitPolicy, RedisRateLimiter
from mega.security.rate_limit_contract import Clock, RateLimiter
from mega.testing.contracts.rate_limit import LimiterFactory, RateLimiterContract
from tests import services

REDIS_URL = services.url("redis")


class TestRateLimiterContract(RateLimiterContract):
    @pytest_asyncio.fixture(params=["memory", "redis"])
    async def limiter_factory(self, request: pytest.FixtureRequest) -> AsyncIterator[LimiterFactory]:
        made: list[RateLimiter] = []
        connection: RedisConnection | None = None
        prefix = f"t{uuid.uuid4().hex[:12]}:"
        if request.param == "redis":
            connection = RedisConnection("rate", {"url": REDIS_URL})
            try:
                await connection.connect()
            except MegaError as exc:
                if exc.code == "adapter.connect_failed":
                    services.down("redis", exc.message)
                raise

        def make(policy: RateLimitPolicy, clock: Clock) -> RateLimiter:
            limiter: RateLimiter
            if connection is None:
                limiter = MemoryRateLimiter(policy, clock=clock)
            else:  # one prefix for all: limiters of one test share the counts, like processes do
                limiter = RedisRateLimiter(policy, connection.native, prefix=prefix, clock=clock)
            made.append(limiter)
            return limiter

        yield make
        for limiter in made:
            limiter.close()
        if connection is not None:
            keys = [k async for k in connection.native.scan_iter(match=prefix + "*")]
            if keys:
                await connection.native.delete(*keys)
            await connection.disconnect()
