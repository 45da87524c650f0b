"""Shared by the job tests: a project whose job writes rows to PostgreSQL, unique streams per test, and
the counts every heavy test prints (lost, unexpected, duplicated, recovered)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import nats
from tests import services

from mega.testing import write_project

NATS_URL = services.url("nats")
PG_URL = services.url("postgres")
ROOT = Path(__file__).resolve().parents[3]

# The job: one row per delivery that finished, (msg_id, delivery_count, pid, start_ns, end_ns).
JOB_SOURCE = """
import asyncio, os, time
import asyncpg
from mega import Job

_pool = None

async def pool():
    global _pool
    if _pool is None:
        _pool = await asyncpg.create_pool(os.environ["JOBS_PG_URL"], min_size=1, max_size=8)
    return _pool

async def close_pool():
    global _pool
    if _pool is not None:
        await _pool.close()
        _pool = None

INSERT = ("INSERT INTO {} (msg_id, delivery_count, pid, start_ns, end_ns) VALUES ($1, $2, $3, $4, $5) "
          "ON CONFLICT (msg_id) DO NOTHING")

class Work(Job):
    subject = os.environ["JOBS_SUBJECT"]
    concurrency = int(os.environ.get("JOBS_CONCURRENCY", "8"))
    retries = int(os.environ.get("JOBS_RETRIES", "3"))
    backoff = {"type": "exponential", "initial": 0.01, "max": 0.05}
    timeout = float(os.environ["JOBS_TIMEOUT"]) if os.environ.get("JOBS_TIMEOUT") else None

    async def run(self, payload, ctx):
        start = time.time_ns()
        if payload.get("fail"):
            raise RuntimeError("poison")
        if payload.get("stubborn"):  # ignores cancellation, then fails late
            try:
                await asyncio.sleep(payload["stubborn"])
            except asyncio.CancelledError:
                await asyncio.sleep(0.3)
            raise RuntimeError("late failure")
        await asyncio.sleep(payload.get("sleep", 0))
        if payload.get("nodb"):
            return payload["id"]
        if os.environ.get("JOBS_NO_POOL"):
            conn = await asyncpg.connect(os.environ["JOBS_PG_URL"])
            try:
                await conn.execute(INSERT.format(os.environ["JOBS_TABLE"]), payload["id"], ctx.job.delivery,
                                   os.getpid(), start, time.time_ns())
            finally:
                await conn.close()
            return payload["id"]
        p = await pool()
        table = os.environ["JOBS_TABLE"]
        await p.execute(INSERT.format(table), payload["id"], ctx.job.delivery, os.getpid(), start,
                        time.time_ns())
        await p.execute(f"INSERT INTO {table}_runs (msg_id, delivery_count) VALUES ($1, $2)", payload["id"],
                        ctx.job.delivery)
        return payload["id"]
