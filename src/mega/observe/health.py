"""Liveness and readiness: the server's state plus named checks, each time-boxed, run concurrently."""

from __future__ import annotations

import asyncio
import inspect
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from time import monotonic, perf_counter
from typing import Any

from mega.errors import MegaError

__all__ = ["STATES", "CheckResult", "HealthRegistry"]

STATES = ("booting", "ready", "draining")
_REASON_MAX = 500  # characters of a failure reason: a driver's message can carry a whole query
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:/-]{0,99}")

log = logging.getLogger("mega.health")

CheckFn = Callable[[], Awaitable[Any] | Any]


@dataclass(frozen=True, slots=True)
class CheckResult:
    name: str
    ok: bool
    reason: str | None = None  # why it failed; never sent unless expose_details
    details: dict[str, Any] = field(default_factory=dict)
    duration_ms: float = 0.0
    error: BaseException | None = field(default=None, repr=False, compare=False)  # what the check raised
    best_effort: bool = False  # a failure is reported ("degraded") but never fails readiness

    @property
    def status(self) -> str:
        """"ok", "failed", or "degraded" (a best-effort check that fails)."""
        return "ok" if self.ok else "degraded" if self.best_effort else "failed"

    def exposed(self) -> dict[str, Any]:
        out: dict[str, Any] = {**self.details, "status": self.status,
                               "duration_ms": round(self.duration_ms, 3)}
        if self.reason is not None:
            out["reason"] = self.reason
        return out


@dataclass(frozen=True, slots=True)
class _Check:
    fn: CheckFn
    timeout: float | None
    best_effort: bool = False


