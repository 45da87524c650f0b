"""`CircuitBreaker`: states and events in order, half-open admission, fallbacks, timers, readiness."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import time_machine

from mega import CircuitBreaker
from mega.errors import MegaError
from mega.observe.health import HealthRegistry
from mega.resilience import (
    BreakerEvent,
    BreakerOpenError,
    attach_health,
    detach_health,
    observe_breakers,
    reset_breakers,
)
from mega.testing import make_client, running, write_project


@pytest.fixture(autouse=True)
def _fresh_breakers() -> Iterator[None]:
    reset_breakers()
    yield
    reset_breakers()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


async def fail() -> None:
    raise ConnectionError("down")


async def ok() -> str:
    return "ok"


def record(breaker: CircuitBreaker) -> list[str]:
    """Every event of `breaker` as a short string, in order."""
    seen: list[str] = []

    def note(event: BreakerEvent) -> None:
        seen.append(f"{event.previous}->{event.state}" if event.kind == "state_change" else event.kind)

    for kind in ("state_change", "success", "failure", "reject", "fallback"):
        breaker.on(kind, note)
    return seen


async def trip(breaker: CircuitBreaker, times: int) -> None:
    for _ in range(times):
        with pytest.raises(ConnectionError):
            await breaker.call(fail)


async def test_it_opens_after_the_threshold_and_rejects_without_calling(clock: Clock) -> None:
    breaker = CircuitBreaker("payments", failure_threshold=3, reset_timeout=30, clock=clock)
    await trip(breaker, 2)
    assert breaker.state == "closed"
    await trip(breaker, 1)
    assert breaker.state == "open"
    called: list[int] = []

    async def spy() -> None:
        called.append(1)

    clock.advance(10)
    with pytest.raises(BreakerOpenError) as info:
        await breaker.call(spy)
    err = info.value
    assert called == []
    assert (err.code, err.status) == ("breaker.open", 503)
    assert err.details == {"breaker": "payments", "retry_after": 20}
    assert (b"retry-after", b"20") in (err.headers or [])


async def test_failures_older_than_the_window_do_not_count(clock: Clock) -> None:
    breaker = CircuitBreaker("old-failures", failure_threshold=3, window=10, clock=clock)
    await trip(breaker, 2)
    clock.advance(11)
    await trip(breaker, 2)
    assert breaker.state == "closed"
    await trip(breaker, 1)
    assert breaker.state == "open"


async def test_a_full_cycle_emits_states_and_events_in_order(clock: Clock) -> None:
    breaker = CircuitBreaker(
        "cycle", failure_threshold=2, reset_timeout=5, success_threshold=2, half_open_max_calls=2, clock=clock
    )
    seen = record(breaker)
    await breaker.call(ok)
    await trip(breaker, 2)
    with pytest.raises(BreakerOpenError):
        await breaker.call(ok)
    clock.advance(5)
    assert await breaker.call(ok) == "ok"
    assert breaker.state == "half_open"
    await breaker.call(ok)
    assert breaker.state == "closed"
    assert seen == [
        "success",
        "failure",
        "failure",
        "closed->open",
        "reject",
        "open->half_open",
        "success",
        "success",
        "half_open->closed",
    ]


async def test_a_failing_probe_opens_it_again_with_a_fresh_timer(clock: Clock) -> None:
    breaker = CircuitBreaker("reopen", failure_threshold=1, reset_timeout=30, clock=clock)
    seen = record(breaker)
    await trip(breaker, 1)
    clock.advance(31)
    await trip(breaker, 1)  # the probe
    assert breaker.state == "open" and breaker.retry_after() == 30
    clock.advance(29)
    assert breaker.state == "open"
    clock.advance(1)
    assert breaker.state == "half_open"
    assert seen == [
        "failure",
        "closed->open",
        "open->half_open",
        "failure",
        "half_open->open",
        "open->half_open",
    ]


@pytest.mark.parametrize("max_calls", [1, 3])
async def test_in_half_open_exactly_max_calls_of_100_concurrent_callers_reach_the_function(
    clock: Clock, max_calls: int
) -> None:
    breaker = CircuitBreaker(
        f"probe{max_calls}",
        failure_threshold=1,
        reset_timeout=1,
        half_open_max_calls=max_calls,
        success_threshold=max_calls,
        clock=clock,
    )
    await trip(breaker, 1)
    clock.advance(1)
    release = asyncio.Event()
    reached = 0

    async def probe() -> str:
        nonlocal reached
        reached += 1
        await release.wait()
        return "probed"

    calls = [asyncio.create_task(breaker.call(probe)) for _ in range(100)]
    await asyncio.sleep(0.05)  # every caller has been admitted or rejected by now
    assert reached == max_calls
    release.set()
    results = await asyncio.gather(*calls, return_exceptions=True)
    assert results.count("probed") == max_calls
    rejected = [r for r in results if isinstance(r, BreakerOpenError)]
    assert len(rejected) == 100 - max_calls
    assert breaker.state == "closed"


async def test_the_fallback_answers_rejected_calls_and_receives_the_error(clock: Clock) -> None:
    got: list[BreakerOpenError] = []

    def fallback(error: BreakerOpenError) -> str:
        got.append(error)
        return "cached"

    breaker = CircuitBreaker("fallback", failure_threshold=1, fallback=fallback, clock=clock)
    seen = record(breaker)
    await trip(breaker, 1)  # a failure is raised, not replaced by the fallback
    assert await breaker.call(ok) == "cached"
    assert got[0].code == "breaker.open"
    assert seen == ["failure", "closed->open", "reject", "fallback"]


async def test_an_async_fallback_is_awaited(clock: Clock) -> None:
    async def fallback(error: BreakerOpenError) -> dict[str, Any]:
        return {"stale": True, "retry_after": error.details["retry_after"]}

    breaker = CircuitBreaker(
        "async-fallback", failure_threshold=1, reset_timeout=7, fallback=fallback, clock=clock
    )
    await trip(breaker, 1)
    assert await breaker.call(ok) == {"stale": True, "retry_after": 7}


async def test_a_call_past_call_timeout_is_a_failure_raising_breaker_timeout() -> None:
    breaker = CircuitBreaker("slow", failure_threshold=2, call_timeout=0.05)
    seen = record(breaker)

    async def slow() -> None:
        await asyncio.sleep(5)

    for _ in range(2):
        with pytest.raises(MegaError) as info:
            await breaker.call(slow)
        assert info.value.code == "breaker.timeout" and info.value.status == 504
    assert breaker.state == "open"
    assert seen == ["failure", "failure", "closed->open"]


async def test_errors_is_failure_rejects_are_raised_but_do_not_count(clock: Clock) -> None:
    breaker = CircuitBreaker(
        "filtered", failure_threshold=1, is_failure=lambda e: not isinstance(e, KeyError), clock=clock
    )

    async def missing() -> None:
        raise KeyError("no such user")

    for _ in range(3):
        with pytest.raises(KeyError):
            await breaker.call(missing)
    assert breaker.state == "closed"


async def test_cancellation_is_neither_success_nor_failure_and_frees_the_probe_slot(clock: Clock) -> None:
    breaker = CircuitBreaker("cancelled", failure_threshold=1, reset_timeout=1, clock=clock)
    seen = record(breaker)
    await trip(breaker, 1)
    clock.advance(1)
    task = asyncio.create_task(breaker.call(asyncio.sleep, 10))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert breaker.state == "half_open"
    assert await breaker.call(ok) == "ok"  # the slot was freed
    assert seen == ["failure", "closed->open", "open->half_open", "success", "half_open->closed"]


async def test_decorator_and_async_with_go_through_the_same_breaker(clock: Clock) -> None:
    breaker = CircuitBreaker("forms", failure_threshold=2, clock=clock)

    @breaker
    async def flaky(n: int) -> int:
        if n < 0:
            raise ConnectionError
        return n * 2

    assert await flaky(2) == 4
    with pytest.raises(ConnectionError):
        await flaky(-1)
    with pytest.raises(ConnectionError):
        async with breaker:
            raise ConnectionError
    assert breaker.state == "open"
    with pytest.raises(BreakerOpenError):
        async with breaker:
            pytest.fail("the block must not run")
    with pytest.raises(BreakerOpenError):
        await flaky(1)


async def test_timers_follow_the_wall_clock_under_time_machine() -> None:
    with time_machine.travel(0, tick=False) as traveller:
        breaker = CircuitBreaker("travel", failure_threshold=1, reset_timeout="5m", clock=time.time)
        await trip(breaker, 1)
        traveller.shift(299)
        assert breaker.state == "open" and breaker.retry_after() == pytest.approx(1)
        traveller.shift(1)
        assert breaker.state == "half_open"


async def test_observers_see_every_breakers_events() -> None:
    events: list[tuple[str, str]] = []
    stop = observe_breakers(lambda e: events.append((e.breaker, e.kind)))
    a, b = CircuitBreaker("a", failure_threshold=1), CircuitBreaker("b")
    await a.call(ok)
    await trip(a, 1)
    await b.call(ok)
    stop()
    await b.call(ok)
    assert events == [("a", "success"), ("a", "failure"), ("a", "state_change"), ("b", "success")]


async def test_a_raising_handler_is_logged_and_the_call_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    breaker = CircuitBreaker("handler")
    breaker.on("success", lambda e: 1 / 0)
    assert await breaker.call(ok) == "ok"
    assert "success handler raised" in caplog.text


def test_unknown_events_duplicate_names_and_bad_options_are_refused() -> None:
    breaker = CircuitBreaker("named")
    with pytest.raises(MegaError) as info:
        breaker.on("open", print)
    assert info.value.code == "breaker.unknown_event" and "state_change" in (info.value.hint or "")
    with pytest.raises(MegaError) as info:
        CircuitBreaker("named")
    assert info.value.code == "breaker.duplicate_name" and "get_breaker" in (info.value.hint or "")


@pytest.mark.parametrize(
    ("options", "option"),
    [
        ({"failure_threshold": 0}, "failure_threshold"),
        ({"half_open_max_calls": 1.5}, "half_open_max_calls"),
        ({"success_threshold": True}, "success_threshold"),
        ({"window": 0}, "window"),
        ({"reset_timeout": "later"}, "reset_timeout"),
        ({"call_timeout": -1}, "call_timeout"),
        ({"fallback": "cached"}, "fallback"),
        ({"is_failure": 1}, "is_failure"),
    ],
)
def test_bad_options_name_the_option(options: dict[str, Any], option: str) -> None:
    with pytest.raises(MegaError) as info:
        CircuitBreaker("bad", **options)
    assert info.value.code == "breaker.invalid_option" and info.value.details == {"option": option}
    CircuitBreaker("bad")  # the refused one was not registered


def test_a_bad_name_is_refused() -> None:
    with pytest.raises(MegaError) as info:
        CircuitBreaker("has space")
    assert info.value.code == "breaker.invalid_option"


async def test_open_breakers_show_in_readiness_without_failing_it(clock: Clock) -> None:
    health = HealthRegistry(expose_details=True)
    health.mark_ready()
    early = CircuitBreaker("early", failure_threshold=1, clock=clock)
    attach_health(health)
    late = CircuitBreaker("late", clock=clock)  # created after: registered too
    await trip(early, 1)
    status, body = await health.ready()
    assert status == 200
    assert body["data"]["checks"] == {"breaker:early": "degraded", "breaker:late": "ok"}
    assert body["data"]["check_details"]["breaker:early"]["state"] == "open"
    assert late.state == "closed"
    detach_health(health)
    assert health.names == []


async def test_a_booted_project_reports_its_breakers_in_readiness(tmp_path: Path) -> None:
    routes = """
from mega import CircuitBreaker

breaker = CircuitBreaker("boot-upstream", failure_threshold=1)


async def call(req, reply, ctx):
    async def down():
        raise ConnectionError("upstream down")
    return await breaker.call(down)


def routes(router):
    router.get("/call", call)
"""
    root = write_project(
        tmp_path,
        {"mega_config.py": 'config = {"logger": {"level": "critical"}}\n', "apps/main/routes/r.py": routes},
    )
    for _ in range(2):  # a second boot in this process imports the routes, so the breaker, again
        await _boot_and_trip(root)


async def _boot_and_trip(root: Path) -> None:
    async with running(root) as rt, make_client(rt) as http:
        assert (await http.get("/call")).status_code == 500
        r = await http.get("/call")
        assert r.status_code == 503 and r.json()["error"]["code"] == "breaker.open"
        assert int(r.headers["retry-after"]) == 30
        ready = await http.get("/health/ready")
        assert ready.status_code == 200
        assert ready.json()["data"]["checks"]["breaker:boot-upstream"] == "degraded"
