from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import pytest

from mega.errors import MegaError
from mega.observe.health import HealthRegistry


def ready_registry(**kwargs: Any) -> HealthRegistry:
    health = HealthRegistry(**kwargs)
    health.mark_ready()
    return health


# -- states -------------------------------------------------------------------------------------


async def test_booting_is_not_ready_but_live() -> None:
    health = HealthRegistry()
    assert health.state == "booting"
    assert await health.live() == (200, {"ok": True, "data": {"status": "live"}})
    status, body = await health.ready()
    assert status == 503
    assert body["ok"] is False
    assert body["error"]["code"] == "health.not_ready"
    assert body["error"]["details"] == {"state": "booting"}


async def test_ready_without_checks() -> None:
    health = ready_registry()
    assert await health.ready() == (200, {"ok": True, "data": {"status": "ready", "checks": {}}})


async def test_draining_is_not_ready_and_does_not_run_checks() -> None:
    calls = []
    health = ready_registry()
    health.register("db", lambda: calls.append(1))
    health.mark_draining()
    status, body = await health.ready()
    assert status == 503
    assert body["error"]["details"] == {"state": "draining"}
    assert calls == []
    assert (await health.live())[0] == 200


def test_draining_cannot_become_ready_again() -> None:
    health = ready_registry()
    health.mark_draining()
    with pytest.raises(MegaError) as info:
        health.mark_ready()
    assert info.value.code == "health.invalid_state"
    assert health.state == "draining"


# -- checks -------------------------------------------------------------------------------------


async def test_sync_and_async_checks_that_pass() -> None:
    async def db() -> bool:
        await asyncio.sleep(0)
        return True

    health = ready_registry()
    health.register("db", db)
    health.register("config", lambda: None)
    health.register("cache", lambda: {"ok": True, "keys": 3})
    status, body = await health.ready()
    assert status == 200
    assert body["data"]["checks"] == {"db": "ok", "config": "ok", "cache": "ok"}


@pytest.mark.parametrize("result", [False, {"ok": False}, {"ok": False, "lag": 12}])
async def test_false_results_fail(result: Any) -> None:
    health = ready_registry()
    health.register("replica", lambda: result)
    health.register("db", lambda: True)
    status, body = await health.ready()
    assert status == 503
    error = body["error"]
    assert error["code"] == "health.check_failed"
    assert "replica" in error["message"]
    assert error["details"]["failed"] == ["replica"]
    assert error["details"]["checks"] == {"replica": "failed", "db": "ok"}


async def test_exceptions_fail_and_are_logged_on_one_line_without_a_traceback(
        records: list[logging.LogRecord]) -> None:
    def db() -> None:
        raise ConnectionError("db.internal:5432 refused\nretry later")

    health = ready_registry()
    health.register("db", db)
    status, body = await health.ready()
    assert status == 503
    assert body["error"]["details"]["failed"] == ["db"]
    warning, debug = [r for r in records if r.name == "mega.health"]
    assert warning.levelno == logging.WARNING
    expected = "health check db failed: ConnectionError: db.internal:5432 refused retry later"
    assert warning.getMessage() == expected
    assert warning.exc_info is None
    # The traceback, for a check's own bug, only at debug level.
    assert debug.levelno == logging.DEBUG and debug.getMessage() == "health check db raised"
    assert debug.exc_info is not None and isinstance(debug.exc_info[1], ConnectionError)


async def test_failures_are_logged_when_the_state_changes_not_per_probe(
        records: list[logging.LogRecord]) -> None:
    up = True

    def cache() -> bool:
        if not up:
            raise ConnectionError("refused")
        return True

    health = ready_registry()
    health.register("cache", cache)
    health.register("db", lambda: True)

    def lines() -> list[tuple[str, str]]:
        return [(r.levelname, r.getMessage()) for r in records
                if r.name == "mega.health" and r.levelno >= logging.INFO]

    assert (await health.ready())[0] == 200
    assert lines() == []  # passing from the start: nothing to say
    up = False
    for _ in range(20):
        assert (await health.ready())[0] == 503
    assert lines() == [("WARNING", "health check cache failed: ConnectionError: refused")]
    up = True
    for _ in range(5):
        assert (await health.ready())[0] == 200
    assert len(lines()) == 2
    assert lines()[1][0] == "INFO"
    assert lines()[1][1].startswith("health check cache passes again (failed for ")
    up = False
    assert (await health.ready())[0] == 503
    assert len(lines()) == 3 and lines()[2][0] == "WARNING"  # a new outage is told again


