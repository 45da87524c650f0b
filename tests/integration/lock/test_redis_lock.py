"""The redis lock beyond the contract, on the shared Redis: key layout, fencing across a wipe, waking.

Tests that stop or wipe Redis as a whole use a private server (test_lock_torture.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
import redis.asyncio as aioredis

from mega.errors import MegaError
from mega.lock._fence import LOW_BITS, token_time
from mega.lock.redis import FENCE_TTL_MS, RedisLock
from tests.integration.adapters._services import require_redis

pytestmark = pytest.mark.integration


@pytest_asyncio.fixture
async def make() -> AsyncIterator[Any]:
    url = require_redis()
    made: list[tuple[RedisLock, aioredis.Redis]] = []
    prefix = f"t{uuid.uuid4().hex[:10]}:"

    def factory(**options: Any) -> RedisLock:
        client = aioredis.Redis.from_url(url)
        options.setdefault("prefix", prefix)
        lock = RedisLock(client, **options)
        made.append((lock, client))
        return lock

    yield factory
    for lock, client in made:
        await lock.close()
        async for key in client.scan_iter(match=f"{lock.prefix}*"):
            await client.delete(key)
        await client.aclose()


async def test_the_keys_a_lock_writes(make: Any) -> None:
    lock = make()
    held = await lock.acquire("invoice:42", ttl=5, wait=0)
    name = lock.key_name("invoice:42")
    assert name == f"{lock.prefix}{{invoice:42}}"
    value = (await lock.client.get(name)).decode()
    assert re.fullmatch(r"[0-9a-f]{12}[0-9a-f]+:", value)  # the holder id, unique per acquisition
    assert 4000 < await lock.client.pttl(name) <= 5000
    assert int(await lock.client.get(name + ":fence")) == held.token
    assert FENCE_TTL_MS - 5000 < await lock.client.pttl(name + ":fence") <= FENCE_TTL_MS
    await lock.release(held)
    assert await lock.client.exists(name) == 0
    assert await lock.client.exists(name + ":fence") == 1  # the counter outlives the lock
    await lock.client.pexpire(name + ":fence", 60_000)
    again = await lock.acquire("invoice:42", ttl=5, wait=0)
    assert again.token == held.token + 1  # the counter, not the clock, while it lives
    assert await lock.client.pttl(name + ":fence") <= 60_000  # counted on: its day is not renewed
    assert (await lock.client.get(name)).decode() != value
    await lock.release(again)


async def test_tokens_come_from_the_redis_clock(make: Any) -> None:
    lock = make()
    held = await lock.acquire("k", ttl=5, wait=0)
    assert abs(token_time(held.token) - time.time()) < 2
    await lock.release(held)


async def test_tokens_keep_increasing_when_redis_forgets_the_key(make: Any) -> None:
    lock = make()
    name = lock.key_name("k")
    held = await lock.acquire("k", ttl=5, wait=0)
    await lock.client.delete(name, name + ":fence")  # what a restart without persistence does
    await asyncio.sleep(0.002)
    after = await lock.acquire("k", ttl=5, wait=0)
    assert after.token > held.token
    await expect_lost(lock, held)
    await lock.release(after)


async def test_the_counter_rules_while_redis_remembers_it(make: Any) -> None:
    lock = make()
    name = lock.key_name("k")
    ahead = (int(time.time() * 1000) + 60_000) << LOW_BITS  # as if issued by a clock a minute ahead
    await lock.client.set(name + ":fence", ahead)
    held = await lock.acquire("k", ttl=5, wait=0)
    assert held.token == ahead + 1
    await lock.release(held)


async def test_one_key_in_two_prefixes_never_collides(make: Any) -> None:
    web, admin = make(prefix="mega:lock:web:"), make(prefix="mega:lock:admin:")
    a = await web.acquire("shared:key", ttl=5, wait=0)
    b = await admin.acquire("shared:key", ttl=5, wait=0)
    await web.release(a)
    await admin.release(b)


async def test_a_release_wakes_waiters_at_once_not_at_their_next_poll(make: Any) -> None:
    holder, waiter = make(), make(poll=60.0)
    held = await holder.acquire("k", ttl=30, wait=0)
    task = asyncio.create_task(waiter.acquire("k", ttl=5, wait=120))
    await asyncio.sleep(0.3)
    released = time.monotonic()
    await holder.release(held)
    got = await asyncio.wait_for(task, 30)
    assert time.monotonic() - released < 10  # far under the 60 s poll: the release woke it
    await waiter.release(got)


async def test_a_waiter_wakes_when_the_holders_ttl_runs_out(make: Any) -> None:
    waiter = make(poll=60.0)
    name = waiter.key_name("k")
    await waiter.client.set(name, "someone:1", px=300)  # expires without any notification
    started = time.monotonic()
    got = await waiter.acquire("k", ttl=5, wait=120)
    # Not before the key expired, and far under the 60 s poll: it slept for the key's own ttl.
    assert 0.2 < time.monotonic() - started < 10
    await waiter.release(got)


async def test_a_silent_release_is_seen_at_the_next_poll(make: Any) -> None:
    waiter = make(poll=0.2)
    name = waiter.key_name("k")
    await waiter.client.set(name, "someone:1")  # no ttl, deleted without a notification
    task = asyncio.create_task(waiter.acquire("k", ttl=5, wait=60))
    await asyncio.sleep(0.1)
    assert not task.done()
    await waiter.client.delete(name)
    got = await asyncio.wait_for(task, 30)  # a later poll sees the key gone (no notification came)
    await waiter.release(got)


async def test_a_cancelled_acquire_gives_the_key_back(make: Any) -> None:
    lock, other = make(), make()
    given_back = 0
    original = lock._give_back

    async def counting(key: str, name: str, holder_id: str) -> None:
        nonlocal given_back
        given_back += 1
        await original(key, name, holder_id)

    lock._give_back = counting  # type: ignore[method-assign]
    for steps in range(1, 8):
        task = asyncio.create_task(lock.acquire("k", ttl=30, wait=0))
        for _ in range(steps):
            await asyncio.sleep(0)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await lock.release(await task)
        again = await other.acquire("k", ttl=5, wait=2)  # free at once, never after the 30 s ttl
        await other.release(again)
    assert given_back >= 1


async def test_stats_name_the_driver_and_prefix(make: Any) -> None:
    lock = make()
    stats = await lock.stats()
    assert stats["driver"] == "redis" and stats["prefix"] == lock.prefix


async def expect_lost(lock: RedisLock, held: Any) -> None:
    with pytest.raises(MegaError) as info:
        await lock.release(held)
    assert info.value.code == "lock.lost" and info.value.details["reason"] == "not_owner"
