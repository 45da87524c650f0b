"""`retry(fn, ...)` and `@retrying(...)`: exponential backoff with jitter, on tenacity.

The first try runs at once. After failed try n (1-based) the wait is
`min(max_timeout, min_timeout * factor ** (n - 1))`, times a random factor in [1, 2) with `jitter`
(capped at `max_timeout` again), so every wait lies in [min_timeout, max_timeout].
Only exceptions that are instances of `retry_on` are retried; cancellation never is; after the last
try its exception is re-raised unchanged.
"""

from __future__ import annotations

import functools
import inspect
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

from tenacity import AsyncRetrying, RetryCallState, stop_after_attempt

from mega.config._checks import parse_duration
from mega.errors import MegaError

__all__ = ["FailedAttempt", "retry", "retrying"]

T = TypeVar("T")
P = ParamSpec("P")
RetryOn = type[BaseException] | tuple[type[BaseException], ...]


@dataclass(frozen=True, slots=True)
class FailedAttempt:
    """What `on_failed_attempt` receives after each failed try that `retry_on` covers."""

    attempt: int  # 1 for the first try
    retries_left: int  # 0 after the last try: its error is raised next
    error: BaseException
    delay: float | None  # seconds before the next try; None after the last


@dataclass(frozen=True, slots=True)
class _Options:
    retries: int
    min_timeout: float
    max_timeout: float
    factor: float
    jitter: bool
    retry_on: tuple[type[BaseException], ...]
    on_failed_attempt: Callable[[FailedAttempt], Any] | None

    def delay(self, failed: int) -> float:
        base = min(self.max_timeout, self.min_timeout * self.factor ** (failed - 1))
        return min(self.max_timeout, base * (1.0 + random.random())) if self.jitter else base

    def retryable(self, exc: BaseException | None) -> bool:
        return isinstance(exc, Exception) and isinstance(exc, self.retry_on)


async def retry(
    fn: Callable[[], Awaitable[T] | T],
    *,
    retries: int = 3,
    min_timeout: float | str = 1,
    max_timeout: float | str = 30,
    factor: float = 2,
    jitter: bool = True,
    retry_on: RetryOn = (Exception,),
    on_failed_attempt: Callable[[FailedAttempt], Any] | None = None,
) -> T:
    """Call `fn()` (sync or async, no arguments) until it returns, at most `retries + 1` times."""
    options = _options(retries, min_timeout, max_timeout, factor, jitter, retry_on, on_failed_attempt)
    return await _run(options, fn)


