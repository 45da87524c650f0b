"""`mega.retry` and `@mega.retrying`: attempts, delays within bounds, what is never retried."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

import mega
from mega.errors import MegaError
from mega.resilience import FailedAttempt


class Flaky:
    """Fails with `errors` in turn, then returns "done"; counts its calls."""

    def __init__(self, *errors: BaseException) -> None:
        self.errors = list(errors)
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "done"


async def test_the_first_try_runs_at_once_and_a_success_ends_the_retries() -> None:
    fn = Flaky()
    started = time.monotonic()
    assert await mega.retry(fn, min_timeout=5) == "done"
    assert fn.calls == 1 and time.monotonic() - started < 1


async def test_failures_are_retried_and_reported_with_attempt_and_retries_left() -> None:
    fn = Flaky(ConnectionError("a"), ConnectionError("b"))
    seen: list[FailedAttempt] = []
    assert (
        await mega.retry(fn, retries=3, min_timeout=0.01, max_timeout=0.02, on_failed_attempt=seen.append)
        == "done"
    )
    assert fn.calls == 3
    assert [(s.attempt, s.retries_left, str(s.error)) for s in seen] == [(1, 3, "a"), (2, 2, "b")]


async def test_the_last_error_is_raised_unchanged_after_retries_plus_one_tries() -> None:
    errors = [ConnectionError(i) for i in range(3)]
    fn = Flaky(*errors)
    seen: list[FailedAttempt] = []
    with pytest.raises(ConnectionError) as info:
        await mega.retry(fn, retries=2, min_timeout=0.01, on_failed_attempt=seen.append)
    assert info.value is errors[2]
    assert fn.calls == 3
    assert [(s.attempt, s.retries_left) for s in seen] == [(1, 2), (2, 1), (3, 0)]
    assert seen[-1].delay is None


async def test_errors_outside_retry_on_are_raised_at_once() -> None:
    error = KeyError("bug")
    fn = Flaky(error)
    seen: list[FailedAttempt] = []
    with pytest.raises(KeyError) as info:
        await mega.retry(
            fn, retry_on=(ConnectionError, TimeoutError), min_timeout=0.01, on_failed_attempt=seen.append
        )
    assert info.value is error and fn.calls == 1 and seen == []


async def test_cancellation_raised_by_the_function_is_never_retried() -> None:
    fn = Flaky(asyncio.CancelledError())
    with pytest.raises(asyncio.CancelledError):
        await mega.retry(fn, retry_on=(BaseException,), min_timeout=0.01)
    assert fn.calls == 1


async def test_cancelling_the_caller_while_it_waits_stops_the_retries() -> None:
    fn = Flaky(*(ConnectionError() for _ in range(10)))
    task = asyncio.create_task(mega.retry(fn, retries=10, min_timeout=0.2, jitter=False))
    await asyncio.sleep(0.05)  # the first try failed; the task sleeps before the second
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0.3)
    assert fn.calls == 1


async def test_delays_grow_by_factor_and_stay_within_min_and_max_timeout() -> None:
    seen: list[FailedAttempt] = []
    fn = Flaky(*(OSError() for _ in range(6)))
    started = time.monotonic()
    with pytest.raises(OSError):
        await mega.retry(
            fn, retries=5, min_timeout=0.01, max_timeout=0.06, factor=2, on_failed_attempt=seen.append
        )
    delays = [s.delay for s in seen[:-1]]
    for n, delay in enumerate(delays, start=1):
        base = min(0.06, 0.01 * 2 ** (n - 1))
        assert delay is not None and base <= delay <= min(0.06, 2 * base), (n, delay)
    assert time.monotonic() - started >= sum(d for d in delays if d is not None) * 0.95


async def test_without_jitter_the_delays_are_exact() -> None:
    seen: list[FailedAttempt] = []
    with pytest.raises(OSError):
        await mega.retry(
            Flaky(*(OSError() for _ in range(5))),
            retries=4,
            min_timeout="10ms",
            max_timeout=0.05,
            factor=3,
            jitter=False,
            on_failed_attempt=seen.append,
        )
    assert [s.delay for s in seen] == [pytest.approx(0.01), pytest.approx(0.03), 0.05, 0.05, None]


async def test_sync_functions_and_async_callbacks_work() -> None:
    calls: list[int] = []

    def sync() -> int:
        calls.append(1)
        if len(calls) < 2:
            raise TimeoutError
        return 7

    reported: list[int] = []

    async def report(failed: FailedAttempt) -> None:
        await asyncio.sleep(0)
        reported.append(failed.attempt)

    assert await mega.retry(sync, min_timeout=0.01, on_failed_attempt=report) == 7
    assert reported == [1]


async def test_a_callback_that_raises_aborts_the_retries_with_its_error() -> None:
    fn = Flaky(*(OSError() for _ in range(5)))

    def give_up(failed: FailedAttempt) -> None:
        raise RuntimeError(f"stop at {failed.attempt}")

    with pytest.raises(RuntimeError, match="stop at 1"):
        await mega.retry(fn, min_timeout=0.01, on_failed_attempt=give_up)
    assert fn.calls == 1


async def test_the_decorator_retries_each_call_with_its_arguments() -> None:
    calls: list[tuple[int, str]] = []

    @mega.retrying(retries=2, min_timeout=0.01)
    async def fetch(n: int, *, tag: str) -> str:
        calls.append((n, tag))
        if len(calls) % 2:
            raise ConnectionError
        return f"{tag}{n}"

    assert await fetch(1, tag="a") == "a1"
    assert await fetch(2, tag="b") == "b2"
    assert calls == [(1, "a"), (1, "a"), (2, "b"), (2, "b")]
    assert fetch.__name__ == "fetch"


@pytest.mark.parametrize(
    ("options", "option"),
    [
        ({"retries": -1}, "retries"),
        ({"retries": 1.5}, "retries"),
        ({"retries": True}, "retries"),
        ({"min_timeout": 5, "max_timeout": 1}, "min_timeout"),
        ({"min_timeout": -1}, "min_timeout"),
        ({"max_timeout": "soon"}, "max_timeout"),
        ({"factor": 0.5}, "factor"),
        ({"jitter": "yes"}, "jitter"),
        ({"retry_on": ValueError("x")}, "retry_on"),
        ({"retry_on": ()}, "retry_on"),
        ({"on_failed_attempt": 3}, "on_failed_attempt"),
    ],
)
async def test_bad_options_are_refused_before_any_try(options: dict[str, Any], option: str) -> None:
    fn = Flaky()
    with pytest.raises(MegaError) as info:
        await mega.retry(fn, **options)
    assert info.value.code == "retry.invalid_option" and info.value.details == {"option": option}
    assert info.value.hint
    assert fn.calls == 0
    with pytest.raises(MegaError):
        mega.retrying(**options)


def test_the_decorator_refuses_a_sync_function() -> None:
    with pytest.raises(MegaError) as info:
        mega.retrying()(lambda: 1)  # type: ignore[arg-type]
    assert info.value.code == "retry.invalid_option" and "mega.retry" in (info.value.hint or "")
