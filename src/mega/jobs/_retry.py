"""In-process retries of a job run: the Job's `retries`, waits from tenacity's backoff strategies."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from tenacity import RetryCallState
from tenacity.wait import wait_base, wait_exponential_jitter, wait_fixed

from mega.resilience._retry import FailedAttempt, run_with_delays


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
    The first attempt runs at once; `on_retry(attempt, retries_left, error)` runs before each wait.
    Runs on mega.resilience's retry engine, with the Job's `backoff` as its wait policy."""
    wait = backoff_wait(backoff)

    def delay(failed: int) -> float:
        state = RetryCallState(None, None, (), {})  # type: ignore[arg-type]
        state.attempt_number = failed
        return float(wait(state))

    async def failed(attempt: FailedAttempt) -> None:
        if attempt.delay is not None:  # the last failure is raised, not retried
            await on_retry(attempt.attempt, attempt.retries_left, attempt.error)

    return await run_with_delays(fn, retries=retries, delay=delay, on_failed_attempt=failed)
