"""Rate limit config and the in-memory fixed-window limiter (clock injected, no sleeping on it)."""

from __future__ import annotations

import asyncio
import math
from typing import Any

import pytest

from mega.config import ConfigError, ConfigProblem
from mega.errors import MegaError
from mega.security._rate_limit import DEFAULT_RATE_LIMIT, MemoryRateLimiter, RateLimitPolicy
from mega.security._settings import security_settings

WHERE = "apps/web/app_config.py"


class FakeClock:
    """A clock the test moves by hand; counts its reads."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now
        self.reads = 0

    def __call__(self) -> float:
        self.reads += 1
        return self.now


def parse(cfg: object) -> RateLimitPolicy | None:
    return security_settings({"rate_limit": cfg}, file=WHERE).rate_limit


def bad(cfg: object) -> ConfigProblem:
    with pytest.raises(ConfigError) as info:
        parse(cfg)
    assert len(info.value.problems) == 1, info.value.problems
    problem = info.value.problems[0]
    assert problem.file == WHERE and WHERE in problem.message
    return problem


# -- config ------------------------------------------------------------------------------------


def test_none_is_the_default_and_false_is_off() -> None:
    assert parse(None) == DEFAULT_RATE_LIMIT
    assert (DEFAULT_RATE_LIMIT.max, DEFAULT_RATE_LIMIT.window, DEFAULT_RATE_LIMIT.redis) == (1000, 60.0, None)
    assert parse(False) is None


@pytest.mark.parametrize(("window", "seconds"), [
    (60, 60.0), (0.5, 0.5), ("1 minute", 60.0), ("30 seconds", 30.0), ("10s", 10.0), ("5m", 300.0),
    ("1h", 3600.0), ("2 hours", 7200.0), ("500ms", 0.5), ("1 day", 86400.0), ("1.5 minutes", 90.0),
    (" 2 Hours ", 7200.0), ("45 sec", 45.0), ("3 mins", 180.0), ("100", 100.0),
])
def test_window_forms(window: object, seconds: float) -> None:
    policy = parse({"max": 5, "window": window})
    assert policy == RateLimitPolicy(max=5, window=seconds, redis=None)
    assert policy is not None and type(policy.window) is float


def test_redis_alias_is_kept() -> None:
    assert parse({"max": 1, "window": 1, "redis": "rate"}) == RateLimitPolicy(max=1, window=1.0, redis="rate")
    assert parse({"max": 1, "window": 1, "redis": None}) == RateLimitPolicy(max=1, window=1.0)


def test_a_dict_replaces_the_default_entirely() -> None:
    problem = bad({"max": 5})
    assert (problem.code, problem.key) == ("config.invalid_value", "rate_limit.window")
    assert problem.message == f"{WHERE}: rate_limit.window is required"
    assert "a dict replaces the default entirely" in (problem.hint or "")
    assert bad({"window": "1 minute"}).key == "rate_limit.max"
    with pytest.raises(ConfigError) as info:
        parse({})
    assert [p.key for p in info.value.problems] == ["rate_limit.max", "rate_limit.window"]


@pytest.mark.parametrize("cfg", [True, "1000/min", 100, [100, 60], ("max", 1)])
def test_not_none_false_or_a_dict(cfg: object) -> None:
    problem = bad(cfg)
    assert (problem.code, problem.key) == ("config.invalid_type", "rate_limit")
    assert "use None for the default or a dict" in (problem.hint or "")


def test_true_is_refused_by_name() -> None:
    assert bad(True).message == (f"{WHERE}: rate_limit must be None (the default, 1,000 requests a minute), "
                                 "False (off) or a dict, got True (bool)")


@pytest.mark.parametrize("value", [0, -1, 1.5, "ten", True, None, float("inf")])
def test_bad_max(value: object) -> None:
    problem = bad({"max": value, "window": 60})
    assert problem.key == "rate_limit.max" and repr(value) in problem.message


@pytest.mark.parametrize("value", [
    0, -1, float("nan"), float("inf"), True, None, "", "ten seconds", "5 fortnights", "1 minute ago",
    "-5s", "0s", [60], "367 days",
])
def test_bad_window(value: object) -> None:
    problem = bad({"max": 5, "window": value})
    assert problem.key == "rate_limit.window"
    assert "at most 366 days" in problem.message and "'30s'" in (problem.hint or "")


@pytest.mark.parametrize("value", ["", 5, ["rate"]])
def test_bad_redis(value: object) -> None:
    problem = bad({"max": 5, "window": 60, "redis": value})
    assert problem.key == "rate_limit.redis" and "invalid alias" in problem.message


@pytest.mark.parametrize(("key", "near"), [("maximum", "max"), ("timeWindow", "window"), ("redi", "redis"),
                                            ("windows", "window")])
def test_unknown_key_says_did_you_mean(key: str, near: str) -> None:
    problem = bad({"max": 5, "window": 60, key: 1})
    assert problem.message == f"unknown key 'rate_limit.{key}' in {WHERE} — did you mean 'rate_limit.{near}'?"
    assert problem.hint == "valid keys under rate_limit: headers, ipv6_prefix, key, max, redis, window"


def test_unknown_key_without_a_near_match() -> None:
    assert bad({"max": 5, "window": 60, "zzz": 1}).message == f"unknown key 'rate_limit.zzz' in {WHERE}"


def test_policy_built_in_code_is_checked_too() -> None:
    with pytest.raises(MegaError, match="'max'") as info:
        RateLimitPolicy(max=0, window=60)
    assert info.value.code == "rate_limit.invalid_policy"
    with pytest.raises(MegaError, match="'window'"):
        RateLimitPolicy(max=1, window="1 minute")  # type: ignore[arg-type]
    assert hash(RateLimitPolicy(3, 60.0)) == hash(RateLimitPolicy(3, 60.0))


# -- MemoryRateLimiter without a timer ---------------------------------------------------------


def test_limit_is_reached_exactly_at_max_plus_one() -> None:
    limiter = MemoryRateLimiter(RateLimitPolicy(max=3, window=10), clock=FakeClock(1003.0))
    assert [limiter.hit("ip") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.hit("ip") > 0
    assert limiter.hit("ip") > 0


def test_retry_after_is_the_time_left_in_the_window() -> None:
    clock = FakeClock(1023.5)  # window [1020, 1030)
    limiter = MemoryRateLimiter(RateLimitPolicy(max=1, window=10), clock=clock)
    assert limiter.hit("ip") == 0.0
    assert limiter.hit("ip") == pytest.approx(6.5)
    clock.now = 1029.999
    assert limiter.hit("ip") == pytest.approx(0.001)


def test_a_new_window_resets_the_count() -> None:
    clock = FakeClock(1000.0)
    limiter = MemoryRateLimiter(RateLimitPolicy(max=2, window=10), clock=clock)
    assert [limiter.hit("ip") for _ in range(3)] == [0.0, 0.0, pytest.approx(10.0)]
    clock.now = 1010.0
    assert [limiter.hit("ip") for _ in range(3)] == [0.0, 0.0, pytest.approx(10.0)]
    clock.now = 1045.0  # several windows later
    assert limiter.hit("ip") == 0.0


def test_keys_are_independent() -> None:
    limiter = MemoryRateLimiter(RateLimitPolicy(max=1, window=60), clock=FakeClock())
    assert limiter.hit("a") == 0.0
    assert limiter.hit("a") > 0
    assert limiter.hit("b") == 0.0
    assert limiter.hit("a") > 0


def test_stats_count_allowed_limited_and_keys() -> None:
    clock = FakeClock(1000.0)
    limiter = MemoryRateLimiter(RateLimitPolicy(max=2, window=10), clock=clock)
    for key in ("a", "a", "a", "a", "b"):
        limiter.hit(key)
    assert limiter.stats() == {"store": "memory", "max": 2, "window": 10.0, "keys": 2, "allowed": 3,
                               "limited": 2}
    clock.now = 1010.0
    limiter.hit("a")
    assert limiter.stats() | {"keys": None} == {"store": "memory", "max": 2, "window": 10.0, "keys": None,
                                                 "allowed": 4, "limited": 2}


def test_start_needs_a_running_loop() -> None:
    limiter = MemoryRateLimiter(RateLimitPolicy(max=1, window=1))
    with pytest.raises(RuntimeError, match="running event loop"):
        limiter.start()
    limiter.close()  # nothing to cancel: still fine


def test_the_real_clock_works_without_start() -> None:
    limiter = MemoryRateLimiter(RateLimitPolicy(max=2, window=60))
    assert limiter.hit("ip") == limiter.hit("ip") == 0.0
    assert 0 < limiter.hit("ip") <= 60


def test_without_a_timer_past_windows_are_swept_by_hit() -> None:
    clock = FakeClock(1000.0)
    limiter = MemoryRateLimiter(RateLimitPolicy(max=5, window=10), clock=clock)
    for window in range(5):
        clock.now = 1000.0 + 10 * window
        for i in range(3000):
            limiter.hit(f"w{window}-{i}")
    assert limiter.stats()["keys"] < 2 * 3000  # the current window, and what is left of the last one
    assert limiter.stats()["allowed"] == 15_000


def test_sweep_work_per_tick_is_bounded() -> None:
    clock = FakeClock(1000.0)
    limiter = MemoryRateLimiter(RateLimitPolicy(max=5, window=10), clock=clock)
    for i in range(25_000):
        limiter.hit(f"10.0.{i // 256}.{i % 256}")
    clock.now = 1010.0
    left = []
    for _ in range(5):
        limiter._on_tick()  # what the timer runs
        left.append(limiter.stats()["keys"])
    assert left == [20_000, 15_000, 10_000, 5_000, 0]  # done within half a window (5 of 10 ticks)
    assert limiter.stats()["allowed"] == 25_000


# -- MemoryRateLimiter with its loop timer -----------------------------------------------------


async def test_after_start_allowing_never_reads_the_clock() -> None:
    clock = FakeClock(1000.0)
    limiter = MemoryRateLimiter(RateLimitPolicy(max=10, window=10), clock=clock)
    limiter.start()
    try:
        reads = clock.reads
        for i in range(50):
            assert limiter.hit(f"ip{i % 5}") == 0.0
        assert clock.reads == reads
        assert limiter.hit("ip0") == pytest.approx(10.0)  # over the limit: the clock is read
        assert clock.reads > reads
    finally:
        limiter.close()


async def test_start_and_close_are_idempotent() -> None:
    limiter = MemoryRateLimiter(RateLimitPolicy(max=1, window=1))
    limiter.start()
    timer = limiter._timer
    limiter.start()
    assert limiter._timer is timer and timer is not None
    limiter.close()
    limiter.close()
    assert timer.cancelled() and limiter._timer is None
    assert limiter.hit("ip") == 0.0 and limiter.hit("ip") > 0  # still correct after close


async def test_a_late_timer_never_refuses_wrongly() -> None:
    clock = FakeClock(1000.0)
    limiter = MemoryRateLimiter(RateLimitPolicy(max=1, window=10), clock=clock)
    limiter.start()
    try:
        assert limiter.hit("ip") == 0.0
        assert limiter.hit("ip") > 0
        clock.now = 1010.0  # the window ended; the timer has not run yet
        assert limiter.hit("ip") == 0.0
        assert limiter.hit("ip") == pytest.approx(10.0)
    finally:
        limiter.close()


async def test_the_timer_sweeps_keys_of_past_windows() -> None:
    clock = FakeClock(1000.0)
    limiter = MemoryRateLimiter(RateLimitPolicy(max=2, window=0.5), clock=clock)  # ticks every 0.05 s
    limiter.start()
    try:
        for key in ("a", "b", "c", "c", "c"):
            limiter.hit(key)
        assert limiter.stats()["keys"] == 3
        await asyncio.sleep(0.12)
        assert limiter.stats()["keys"] == 3  # same window: nothing to sweep
        clock.now = 1000.5
        for _ in range(40):
            await asyncio.sleep(0.05)
            if limiter.stats()["keys"] == 0:
                break
        assert limiter.stats() == {"store": "memory", "max": 2, "window": 0.5, "keys": 0, "allowed": 4,
                                   "limited": 1}
        assert limiter.hit("c") == 0.0  # a fresh window for the limited key
    finally:
        limiter.close()


async def test_tick_is_a_tenth_of_the_window_within_bounds() -> None:
    ticks = [MemoryRateLimiter(RateLimitPolicy(max=1, window=w))._tick for w in (0.1, 2, 60, 3600)]
    assert [math.isclose(t, want) for t, want in zip(ticks, (0.05, 0.2, 1.0, 1.0), strict=True)] == [True] * 4


# -- the route guard, which inlines MemoryRateLimiter.hit --------------------------------------


def _guarded(max_: int, *, v6_prefix: int = 64) -> tuple[Any, MemoryRateLimiter]:
    from mega.http.router import RouteDef
    from mega.security._policy import AppSecurity

    cfg = {"csrf": False, "rate_limit": {"max": max_, "window": 60, "ipv6_prefix": v6_prefix}}
    security = AppSecurity(security_settings(cfg, file=WHERE), app_name="web", hosts=["a.com"])
    guard, _, _ = security.guard_for(RouteDef("GET", "/", lambda: 1))
    limiter = next(iter(security.limiters.values()))
    assert isinstance(limiter, MemoryRateLimiter)
    return guard, limiter


def _scope(client: str | None) -> dict[str, Any]:
    return {"type": "http", "client": (client, 5000) if client else None, "headers": []}


@pytest.mark.parametrize("ticking", [False, True])
async def test_the_route_guard_counts_and_refuses_as_hit_does(ticking: bool) -> None:
    guard, limiter = _guarded(2)  # compiled in a loop: its timer ticks
    if not ticking:
        limiter.close()  # no timer: the clock decides each request
    assert limiter.ticking is ticking
    try:
        for client in ("10.0.0.1", "2001:db8:1:2::5", "2001:db8:1:2::6", None):
            assert guard(_scope(client), None) is None
        assert guard(_scope("10.0.0.1"), None) is None
        with pytest.raises(MegaError) as info:  # the third request of 2001:db8:1:2::/64
            guard(_scope("2001:db8:1:2::7"), None)
        assert info.value.code == "rate_limit.exceeded" and info.value.status == 429
        headers = dict(info.value.headers)
        assert headers[b"retry-after"] == b"%d" % info.value.details["retry_after"]
        assert headers[b"ratelimit-policy"] == b'"default";q=2;w=60'
        assert limiter.counts == {"10.0.0.1": 2, "2001:db8:1:2::/64": 3, "": 1}
        assert limiter.hit("10.0.0.1") > 0  # the guard's count is the limiter's
        assert limiter.stats()["limited"] == 2 and limiter.stats()["allowed"] == 5
    finally:
        limiter.close()


async def test_the_route_guard_keys_every_ipv6_address_apart_with_prefix_128() -> None:
    guard, limiter = _guarded(1, v6_prefix=128)
    assert guard(_scope("2001:db8::1"), None) is None
    assert guard(_scope("2001:db8::2"), None) is None
    assert limiter.counts == {"2001:db8::1": 1, "2001:db8::2": 1}