async def test_a_mega_error_reason_names_its_code_and_the_driver_error_under_it() -> None:
    async def cache() -> None:
        try:
            raise ConnectionRefusedError(111, "Connection refused")
        except OSError as exc:
            raise MegaError("cache.unavailable", "cache 'pages' (redis) failed during ping",
                            hint="check that the service runs") from exc

    health = ready_registry(expose_details=True)
    health.register("cache", cache)
    _, body = await health.ready()
    reason = body["error"]["details"]["check_details"]["cache"]["reason"]
    assert reason == ("cache.unavailable: cache 'pages' (redis) failed during ping "
                      "(ConnectionRefusedError: [Errno 111] Connection refused)")


async def test_a_long_reason_is_cut() -> None:
    health = ready_registry(expose_details=True)
    health.register("db", lambda: {"ok": False, "reason": "x" * 5000})
    _, body = await health.ready()
    reason = body["error"]["details"]["check_details"]["db"]["reason"]
    assert len(reason) == 500 and reason.endswith("...")


async def test_slow_checks_time_out() -> None:
    async def slow() -> None:
        await asyncio.sleep(60)

    health = ready_registry(check_timeout=0.05, expose_details=True)
    health.register("slow", slow)
    started = time.perf_counter()
    status, body = await health.ready()
    assert time.perf_counter() - started < 10  # the check's 60 s were not waited out
    assert status == 503
    assert body["error"]["details"]["check_details"]["slow"]["reason"] == "timed out after 0.05s"


async def test_a_checks_own_timeout_overrides_the_default() -> None:
    async def slowish() -> None:
        await asyncio.sleep(0.1)

    health = ready_registry(check_timeout=0.01)
    health.register("slowish", slowish, timeout=1.0)
    assert (await health.ready())[0] == 200


async def test_a_timeout_raised_by_the_check_itself_is_not_reported_as_ours() -> None:
    async def client_timeout() -> None:
        raise TimeoutError("redis read timed out")

    health = ready_registry(expose_details=True)
    health.register("redis", client_timeout)
    _, body = await health.ready()
    reason = body["error"]["details"]["check_details"]["redis"]["reason"]
    assert reason == "TimeoutError: redis read timed out"


async def test_checks_run_concurrently() -> None:
    # Each check returns only once all three have started: run one after another, the first times out.
    started: list[str] = []
    all_started = asyncio.Event()

    def check(name: str) -> Callable[[], Awaitable[None]]:
        async def wait() -> None:
            started.append(name)
            if len(started) == 3:
                all_started.set()
            await all_started.wait()
        return wait

    health = ready_registry(check_timeout=5)
    for name in ("a", "b", "c"):
        health.register(name, check(name))
    assert (await health.ready())[0] == 200
    assert sorted(started) == ["a", "b", "c"]


# -- exposure -----------------------------------------------------------------------------------


async def test_details_are_hidden_by_default() -> None:
    def db() -> None:
        raise ConnectionError("password=hunter2 refused")

    health = ready_registry()
    health.register("db", db)
    health.register("cache", lambda: {"ok": False, "host": "10.0.0.7"})
    health.register("queue", lambda: {"ok": True, "depth": 99})
    status, body = await health.ready()
    text = orjson.dumps(body).decode()
    assert status == 503
    assert "hunter2" not in text and "ConnectionError" not in text
    assert "10.0.0.7" not in text and "99" not in text
    assert body["error"]["details"] == {"failed": ["db", "cache"],
                                        "checks": {"db": "failed", "cache": "failed", "queue": "ok"}}
    health.unregister("db")
    health.unregister("cache")
    status, body = await health.ready()
    assert body == {"ok": True, "data": {"status": "ready", "checks": {"queue": "ok"}}}


async def test_details_are_shown_when_exposed() -> None:
    def db() -> None:
        raise ConnectionError("refused")

    health = ready_registry(expose_details=True)
    health.register("db", db)
    health.register("cache", lambda: {"ok": False, "reason": "evicting", "used": 0.97})
    health.register("queue", lambda: {"ok": True, "depth": 99})
    status, body = await health.ready()
    assert status == 503
    details = body["error"]["details"]["check_details"]
    assert details["db"]["reason"] == "ConnectionError: refused"
    assert details["cache"]["reason"] == "evicting"
    assert details["cache"]["used"] == 0.97
    assert details["queue"]["depth"] == 99
    assert "reason" not in details["queue"]
    assert body["error"]["details"]["checks"] == {"db": "failed", "cache": "failed", "queue": "ok"}


