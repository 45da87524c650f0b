"""The lock contract: the `Lock` ABC every driver implements, the `Held` handle, the family's errors.

Public methods check their arguments and keep the books (stats, expiry, automatic extension,
loss); a driver implements only the `_do_*` primitives that talk to its backend, and translates its
client's exceptions into `lock.backend_unavailable` there. Seconds everywhere (floats allowed).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import math
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Coroutine
from types import FunctionType, MethodType, TracebackType
from typing import Any, ClassVar, TypeVar, overload

from mega._signature import positional
from mega.errors import MegaError

__all__ = ["DEFAULT_TTL", "DEFAULT_WAIT", "Held", "Lock", "LockError", "check_ttl", "check_wait"]

log = logging.getLogger("mega.lock")
T = TypeVar("T")

DEFAULT_TTL = 10.0
DEFAULT_WAIT = 5.0
EXTEND_EVERY = 1 / 3  # of the ttl: two extensions may fail before the lock expires

LOST_REASONS = {
    "expired": "its ttl passed without an extension",
    "backend_unavailable": "the backend was unreachable until its ttl passed",
    "not_owner": "the backend no longer holds it for this holder (expired there, taken, or its data lost)",
}


class LockError(MegaError):
    """A lock error; `status` is set per code (409 contention or loss, 503 backend, 500 misuse)."""

    default_code = "lock.backend_unavailable"


def check_ttl(ttl: Any) -> float:
    """A ttl in seconds: a finite number above zero."""
    if isinstance(ttl, bool) or not isinstance(ttl, int | float) or not math.isfinite(ttl) or ttl <= 0:
        raise LockError("lock.invalid_ttl", f"ttl must be a positive number of seconds, got {ttl!r}",
                        details={"ttl": repr(ttl)}, status=500,
                        hint="pass seconds (0.5, 10, 60); a holder in hold()/with_lock() is extended "
                             "every ttl/3, so ttl is how long a crashed holder blocks the key")
    return float(ttl)


def check_wait(wait: Any) -> float:
    """A wait in seconds: zero (try once), a positive number, or math.inf (wait forever)."""
    if isinstance(wait, bool) or not isinstance(wait, int | float) or math.isnan(wait) or wait < 0:
        raise LockError("lock.invalid_wait", f"wait must be a number of seconds >= 0, got {wait!r}",
                        details={"wait": repr(wait)}, status=500,
                        hint="wait=0 tries once; wait=5 waits up to 5 s; wait=math.inf waits forever")
    return float(wait)


def _check_key(key: Any) -> str:
    if type(key) is not str or not key:
        raise LockError("lock.invalid_key", f"a lock key must be a non-empty string, got {key!r}",
                        details={"key": repr(key)}, status=500, hint="e.g. 'invoice:42'")
    return key


def _takes_held(fn: Callable[..., Any]) -> bool:
    """True when `fn` has exactly one required positional parameter (with_lock then passes the Held).

    Plain functions, lambdas and bound methods are read off their code object (no `inspect` per call);
    anything else (partials, callable objects, decorated functions) through its signature.
    """
    func, bound = (fn.__func__, 1) if type(fn) is MethodType else (fn, 0)
    plain = not (hasattr(func, "__wrapped__") or hasattr(func, "__signature__"))
    if type(func) is FunctionType and plain:
        return func.__code__.co_argcount - len(func.__defaults__ or ()) - bound == 1
    shape = positional(fn)  # None: no signature to read (some builtins): call it without one
    return shape is not None and shape.required == 1


class Held:
    """A lock this process holds: `key`, fencing `token`, and whether it was `lost`."""

    __slots__ = ("_auto", "_event", "_name", "_owner", "_timer", "_valid_until", "_value", "key",
                 "lost", "lost_reason", "released", "token", "ttl")

    def __init__(self, owner: Lock, key: str, token: int, ttl: float, valid_until: float,
                 name: str = "", value: bytes = b"") -> None:
        self.key = key
        self.token = token
        self.ttl = ttl
        self.lost = False
        self.lost_reason: str | None = None
        self.released = False
        self._owner = owner
        self._valid_until = valid_until  # event-loop time; the backend may keep it a little longer
        self._name = name  # the driver's own name for the key (e.g. the prefixed Redis key)
        self._value = value  # the driver's proof of ownership (e.g. the Redis value)
        self._timer: asyncio.TimerHandle | asyncio.Task[None] | None = None
        self._event: asyncio.Event | None = None
        self._auto = False

    @property
    def lost_event(self) -> asyncio.Event:
        """Set the moment the lock is known lost (created on first use)."""
        if self._event is None:
            self._event = asyncio.Event()
            if self.lost:
                self._event.set()
        return self._event

    @property
    def remaining(self) -> float:
        """Seconds left before the lock expires unless extended (0 once lost or released)."""
        if self.lost or self.released:
            return 0.0
        return max(0.0, self._valid_until - asyncio.get_running_loop().time())

    def __repr__(self) -> str:
        state = "lost" if self.lost else "released" if self.released else "held"
        return f"<Held {self.key!r} token={self.token} {state}>"


class _Hold:
    """`async with lock.hold(key) as held:` — acquire with automatic extension, release on exit."""

    __slots__ = ("_held", "_key", "_lock", "_ttl", "_wait")

    def __init__(self, lock: Lock, key: str, ttl: float | None, wait: float | None) -> None:
        self._lock, self._key, self._ttl, self._wait = lock, key, ttl, wait
        self._held: Held | None = None

    async def __aenter__(self) -> Held:
        self._held = await self._lock.acquire(self._key, self._ttl, self._wait, auto_extend=True)
        return self._held

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        held, self._held = self._held, None
        if held is not None:
            await self._lock._release_section(held, failed=exc is not None)


class Lock(ABC):
    """A distributed (or in-process) lock with fencing tokens. One instance per app and backend."""

    driver: ClassVar[str] = ""

    def __init__(self, *, ttl: float = DEFAULT_TTL, wait: float = DEFAULT_WAIT, name: str = "lock") -> None:
        self.default_ttl = check_ttl(ttl)
        self.default_wait = check_wait(wait)
        self.name = name  # who owns it, for messages: "app 'web'"
        self._holding: set[Held] = set()
        self._listeners: list[Callable[[Held], Any]] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closed = False
        self._waiting = 0
        self.acquired = self.released = self.extended = self.timeouts = self.lost = self.errors = 0
        # Set when metrics are on: observe(seconds waited, "acquired" | "timeout").
        self.observe: Callable[[float, str], None] | None = None

    # -- public API ----------------------------------------------------------------------------

    async def acquire(self, key: str, ttl: float | None = None, wait: float | None = None, *,
                      auto_extend: bool = False) -> Held:
        """Take `key` for `ttl` s, waiting up to `wait` s (0: try once); `lock.timeout` when it stays held.

        With `auto_extend`, the lock is extended every ttl/3 until released (what `hold` does).
        """
        _check_key(key)
        ttl = self.default_ttl if ttl is None else check_ttl(ttl)
        wait = self.default_wait if wait is None else check_wait(wait)
        if self._closed:
            raise self._closed_error(key)
        self._waiting += 1
        observe = self.observe
        started = time.perf_counter() if observe is not None else 0.0
        try:
            held = await self._do_acquire(key, ttl, wait)
        finally:
            self._waiting -= 1
        if observe is not None:
            observe(time.perf_counter() - started, "timeout" if held is None else "acquired")
        if held is None:
            self.timeouts += 1
            raise self._timeout_error(key, ttl, wait)
        if self._closed:  # granted while the lock was closing
            held.released = True
            await self._release_quietly(held)
            raise self._closed_error(key)
        self.acquired += 1
        self._holding.add(held)
        loop = asyncio.get_running_loop()
        if auto_extend:
            held._auto = True
            held._timer = loop.call_at(held._valid_until - ttl * (1 - EXTEND_EVERY), self._start_keeper, held)
        else:
            held._timer = loop.call_at(held._valid_until, self._expire, held)
        return held

    async def release(self, held: Held) -> None:
        """Give the lock back (a second release does nothing); `lock.lost` if it was lost meanwhile.

        Safe under cancellation: a release interrupted by `CancelledError` finishes in the background.
        """
        self._check_owner(held)
        if held.released:
            return
        held.released = True
        self._holding.discard(held)
        if held._timer is not None:
            held._timer.cancel()
            held._timer = None
        try:
            ok = await self._do_release(held)
        except LockError as exc:
            if not held.lost:
                raise
            log.debug("%s: releasing the lost lock %r failed too: %s", self.name, held.key, exc)
            ok = True
        if not ok:
            self._lose(held, "not_owner")
        if held.lost:
            raise self._lost_error(held)
        self.released += 1

    async def extend(self, held: Held, ttl: float | None = None) -> None:
        """Reset the lock's ttl (to `ttl`, else its current ttl); `lock.lost` if it is gone."""
        self._check_owner(held)
        ttl = held.ttl if ttl is None else check_ttl(ttl)
        if held.lost:
            raise self._lost_error(held)
        if held.released:
            raise self._not_held(held, "it was released")
        loop = asyncio.get_running_loop()
        sent = loop.time()
        if not await self._do_extend(held, ttl):
            self._lose(held, "not_owner")
        if held.lost:
            raise self._lost_error(held)
        held.ttl = ttl
        held._valid_until = sent + ttl
        self.extended += 1
        if not held._auto and not held.released:
            if held._timer is not None:
                held._timer.cancel()
            held._timer = loop.call_at(held._valid_until, self._expire, held)

    async def claim(self, key: str, *, ttl: float) -> bool:
        """Take `key` once (`wait=0`) and leave it to expire after `ttl` s: never released, no fencing
        token, not released at `close()`, nothing left once it expired. True when taken, False when
        someone holds it. A marker that something was done (a schedule's fire) that peers must not redo.
        """
        _check_key(key)
        ttl = check_ttl(ttl)
        if self._closed:
            raise self._closed_error(key)
        return await self._do_claim(key, ttl)

    async def _do_claim(self, key: str, ttl: float) -> bool:
        """Default: an acquisition nobody releases; the driver is told when it expires (`_on_lost`)."""
        held = await self._do_acquire(key, ttl, 0)
        if held is None:
            return False
        held.lost, held.lost_reason = True, "expired"  # nobody will release or extend it
        asyncio.get_running_loop().call_at(held._valid_until, self._on_lost, held)
        return True

    def hold(self, key: str, *, ttl: float | None = None, wait: float | None = None) -> _Hold:
        """`async with lock.hold(key) as held:` — extended every ttl/3 while the block runs."""
        return _Hold(self, key, ttl, wait)

    @overload
    async def with_lock(self, key: str, fn: Callable[[], Awaitable[T]], *, ttl: float | None = None,
                        wait: float | None = None) -> T: ...

    @overload
    async def with_lock(self, key: str, fn: Callable[[Held], Awaitable[T]], *, ttl: float | None = None,
                        wait: float | None = None) -> T: ...

    @overload
    async def with_lock(self, key: str, fn: Callable[[], T], *, ttl: float | None = None,
                        wait: float | None = None) -> T: ...

    @overload
    async def with_lock(self, key: str, fn: Callable[[Held], T], *, ttl: float | None = None,
                        wait: float | None = None) -> T: ...

    async def with_lock(self, key: str, fn: Callable[..., Any], *, ttl: float | None = None,
                        wait: float | None = None) -> Any:
        """Run `fn()` (async or sync) holding `key`; returns its result. `lock.lost` if it was lost.

        A `fn` with one required positional parameter is called with the `Held` (its `token` is the
        fencing token to guard writes with).
        """
        pass_held = _takes_held(fn)  # before acquiring: nothing to work out inside the section
        async with self.hold(key, ttl=ttl, wait=wait) as held:
            result = fn(held) if pass_held else fn()
            if inspect.isawaitable(result):
                result = await result
            return result

    def on_lost(self, callback: Callable[[Held], Any]) -> Callable[[], None]:
        """Call `callback(held)` whenever a lock of this instance is lost; returns an unsubscriber."""
        self._listeners.append(callback)
        return lambda: self._listeners.remove(callback) if callback in self._listeners else None

    async def stats(self) -> dict[str, Any]:
        return {"driver": self.driver, "held": len(self._holding), "waiting": self._waiting,
                "acquired": self.acquired, "released": self.released, "extended": self.extended,
                "timeouts": self.timeouts, "lost": self.lost, "errors": self.errors}

    async def close(self) -> None:
        """Refuse new acquisitions, release what is still held, wake waiters with `lock.closed`."""
        if self._closed:
            return
        self._closed = True
        await self._do_close()
        for held in list(self._holding):
            try:
                await self.release(held)
            except LockError as exc:
                log.warning("%s: releasing %r at shutdown: %s", self.name, held.key, exc)
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=2.0)

    @property
    def closed(self) -> bool:
        return self._closed

    # -- driver primitives ---------------------------------------------------------------------

    @abstractmethod
    async def _do_acquire(self, key: str, ttl: float, wait: float) -> Held | None:
        """Take the key or wait for it (FIFO within this instance); None when `wait` elapsed.

        Cancelled after the backend granted the key, the driver must give it back.
        """

    @abstractmethod
    async def _do_release(self, held: Held) -> bool:
        """Give the key back if `held` still owns it; False when it did not (any more)."""

    @abstractmethod
    async def _do_extend(self, held: Held, ttl: float) -> bool:
        """Reset the key's ttl if `held` still owns it; False when it does not."""

    @abstractmethod
    async def _do_close(self) -> None:
        """Close what the driver opened and wake its waiters (they raise `lock.closed`)."""

    @abstractmethod
    def _on_lost(self, held: Held) -> None:
        """A held lock was declared lost (its ttl passed): a driver may hand the key on."""

    # -- books ---------------------------------------------------------------------------------

    async def _release_section(self, held: Held, *, failed: bool) -> None:
        """Release at the end of hold()/with_lock(): a failed body's own error wins over lock.lost."""
        try:
            await self.release(held)
        except LockError as exc:
            if failed:
                log.debug("%s: %s (the block raised first)", self.name, exc)
            elif exc.code == "lock.lost":
                raise
            else:  # the work is done; the key expires within its ttl
                log.warning("%s: could not release %r after the block: %s; it expires within %g s",
                            self.name, held.key, exc, held.ttl)

    async def _release_quietly(self, held: Held) -> None:
        try:
            await self._do_release(held)
        except LockError as exc:
            log.warning("%s: could not give back %r: %s", self.name, held.key, exc)

    def _start_keeper(self, held: Held) -> None:
        if not (held.released or held.lost):
            held._timer = self._spawn(self._keep(held))

    async def _keep(self, held: Held) -> None:
        """Extend every ttl/3; lost as soon as an extension is refused or the ttl passes without one."""
        loop = asyncio.get_running_loop()
        backend_down = False
        while not (held.released or held.lost):
            now = loop.time()
            if now >= held._valid_until:
                self._lose(held, "backend_unavailable" if backend_down else "expired")
                return
            try:
                async with asyncio.timeout_at(held._valid_until):  # a stuck call must not outlive the ttl
                    ok = await self._do_extend(held, held.ttl)
            except TimeoutError:
                backend_down = True
                continue  # the check above declares it lost
            except LockError as exc:
                if not backend_down:
                    log.warning("%s: extending %r failed (%s); retrying until its ttl passes",
                                self.name, held.key, exc)
                backend_down = True
                await asyncio.sleep(max(0.0, min(held.ttl / 6, held._valid_until - loop.time())))
                continue
            if held.released:
                return
            if not ok:
                self._lose(held, "not_owner")
                return
            held._valid_until = now + held.ttl
            self.extended += 1
            backend_down = False
            await asyncio.sleep(held.ttl * EXTEND_EVERY)

    def _expire(self, held: Held) -> None:
        if not held.released:
            self._lose(held, "expired")

    def _lose(self, held: Held, reason: str) -> None:
        if held.lost:
            return
        held.lost = True
        held.lost_reason = reason
        if held._event is not None:
            held._event.set()
        self.lost += 1
        log.warning("%s: lock %r (token %d) lost: %s", self.name, held.key, held.token,
                    LOST_REASONS.get(reason, reason), extra={"lock_key": held.key, "token": held.token})
        for callback in list(self._listeners):
            try:
                callback(held)
            except Exception:
                log.exception("%s: an on_lost callback failed", self.name)
        self._on_lost(held)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """A background task kept alive until done (and awaited by close())."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _check_owner(self, held: Any) -> None:
        if not isinstance(held, Held) or held._owner is not self:
            raise LockError("lock.not_held", f"{self.name}: {held!r} was not acquired from this lock",
                            details={"handle": repr(held)}, status=500,
                            hint="release or extend the Held that this lock's acquire() returned")

    # -- errors --------------------------------------------------------------------------------

    def _timeout_error(self, key: str, ttl: float, wait: float) -> LockError:
        waited = "tried once (wait=0)" if wait == 0 else f"waited {wait:g} s"
        return LockError("lock.timeout", f"{self.name}: lock {key!r} is held by another holder; {waited}",
                         details={"key": key, "wait": wait if math.isfinite(wait) else None},
                         status=409, hint="retry later, or pass a longer wait=")

    def _lost_error(self, held: Held) -> LockError:
        reason = held.lost_reason or "not_owner"
        return LockError("lock.lost", f"{self.name}: lock {held.key!r} (token {held.token}) was lost: "
                         f"{LOST_REASONS.get(reason, reason)}",
                         details={"key": held.key, "token": held.token, "reason": reason}, status=409,
                         hint="another holder may have run meanwhile: guard writes with held.token "
                              "(fencing), keep sections shorter than the ttl, or use hold()/with_lock()")

    def _not_held(self, held: Held, why: str) -> LockError:
        return LockError("lock.not_held", f"{self.name}: lock {held.key!r} is not held: {why}",
                         details={"key": held.key, "token": held.token}, status=500,
                         hint="acquire it again")

    def _closed_error(self, key: str) -> LockError:
        return LockError("lock.closed", f"{self.name}: the lock is closed (shutdown); cannot take {key!r}",
                         details={"key": key}, status=503, hint="take locks only while the app runs")

    def _backend_error(self, operation: str, key: str, exc: BaseException) -> LockError:
        self.errors += 1
        return LockError("lock.backend_unavailable", f"{self.name}: {operation} of lock {key!r} failed: "
                         f"the {self.driver} backend is unavailable ({type(exc).__name__}: {exc})",
                         details={"key": key, "operation": operation, "driver": self.driver,
                                  "error": type(exc).__name__}, status=503,
                         hint="check the lock's backend; this is an outage, not contention")
