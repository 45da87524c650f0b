"""The redis lock under torture, on a private redis-server we stop, wipe and restart.

- 4 processes x 4 tasks x N sections on one key, every section writing through a PostgreSQL guard
  that rejects stale fencing tokens, with 2 Redis restarts (all data lost) and 2 SIGSTOP pauses of a
  holder longer than its ttl: no two accepted sections overlap, tokens keep increasing across the
  wipes, the guard only ever rejects holders that had lost the lock, and a paused holder learns it.
- a holder running 5x its ttl keeps the lock; a SIGKILLed holder frees the key within ttl + 100 ms;
  with Redis stopped, acquire fails with lock.backend_unavailable, never lock.timeout.

MEGA_LOCK_TORTURE_SECTIONS sets N (default 500).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import pytest_asyncio
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ConstantBackoff

from mega.errors import MegaError
from mega.lock.redis import RedisLock
from tests import services
from tests.integration.lock._redis_server import RedisServer, answers
from tests.integration.lock.torture_worker import enter, leave

pytestmark = pytest.mark.integration

PG_URL = services.url("postgres")
WORKER = Path(__file__).with_name("torture_worker.py")
PROCESSES, TASKS = 4, 4
SECTIONS = int(os.environ.get("MEGA_LOCK_TORTURE_SECTIONS", "500"))
TTL = 0.5  # short, so pauses and crashes cost little time
WORK = 0.001  # seconds inside each section, between the guarded entry and exit
PAUSE = 2.5 * TTL
PREFIX = "torture:"
OUTAGE = 1.0  # seconds Redis stays down in the first restart (longer than the ttl and the poll)
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    srv = RedisServer(tmp_path_factory.mktemp("redis"))
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def running_redis(server: RedisServer) -> Iterator[RedisServer]:
    """The private server, answering again after the test whatever the test did to it."""
    try:
        yield server
    finally:
        if not answers(server.port):
            server.start()


def _client(url: str) -> aioredis.Redis:
    return aioredis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=2,
                                   retry=Retry(ConstantBackoff(0.02), 1))


@pytest_asyncio.fixture
async def pg() -> AsyncIterator[asyncpg.Connection]:
    try:
        conn = await asyncpg.connect(PG_URL, timeout=3)
    except (OSError, asyncpg.PostgresError) as exc:
        services.down("postgres", str(exc))
    yield conn
    await conn.close()


# -- the torture run ---------------------------------------------------------------------------------


class Run:
    """The orchestrator's view: workers, what it did to them, and when."""

    def __init__(self, server: RedisServer, pg: asyncpg.Connection, table: str) -> None:
        self.server, self.pg, self.table = server, pg, table
        self.procs: list[subprocess.Popen[str]] = []
        self.restarts: list[tuple[float, float]] = []  # (stop issued, answering again), monotonic
        self.pauses: list[dict[str, Any]] = []
        self.wipes: list[tuple[float, float]] = []  # (FLUSHALL issued, key taken again)
        self.thieves: list[dict[str, Any]] = []

    async def progress(self) -> int:
        return int(await self.pg.fetchval(f"SELECT count(*) FROM {self.table}_sections"))

    async def until(self, sections: int) -> None:
        while await self.progress() < sections and any(p.poll() is None for p in self.procs):
            await asyncio.sleep(0.05)

    async def restart(self, outage: float) -> None:
        stop = time.monotonic()
        await asyncio.to_thread(self.server.restart, outage)
        self.restarts.append((stop, time.monotonic()))

    async def wipe_under_a_holder(self, key: str) -> None:
        """FLUSHALL while a holder is in its section, then take the key at once and write through the
        guard as another holder would: the wiped holder must be fenced off (its token is lower)."""
        client = _client(self.server.url)
        thief = RedisLock(client, prefix=PREFIX)
        conn = await asyncpg.connect(PG_URL)
        try:
            for _ in range(200):
                row = await self.pg.fetchrow(f"SELECT id, token FROM {self.table}_sections "
                                             "WHERE state = 'in' ORDER BY id DESC LIMIT 1")
                if row is None:
                    continue
                stop = time.monotonic()
                await client.flushall()
                try:
                    held = await thief.acquire(key, ttl=TTL, wait=0)
                except MegaError:
                    continue  # a waiting worker was faster: try again
                acquired = time.monotonic()
                section = await enter(conn, self.table, key, held.token, os.getpid(), -1)
                victim = await self.pg.fetchval(f"SELECT state FROM {self.table}_sections WHERE id = $1",
                                                row["id"])
                accepted = section is not None and await leave(conn, self.table, key, held.token, section)
                await thief.release(held)
                self.wipes.append((stop, acquired))
                self.thieves.append({"token": held.token, "acquired": acquired, "lost": False,
                                     "entered": section is not None, "accepted": accepted,
                                     "victim": row["token"], "victim_in_section": victim == "in"})
                if victim == "in":
                    return
        finally:
            await thief.close()
            await client.aclose()
            await conn.close()
        raise AssertionError("no wipe hit a holder in its section in 200 tries")

    async def pause_a_holder(self) -> None:
        """SIGSTOP the process in a section for PAUSE s (> ttl); retry until the pause hits a holder."""
        by_pid = {p.pid: p for p in self.procs}
        for _ in range(200):
            row = await self.pg.fetchrow(f"SELECT id, pid, token FROM {self.table}_sections "
                                         "WHERE state = 'in' ORDER BY id DESC LIMIT 1")
            if row is None or row["pid"] not in by_pid:
                await asyncio.sleep(0.005)
                continue
            proc = by_pid[row["pid"]]
            proc.send_signal(signal.SIGSTOP)
            try:
                await asyncio.sleep(0.05)  # a commit already on its way lands now
                state = await self.pg.fetchval(f"SELECT state FROM {self.table}_sections WHERE id = $1",
                                               row["id"])
                if state == "in":
                    await asyncio.sleep(PAUSE)
                    self.pauses.append({"pid": row["pid"], "token": row["token"]})
                    return
            finally:
                proc.send_signal(signal.SIGCONT)
            await asyncio.sleep(0.02)
        raise AssertionError("no pause hit a holder in 200 tries")


