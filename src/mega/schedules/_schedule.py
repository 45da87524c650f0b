"""`Schedule` classes, their checks at boot, and each app's `app.schedules` (events, `fire`).

One fire of a locked schedule, in order: take the schedule's lock (`wait=0`, extended while the run
lasts), then claim the fire itself (`<key>:<fire time>`, `wait=0`, never released: it expires), run,
release the lock. A peer whose timer fires a few ms later finds the lock taken, or, when the run was
that short, the fire claimed: it skips with `lock-held` and never runs the fire again.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar

from mega.app.ctx import Ctx
from mega.config._checks import parse_duration
from mega.errors import MegaError
from mega.lock.contract import Held, LockError
from mega.schedules._settings import DEFAULT, ScheduleSettings, zone

if TYPE_CHECKING:
    from mega.app.app import MegaApp
    from mega.schedules._cron import Cron

__all__ = ["EVENTS", "FireResult", "Schedule", "ScheduleDef", "Schedules", "check_schedule"]

log = logging.getLogger("mega.schedules")

EVENTS = ("fire", "skip", "fail")
MIN_LOCK_TTL = 0.5


class Schedule:
    """Subclass in `apps/<app>/schedules/<name>.py`:

        class Nightly(Schedule):
            cron = "0 3 * * *"                   # 5 fields, or 6 with leading seconds, or "@daily"
            timezone = "Europe/Berlin"           # default: schedules.timezone, else UTC
            lock = {"ttl": 30}                   # one instance runs it (key: mega:schedule:Nightly)

            async def run(self, ctx):
                ...
    """

    cron: ClassVar[str] = ""
    timezone: ClassVar[str | None] = None
    lock: ClassVar[dict[str, Any] | None] = None

    async def run(self, ctx: Any) -> Any:
        raise NotImplementedError


@dataclass(frozen=True)
class ScheduleDef:
    """A checked schedule class."""

    name: str
    cls: type[Schedule]
    cron: Cron
    timezone: str
    lock_ttl: float | None  # None: no lock
    lock_key: str
    source: str = ""

    @property
    def locked(self) -> bool:
        return self.lock_ttl is not None


@dataclass
class FireResult:
    """What one fire did: `ran` (run was called), `skipped` (with `reason`), `ok` (no error)."""

    name: str
    fire_time: datetime
    ran: bool = False
    skipped: bool = False
    ok: bool = False
    reason: str | None = None
    error: BaseException | None = None
    result: Any = None
    phases: list[str] = field(default_factory=list)  # the `fail` phases reported


def _invalid(code: str, cls: type, source: str, text: str, hint: str) -> MegaError:
    where = f"{source}: " if source else ""
    return MegaError(code, f"{where}schedule {cls.__name__} {text}",
                     details={"schedule": cls.__name__}, hint=hint)


def check_schedule(cls: type[Schedule], settings: ScheduleSettings = DEFAULT, *,
                   source: str = "") -> ScheduleDef:
    """The checked definition of a schedule class, or `schedule.invalid_*`."""
    from mega.schedules._cron import parse_cron  # cronsim: only for projects that have schedules

    tz_name = cls.timezone if cls.timezone is not None else settings.timezone
    try:
        tz = zone(tz_name)
    except ValueError as exc:
        raise _invalid("schedule.invalid_timezone", cls, source, f"timezone {exc}",
                       "an IANA name such as 'UTC', 'Europe/Berlin', 'America/New_York'") from None
    try:
        cron = parse_cron(cls.cron, tz)
    except ValueError as exc:
        raise _invalid("schedule.invalid_cron", cls, source, f"cron {cls.cron!r} {exc}",
                       "5 fields 'minute hour day month weekday' ('0 3 * * *'), 6 with leading seconds "
                       "('*/10 * * * * *'), or an alias: @hourly, @daily, @weekly, @monthly, "
                       "@yearly") from None
    ttl: float | None = None
    key = f"mega:schedule:{cls.__name__}"
    if cls.lock is not None:
        lock = cls.lock
        hint = "lock = {'ttl': 30} or {'ttl': '1m', 'key': 'reports:nightly'} (ttl at least 0.5 s)"
        if not isinstance(lock, dict) or set(lock) - {"ttl", "key"} or "ttl" not in lock:
            raise _invalid("schedule.invalid_lock", cls, source, f"lock must be a dict with 'ttl' (and "
                           f"optionally 'key'), got {lock!r}", hint)
        ttl = parse_duration(lock["ttl"])
        if ttl is None or not math.isfinite(ttl) or ttl < MIN_LOCK_TTL:
            raise _invalid("schedule.invalid_lock", cls, source, f"lock ttl must be at least "
                           f"{MIN_LOCK_TTL} s, got {lock['ttl']!r}", hint)
        if "key" in lock:
            if not isinstance(lock["key"], str) or not lock["key"].strip():
                raise _invalid("schedule.invalid_lock", cls, source,
                               f"lock key must be a non-empty string, got {lock['key']!r}", hint)
            key = lock["key"]
    run = getattr(cls, "run", None)
    if run is Schedule.run or not inspect.iscoroutinefunction(run):
        raise _invalid("schedule.invalid_run", cls, source, "must define `async def run(self, ctx)`",
                       "async def run(self, ctx): ...")
    return ScheduleDef(cls.__name__, cls, cron, str(tz_name), ttl, key, source)


Listener = Callable[[dict[str, Any]], Any]


class Schedules:
    """An app's schedules (`app.schedules`): `names`, `on(event, fn)`, `await fire(name)`."""

    def __init__(self, app: MegaApp, defs: list[ScheduleDef], settings: ScheduleSettings = DEFAULT) -> None:
        self.app = app
        self.defs: dict[str, ScheduleDef] = {d.name: d for d in defs}
        self.settings = settings
        self._listeners: dict[str, list[Listener]] = {name: [] for name in EVENTS}

    @property
    def names(self) -> list[str]:
        return list(self.defs)

    def get(self, name: str) -> ScheduleDef:
        found = self.defs.get(name)
        if found is None:
            raise MegaError("schedule.unknown", f"app '{self.app.name}' has no schedule named {name!r}",
                            details={"name": name, "schedules": self.names},
                            hint=f"schedules: {', '.join(self.names) or '(none)'}")
        return found

    def on(self, event: str, fn: Listener) -> Callable[[], None]:
        """Call `fn(payload)` (sync or async) on `fire`, `skip` or `fail`; returns an unsubscriber."""
        if event not in self._listeners:
            raise MegaError("schedule.unknown_event", f"schedules have no event {event!r}",
                            details={"event": event}, hint=f"events: {', '.join(EVENTS)}")
        self._listeners[event].append(fn)
        return lambda: self._listeners[event].remove(fn) if fn in self._listeners[event] else None

    async def emit(self, event: str, payload: dict[str, Any]) -> None:
        for fn in list(self._listeners[event]):
            try:
                result = fn(payload)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                log.exception("a schedule %r listener failed", event)

    async def fire(self, name: str, fire_time: datetime | None = None) -> FireResult:
        """Fire schedule `name` once now (or as the fire of `fire_time`), through its lock."""
        return await fire(self, self.get(name), fire_time or datetime.now(UTC).replace(microsecond=0))


