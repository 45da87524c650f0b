"""The lock contract suite. Run it against any `Lock` driver:

    from mega.testing.contracts.lock import LockContract

    class TestMyLock(LockContract):
        @pytest_asyncio.fixture
        async def lock(self):
            lock = MyLock(namespace=fresh_namespace())   # keys no other test uses
            yield lock
            await lock.close()

        @pytest_asyncio.fixture
        async def peer(self, lock):      # optional: another holder of the same keys (another
            ...                          # connection, as if another process); defaults to `lock`

        @pytest_asyncio.fixture
        async def outage(self):          # optional: an async callable that makes the backend
            ...                          # unreachable (and keeps it so); the outage test skips without

Timing assertions leave wide margins (a loaded 2-core machine); the whole suite takes a few seconds.
Async tests: pytest-asyncio.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import pytest_asyncio

from mega.errors import MegaError
from mega.lock.contract import Held, Lock

SLACK = 0.3  # seconds of scheduling noise tolerated on top of an expected delay


async def expect_code(code: str, call: Awaitable[Any]) -> MegaError:
    with pytest.raises(MegaError) as info:
        await call
    assert info.value.code == code, f"expected {code}, got {info.value.code}: {info.value}"
    return info.value


def _block_loop(seconds: float) -> None:
    """Freeze the event loop (as a GC pause, a CPU-bound call or SIGSTOP would)."""
    time.sleep(seconds)


@pytest.mark.asyncio
class LockContract:
    """Every lock driver behaves like this."""

    @pytest_asyncio.fixture
    async def peer(self, lock: Lock) -> Lock:
        return lock

    @pytest_asyncio.fixture
    async def outage(self) -> Callable[[], Awaitable[None]]:
        pytest.skip("the driver's test gives no `outage` fixture (a way to make its backend unreachable)")

    # -- acquire / release -------------------------------------------------------------------------

    async def test_acquire_gives_a_held_with_key_and_token(self, lock: Lock) -> None:
        held = await lock.acquire("k", ttl=5, wait=0)
        assert isinstance(held, Held)
        assert (held.key, held.ttl, held.lost, held.released) == ("k", 5.0, False, False)
        assert type(held.token) is int and held.token > 0
        assert 4 < held.remaining <= 5
        await lock.release(held)
        assert held.released and held.remaining == 0

    async def test_release_frees_the_key(self, lock: Lock, peer: Lock) -> None:
        held = await lock.acquire("k", ttl=5, wait=0)
        await lock.release(held)
        again = await peer.acquire("k", ttl=5, wait=0)
        await peer.release(again)

    async def test_wait_zero_tries_once_and_fails_at_once(self, lock: Lock, peer: Lock) -> None:
        held = await lock.acquire("k", ttl=5, wait=0)
        started = time.monotonic()
        err = await expect_code("lock.timeout", peer.acquire("k", ttl=5, wait=0))
        assert time.monotonic() - started < SLACK
        assert err.status == 409 and err.details["key"] == "k"
        await lock.release(held)

    async def test_a_waiter_gets_the_key_as_soon_as_it_is_released(self, lock: Lock, peer: Lock) -> None:
        held = await lock.acquire("k", ttl=5, wait=0)
        asyncio.get_running_loop().call_later(0.2, lambda: asyncio.ensure_future(lock.release(held)))
        started = time.monotonic()
        second = await peer.acquire("k", ttl=5, wait=5)
        assert 0.15 < time.monotonic() - started < 0.2 + SLACK
        assert second.token > held.token
        await peer.release(second)

    async def test_the_wait_elapses_with_lock_timeout(self, lock: Lock, peer: Lock) -> None:
        held = await lock.acquire("k", ttl=5, wait=0)
        started = time.monotonic()
        await expect_code("lock.timeout", peer.acquire("k", ttl=5, wait=0.3))
        assert 0.28 < time.monotonic() - started < 0.3 + SLACK
        stats = await peer.stats()
        assert stats["timeouts"] >= 1
        await lock.release(held)

    async def test_keys_are_independent(self, lock: Lock) -> None:
        a = await lock.acquire("a", ttl=5, wait=0)
        b = await lock.acquire("b", ttl=5, wait=0)
        await lock.release(a)
        await lock.release(b)

    async def test_a_second_release_does_nothing(self, lock: Lock) -> None:
        held = await lock.acquire("k", ttl=5, wait=0)
        await lock.release(held)
        await lock.release(held)
        assert (await lock.stats())["released"] == 1

    # -- fencing tokens ------------------------------------------------------------------------------

    async def test_tokens_strictly_increase_per_key(self, lock: Lock, peer: Lock) -> None:
        tokens = []
        for i in range(20):
            who = lock if i % 2 else peer
            held = await who.acquire("k", ttl=5, wait=1)
            tokens.append(held.token)
            await who.release(held)
        assert all(b > a for a, b in itertools.pairwise(tokens)), tokens

    # -- contention ----------------------------------------------------------------------------------

    async def test_one_holder_at_a_time_under_contention(self, lock: Lock, peer: Lock) -> None:
        inside = 0
        most = 0
        tokens: list[int] = []

        async def worker(who: Lock) -> None:
            nonlocal inside, most
            for _ in range(10):
                async with who.hold("k", ttl=5, wait=10) as held:
                    inside += 1
                    most = max(most, inside)
                    tokens.append(held.token)
                    await asyncio.sleep(0)
                    await asyncio.sleep(0.001)
                    inside -= 1

        await asyncio.gather(*(worker(lock if i % 2 else peer) for i in range(8)))
        assert most == 1
        assert len(tokens) == 80 and tokens == sorted(tokens) and len(set(tokens)) == 80

    async def test_waiters_of_one_lock_are_served_in_arrival_order(self, lock: Lock) -> None:
        held = await lock.acquire("k", ttl=5, wait=0)
        order: list[int] = []

        async def waiter(n: int) -> None:
            got = await lock.acquire("k", ttl=5, wait=10)
            order.append(n)
            await asyncio.sleep(0.01)
            await lock.release(got)

        tasks = []
        for n in range(6):
            tasks.append(asyncio.create_task(waiter(n)))
            await asyncio.sleep(0.02)  # arrival order is creation order
        await lock.release(held)
        await asyncio.wait_for(asyncio.gather(*tasks), 10)
        assert order == list(range(6))

    async def test_stats_count_what_happened(self, lock: Lock) -> None:
        held = await lock.acquire("k", ttl=5, wait=0)
        waiting = asyncio.create_task(lock.acquire("k", ttl=5, wait=5))
        await asyncio.sleep(0.1)
        stats = await lock.stats()
        assert isinstance(stats["driver"], str) and stats["driver"]
        assert (stats["held"], stats["waiting"], stats["acquired"]) == (1, 1, 1)
        await lock.release(held)
        second = await waiting
        await lock.release(second)
        stats = await lock.stats()
        assert (stats["held"], stats["waiting"], stats["acquired"], stats["lost"]) == (0, 0, 2, 0)
        assert {"timeouts", "released", "extended", "errors"} <= stats.keys()

    # -- hold / with_lock ----------------------------------------------------------------------------

    async def test_hold_releases_on_exit_and_on_error(self, lock: Lock, peer: Lock) -> None:
        async with lock.hold("k", ttl=5, wait=0) as held:
            assert isinstance(held, Held) and not held.released
        assert held.released
        with pytest.raises(ZeroDivisionError):
            async with lock.hold("k", ttl=5, wait=0):
                1 / 0  # noqa: B018
        again = await peer.acquire("k", ttl=5, wait=0)
        await peer.release(again)

    async def test_with_lock_returns_what_fn_returns(self, lock: Lock) -> None:
        async def work() -> dict[str, int]:
            await asyncio.sleep(0)
            return {"n": 1}

        assert await lock.with_lock("k", work, ttl=5, wait=0) == {"n": 1}
        assert await lock.with_lock("k", lambda: "sync", ttl=5, wait=0) == "sync"
        with pytest.raises(KeyError):
            await lock.with_lock("k", lambda: {"a": 1}["missing"], ttl=5, wait=0)
        assert (await lock.stats())["held"] == 0

    async def test_with_lock_passes_the_held_lock_to_a_fn_that_takes_one(self, lock: Lock) -> None:
        seen: list[Held] = []

        async def guarded(held: Held) -> int:  # the guard pattern: writes carry held.token
            assert not held.released and held.key == "k"
            seen.append(held)
            return held.token

        class Account:
            def write(self, held: Held) -> str:
                return f"fence {held.token}"

        def tagged(tag: str, held: Held) -> tuple[str, int]:
            return tag, held.token

        def optional(n: int = 1) -> int:
            return n

        first = await lock.with_lock("k", guarded, ttl=5, wait=0)
        second = await lock.with_lock("k", lambda held: held.token, ttl=5, wait=0)
        assert first == seen[0].token and second > first and seen[0].released
        assert (await lock.with_lock("k", Account().write, ttl=5, wait=0)).startswith("fence ")
        assert await lock.with_lock("k", functools.partial(tagged, "t"), ttl=5, wait=0) > ("t", second)
        assert await lock.with_lock("k", optional, ttl=5, wait=0) == 1  # nothing required: fn()
        assert (await lock.stats())["held"] == 0

    async def test_with_lock_times_out_without_running_fn(self, lock: Lock, peer: Lock) -> None:
        held = await lock.acquire("k", ttl=5, wait=0)
        ran = []
        await expect_code("lock.timeout", peer.with_lock("k", lambda: ran.append(1), wait=0))
        assert ran == []
        await lock.release(held)

    async def test_a_holder_outliving_its_ttl_keeps_the_lock_by_extension(self, lock: Lock,
                                                                          peer: Lock) -> None:
        async with lock.hold("k", ttl=0.3, wait=0) as held:
            for _ in range(5):
                await asyncio.sleep(0.2)
                await expect_code("lock.timeout", peer.acquire("k", ttl=5, wait=0))
            assert not held.lost
        assert (await lock.stats())["extended"] >= 3

    # -- expiry and loss -----------------------------------------------------------------------------

    async def test_an_expired_holder_loses_the_lock(self, lock: Lock, peer: Lock) -> None:
        lost: list[Held] = []
        lock.on_lost(lost.append)
        held = await lock.acquire("k", ttl=0.2, wait=0)
        await asyncio.sleep(0.2 + SLACK)
        assert held.lost and held.lost_event.is_set() and lost == [held]
        other = await peer.acquire("k", ttl=5, wait=1)
        assert other.token > held.token
        err = await expect_code("lock.lost", lock.release(held))
        assert err.status == 409 and err.details["token"] == held.token
        await expect_code("lock.lost", lock.extend(held))
        await peer.release(other)

    async def test_a_paused_holder_is_told_at_once_that_it_lost_the_lock(self, lock: Lock) -> None:
        with pytest.raises(MegaError) as info:
            async with lock.hold("k", ttl=0.2, wait=0) as held:
                _block_loop(0.5)  # nothing runs, not even the extension
                await asyncio.wait_for(held.lost_event.wait(), SLACK)
                assert held.lost
        assert info.value.code == "lock.lost"
        assert (await lock.stats())["lost"] == 1

    async def test_extend_resets_the_ttl(self, lock: Lock, peer: Lock) -> None:
        held = await lock.acquire("k", ttl=0.4, wait=0)
        await asyncio.sleep(0.2)
        await lock.extend(held, ttl=1.0)
        assert held.ttl == 1.0
        await asyncio.sleep(0.4)  # past the first ttl
        assert not held.lost
        await expect_code("lock.timeout", peer.acquire("k", ttl=5, wait=0))
        await lock.extend(held)
        await lock.release(held)
        await expect_code("lock.not_held", lock.extend(held))

    async def test_a_handle_from_elsewhere_is_refused(self, lock: Lock) -> None:
        await expect_code("lock.not_held", lock.release("k"))  # type: ignore[arg-type]

    # -- arguments -----------------------------------------------------------------------------------

    @pytest.mark.parametrize("ttl", [0, -1, math.nan, math.inf, "5", True, None, [1]])
    async def test_a_bad_ttl_is_refused(self, lock: Lock, ttl: Any) -> None:
        if ttl is None:
            return  # None means the lock's default
        err = await expect_code("lock.invalid_ttl", lock.acquire("k", ttl=ttl, wait=0))
        assert err.status == 500
        await expect_code("lock.invalid_ttl", lock.with_lock("k", lambda: 1, ttl=ttl))

    @pytest.mark.parametrize("wait", [-0.1, math.nan, "1", False])
    async def test_a_bad_wait_is_refused(self, lock: Lock, wait: Any) -> None:
        await expect_code("lock.invalid_wait", lock.acquire("k", ttl=1, wait=wait))

    @pytest.mark.parametrize("key", ["", None, 1, b"k"])
    async def test_a_bad_key_is_refused(self, lock: Lock, key: Any) -> None:
        await expect_code("lock.invalid_key", lock.acquire(key, ttl=1, wait=0))

    async def test_wait_forever_is_allowed(self, lock: Lock) -> None:
        held = await lock.acquire("k", ttl=1, wait=math.inf)
        await lock.release(held)

    # -- cancellation --------------------------------------------------------------------------------

    async def test_a_cancelled_waiter_leaves_no_trace(self, lock: Lock, peer: Lock) -> None:
        held = await lock.acquire("k", ttl=5, wait=0)
        waiter = asyncio.create_task(lock.acquire("k", ttl=5, wait=10))
        await asyncio.sleep(0.1)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        await lock.release(held)
        again = await peer.acquire("k", ttl=5, wait=1)
        await peer.release(again)
        assert (await lock.stats())["waiting"] == 0

    async def test_a_cancelled_holder_releases_at_once(self, lock: Lock, peer: Lock) -> None:
        entered = asyncio.Event()

        async def section() -> None:
            async with lock.hold("k", ttl=30, wait=0):
                entered.set()
                await asyncio.sleep(30)

        task = asyncio.create_task(section())
        await entered.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        started = time.monotonic()
        again = await peer.acquire("k", ttl=5, wait=1)
        assert time.monotonic() - started < SLACK
        await peer.release(again)

    async def test_a_cancelled_acquire_never_leaves_the_key_held(self, lock: Lock, peer: Lock) -> None:
        for steps in range(6):  # cancel at successive points of the acquisition
            task = asyncio.create_task(lock.acquire("k", ttl=30, wait=0))
            for _ in range(steps):
                await asyncio.sleep(0)
            task.cancel()
            try:
                held = await task
            except asyncio.CancelledError:
                pass
            else:
                await lock.release(held)
            again = await peer.acquire("k", ttl=5, wait=2)  # never the 30 s ttl
            await peer.release(again)

    # -- lifecycle -----------------------------------------------------------------------------------

    async def test_close_releases_held_locks_and_refuses_new_ones(self, lock: Lock, peer: Lock) -> None:
        await lock.acquire("k", ttl=30, wait=0)
        waiters = [asyncio.create_task(lock.acquire("k", ttl=5, wait=10)) for _ in range(3)]
        await asyncio.sleep(0.1)
        await lock.close()
        assert lock.closed
        await expect_code("lock.closed", lock.acquire("other", ttl=5, wait=0))
        for waiter in waiters:
            try:
                outcome: Any = await asyncio.wait_for(waiter, 2)
            except MegaError as exc:
                outcome = exc
            assert isinstance(outcome, MegaError) and outcome.code == "lock.closed"
        if peer is not lock:
            again = await peer.acquire("k", ttl=5, wait=1)
            await peer.release(again)

    # -- outage --------------------------------------------------------------------------------------

    async def test_an_unreachable_backend_is_backend_unavailable_never_timeout(
            self, lock: Lock, outage: Callable[[], Awaitable[None]]) -> None:
        held = await lock.acquire("k", ttl=5, wait=0)
        waiter = asyncio.create_task(lock.acquire("k", ttl=5, wait=10))
        await asyncio.sleep(0.1)
        started = time.monotonic()
        await outage()
        err = await expect_code("lock.backend_unavailable", asyncio.wait_for(waiter, 5))
        assert err.status == 503 and err.details["key"] == "k"
        await expect_code("lock.backend_unavailable", lock.acquire("other", ttl=5, wait=5))
        assert time.monotonic() - started < 3  # failed, not waited out
        await expect_code("lock.backend_unavailable", lock.release(held))
        assert (await lock.stats())["errors"] >= 3
