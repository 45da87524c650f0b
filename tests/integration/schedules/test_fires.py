"""One fire through the app's lock (events, reasons, phases) and the scheduler's clock: DST days, a
1 h clock jump and a stall (time-machine), a run still going when the next fire comes."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine

from mega.errors import MegaError
from mega.lock.contract import LockError
from mega.schedules import Scheduler
from mega.schedules._scheduler import entries_of
from mega.testing import running, write_project

pytestmark = pytest.mark.integration

SCHEDULES = '''
    import asyncio
    import time

    from mega.schedules import Schedule

    RUNS = []


    class Locked(Schedule):
        cron = "0 3 * * *"
        lock = {"ttl": 1, "key": "KEY"}

        async def run(self, ctx):
            RUNS.append(("Locked", ctx.fire_time))
            return "done"


    class Free(Schedule):
        cron = "*/30 * * * *"
        timezone = "Europe/Berlin"

        async def run(self, ctx):
            RUNS.append(("Free", ctx.fire_time))


    class Nightly(Schedule):
        cron = "30 2 * * *"
        timezone = "Europe/Berlin"

        async def run(self, ctx):
            RUNS.append(("Nightly", ctx.fire_time))


    class Minutely(Schedule):
        cron = "* * * * *"

        async def run(self, ctx):
            RUNS.append(("Minutely", ctx.fire_time))


    class Failing(Schedule):
        cron = "@daily"
        lock = {"ttl": 1, "key": "KEY-failing"}

        async def run(self, ctx):
            raise RuntimeError("broken")


    class Paused(Schedule):
        cron = "@daily"
        lock = {"ttl": 0.5, "key": "KEY-paused"}

        async def run(self, ctx):
            time.sleep(0.9)  # the process stalls past the lock's ttl
            await asyncio.sleep(0.05)
            return "late"


    class Slow(Schedule):
        cron = "* * * * * *"

        async def run(self, ctx):
            await asyncio.sleep(2.5)
'''


def project(root: Path, key: str) -> Path:
    return write_project(root, {
        "mega_config.py": 'config = {"logger": {"level": "warning"}, "schedules": {"misfire_grace": 60}}\n',
        "apps/main/schedules/all.py": SCHEDULES.replace("KEY", key),
    })


class Events:
    def __init__(self, schedules: Any) -> None:
        self.seen: list[tuple[str, dict[str, Any]]] = []
        for name in ("fire", "skip", "fail"):
            schedules.on(name, lambda payload, name=name: self.seen.append((name, payload)))

    def of(self, kind: str, name: str) -> list[dict[str, Any]]:
        return [p for k, p in self.seen if k == kind and p["name"] == name]


@pytest.fixture
async def rt(tmp_path: Path, request: pytest.FixtureRequest) -> Any:
    key = f"test:{request.node.name}:{time.time_ns()}"
    async with running(project(tmp_path, key)) as runtime:
        runtime.key = key
        yield runtime


def runs(rt: Any) -> list[tuple[str, datetime]]:
    import apps.main.schedules.all as module  # the project's module, imported by the boot

    return module.RUNS


async def test_a_locked_fire_runs_once_and_a_second_try_of_the_same_fire_is_lock_held(rt: Any) -> None:
    schedules = rt.apps["main"].schedules
    events = Events(schedules)
    at = datetime(2026, 5, 1, 3, 0, tzinfo=UTC)
    first = await schedules.fire("Locked", at)
    again = await schedules.fire("Locked", at)  # a peer whose timer fired a little later
    assert (first.ran, first.ok, first.result) == (True, True, "done")
    assert (again.ran, again.skipped, again.reason) == (False, True, "lock-held")
    assert runs(rt) == [("Locked", at)]
    assert [k for k, _ in events.seen] == ["fire", "skip"]
    assert events.of("skip", "Locked")[0]["claimed"] is True
    # The claim is left to expire, the lock itself was released: the next fire time runs.
    assert (await schedules.fire("Locked", at + timedelta(days=1))).ran
    lock = rt.apps["main"].lock
    assert (await lock.stats())["held"] == 0


async def test_a_held_lock_makes_the_fire_a_lock_held_skip(rt: Any) -> None:
    schedules, lock = rt.apps["main"].schedules, rt.apps["main"].lock
    events = Events(schedules)
    held = await lock.acquire(rt.key, ttl=5, wait=0)  # another instance runs an earlier fire
    try:
        result = await schedules.fire("Locked")
    finally:
        await lock.release(held)
    assert (result.ran, result.reason) == (False, "lock-held")
    assert isinstance(events.of("skip", "Locked")[0]["error"], LockError)
    assert runs(rt) == []


async def test_a_failing_run_is_a_fail_event_with_phase_run(rt: Any) -> None:
    schedules = rt.apps["main"].schedules
    events = Events(schedules)
    result = await schedules.fire("Failing")
    assert (result.ran, result.ok, result.phases) == (True, False, ["run"])
    assert str(events.of("fail", "Failing")[0]["error"]) == "broken"
    assert events.of("fail", "Failing")[0]["phase"] == "run"


async def test_a_lock_lost_during_the_run_is_phase_lock_extend_with_the_result(rt: Any) -> None:
    schedules = rt.apps["main"].schedules
    events = Events(schedules)
    result = await schedules.fire("Paused")
    assert (result.ran, result.ok, result.result) == (True, True, "late")
    assert [p["phase"] for p in events.of("fail", "Paused")] == ["lock-extend"]


async def test_a_release_that_fails_is_phase_release(rt: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    schedules, lock = rt.apps["main"].schedules, rt.apps["main"].lock
    events = Events(schedules)
    release = lock.release

    async def failing_release(held: Any) -> None:
        await release(held)  # the key is given back; the backend's answer is lost on the way
        raise LockError("lock.backend_unavailable", "connection reset during release", status=503)

    monkeypatch.setattr(lock, "release", failing_release)
    result = await schedules.fire("Locked")
    assert (result.ran, result.ok, result.result) == (True, True, "done")
    assert [p["phase"] for p in events.of("fail", "Locked")] == ["release"]


async def test_unknown_events_and_names_are_refused(rt: Any) -> None:
    schedules = rt.apps["main"].schedules
    with pytest.raises(MegaError) as caught:
        schedules.on("done", print)
    assert caught.value.code == "schedule.unknown_event"
    with pytest.raises(MegaError) as caught:
        await schedules.fire("Nope")
    assert caught.value.code == "schedule.unknown"


async def test_a_raising_listener_is_logged_and_isolated(rt: Any, caplog: pytest.LogCaptureFixture) -> None:
    schedules = rt.apps["main"].schedules

    def broken(payload: dict[str, Any]) -> None:
        raise ValueError("listener bug")

    schedules.on("fire", broken)
    events = Events(schedules)
    with caplog.at_level(logging.ERROR, logger="mega.schedules"):
        result = await schedules.fire("Locked")
    assert result.ok and events.of("fire", "Locked")
    assert "listener failed" in caplog.text


async def run_clock(rt: Any, names: list[str], start: datetime, steps: list[timedelta]) -> Events:
    """Run a scheduler for `names` with the clock at `start`, then moved by each step in turn."""
    schedules = rt.apps["main"].schedules
    events = Events(schedules)
    with time_machine.travel(start, tick=False) as clock:
        timer = Scheduler(entries_of(rt.apps.values(), names), poll=0.002)
        task = asyncio.create_task(timer.run())
        await asyncio.sleep(0.05)
        for step in steps:
            clock.shift(step)
            await asyncio.sleep(0.03)
        await timer.drain(2)
        timer.stop()
        await task
    return events


def local(events: Events, name: str, zone: str = "Europe/Berlin") -> list[str]:
    return [p["fire_time"].astimezone(ZoneInfo(zone)).strftime("%H:%M%z") for p in events.of("fire", name)]


async def test_berlin_autumn_day_through_the_scheduler(rt: Any) -> None:
    start = datetime(2026, 10, 25, 1, 50, tzinfo=ZoneInfo("Europe/Berlin"))  # 23:50Z, CEST
    events = await run_clock(rt, ["Nightly", "Free"], start, [timedelta(minutes=5)] * 30)  # 2.5 h
    assert local(events, "Nightly") == ["02:30+0200"]  # the repeated 02:30 runs once
    assert local(events, "Free") == ["02:00+0200", "02:30+0200", "02:00+0100", "02:30+0100", "03:00+0100"]
    assert events.of("skip", "Nightly") == events.of("skip", "Free") == []


async def test_berlin_spring_day_through_the_scheduler(rt: Any) -> None:
    start = datetime(2026, 3, 29, 1, 50, tzinfo=ZoneInfo("Europe/Berlin"))  # 00:50Z, CET
    events = await run_clock(rt, ["Nightly", "Free"], start, [timedelta(minutes=5)] * 24)  # 2 h
    assert local(events, "Nightly") == ["03:00+0200"]  # 02:30 does not exist: the end of the gap
    assert local(events, "Free") == ["03:00+0200", "03:30+0200", "04:00+0200", "04:30+0200"]


async def test_new_york_autumn_day_through_the_scheduler(rt: Any) -> None:
    schedules = rt.apps["main"].schedules
    start = datetime(2026, 11, 1, 0, 50, tzinfo=ZoneInfo("America/New_York"))
    events = await run_clock(rt, ["Minutely"], start, [timedelta(minutes=1)] * 3)
    assert len(events.of("fire", "Minutely")) == 3
    assert schedules.defs["Minutely"].timezone == "UTC"


async def test_a_one_hour_clock_jump_runs_the_latest_once_and_counts_the_rest_missed(rt: Any) -> None:
    start = datetime(2026, 5, 1, 12, 0, 30, tzinfo=UTC)
    events = await run_clock(rt, ["Minutely"], start, [timedelta(hours=1)])
    thirteen = datetime(2026, 5, 1, 13, 0, tzinfo=UTC)
    assert [p["fire_time"] for p in events.of("fire", "Minutely")] == [thirteen]
    missed = events.of("skip", "Minutely")
    assert [(p["reason"], p["count"]) for p in missed] == [("missed", 59)]  # 12:01 ... 12:59
    assert runs(rt) == [("Minutely", datetime(2026, 5, 1, 13, 0, tzinfo=UTC))]


async def test_a_stall_runs_the_latest_fire_within_the_grace_once(rt: Any) -> None:
    start = datetime(2026, 5, 1, 12, 0, 30, tzinfo=UTC)
    # Stalled until 12:02:35: 12:02 is 35 s late (runs), 12:01 is missed; then 12:03 on time.
    events = await run_clock(rt, ["Minutely"], start, [timedelta(seconds=125), timedelta(seconds=30)])
    assert [p["fire_time"].strftime("%H:%M") for p in events.of("fire", "Minutely")] == ["12:02", "12:03"]
    assert [(p["reason"], p["count"]) for p in events.of("skip", "Minutely")] == [("missed", 1)]


async def test_a_fire_later_than_the_grace_is_missed_and_downtime_is_not_replayed(rt: Any) -> None:
    start = datetime(2026, 5, 1, 2, 59, 30, tzinfo=UTC)
    # 03:00 is seen at 03:01:30, 90 s late: past the 60 s grace, so it is one `missed`, never run.
    events = await run_clock(rt, ["Locked"], start, [timedelta(minutes=2), timedelta(minutes=2)])
    assert events.of("fire", "Locked") == [] and runs(rt) == []
    assert [(p["reason"], p["count"]) for p in events.of("skip", "Locked")] == [("missed", 1)]


async def test_a_run_still_going_makes_the_next_fire_a_still_running_skip(rt: Any) -> None:
    schedules = rt.apps["main"].schedules
    events = Events(schedules)
    timer = Scheduler(entries_of(rt.apps.values(), ["Slow"]), poll=0.05)
    task = asyncio.create_task(timer.run())
    await asyncio.sleep(3.2)
    timer.stop()
    await task
    await timer.drain(5)
    reasons = [p["reason"] for p in events.of("skip", "Slow")]
    assert len(events.of("fire", "Slow")) in (1, 2)
    assert reasons and set(reasons) == {"still-running"}
