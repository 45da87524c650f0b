"""A job's in-process retries run on mega.resilience's engine, with the Job's backoff as its waits."""

from __future__ import annotations

import asyncio

import pytest

from mega.jobs._retry import run_with_retries


async def test_retries_report_each_failure_before_its_wait_and_raise_the_last_error_unchanged() -> None:
    seen: list[tuple[int, int, str]] = []
    attempts: list[int] = []
    errors = [ValueError("one"), ValueError("two"), ValueError("three")]

    async def on_retry(attempt: int, left: int, error: BaseException) -> None:
        seen.append((attempt, left, str(error)))

    async def run(attempt: int) -> str:
        attempts.append(attempt)
        raise errors[attempt - 1]

    with pytest.raises(ValueError) as caught:
        await run_with_retries(run, retries=2, backoff={"type": "fixed", "initial": 0.01}, on_retry=on_retry)
    assert caught.value is errors[2] and attempts == [1, 2, 3]
    assert seen == [(1, 2, "one"), (2, 1, "two")]  # none after the last try: it is raised

    async def flaky(attempt: int) -> str:
        if attempt < 2:
            raise ConnectionError("down")
        return f"done on {attempt}"

    result = await run_with_retries(flaky, retries=3, backoff={"initial": 0.01}, on_retry=on_retry)
    assert result == "done on 2"


async def test_cancellation_is_never_retried() -> None:
    calls = 0

    async def cancelled(attempt: int) -> None:
        nonlocal calls
        calls += 1
        raise asyncio.CancelledError

    async def on_retry(attempt: int, left: int, error: BaseException) -> None:
        raise AssertionError("no retry expected")

    with pytest.raises(asyncio.CancelledError):
        await run_with_retries(cancelled, retries=5, backoff={"initial": 0.01}, on_retry=on_retry)
    assert calls == 1
