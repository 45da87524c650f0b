"""The loop of `mega scheduler`: one timer per schedule, reading the wall clock.

Each timer sleeps toward its next fire time in steps of at most `poll` s (so a clock jump is seen
within one step), then looks at every fire time that came due since it last looked: the latest runs
once if it is at most `misfire_grace` late, the others are one `skip` with reason `missed` and their
count. Fire times before the scheduler started are never replayed; a fire still running when the next
one comes makes that one a `skip` with reason `still-running`.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

from mega.schedules._schedule import FireResult, ScheduleDef, Schedules, fire, iso

__all__ = ["Scheduler"]

log = logging.getLogger("mega.schedules")

MAX_COUNT = 1_000_000  # missed fires counted one by one up to this many (a year of seconds is more)


def _now() -> datetime:
    return datetime.now(UTC)


class Scheduler:
    """Runs the timers of `entries` ((app schedules, definition) pairs) until `stop()`."""

    def __init__(self, entries: list[tuple[Schedules, ScheduleDef]], *, poll: float = 1.0) -> None:
        self.entries = entries
        self.poll = poll
        self.results: list[FireResult] = []  # the last fires (bounded), for health and tests
        self._stopping = asyncio.Event()
        self._runs: set[asyncio.Task[FireResult]] = set()
        self._timers: list[asyncio.Task[None]] = []

    async def run(self) -> None:
        """Run every timer until `stop()`; then wait for the runs in flight."""
        self._timers = [asyncio.get_running_loop().create_task(self._timer(s, d), name=f"schedule {d.name}")
                        for s, d in self.entries]
        try:
            await self._stopping.wait()
        finally:
            for task in self._timers:
                task.cancel()
            await asyncio.gather(*self._timers, return_exceptions=True)

    def stop(self) -> None:
        self._stopping.set()

    @property
    def running(self) -> int:
        return len(self._runs)

    async def drain(self, timeout: float | None = None) -> bool:
        """Wait for the runs in flight (up to `timeout` s); True when none is left."""
        if self._runs:
            await asyncio.wait(list(self._runs), timeout=timeout)
        return not self._runs

    def cancel_runs(self) -> None:
        for task in list(self._runs):
            task.cancel()

    async def _timer(self, schedules: Schedules, sdef: ScheduleDef) -> None:
        grace = schedules.settings.misfire_grace
        looked = _now()  # downtime is not replayed
        last_fire = looked
        current: asyncio.Task[FireResult] | None = None
        while not self._stopping.is_set():
            due = sdef.cron.next_after(max(looked, last_fire))
            now = _now()
            while now < due and not self._stopping.is_set():
                await asyncio.sleep(min(self.poll, (due - now).total_seconds()))
                now = _now()
            if self._stopping.is_set():
                return
            if now < looked:  # the clock went back: fires already looked at are not run again
                looked = now
                continue
            latest, count, t = due, 0, due
            while t <= now and count < MAX_COUNT:
                latest, count = t, count + 1
                t = sdef.cron.next_after(t)
            looked, last_fire = now, latest
            late = (now - latest).total_seconds()
            runs = late <= grace
            missed = count - 1 if runs else count
            base = {"name": sdef.name, "app": schedules.app.name, "fire_time": latest, "key": sdef.lock_key,
                    "error": None}
            if missed:
                log.warning("schedule %s: %d fire(s) missed (the process stalled or the clock jumped)",
                            sdef.name, missed)
                await schedules.emit("skip", {**base, "reason": "missed", "count": missed})
            if not runs:
                continue
            if current is not None and not current.done():
                log.info("schedule %s: fire %s skipped: still-running", sdef.name, iso(latest))
                await schedules.emit("skip", {**base, "reason": "still-running"})
                continue
            current = asyncio.get_running_loop().create_task(fire(schedules, sdef, latest))
            self._runs.add(current)
            current.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[FireResult]) -> None:
        self._runs.discard(task)
        if not task.cancelled() and task.exception() is None:
            self.results.append(task.result())
            del self.results[:-100]


def entries_of(apps: Any, only: list[str] | None = None) -> list[tuple[Schedules, ScheduleDef]]:
    """Every (schedules, definition) of the booted apps, or only those named (`Name` or `app:Name`)."""
    found = []
    for app in apps:
        schedules: Schedules | None = getattr(app, "schedules", None)
        if schedules is None:
            continue
        for name, sdef in schedules.defs.items():
            if only is None or name in only or f"{app.name}:{name}" in only:
                found.append((schedules, sdef))
    return found