async def _torture(server: RedisServer, pg: asyncpg.Connection) -> dict[str, Any]:
    table = f"lock_torture_{uuid.uuid4().hex[:8]}"
    key = "account:7"
    await pg.execute(f"CREATE TABLE {table}_guard (key text PRIMARY KEY, token bigint NOT NULL)")
    await pg.execute(f"CREATE TABLE {table}_sections (id bigserial PRIMARY KEY, key text, token bigint, "
                     "pid int, task int, state text, entered timestamptz, exited timestamptz)")
    await pg.execute(f"INSERT INTO {table}_guard VALUES ($1, 0)", key)
    run = Run(server, pg, table)
    total = PROCESSES * TASKS * SECTIONS
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    try:
        for _ in range(PROCESSES):
            run.procs.append(subprocess.Popen(
                [sys.executable, str(WORKER), server.url, PG_URL, PREFIX, key, table, str(TASKS),
                 str(SECTIONS), str(TTL), str(WORK)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env))
        for proc in run.procs:
            assert proc.stdout is not None and proc.stdin is not None
            assert (await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 30)).strip() == "ready"
        started = time.monotonic()
        for proc in run.procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        await run.until(total // 6)
        await run.pause_a_holder()
        await asyncio.sleep(0.3)  # the paused process records its acquisitions before the restart
        await run.until(2 * total // 6)
        await run.restart(OUTAGE)
        await run.until(3 * total // 6)
        await run.wipe_under_a_holder(key)
        await run.until(4 * total // 6)
        await run.pause_a_holder()
        await asyncio.sleep(0.3)
        await run.until(5 * total // 6)
        await run.restart(0.0)
        outputs = []
        for proc in run.procs:
            assert proc.stdout is not None
            line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 120)
            assert line, f"worker {proc.pid} died (exit {proc.wait()})"
            outputs.append(json.loads(line))
        elapsed = time.monotonic() - started
        rows = await pg.fetch(f"SELECT token, pid, state, entered, exited FROM {table}_sections "
                              "ORDER BY entered")
        return {"outputs": outputs, "rows": rows, "run": run, "elapsed": elapsed, "total": total}
    finally:
        for proc in run.procs:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGCONT)
            if proc.poll() is None:
                proc.kill()
            proc.communicate()  # reaps it and closes its pipes
        await pg.execute(f"DROP TABLE IF EXISTS {table}_guard, {table}_sections")


async def test_torture_no_overlap_and_increasing_tokens_across_restarts_and_pauses(
        running_redis: RedisServer, pg: asyncpg.Connection) -> None:
    result = await _torture(running_redis, pg)
    outputs, rows, run = result["outputs"], result["rows"], result["run"]
    workers = [r for out in outputs for r in out["records"]]
    records = workers + run.thieves

    # Every section ran: each task completed its quota.
    assert len(workers) == result["total"]
    tokens = [r["token"] for r in records]
    assert len(set(tokens)) == len(tokens), "a fencing token was issued twice"

    # No two accepted sections overlap, and the accepted ones carry increasing tokens.
    accepted = [r for r in rows if r["state"] == "done"]
    overlaps = [(a["token"], b["token"]) for a, b in itertools.pairwise(accepted)
                if not b["entered"] > a["exited"]]
    assert overlaps == []
    assert all(b["token"] > a["token"] for a, b in itertools.pairwise(accepted))

    # The guard only ever turned away holders that had lost the lock: tokens never went backwards
    # for a holder whose lock was intact (a regression after a wipe would fence live holders).
    fenced = [r for r in records if not (r["entered"] and r["accepted"])]
    assert [r for r in fenced if not r["lost"]] == []

    # Across each wipe, the first tokens after it exceed every token before it.
    for stop, up in run.restarts + run.wipes:
        before = [r["token"] for r in records if r["acquired"] < stop]
        after = [r["token"] for r in records if r["acquired"] > up]
        assert before and after and min(after) > max(before), (stop, up)

    # Each paused holder learned that it lost the lock (and was fenced if it wrote after the pause).
    by_token = {r["token"]: r for r in records}
    for pause in run.pauses:
        assert by_token[pause["token"]]["lost"], pause
    # The holder whose key a FLUSHALL removed mid-section was fenced off by the next holder's token.
    thief = run.thieves[-1]
    assert thief["victim_in_section"] and thief["accepted"] and thief["token"] > thief["victim"]
    assert by_token[thief["victim"]]["lost"] and not by_token[thief["victim"]]["accepted"]
    backend_errors = sum(out["backend_errors"] for out in outputs)
    lost = sum(r["lost"] for r in records)
    assert len(run.pauses) == 2 and len(run.restarts) == 2
    paused = ["fenced" if not by_token[p["token"]]["accepted"] else "accepted (its exit held the guard row)"
              for p in run.pauses]
    print(f"\ntorture: {result['total']} sections ({PROCESSES} processes x {TASKS} tasks x {SECTIONS}) in "
          f"{result['elapsed']:.1f} s ({result['total'] / result['elapsed']:.0f}/s); rows accepted "
          f"{len(accepted)} (incl. {len(run.thieves)} by the wiper), fenced {len(fenced)} (at entry "
          f"{sum(not r['entered'] for r in records)}), lost {lost}; acquire attempts refused for a backend "
          f"outage {backend_errors}, timeouts {sum(out['timeouts'] for out in outputs)}; restarts "
          f"{[round(up - stop, 3) for stop, up in run.restarts]} s down; {len(run.wipes)} FLUSHALL (the "
          f"last under a holder: fenced); pauses {PAUSE} s (ttl {TTL} s): {paused}")


# -- single behaviours ---------------------------------------------------------------------------------


async def test_a_holder_running_five_times_its_ttl_keeps_the_lock(running_redis: RedisServer) -> None:
    a, b = _client(running_redis.url), _client(running_redis.url)
    holder, contender = RedisLock(a, prefix="long:"), RedisLock(b, prefix="long:")
    ttl = 0.4
    try:
        refused = 0
        async with holder.hold("k", ttl=ttl, wait=0) as held:
            deadline = time.monotonic() + 5 * ttl
            while time.monotonic() < deadline:
                with pytest.raises(MegaError) as info:
                    await contender.acquire("k", wait=0)
                assert info.value.code == "lock.timeout"
                refused += 1
                await asyncio.sleep(0.05)
            assert not held.lost
        assert refused > 20 and (await holder.stats())["extended"] >= 12
        after = await contender.acquire("k", wait=0)
        assert after.token > held.token
        await contender.release(after)
    finally:
        for lock, client in ((holder, a), (contender, b)):
            await lock.close()
            await client.aclose()


HOLDER = """
import asyncio, sys
import redis.asyncio as aioredis
from mega.lock.redis import RedisLock

async def main():
    lock = RedisLock(aioredis.Redis.from_url(sys.argv[1]), prefix="killed:")
    async with lock.hold("k", ttl=float(sys.argv[2]), wait=5) as held:
        print(held.token, flush=True)
        await asyncio.sleep(3600)

asyncio.run(main())
"""


async def test_a_killed_holder_frees_the_key_within_its_ttl(running_redis: RedisServer) -> None:
    ttl = 1.0
    client = _client(running_redis.url)
    waiter = RedisLock(client, prefix="killed:")
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, running_redis.url, str(ttl)],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        token = int(await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 30))
        waiting = asyncio.create_task(waiter.acquire("k", ttl=5, wait=10))
        await asyncio.sleep(1.7 * ttl)  # the holder has extended its lock meanwhile
        assert not waiting.done()
        proc.kill()
        killed = time.monotonic()
        held = await waiting
        freed_after = time.monotonic() - killed
        assert held.token > token
        assert freed_after <= ttl + 1, freed_after  # the key's own expiry, not the 10 s wait
        print(f"\nSIGKILLed holder (ttl {ttl} s): key taken over {freed_after * 1000:.0f} ms after the kill")
        await waiter.release(held)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()  # reaps it and closes its pipe
        await waiter.close()
        await client.aclose()


async def test_with_redis_stopped_acquire_fails_as_unavailable_never_timeout(
        running_redis: RedisServer) -> None:
    a, b = _client(running_redis.url), _client(running_redis.url)
    holder, other = RedisLock(a, prefix="down:"), RedisLock(b, prefix="down:")
    ttl = 0.6
    try:
        section = holder.hold("held", ttl=ttl, wait=0)
        held = await section.__aenter__()
        blocker = await other.acquire("busy", ttl=30, wait=0)
        waiting = asyncio.create_task(holder.acquire("busy", ttl=5, wait=20))
        await asyncio.sleep(0.2)
        await asyncio.to_thread(running_redis.stop)
        stopped = time.monotonic()
        with pytest.raises(MegaError) as info:
            await holder.acquire("fresh", ttl=5, wait=10)
        took = time.monotonic() - stopped
        assert info.value.code == "lock.backend_unavailable" and info.value.status == 503
        assert took < 5, took  # at once, not after its 10 s wait
        with pytest.raises(MegaError) as info:
            await asyncio.wait_for(waiting, 5)  # a waiter does not wait its 20 s out
        assert info.value.code == "lock.backend_unavailable"
        # The holder's extensions fail: it is told it lost the lock once its ttl has passed.
        await asyncio.wait_for(held.lost_event.wait(), ttl + 5)
        assert held.lost_reason == "backend_unavailable"
        with pytest.raises(MegaError) as info:
            await section.__aexit__(None, None, None)
        assert info.value.code == "lock.lost"
        del blocker
    finally:
        if not answers(running_redis.port):
            await asyncio.to_thread(running_redis.start)
        for lock, client in ((holder, a), (other, b)):
            await lock.close()
            await client.aclose()
