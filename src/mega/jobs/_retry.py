"""In-process retries of a job run: tenacity, with the Job's `retries` and `backoff`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt
from tenacity.wait import wait_base, wait_exponential_jitter, wait_fixed


def backoff_wait(backoff: dict[str, Any]) -> wait_base:
    """Exponential: initial · 2^(n-1) plus up to half of `initial` of jitter, capped at `max`."""
    initial, most = float(backoff.get("initial", 1)), float(backoff.get("max", 30))
    if backoff.get("type", "exponential") == "fixed":
        return wait_fixed(initial)
    return wait_exponential_jitter(multiplier=initial, max=most, exp_base=2, jitter=initial / 2)


async def run_with_retries(
    fn: Callable[[int], Awaitable[Any]],
    *,
    retries: int,
    backoff: dict[str, Any],
    on_retry: Callable[[int, int, BaseException], Awaitable[None]],
) -> Any:
    """`fn(attempt)` until it succeeds or has failed `retries + 1` times (the last error is raised).
    The first attempt runs at once; `on_retry(attempt, retries_left, error)` runs before each wait."""

    async def before_sleep(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome is not None else None
        assert error is not None
        await on_retry(state.attempt_number, retries + 1 - state.attempt_number, error)

    retrying = AsyncRetrying(
        stop=stop_after_attempt(retries + 1),
        wait=backoff_wait(backoff),
        retry=retry_if_exception_type(Exception),
        before_sleep=before_sleep,
        reraise=True,
    )
    async for attempt in retrying:
        with attempt:
            return await fn(attempt.retry_state.attempt_number)
    raise AssertionError("unreachable: tenacity reraises the last error")
