"""Three `mega scheduler` processes, one locked every-second schedule, the runner `kill -9`ed again and
again: no fire time is ever run twice (a unique index in PostgreSQL says so), the processes that did
not run a fire say why (`lock-held`), and with the lock's Redis stopped every fire is `lock-unavailable`.

Runs ~25 s by default; MEGA_FULL_SCHEDULE_TESTS=1 runs the full 60 s with 5 kills.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from mega.testing import write_project
from tests import services
from tests.integration.lock._redis_server import RedisServer

pytestmark = pytest.mark.integration

FULL = os.environ.get("MEGA_FULL_SCHEDULE_TESTS") == "1"
DURATION = 60.0 if FULL else 24.0
KILLS = 5 if FULL else 3
SKIPPED = re.compile(r"schedule Beat: fire (\S+) skipped: ([a-z-]+)")
MISSED = re.compile(r"schedule Beat: (\d+) fire\(s\) missed")


def project(root: Path, redis_url: str, pg_url: str, table: str, prefix: str) -> Path:
    return write_project(root, {
        "mega_config.py": f"""
            config = {{"logger": {{"level": "info"}},
                      "services": {{"redis": {{"locks": {{"url": {redis_url!r}}}}}}},
                      "lock": {{"redis": "locks", "prefix": {prefix!r}}}}}
        """,
        "apps/main/schedules/beat.py": f"""
            import asyncio
            import os

            import asyncpg

            from mega.schedules import Schedule


            class Beat(Schedule):
                cron = "* * * * * *"
                lock = {{"ttl": 2}}

                async def run(self, ctx):
                    fired = ctx.fire_time  # the fire this run is (aware UTC)
                    conn = await asyncpg.connect({pg_url!r})
                    try:
                        await conn.execute("INSERT INTO {table}_attempts (fire_time, pid) VALUES ($1, $2)",
                                           fired, os.getpid())
                        await conn.execute("INSERT INTO {table} (schedule, fire_time, pid) "
                                           "VALUES ('Beat', $1, $2)", fired, os.getpid())
                    finally:
                        await conn.close()
                    await asyncio.sleep(0.6)  # holding the lock: a kill now leaves it held until its ttl
        """,
    })


def start(root: Path, logs: Path, n: int) -> tuple[subprocess.Popen[bytes], Path]:
    log = logs / f"scheduler-{n}.log"
    env = {**os.environ, "MEGA_ENV": "development", "PYTHONUNBUFFERED": "1"}
    env.pop("MEGA_TEST_RUN", None)
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "mega.cli.main", "--root", str(root), "scheduler"],
                                stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    return proc, log


def read_logs(logs: Path) -> tuple[dict[str, list[str]], int, list[str]]:
    """Skip reasons by fire time, missed fires, and failure lines."""
    reasons: dict[str, list[str]] = {}
    missed = 0
    failures = []
    for path in logs.glob("scheduler-*.log"):
        for line in path.read_text(errors="replace").splitlines():
            if m := SKIPPED.search(line):
                reasons.setdefault(m[1], []).append(m[2])
            elif m := MISSED.search(line):
                missed += int(m[1])
            elif "failed (" in line and "schedule Beat" in line:
                failures.append(line)
    return reasons, missed, failures


async def make_tables(pg_url: str, table: str) -> asyncpg.Connection:
    conn = await asyncpg.connect(pg_url)
    await conn.execute(f"CREATE TABLE {table} (schedule text NOT NULL, fire_time timestamptz NOT NULL, "
                       f"pid int NOT NULL, UNIQUE (schedule, fire_time))")
    await conn.execute(f"CREATE TABLE {table}_attempts (fire_time timestamptz NOT NULL, pid int NOT NULL)")
    return conn


def stop_all(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def test_three_schedulers_never_run_a_fire_twice_through_kill_9(tmp_path: Path) -> None:
    redis_url, pg_url = services.require("redis"), services.require("postgres")
    table = f"sched_fires_{uuid.uuid4().hex[:10]}"
    root = project(tmp_path / "p", redis_url, pg_url, table, f"mega:test:{table}:")
    logs = tmp_path / "logs"
    logs.mkdir()
    conn = await make_tables(pg_url, table)
    procs = [start(root, logs, n)[0] for n in range(3)]
    started = datetime.now(UTC)
    kills = 0
    killed: list[int] = []
    try:
        await asyncio.sleep(4.0)  # the three boot
        deadline = time.monotonic() + DURATION - 4.0
        every = (DURATION - 8.0) / KILLS
        next_kill = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            await asyncio.sleep(0.05)
            if kills < KILLS and time.monotonic() >= next_kill:
                row = await conn.fetchrow(f"SELECT pid, fire_time FROM {table} "
                                          "ORDER BY fire_time DESC LIMIT 1")
                running = row is not None and datetime.now(UTC) - row["fire_time"] < timedelta(seconds=0.4)
                live = [p for p in procs if p.poll() is None]
                runner = next((p for p in live if running and p.pid == row["pid"]), None)
                if runner is not None:
                    os.kill(runner.pid, signal.SIGKILL)  # the runner, in the middle of its run
                    runner.wait()
                    killed.append(runner.pid)
                    procs.remove(runner)
                    procs.append(start(root, logs, 10 + kills)[0])
                    kills += 1
                    next_kill = time.monotonic() + every
    finally:
        stop_all(procs)
    ended = datetime.now(UTC)
    try:
        rows = await conn.fetch(f"SELECT fire_time, pid FROM {table} ORDER BY fire_time")
        attempts = await conn.fetch(f"SELECT fire_time, count(*) AS n FROM {table}_attempts "
                                    "GROUP BY fire_time HAVING count(*) > 1")
    finally:
        await conn.execute(f"DROP TABLE {table}, {table}_attempts")
        await conn.close()
    reasons, missed, failures = read_logs(logs)
    seconds = int((ended - started).total_seconds())
    ran = {r["fire_time"].strftime("%Y-%m-%dT%H:%M:%SZ") for r in rows}
    print(f"\nnever-twice: {seconds} s, {len(rows)} fires ran, {kills} kills ({killed}), "
          f"{sum(len(v) for v in reasons.values())} skips, {missed} missed, "
          f"{len(attempts)} duplicated fire times, {len(failures)} failures")
    assert kills == KILLS
    assert attempts == []  # no fire time was run twice: the unique index was never even tried
    assert [line for line in failures if "unique" in line.lower() or "duplicate" in line.lower()] == []
    assert failures == []
    # The losers say why: every fire that ran was skipped by each live peer with `lock-held`.
    held = [t for t in ran if "lock-held" in reasons.get(t, [])]
    assert len(held) >= len(ran) * 0.8, (len(held), len(ran))
    assert {r for v in reasons.values() for r in v} <= {"lock-held", "still-running"}
    # Every second between the first and the last run either ran or was skipped with a reason by
    # the live peers (a killed runner's fires: its lock stays held until its ttl passes).
    first, last = min(r["fire_time"] for r in rows), max(r["fire_time"] for r in rows)
    seconds_between = [first + timedelta(seconds=n) for n in range(int((last - first).total_seconds()) + 1)]
    unexplained = [t for t in (s.strftime("%Y-%m-%dT%H:%M:%SZ") for s in seconds_between)
                   if t not in ran and not reasons.get(t)]
    assert unexplained == []
    assert len(rows) >= seconds - 8 - 3 * kills, (len(rows), seconds)  # ~1 fire a second, a gap per kill


async def test_with_the_lock_redis_stopped_every_fire_is_lock_unavailable(tmp_path: Path) -> None:
    pg_url = services.require("postgres")
    server = RedisServer(tmp_path)
    server.start()
    table = f"sched_fires_{uuid.uuid4().hex[:10]}"
    root = project(tmp_path / "p", server.url, pg_url, table, f"mega:test:{table}:")
    logs = tmp_path / "logs"
    logs.mkdir()
    conn = await make_tables(pg_url, table)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        procs = [start(root, logs, n)[0] for n in range(2)]
        await asyncio.sleep(5.0)
        server.stop()
        stopped = datetime.now(UTC)
        await asyncio.sleep(3.0)  # fires in flight when it stopped settle (a release fails slowly when busy)
        counted_from = datetime.now(UTC)
        await asyncio.sleep(5.0)
        counted_to = datetime.now(UTC)
        await asyncio.sleep(1.0)
    finally:
        stop_all(procs)
        server.stop()
    try:
        late = await conn.fetchval(f"SELECT count(*) FROM {table} WHERE fire_time > $1", stopped)
        before = await conn.fetchval(f"SELECT count(*) FROM {table}")
    finally:
        await conn.execute(f"DROP TABLE {table}, {table}_attempts")
        await conn.close()
    reasons, _, _ = read_logs(logs)
    low, high = (t.strftime("%Y-%m-%dT%H:%M:%SZ") for t in (counted_from, counted_to))
    window = {t: r for t, r in reasons.items() if low <= t <= high}
    print(f"\nredis stopped: {before} fires ran before, {late} after, {len(window)} fire times in the "
          f"window, reasons {sorted({r for v in window.values() for r in v})}")
    assert before >= 2 and late == 0
    assert len(window) >= 4
    # Every process skipped every fire of the window, each saying the backend is unavailable.
    assert all(sorted(r) == ["lock-unavailable", "lock-unavailable"] for r in window.values()), window
