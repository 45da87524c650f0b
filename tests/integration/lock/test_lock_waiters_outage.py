"""Many waiters for one key in one process when Redis dies: each fails as an outage, none as contention.

Within one lock instance only the first waiter of a key talks to Redis; the others queue behind it.
When Redis goes away they must all learn it from that first waiter's failure, not wait their `wait`
out one after another and end with `lock.timeout`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from mega.adapters.redis import RedisConnection
from mega.errors import MegaError
from mega.lock.redis import RedisLock
from tests.integration.lock._redis_server import RedisServer, answers

pytestmark = pytest.mark.integration

WAITERS = 16
WAIT = 3.0
WITHIN = 2.0  # seconds after the kill: one client retry cycle (~0.4 s) plus a poll, on busy cores


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    srv = RedisServer(tmp_path)
    srv.start()
    try:
        yield srv
    finally:
        if answers(srv.port):
            srv.stop()


@contextlib.asynccontextmanager
async def two_sides(server: RedisServer) -> AsyncIterator[tuple[RedisLock, RedisLock]]:
    """A waiting and a holding lock, on two clients as the adapters stage builds them (their retry
    policy is the "retry cycle"), closed at the end whatever the server's state."""
    waiting_side, holding_side = (RedisConnection(alias, {"url": server.url}) for alias in ("w", "h"))
    await waiting_side.connect()
    await holding_side.connect()
    lock = RedisLock(waiting_side.native, prefix="outage:")
    holder = RedisLock(holding_side.native, prefix="outage:")
    try:
        yield lock, holder
    finally:
        for each in (lock, holder):
            await each.close()
        await waiting_side.disconnect()
        await holding_side.disconnect()


async def test_every_waiter_fails_as_unavailable_within_a_retry_cycle(server: RedisServer) -> None:
    async with two_sides(server) as (lock, holder):
        await holder.acquire("k", ttl=30, wait=0)

        async def wait_for_key() -> tuple[str, float]:
            try:
                await lock.acquire("k", ttl=5, wait=WAIT)
            except MegaError as exc:
                return exc.code, time.monotonic()
            return "acquired", time.monotonic()

        waiters = [asyncio.create_task(wait_for_key()) for _ in range(WAITERS)]
        await asyncio.sleep(0.3)  # every waiter queued, the first one polling Redis
        assert not any(w.done() for w in waiters)
        await asyncio.to_thread(server.stop)
        killed = time.monotonic()
        outcomes = await asyncio.gather(*waiters)
        codes = [code for code, _ in outcomes]
        after = sorted(round(at - killed, 2) for _, at in outcomes)
        assert codes.count("lock.timeout") == 0, (codes, after)
        assert codes == ["lock.backend_unavailable"] * WAITERS, (codes, after)
        assert after[-1] < WITHIN, after
        print(f"\n{WAITERS} waiters, Redis stopped: all lock.backend_unavailable, "
              f"{after[0]:.2f}-{after[-1]:.2f} s after the stop")
        stats = await lock.stats()
        assert stats["timeouts"] == 0 and stats["errors"] == WAITERS and stats["waiting"] == 0


async def test_a_waiter_arriving_after_the_outage_tries_redis_itself(server: RedisServer) -> None:
    # The queue's failure is for the waiters that were queued when it happened, not for later ones.
    async with two_sides(server) as (lock, holder):
        held = await holder.acquire("k", ttl=30, wait=0)
        first = asyncio.create_task(lock.acquire("k", ttl=5, wait=WAIT))
        await asyncio.sleep(0.2)
        await asyncio.to_thread(server.stop)
        with pytest.raises(MegaError) as info:
            await first
        assert info.value.code == "lock.backend_unavailable"
        await asyncio.to_thread(server.start)  # empty: the holder's key is gone with the data
        again = await lock.acquire("k", ttl=5, wait=WAIT)
        assert again.token > held.token
        await lock.release(again)
