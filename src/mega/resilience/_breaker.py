"""`CircuitBreaker`: stop calling a failing dependency for a while, then probe it.

closed --(failure_threshold failures within window)--> open
open --(reset_timeout elapsed, noticed by the next call or `state`)--> half_open
half_open: at most `half_open_max_calls` calls run at once (the probes); others are rejected.
  a probe fails --> open again, with a fresh timer
  `success_threshold` probes succeed --> closed (the failure count starts over)

State lives in this process (each worker of a cluster has its own breakers).
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from mega.config._checks import parse_duration
from mega.errors import MegaError

if TYPE_CHECKING:
    from mega.observe.health import HealthRegistry

__all__ = [
    "EVENTS",
    "STATES",
    "BreakerEvent",
    "BreakerOpenError",
    "CircuitBreaker",
    "attach_health",
    "breaker_names",
    "detach_health",
    "forget_breakers",
    "get_breaker",
    "observe_breakers",
    "reset_breakers",
]

T = TypeVar("T")
P = ParamSpec("P")
STATES = ("closed", "open", "half_open")
EVENTS = ("state_change", "success", "failure", "reject", "fallback")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:/-]{0,90}")

log = logging.getLogger("mega.breaker")


@dataclass(frozen=True, slots=True)
class BreakerEvent:
    """One event of one breaker, as `on` handlers and `observe_breakers` observers receive it."""

    breaker: str
    kind: str  # one of EVENTS
    state: str  # the state after the event
    previous: str | None = None  # state_change: the state left
    error: BaseException | None = None  # failure, reject (the BreakerOpenError), fallback
    duration: float | None = None  # success, failure: seconds the call took


class BreakerOpenError(MegaError):
    """`breaker.open` (503): the breaker rejected the call; `retry_after` seconds until it probes again."""

    status = 503
    default_code = "breaker.open"

    def __init__(self, name: str, retry_after: float) -> None:
        seconds = max(1, round(retry_after + 0.499))  # whole seconds, rounded up, at least 1
        super().__init__(
            "breaker.open",
            f"circuit breaker {name!r} is open: calls are rejected for now",
            details={"breaker": name, "retry_after": seconds},
            hint="the dependency behind it failed repeatedly; retry after retry_after seconds",
        )
        self.retry_after = retry_after
        self.headers = [(b"retry-after", str(seconds).encode())]


Observer = Callable[[BreakerEvent], Any]
_registry: dict[str, CircuitBreaker] = {}
_pending: set[asyncio.Future[Any]] = set()  # async event handlers still running
_observers: list[Observer] = []
_health: list[HealthRegistry] = []  # the booted project's registry, when one is attached


class CircuitBreaker:
    """A named breaker: `await breaker.call(fn, *args)`, `@breaker` on an async function, or
    `async with breaker:`.

    `is_failure(exc)` decides whether an exception counts (default: every `Exception`; an exception it
    rejects is re-raised and counts as a success). `fallback(error)` (sync or async) answers rejected
    calls instead of raising `breaker.open`. `call_timeout` (seconds) turns a slow call into a failure
    that raises `breaker.timeout`. `clock` (seconds, monotonic) is for tests.
    """

    def __init__(
        self,
        name: str,
        *,
        failure_threshold: int = 5,
        window: float | str = 60,
        reset_timeout: float | str = 30,
        half_open_max_calls: int = 1,
        success_threshold: int = 1,
        call_timeout: float | str | None = None,
        is_failure: Callable[[BaseException], bool] | None = None,
        fallback: Callable[[BreakerOpenError], Any] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise _invalid(
                f"breaker name must be 1-91 letters, digits or '_.:/-', starting with a letter or "
                f"digit, got {name!r}",
                "name",
                "e.g. CircuitBreaker('payments')",
            )
        self.name = name
        self.failure_threshold = _count(failure_threshold, "failure_threshold")
        self.window = _seconds(window, "window")
        self.reset_timeout = _seconds(reset_timeout, "reset_timeout")
        self.half_open_max_calls = _count(half_open_max_calls, "half_open_max_calls")
        self.success_threshold = _count(success_threshold, "success_threshold")
        self.call_timeout = None if call_timeout is None else _seconds(call_timeout, "call_timeout")
        for option, fn in (("is_failure", is_failure), ("fallback", fallback), ("clock", clock)):
            if fn is not None and not callable(fn):
                raise _invalid(
                    f"{option} must be a function, got {fn!r}", option, f"pass a function as {option}"
                )
        self.is_failure = is_failure
        self.fallback = fallback
        self._clock = clock
        if name in _registry:
            raise MegaError(
                "breaker.duplicate_name",
                f"a circuit breaker named {name!r} already exists",
                details={"name": name},
                hint="share that breaker (mega.resilience.get_breaker(name)) or pick another name",
            )
        self._state = "closed"
        self._failures: deque[float] = deque()  # when each failure within the window happened
        self._opened_at = 0.0
        self._probes = 0  # half-open calls running
        self._successes = 0  # half-open successes so far
        self._generation = 0  # bumped on each state change: a late result of an older state is ignored
        self._handlers: dict[str, list[Observer]] = {kind: [] for kind in EVENTS}
        _registry[name] = self
        for health in _health:
            _register_check(health, self)

    # -- state ------------------------------------------------------------------------------

    @property
    def state(self) -> str:
        """ "closed", "open" or "half_open" (an open breaker past its reset_timeout reads half_open)."""
        self._tick()
        return self._state

    def retry_after(self) -> float:
        """Seconds until an open breaker admits a probe (0 unless open)."""
        self._tick()
        if self._state != "open":
            return 0.0
        return max(0.0, self._opened_at + self.reset_timeout - self._clock())

    def stats(self) -> dict[str, Any]:
        self._tick()
        self._prune(self._clock())
        return {
            "name": self.name,
            "state": self._state,
            "failures": len(self._failures),
            "retry_after": round(self.retry_after(), 3),
            "probes": self._probes,
        }

    def on(self, event: str, handler: Observer) -> Callable[[], None]:
        """Call `handler(BreakerEvent)` on each `event`; returns a function that removes it."""
        if event not in self._handlers:
            raise MegaError(
                "breaker.unknown_event",
                f"circuit breakers have no event {event!r}",
                details={"event": event, "valid": list(EVENTS)},
                hint=f"events: {', '.join(EVENTS)}",
            )
        if not callable(handler):
            raise _invalid(
                f"an event handler must be a function, got {handler!r}",
                "handler",
                "it receives a BreakerEvent",
            )
        self._handlers[event].append(handler)
        return lambda: self._handlers[event].remove(handler) if handler in self._handlers[event] else None

    # -- calls ------------------------------------------------------------------------------

    async def call(self, fn: Callable[P, Awaitable[T] | T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Run `fn(*args, **kwargs)` through the breaker (or answer with the fallback when it rejects)."""
        try:
            generation = self._admit()
        except BreakerOpenError as exc:
            return await self._reject(exc)  # type: ignore[no-any-return]
        started = self._clock()
        try:
            result = fn(*args, **kwargs)
            if inspect.isawaitable(result):
                result = await (result if self.call_timeout is None else self._time_boxed(result))
        except asyncio.CancelledError:
            self._release(generation)
            raise
        except BaseException as exc:
            self._record(generation, exc, started)
            raise
        self._record(generation, None, started)
        return result

    def __call__(self, func: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
        """`@breaker` on an async function: every call goes through `call`."""
        if not inspect.iscoroutinefunction(func):
            raise _invalid(
                f"@{self.name} decorates async functions, got {func!r}",
                "func",
                "use `await breaker.call(fn, ...)` for a sync function",
            )

        @functools.wraps(func)
        async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
            return await self.call(func, *args, **kwargs)

        return wrapper

    async def __aenter__(self) -> CircuitBreaker:
        """`async with breaker:` raises `breaker.open` when rejected (no fallback, no call_timeout)."""
        generation = self._admit()
        _entered.set((*_entered.get(), (self, generation, self._clock())))
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        stack = _entered.get()
        for i in range(len(stack) - 1, -1, -1):
            if stack[i][0] is self:
                _, generation, started = stack[i]
                _entered.set(stack[:i] + stack[i + 1 :])
                break
        else:  # pragma: no cover - __aexit__ without __aenter__
            return
        if isinstance(exc, asyncio.CancelledError):
            self._release(generation)
        else:
            self._record(generation, exc, started)

    async def _time_boxed(self, awaitable: Awaitable[T]) -> T:
        assert self.call_timeout is not None  # only called with one
        try:
            async with asyncio.timeout(self.call_timeout) as box:
                return await awaitable
        except TimeoutError as exc:
            if not box.expired():
                raise
            raise MegaError(
                "breaker.timeout",
                f"call through circuit breaker {self.name!r} took longer than {self.call_timeout:g}s",
                status=504,
                details={"breaker": self.name, "timeout": self.call_timeout},
                hint="the call counts as a failure; raise call_timeout if it is legitimately slow",
            ) from exc

    # -- transitions ------------------------------------------------------------------------

    def _tick(self) -> None:
        if self._state == "open" and self._clock() - self._opened_at >= self.reset_timeout:
            self._move("half_open")

    def _admit(self) -> int:
        """Let a call through (returning the generation it runs in), or raise BreakerOpenError."""
        self._tick()
        if self._state == "open":
            raise BreakerOpenError(self.name, self._opened_at + self.reset_timeout - self._clock())
        if self._state == "half_open":
            if self._probes >= self.half_open_max_calls:
                raise BreakerOpenError(self.name, 1.0)
            self._probes += 1
        return self._generation

    def _release(self, generation: int) -> None:
        if generation == self._generation and self._state == "half_open":
            self._probes -= 1

    def _record(self, generation: int, exc: BaseException | None, started: float) -> None:
        now = self._clock()
        failed = exc is not None and self._counts(exc)
        self._release(generation)
        stale = generation != self._generation  # it started in an earlier state: it only reports
        if not failed:
            self._emit("success", self._state, duration=now - started)
            if not stale and self._state == "half_open":
                self._successes += 1
                if self._successes >= self.success_threshold:
                    self._move("closed")
            return
        self._emit("failure", self._state, error=exc, duration=now - started)
        if stale or self._state == "open":
            return
        if self._state == "half_open":
            self._move("open")
            return
        self._failures.append(now)
        self._prune(now)
        if len(self._failures) >= self.failure_threshold:
            self._move("open")

    def _counts(self, exc: BaseException) -> bool:
        if not isinstance(exc, Exception):
            return False  # KeyboardInterrupt, SystemExit, GeneratorExit: not the dependency's fault
        if self.is_failure is None:
            return True
        try:
            return bool(self.is_failure(exc))
        except Exception:
            log.exception("circuit breaker %s: is_failure raised; counting the error as a failure", self.name)
            return True

    def _prune(self, now: float) -> None:
        while self._failures and now - self._failures[0] > self.window:
            self._failures.popleft()

    def _move(self, state: str) -> None:
        previous, self._state = self._state, state
        self._generation += 1
        self._probes = 0
        self._successes = 0
        if state == "open":
            self._opened_at = self._clock()
        if state == "closed":
            self._failures.clear()
        level = logging.WARNING if state == "open" else logging.INFO
        log.log(
            level,
            "circuit breaker %s: %s -> %s",
            self.name,
            previous,
            state,
            extra={"breaker": self.name, "breaker_state": state},
        )
        self._emit("state_change", state, previous=previous)

    async def _reject(self, error: BreakerOpenError) -> Any:
        self._emit("reject", self._state, error=error)
        if self.fallback is None:
            raise error
        result = self.fallback(error)
        if inspect.isawaitable(result):
            result = await result
        self._emit("fallback", self._state, error=error)
        return result

    def _emit(self, kind: str, state: str, **fields: Any) -> None:
        handlers = self._handlers[kind]
        if not handlers and not _observers:
            return  # nobody listens: no event object is built
        event = BreakerEvent(self.name, kind, state, **fields)
        for handler in (*handlers, *_observers):
            try:
                result = handler(event)
                if inspect.isawaitable(result):  # a coroutine handler: run it, never wait for it
                    task = asyncio.ensure_future(result)
                    _pending.add(task)
                    task.add_done_callback(_pending.discard)
            except Exception:
                log.exception("circuit breaker %s: %s handler raised", self.name, kind)

    def __repr__(self) -> str:
        return f"CircuitBreaker({self.name!r}, state={self.state!r})"


# The `async with` blocks this task is in: (breaker, generation, start). Per task, as contexts are.
_entered: ContextVar[tuple[tuple[CircuitBreaker, int, float], ...]] = ContextVar("mega_breakers", default=())


# -- the process's breakers ----------------------------------------------------------------------


def get_breaker(name: str) -> CircuitBreaker:
    """The breaker created with `name`."""
    try:
        return _registry[name]
    except KeyError:
        raise MegaError(
            "breaker.not_found",
            f"no circuit breaker named {name!r}",
            details={"name": name, "known": sorted(_registry)},
            hint="create it first: CircuitBreaker(name, ...)",
        ) from None


def observe_breakers(observer: Observer) -> Callable[[], None]:
    """Call `observer(BreakerEvent)` for every event of every breaker (metrics attach here)."""
    _observers.append(observer)
    return lambda: _observers.remove(observer) if observer in _observers else None


def reset_breakers() -> None:
    """Forget every breaker and observer (tests)."""
    for health in _health:
        for name in _registry:
            health.unregister(f"breaker:{name}")
    _registry.clear()
    _observers.clear()


def breaker_names() -> set[str]:
    return set(_registry)


def forget_breakers(names: set[str]) -> None:
    """Drop the breakers named (a project's shutdown drops those its modules created: a next boot
    in this process imports them again)."""
    for name in names:
        if _registry.pop(name, None) is not None:
            for health in _health:
                health.unregister(f"breaker:{name}")


def attach_health(health: HealthRegistry) -> None:
    """Report every breaker, now and later, as a best-effort readiness check `breaker:<name>`."""
    _health.append(health)
    for breaker in _registry.values():
        _register_check(health, breaker)


def detach_health(health: HealthRegistry) -> None:
    if health in _health:
        _health.remove(health)
        for name in _registry:
            health.unregister(f"breaker:{name}")


def _register_check(health: HealthRegistry, breaker: CircuitBreaker) -> None:
    def check() -> dict[str, Any]:
        state = breaker.state
        if state == "open":
            return {
                "ok": False,
                "reason": f"open, probing again in {breaker.retry_after():.0f}s",
                "state": state,
            }
        return {"ok": True, "state": state}

    health.register(f"breaker:{breaker.name}", check, best_effort=True)


def _count(value: Any, option: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise _invalid(f"{option} must be an integer >= 1, got {value!r}", option, f"e.g. {option}=1")
    return value


def _seconds(value: Any, option: str) -> float:
    seconds = parse_duration(value)
    if seconds is None or not seconds > 0 or seconds == float("inf"):
        raise _invalid(
            f"{option} must be a duration > 0 (seconds, or a string like '30s'), got {value!r}",
            option,
            f"e.g. {option}=30 or '30s'",
        )
    return seconds


def _invalid(message: str, option: str, hint: str) -> MegaError:
    return MegaError("breaker.invalid_option", message, details={"option": option}, hint=hint)