"""


class Case:
    """One test's names: subject, stream prefix, table; and its project on disk."""

    def __init__(
        self,
        tmp: Path,
        *,
        ack_wait: float = 2.0,
        max_deliver: int = 5,
        shutdown: float = 10,
        nats_url: str = NATS_URL,
    ) -> None:
        tag = uuid.uuid4().hex[:10]
        self.subject = f"it.jobs.{tag}"
        self.prefix = f"IT_{tag}"
        self.table = f"jobs_{tag}"
        self.nats_url = nats_url
        self.root = write_project(
            tmp / "proj",
            {
                "mega_config.py": f"""
                config = {{
                    "logger": {{"level": "warning"}},
                    "services": {{"buses": {{"q": {{"driver": "nats", "url": "{nats_url}"}}}}}},
                    "jobs": {{"ack_wait": {ack_wait}, "heartbeat": {ack_wait / 3},
                             "max_deliver": {max_deliver},
                             "stream_prefix": "{self.prefix}", "shutdown_timeout": {shutdown}}},
                }}
            """,
                "apps/main/app_config.py": "config = {}\n",
                "apps/main/jobs/work.py": JOB_SOURCE,
            },
        )
        self.log = (tmp / "workers.log").open("ab")
        self.stream = f"{self.prefix}_{self.subject.replace('.', '_')}"
        self.dlq = self.stream + "_DLQ"

    def env(self, **extra: str) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if k != "JOBS_NO_POOL"}
        return {
            **base,
            "JOBS_SUBJECT": self.subject,
            "JOBS_TABLE": self.table,
            "JOBS_PG_URL": PG_URL,
            "MEGA_ENV": "test",
            **extra,
        }

    def apply_env(self, **extra: str) -> None:
        """Set this case's JOBS_* variables in this process (an earlier test's are removed first)."""
        for key in [k for k in os.environ if k.startswith("JOBS_")]:
            del os.environ[key]
        os.environ.update(
            {
                "JOBS_NO_POOL": "1",
                "JOBS_SUBJECT": self.subject,
                "JOBS_TABLE": self.table,
                "JOBS_PG_URL": PG_URL,
                **extra,
            }
        )

    async def create_table(self) -> None:
        conn = await asyncpg.connect(PG_URL)
        try:
            await conn.execute(
                f"CREATE TABLE {self.table} (msg_id text PRIMARY KEY, delivery_count int, "
                "pid int, start_ns bigint, end_ns bigint)"
            )
            await conn.execute(f"CREATE TABLE {self.table}_runs (msg_id text, delivery_count int)")
        finally:
            await conn.close()

    async def rows(self) -> dict[str, tuple[int, int]]:
        conn = await asyncpg.connect(PG_URL)
        try:
            found = await conn.fetch(f"SELECT msg_id, delivery_count, pid FROM {self.table}")
        finally:
            await conn.close()
        return {r["msg_id"]: (r["delivery_count"], r["pid"]) for r in found}

    async def runs(self) -> list[tuple[str, int]]:
        """Every finished run of the pooled (subprocess) job: (msg_id, delivery_count)."""
        conn = await asyncpg.connect(PG_URL)
        try:
            found = await conn.fetch(f"SELECT msg_id, delivery_count FROM {self.table}_runs")
        finally:
            await conn.close()
        return [(r["msg_id"], r["delivery_count"]) for r in found]

    async def cleanup(self) -> None:
        self.log.close()
        conn = await asyncpg.connect(PG_URL)
        try:
            await conn.execute(f"DROP TABLE IF EXISTS {self.table}")
            await conn.execute(f"DROP TABLE IF EXISTS {self.table}_runs")
        finally:
            await conn.close()
        nc = await nats.connect(self.nats_url)
        try:
            js = nc.jetstream()
            for name in (self.stream, self.dlq):
                with contextlib.suppress(Exception):
                    await js.delete_stream(name)
        finally:
            await nc.close()

    def worker(self, *args: str, **env: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "mega", "--root", str(self.root), "worker", *args],
            env=self.env(**env),
            cwd=str(ROOT),
            stdout=subprocess.DEVNULL,
            stderr=self.log,
        )


async def close_pool() -> None:
    """Close the pool the job module opened in this process (in-process tests)."""
    module = sys.modules.get("apps.main.jobs.work")
    if module is not None:
        await module.close_pool()


async def stream_state(url: str, stream: str) -> dict[str, Any]:
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        info = await js.stream_info(stream)
        out: dict[str, Any] = {"messages": info.state.messages}
        try:
            ci = await js.consumer_info(stream, "worker")
            out.update(num_pending=ci.num_pending, num_ack_pending=ci.num_ack_pending)
        except Exception:
            out.update(num_pending=0, num_ack_pending=0)
        return out
    finally:
        await nc.close()


def report(
    name: str, expected: set[str], rows: dict[str, tuple[int, int]], deliveries_gt1: int
) -> dict[str, int]:
    """Print (and return) lost, unexpected, duplicated and recovered counts."""
    lost = len(expected - rows.keys())
    unexpected = len(rows.keys() - expected)
    recovered = sum(1 for d, _ in rows.values() if d >= 2)
    counts = {
        "lost": lost,
        "unexpected": unexpected,
        "duplicated": deliveries_gt1,
        "recovered": recovered,
        "rows": len(rows),
    }
    print(f"\n[{name}] " + " ".join(f"{k}={v}" for k, v in counts.items()))
    return counts


async def wait_until(predicate: Any, timeout: float, interval: float = 0.2) -> bool:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while loop.time() < end:
        if await predicate():
            return True
        await asyncio.sleep(interval)
    return bool(await predicate())
