"""Lock parts without a backend: token clock, the ABC's checks, memory specifics."""

from __future__ import annotations

import asyncio
import time

import pytest

from mega.lock import Lock, token_time
from mega.lock._fence import LOW_BITS, MAX_TOKEN, TokenClock
from mega.lock.contract import LockError
from mega.lock.memory import MemoryLock


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_tokens_follow_the_clock_and_never_go_back_while_remembered() -> None:
    clock = FakeClock(1_700_000_000.0)
    tokens = TokenClock(clock)
    first = tokens.next()
    assert first == 1_700_000_000_000 << LOW_BITS and token_time(first) == 1_700_000_000.0
    assert tokens.next() == first + 1  # same millisecond: the counter
    clock.now -= 60  # the clock steps back a minute: the counter rules
    assert tokens.next() == first + 2
    clock.now += 120
    assert tokens.next() == (1_700_000_060_000 << LOW_BITS)


def test_a_fresh_token_source_starts_above_an_older_one() -> None:
    clock = FakeClock(1_700_000_000.0)
    old = TokenClock(clock)
    issued = [old.next() for _ in range(1000)]  # 1,000 in one millisecond: still under 2**LOW_BITS
    clock.now += 0.001
    assert TokenClock(clock).next() > max(issued)  # what a restart without memory of `last` gives


def test_tokens_fit_in_a_double_until_2248() -> None:
    year_2248 = 8_790_000_000.0  # 2248-07
    assert TokenClock(FakeClock(year_2248)).next() < MAX_TOKEN


def test_a_driver_missing_a_primitive_cannot_be_built() -> None:
    class Half(Lock):
        driver = "half"

        async def _do_acquire(self, key: str, ttl: float, wait: float) -> None:
            return None

    with pytest.raises(TypeError, match="abstract"):
        Half()  # type: ignore[abstract]


def test_bad_defaults_are_refused_at_construction() -> None:
    with pytest.raises(LockError) as info:
        MemoryLock(ttl=0)
    assert info.value.code == "lock.invalid_ttl"
    with pytest.raises(LockError) as info:
        MemoryLock(wait=-1)
    assert info.value.code == "lock.invalid_wait"


async def test_memory_waiters_do_not_poll() -> None:
    lock = MemoryLock()
    held = await lock.acquire("k", ttl=30)
    waiters = [asyncio.create_task(lock.acquire("k", ttl=30, wait=30)) for _ in range(100)]
    await asyncio.sleep(0.05)
    loop = asyncio.get_running_loop()
    ready = len(loop._ready)  # type: ignore[attr-defined]
    started = time.process_time()
    await asyncio.sleep(0.2)
    assert ready == 0 and time.process_time() - started < 0.05  # nothing runs while they wait
    assert (await lock.stats())["waiting"] == 100
    await lock.release(held)
    for task in waiters:
        await lock.release(await task)
    assert (await lock.stats())["keys"] == 0


async def test_memory_expiry_hands_the_key_to_the_next_waiter_at_once() -> None:
    lock = MemoryLock()
    held = await lock.acquire("k", ttl=0.2)
    started = time.monotonic()
    nxt = await lock.acquire("k", ttl=5, wait=60)
    # Not before the expiry, and far under the 60 s wait: the expiry handed the key over.
    assert 0.18 < time.monotonic() - started < 10
    assert held.lost and held.lost_reason == "expired" and nxt.token > held.token
    await lock.release(nxt)