def retrying(
    *,
    retries: int = 3,
    min_timeout: float | str = 1,
    max_timeout: float | str = 30,
    factor: float = 2,
    jitter: bool = True,
    retry_on: RetryOn = (Exception,),
    on_failed_attempt: Callable[[FailedAttempt], Any] | None = None,
) -> Callable[[Callable[P, Awaitable[T]]], Callable[P, Awaitable[T]]]:
    """Decorate an async function so each call is retried as `retry` does (options checked once, here)."""
    options = _options(retries, min_timeout, max_timeout, factor, jitter, retry_on, on_failed_attempt)

    def decorate(func: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
        if not inspect.iscoroutinefunction(func):
            raise _invalid(
                f"@retrying decorates async functions, got {func!r}",
                "func",
                "use `await mega.retry(lambda: f(...))` for a sync function",
            )

        @functools.wraps(func)
        async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
            return await _run(options, lambda: func(*args, **kwargs))

        return wrapper

    return decorate


async def run_with_delays(
    fn: Callable[[int], Awaitable[T]],
    *,
    retries: int,
    delay: Callable[[int], float],
    on_failed_attempt: Callable[[FailedAttempt], Any] | None = None,
) -> T:
    """The engine of `retry` with a caller's wait policy: `fn(attempt)` at most `retries + 1` times,
    waiting `delay(n)` seconds after failed try n (the job queue's `backoff` uses it)."""
    options = _Options(retries, 0.0, 0.0, 1.0, False, (Exception,), on_failed_attempt)
    attempt = 0

    def next_try() -> Awaitable[T]:
        nonlocal attempt
        attempt += 1
        return fn(attempt)

    return await _run(options, next_try, delay)


async def _run(
    options: _Options, fn: Callable[[], Awaitable[T] | T], delay: Callable[[int], float] | None = None
) -> T:
    callback = options.on_failed_attempt
    wait = delay or options.delay
    tries = 0

    async def report(attempt: int, error: BaseException, delay: float | None) -> None:
        if callback is not None:
            result = callback(FailedAttempt(attempt, options.retries + 1 - attempt, error, delay))
            if inspect.isawaitable(result):
                await result

    async def before_sleep(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome is not None else None
        if error is not None:
            await report(state.attempt_number, error, state.upcoming_sleep)

    retrying_ = AsyncRetrying(
        stop=stop_after_attempt(options.retries + 1),
        wait=lambda state: wait(state.attempt_number),
        retry=lambda state: state.outcome is not None and options.retryable(state.outcome.exception()),
        before_sleep=before_sleep,
        reraise=True,
    )
    try:
        async for attempt in retrying_:
            with attempt:
                tries += 1
                result = fn()
                if inspect.isawaitable(result):
                    result = await result
                return result
    except Exception as exc:
        # A retryable error escapes only from the last try (tenacity stopped): report it too.
        if tries == options.retries + 1 and options.retryable(exc):
            await report(tries, exc, None)
        raise
    raise AssertionError("unreachable: tenacity returns or re-raises")  # pragma: no cover


def _options(
    retries: Any,
    min_timeout: Any,
    max_timeout: Any,
    factor: Any,
    jitter: Any,
    retry_on: Any,
    on_failed_attempt: Any,
) -> _Options:
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise _invalid(f"retries must be an integer >= 0, got {retries!r}", "retries", "e.g. retries=3")
    low, high = parse_duration(min_timeout), parse_duration(max_timeout)
    if low is None or low < 0 or low != low:
        raise _invalid(
            f"min_timeout must be a duration >= 0 (seconds), got {min_timeout!r}",
            "min_timeout",
            "e.g. min_timeout=1 or '250ms'",
        )
    if high is None or high < 0 or high != high:
        raise _invalid(
            f"max_timeout must be a duration >= 0 (seconds), got {max_timeout!r}",
            "max_timeout",
            "e.g. max_timeout=30 or '1m'",
        )
    if low > high:
        raise _invalid(
            f"min_timeout ({low:g}s) must not exceed max_timeout ({high:g}s)",
            "min_timeout",
            "lower min_timeout or raise max_timeout",
        )
    if isinstance(factor, bool) or not isinstance(factor, int | float) or not factor >= 1:
        raise _invalid(f"factor must be a number >= 1, got {factor!r}", "factor", "e.g. factor=2 (doubling)")
    if not isinstance(jitter, bool):
        raise _invalid(
            f"jitter must be True or False, got {jitter!r}", "jitter", "jitter=True spreads the retries"
        )
    classes = retry_on if isinstance(retry_on, tuple) else (retry_on,)
    if not classes or not all(isinstance(c, type) and issubclass(c, BaseException) for c in classes):
        raise _invalid(
            f"retry_on must be an exception class or a tuple of them, got {retry_on!r}",
            "retry_on",
            "e.g. retry_on=(ConnectionError, TimeoutError)",
        )
    if on_failed_attempt is not None and not callable(on_failed_attempt):
        raise _invalid(
            f"on_failed_attempt must be a function, got {on_failed_attempt!r}",
            "on_failed_attempt",
            "it receives a FailedAttempt (attempt, retries_left, error, delay)",
        )
    return _Options(retries, low, high, float(factor), jitter, classes, on_failed_attempt)


def _invalid(message: str, option: str, hint: str) -> MegaError:
    return MegaError("retry.invalid_option", message, details={"option": option}, hint=hint)