async def test_exposed_details_on_success() -> None:
    health = ready_registry(expose_details=True)
    health.register("queue", lambda: {"ok": True, "depth": 3})
    status, body = await health.ready()
    assert status == 200
    assert body["data"]["checks"] == {"queue": "ok"}
    assert body["data"]["check_details"]["queue"]["depth"] == 3
    assert body["data"]["check_details"]["queue"]["duration_ms"] >= 0


# -- registration -------------------------------------------------------------------------------


def test_duplicate_names_are_refused_with_a_hint() -> None:
    health = HealthRegistry()
    health.register("db", lambda: True)
    with pytest.raises(MegaError) as info:
        health.register("db", lambda: True)
    assert info.value.code == "health.duplicate_check"
    assert info.value.hint is not None and "unregister" in info.value.hint


async def test_unregister_then_register_again() -> None:
    health = ready_registry()
    health.register("db", lambda: False)
    assert health.unregister("db") is True
    assert health.unregister("db") is False
    health.register("db", lambda: True)
    assert (await health.ready())[0] == 200


@pytest.mark.parametrize(("name", "fn", "timeout"), [
    ("", lambda: True, None),
    ("has space", lambda: True, None),
    (3, lambda: True, None),
    ("db", "not callable", None),
    ("db", lambda: True, 0),
    ("db", lambda: True, -1.0),
    ("db", lambda: True, "2"),
])
def test_invalid_checks_are_refused(name: Any, fn: Any, timeout: Any) -> None:
    with pytest.raises(MegaError) as info:
        HealthRegistry().register(name, fn, timeout=timeout)
    assert info.value.code == "health.invalid_check"


# -- best-effort checks and concurrency ---------------------------------------------------------


async def test_a_failing_best_effort_check_is_degraded_and_never_fails_readiness() -> None:
    health = ready_registry()
    health.register("db", lambda: True)
    health.register("breaker:payments", lambda: {"ok": False, "reason": "open", "state": "open"},
                    best_effort=True)
    status, body = await health.ready()
    assert status == 200
    assert body["data"]["checks"] == {"db": "ok", "breaker:payments": "degraded"}
    assert "check_details" not in body["data"]  # no reason or detail value unless opted in


async def test_a_best_effort_check_does_not_hide_a_real_failure() -> None:
    health = ready_registry()
    health.register("db", lambda: False)
    health.register("hub:main", lambda: False, best_effort=True)
    status, body = await health.ready()
    assert status == 503
    assert body["error"]["details"]["failed"] == ["db"]
    assert body["error"]["details"]["checks"] == {"db": "failed", "hub:main": "degraded"}


async def test_exposed_details_carry_each_checks_status_and_latency() -> None:
    health = ready_registry(expose_details=True)

    async def slow() -> bool:
        await asyncio.sleep(0.05)
        return True

    health.register("db", slow)
    health.register("hub:main", lambda: {"ok": False, "reason": "no peers"}, best_effort=True)
    status, body = await health.ready()
    details = body["data"]["check_details"]
    assert status == 200
    assert details["db"]["status"] == "ok" and details["db"]["duration_ms"] >= 40
    assert details["hub:main"] == {"status": "degraded", "reason": "no peers",
                                   "duration_ms": details["hub:main"]["duration_ms"]}


async def test_checks_run_concurrently_each_in_its_own_time_box() -> None:
    health = ready_registry(check_timeout=5)

    async def hangs() -> None:
        await asyncio.sleep(60)

    async def takes(seconds: float) -> bool:
        await asyncio.sleep(seconds)
        return True

    health.register("hangs", hangs, timeout=0.3)
    for i in range(5):
        health.register(f"slow{i}", lambda: takes(0.3))
    started = time.monotonic()
    status, body = await health.ready()
    elapsed = time.monotonic() - started
    assert status == 503 and body["error"]["details"]["failed"] == ["hangs"]
    assert elapsed < 1.2  # six 0.3 s checks side by side, not 1.8 s one after another
