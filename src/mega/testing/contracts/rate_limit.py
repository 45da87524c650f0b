"""The rate limiter contract suite. Run it against any `RateLimiter`:

    from mega.testing.contracts.rate_limit import RateLimiterContract

    class TestMyLimiter(RateLimiterContract):
        @pytest_asyncio.fixture
        async def limiter_factory(self):
            made = []
            def make(policy, clock=time.time):
                limiter = MyLimiter(policy, clock=clock, prefix=f"t{uuid.uuid4().hex}:")
                made.append(limiter)
                return limiter
            yield make
            for limiter in made:
                limiter.close()

`limiter_factory(policy, clock)` returns a limiter with its own key space that reads the time from
`clock` (Unix seconds). Most tests move a hand clock; one uses the real clock with windows of
seconds and bounds that hold on a busy machine. Async tests: pytest-asyncio.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable

import pytest
import pytest_asyncio

from mega.security._rate_limit import RateLimitPolicy
from mega.security.rate_limit_contract import Clock, RateLimiter

LimiterFactory = Callable[[RateLimitPolicy, Clock], RateLimiter]


class HandClock:
    """A clock the test moves by hand."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def hit(limiter: RateLimiter, key: str) -> float:
    result = limiter.hit(key)
    return await result if inspect.isawaitable(result) else result


async def hits(limiter: RateLimiter, key: str, n: int) -> list[float]:
    return [await hit(limiter, key) for _ in range(n)]


@pytest.mark.asyncio
class RateLimiterContract:
    """Every rate limiter behaves like this."""

    @pytest_asyncio.fixture
    async def make(self, limiter_factory: LimiterFactory) -> Callable[..., RateLimiter]:
        def build(max: int, window: float, clock: Clock) -> RateLimiter:
            return limiter_factory(RateLimitPolicy(max=max, window=window), clock)

        return build

    async def test_max_requests_are_allowed_then_refused_until_the_window_ends(
            self, make: Callable[..., RateLimiter]) -> None:
        clock = HandClock(1_000_003.0)  # window [1_000_000, 1_000_010)
        limiter = make(3, 10, clock)
        assert await hits(limiter, "ip", 3) == [0.0, 0.0, 0.0]
        assert await hit(limiter, "ip") == pytest.approx(7.0)
        clock.now = 1_000_009.5
        assert await hit(limiter, "ip") == pytest.approx(0.5)

    async def test_a_new_window_starts_at_the_clock_boundary_not_after_the_first_hit(
            self, make: Callable[..., RateLimiter]) -> None:
        clock = HandClock(1_000_009.0)  # first hit one second before the boundary
        limiter = make(2, 10, clock)
        assert await hits(limiter, "ip", 3) == [0.0, 0.0, pytest.approx(1.0)]
        clock.now = 1_000_010.0  # the next window: a limiter counting from the first hit would refuse
        assert await hits(limiter, "ip", 3) == [0.0, 0.0, pytest.approx(10.0)]
        clock.now = 1_000_045.0  # several windows later
        assert await hit(limiter, "ip") == 0.0

    async def test_limiters_of_one_policy_end_their_windows_at_the_same_instants(
            self, make: Callable[..., RateLimiter]) -> None:
        clock = HandClock(1_000_015.1)
        a, b = make(1, 5, clock), make(1, 5, clock)  # e.g. two processes, each with its own client
        assert await hit(a, "early") == 0.0
        clock.now = 1_000_019.0
        assert await hit(b, "late") == 0.0
        assert await hit(a, "early") == await hit(b, "late") == pytest.approx(1.0)
        clock.now = 1_000_020.0
        assert (await hit(a, "early"), await hit(b, "late")) == (0.0, 0.0)

    async def test_keys_are_counted_apart(self, make: Callable[..., RateLimiter]) -> None:
        limiter = make(1, 60, HandClock(1_000_000.0))
        assert await hit(limiter, "a") == 0.0
        assert await hit(limiter, "a") > 0
        assert await hit(limiter, "b") == 0.0
        assert await hit(limiter, "a") > 0

    async def test_stats_count_allowed_and_limited_requests(self, make: Callable[..., RateLimiter]) -> None:
        limiter = make(2, 10, HandClock(1_000_000.0))
        await hits(limiter, "ip", 5)
        stats = limiter.stats()
        assert (stats["store"], stats["max"], stats["window"]) == (limiter.store, 2, 10.0)
        assert (stats["allowed"], stats["limited"]) == (2, 3)

    async def test_start_and_close_are_idempotent_and_the_limiter_still_answers(
            self, make: Callable[..., RateLimiter]) -> None:
        limiter = make(1, 60, HandClock(1_000_000.0))
        limiter.start()
        limiter.start()
        assert await hit(limiter, "ip") == 0.0
        limiter.close()
        limiter.close()
        assert await hit(limiter, "ip") > 0

    async def test_the_real_clock_aligns_windows_to_unix_time(self, make: Callable[..., RateLimiter]) -> None:
        window = 4.0
        phase = time.time() % window
        if not 1.0 <= phase <= 2.0:  # start 1-2 s into a window: its end is 2-3 s away
            await asyncio.sleep((1.0 - phase) % window)
        limiter = make(2, window, time.time)
        limiter.start()
        try:
            started = time.time()
            assert await hits(limiter, "ip", 2) == [0.0, 0.0]
            retry = await hit(limiter, "ip")
            # aligned: the window ends at the next multiple of 4 s; counted from the first hit it
            # would be ~4 s away
            end = (started // window + 1) * window
            assert 0 < retry <= end - started + 0.01
            assert retry < window - 0.5
        finally:
            limiter.close()