class HealthRegistry:
    """`live()` answers while the process runs; `ready()` only when booted, not draining, checks passing.

    A check's failures are logged when its state changes, not per probe: one warning (the reason
    on one line) when it starts failing, one info line when it passes again. A probe every few
    seconds during an outage would otherwise fill the log with the same traceback.

    A check is a function of no arguments, sync or async. It passes when it returns without
    raising, and its result is neither `False` nor a dict with `"ok": False`; a dict's other keys
    are its details. Async checks are cancelled after their timeout. Sync checks run on the event
    loop and cannot be interrupted: keep them to cheap in-memory tests, and make anything that does
    I/O async.
    """

    def __init__(self, *, check_timeout: float = 2.0, expose_details: bool = False) -> None:
        self.check_timeout = check_timeout
        self.expose_details = expose_details
        self._state = "booting"
        self._checks: dict[str, _Check] = {}
        self._failing: dict[str, float] = {}  # check name -> when it started failing (monotonic)

    # -- state -----------------------------------------------------------------------------

    @property
    def state(self) -> str:
        return self._state

    def mark_ready(self) -> None:
        if self._state == "draining":  # draining is one-way: a stopping server never becomes ready again
            raise MegaError("health.invalid_state", "cannot mark a draining server ready",
                            hint="boot a new process instead")
        self._state = "ready"

    def mark_draining(self) -> None:
        self._state = "draining"

    # -- checks ----------------------------------------------------------------------------

    @property
    def names(self) -> list[str]:
        return list(self._checks)

    def register(self, name: str, fn: CheckFn, *, timeout: float | None = None,
                 best_effort: bool = False) -> None:
        """Add a readiness check; `timeout` (seconds) defaults to the registry's `check_timeout`.

        A `best_effort` check runs and is reported like the others, but its failure never fails
        readiness: it shows as "degraded" (for a component the app works without, such as a breaker).
        """
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise MegaError("health.invalid_check", f"health check name must be 1-100 letters, digits or "
                            f"'_.:/-', starting with a letter or digit, got {name!r}",
                            details={"name": repr(name)}, hint="e.g. 'db' or 'cache.primary'")
        if not callable(fn):
            raise MegaError("health.invalid_check", f"health check {name!r} must be a function of no "
                            f"arguments, got {type(fn).__name__}", details={"name": name})
        if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, int | float)
                                    or not timeout > 0):
            raise MegaError("health.invalid_check", f"health check {name!r} timeout must be a positive "
                            f"number of seconds, got {timeout!r}", details={"name": name})
        if name in self._checks:
            raise MegaError("health.duplicate_check", f"a health check named {name!r} is already registered",
                            details={"name": name}, hint=f"unregister({name!r}) first to replace it")
        self._checks[name] = _Check(fn, timeout, bool(best_effort))

    def unregister(self, name: str) -> bool:
        """Remove a check; False when there was none by that name."""
        self._failing.pop(name, None)
        return self._checks.pop(name, None) is not None

    async def run_checks(self) -> list[CheckResult]:
        """Run every check concurrently, each within its timeout; state changes are logged here."""
        results = await asyncio.gather(*(self._run(n, c) for n, c in list(self._checks.items())))
        for result in results:
            self._note(result)
        return list(results)

    def _note(self, result: CheckResult) -> None:
        """Log a check's change of state: passing -> failing (warning), failing -> passing (info)."""
        since = self._failing.get(result.name)
        if not result.ok and since is None:
            self._failing[result.name] = monotonic()
            log.warning("health check %s failed: %s", result.name, result.reason,
                        extra={"check": result.name, "check_state": "failing"})
            if result.error is not None:  # a check's own bug needs its traceback: once, at debug level
                log.debug("health check %s raised", result.name, exc_info=result.error,
                          extra={"check": result.name})
        elif result.ok and since is not None:
            del self._failing[result.name]
            log.info("health check %s passes again (failed for %.1fs)", result.name, monotonic() - since,
                     extra={"check": result.name, "check_state": "passing"})

    async def _run(self, name: str, check: _Check) -> CheckResult:
        result = await self._time_boxed(name, check)
        if check.best_effort:
            return CheckResult(result.name, result.ok, result.reason, result.details, result.duration_ms,
                               result.error, best_effort=True)
        return result

    async def _time_boxed(self, name: str, check: _Check) -> CheckResult:
        timeout = self.check_timeout if check.timeout is None else check.timeout
        box = asyncio.timeout(timeout)
        started = perf_counter()
        try:
            async with box:
                result = check.fn()
                if inspect.isawaitable(result):
                    result = await result
        except TimeoutError as exc:
            if not box.expired():  # the check's own TimeoutError (say, its client's) is an exception
                return self._failed(name, started, _describe(exc), error=exc)
            return self._failed(name, started, f"timed out after {timeout:g}s")
        except Exception as exc:
            return self._failed(name, started, _describe(exc), error=exc)
        elapsed = (perf_counter() - started) * 1000.0
        if result is False:
            return self._failed(name, started, "returned False")
        if isinstance(result, dict):
            details = {k: v for k, v in result.items() if k != "ok"}
            if result.get("ok", True) is False:
                reason = details.pop("reason", None)
                return self._failed(name, started, _one_line(str(reason)) if reason is not None
                                    else "returned ok=False", details)
            return CheckResult(name, True, None, details, elapsed)
        return CheckResult(name, True, None, {}, elapsed)

    def _failed(self, name: str, started: float, reason: str, details: dict[str, Any] | None = None, *,
                error: BaseException | None = None) -> CheckResult:
        return CheckResult(name, False, reason, details or {}, (perf_counter() - started) * 1000.0, error)

    # -- probes ----------------------------------------------------------------------------

    async def live(self) -> tuple[int, dict[str, Any]]:
        """The process is up and its loop answers: nothing else is tested."""
        return 200, {"ok": True, "data": {"status": "live"}}

    async def ready(self) -> tuple[int, dict[str, Any]]:
        """200 when ready and every check passes, else 503 with the error envelope."""
        if self._state != "ready":
            return 503, _error("health.not_ready", f"not ready: the server is {self._state}",
                               {"state": self._state})
        results = await self.run_checks()
        checks = {r.name: r.status for r in results}
        failed = [r.name for r in results if r.status == "failed"]
        if failed:
            details: dict[str, Any] = {"failed": failed, "checks": checks}
            if self.expose_details:
                details["check_details"] = {r.name: r.exposed() for r in results}
            return 503, _error("health.check_failed", f"health checks failed: {', '.join(failed)}", details)
        data: dict[str, Any] = {"status": "ready", "checks": checks}
        if self.expose_details:
            data["check_details"] = {r.name: r.exposed() for r in results}
        return 200, {"ok": True, "data": data}


def _describe(exc: BaseException) -> str:
    """One line for a failed check: the error, and the driver exception under a MegaError."""
    if isinstance(exc, MegaError):
        text = f"{exc.code}: {exc.message}"
        cause = exc.__cause__
        while isinstance(cause, MegaError):
            cause = cause.__cause__
        if cause is not None:  # the driver's own words: which host refused, which query failed
            text += f" ({type(cause).__name__}: {cause})"
    else:
        text = f"{type(exc).__name__}: {exc}"
    return _one_line(text)


def _one_line(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _REASON_MAX else text[: _REASON_MAX - 3] + "..."


def _error(code: str, message: str, details: dict[str, Any]) -> dict[str, Any]:
    return {"ok": False, "error": {"code": code, "message": message, "details": details}}