def iso(t: datetime) -> str:
    fraction = f".{t.microsecond:06d}" if t.microsecond else ""
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S") + fraction + "Z"


async def fire(schedules: Schedules, sdef: ScheduleDef, fire_time: datetime) -> FireResult:
    """One fire of `sdef`: lock, claim, run, release; events at each step. Never raises (but cancellation)."""
    return await _Fire(schedules, sdef, fire_time).go()


class _Fire:
    def __init__(self, schedules: Schedules, sdef: ScheduleDef, fire_time: datetime) -> None:
        self.schedules, self.sdef, self.fire_time = schedules, sdef, fire_time
        self.app = schedules.app
        self.out = FireResult(sdef.name, fire_time)
        self.base = {"name": sdef.name, "app": self.app.name, "fire_time": fire_time, "key": sdef.lock_key}

    async def skip(self, reason: str, error: BaseException | None = None, **extra: Any) -> FireResult:
        self.out.skipped, self.out.reason, self.out.error = True, reason, error
        log.info("schedule %s: fire %s skipped: %s%s", self.sdef.name, iso(self.fire_time), reason,
                 f" ({error})" if error else "")
        await self.schedules.emit("skip", {**self.base, "reason": reason, "error": error, **extra})
        return self.out

    async def fail(self, phase: str, error: BaseException) -> None:
        self.out.phases.append(phase)
        log.warning("schedule %s: fire %s failed (%s): %s", self.sdef.name, iso(self.fire_time), phase,
                    error)
        await self.schedules.emit("fail", {**self.base, "phase": phase, "error": error})

    async def take(self, ttl: float) -> Held | FireResult:
        """The schedule's lock, this fire claimed; else the skip."""
        lock, sdef = self.app.lock, self.sdef
        try:
            held = await lock.acquire(sdef.lock_key, ttl, 0, auto_extend=True)
        except LockError as exc:
            return await self.skip("lock-held" if exc.code == "lock.timeout" else "lock-unavailable", exc)
        try:
            # Outlives every peer that could still fire this time (within misfire_grace of it).
            claimed = await lock.claim(f"{sdef.lock_key}:{iso(self.fire_time)}",
                                       ttl=self.schedules.settings.misfire_grace + ttl)
        except LockError as exc:
            await _release(lock, held)
            return await self.skip("lock-unavailable", exc)
        if not claimed:
            await _release(lock, held)
            return await self.skip("lock-held", None, claimed=True)
        return held

    async def watch(self, held: Held) -> None:
        await held.lost_event.wait()
        await self.fail("lock-extend", MegaError("lock.lost", f"the lock {self.sdef.lock_key!r} was lost "
                                                 f"while {self.sdef.name} ran: {held.lost_reason}"))

    async def release(self, held: Held, watcher: asyncio.Task[None]) -> None:
        if not watcher.done():
            watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)
        try:
            await self.app.lock.release(held)
        except LockError as exc:
            if exc.code != "lock.lost":
                await self.fail("release", exc)
            elif "lock-extend" not in self.out.phases:  # else reported when it happened
                await self.fail("lock-extend", exc)

    async def go(self) -> FireResult:
        held: Held | None = None
        watcher: asyncio.Task[None] | None = None
        if self.sdef.lock_ttl is not None:
            taken = await self.take(self.sdef.lock_ttl)
            if isinstance(taken, FireResult):
                return taken
            held = taken
            watcher = asyncio.get_running_loop().create_task(self.watch(held))
        await self.schedules.emit("fire", dict(self.base))
        self.out.ran = True
        try:
            ctx = Ctx(self.app, None, None)
            ctx.fire_time = self.fire_time  # which fire this run is (aware UTC): a key for idempotent writes
            self.out.result = await self.sdef.cls().run(ctx)
            self.out.ok = True
        except Exception as exc:
            self.out.error = exc
            await self.fail("run", exc)
        finally:
            if held is not None and watcher is not None:
                await self.release(held, watcher)
        return self.out  # with its result even when a lock phase failed around the run


async def _release(lock: Any, held: Any) -> None:
    try:
        await lock.release(held)
    except Exception as exc:  # it expires within its ttl
        log.warning("schedule lock %r: release failed: %s", held.key, exc)
