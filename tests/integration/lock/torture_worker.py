"""One torture process: `tasks` tasks, each running `sections` critical sections on one Redis lock key.

Every section writes through a PostgreSQL guard that rejects stale fencing tokens: on entry, one
transaction raises the guard's token to ours (only if ours is greater) and inserts the section's row;
on exit, one transaction locks the guard row and stamps the exit only if the guard still holds our
token. Both timestamps come from PostgreSQL's clock under the guard's row lock, so accepted sections
can be checked for overlap afterwards. Prints "ready", waits for a line on stdin, prints one JSON line.

    python torture_worker.py REDIS_URL DSN PREFIX KEY TABLE TASKS SECTIONS TTL WORK
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from typing import Any

import asyncpg
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ConstantBackoff

from mega.lock.contract import LockError
from mega.lock.redis import RedisLock


async def enter(conn: Any, table: str, key: str, token: int, pid: int, task: int) -> int | None:
    async with conn.transaction():
        raised = await conn.fetchval(f"UPDATE {table}_guard SET token = $2 WHERE key = $1 AND token < $2 "
                                     "RETURNING token", key, token)
        if raised is None:
            return None
        section: int = await conn.fetchval(
            f"INSERT INTO {table}_sections (key, token, pid, task, state, entered) "
            "VALUES ($1, $2, $3, $4, 'in', clock_timestamp()) RETURNING id", key, token, pid, task)
        return section


async def leave(conn: Any, table: str, key: str, token: int, section: int) -> bool:
    async with conn.transaction():
        current = await conn.fetchval(f"SELECT token FROM {table}_guard WHERE key = $1 FOR UPDATE", key)
        accepted = current == token
        await conn.execute(f"UPDATE {table}_sections SET state = $2, exited = clock_timestamp() "
                           "WHERE id = $1", section, "done" if accepted else "fenced")
        return accepted


async def main(url: str, dsn: str, prefix: str, key: str, table: str, tasks: int, sections: int,
               ttl: float, work: float) -> None:
    client = aioredis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=2,
                                     retry=Retry(ConstantBackoff(0.02), 1))
    lock = RedisLock(client, prefix=prefix)
    conns = [await asyncpg.connect(dsn) for _ in range(tasks)]
    pid = os.getpid()
    records: list[dict[str, Any]] = []
    counts = {"backend_errors": 0, "timeouts": 0}

    async def run(n: int) -> None:
        conn = conns[n]
        done = 0
        while done < sections:
            record: dict[str, Any] = {}
            try:
                async with lock.hold(key, ttl=ttl, wait=30) as held:
                    record.update(token=held.token, acquired=time.monotonic(), task=n, lost=False,
                                  entered=False, accepted=False)
                    records.append(record)
                    section = await enter(conn, table, key, held.token, pid, n)
                    record["entered"] = section is not None
                    await asyncio.sleep(work)
                    if section is not None:
                        record["accepted"] = await leave(conn, table, key, held.token, section)
                    record["lost_in_section"] = held.lost
            except LockError as exc:
                if exc.code == "lock.lost" and record:
                    record["lost"] = True
                elif exc.code == "lock.backend_unavailable" and not record:
                    counts["backend_errors"] += 1
                    await asyncio.sleep(0.05)
                    continue
                elif exc.code == "lock.timeout":
                    counts["timeouts"] += 1
                    continue
                else:
                    raise
            done += 1

    print("ready", flush=True)
    await asyncio.to_thread(sys.stdin.readline)
    started = time.monotonic()
    await asyncio.gather(*(run(n) for n in range(tasks)))
    elapsed = time.monotonic() - started
    stats = await lock.stats()
    await lock.close()
    await client.aclose()
    for conn in conns:
        await conn.close()
    print(json.dumps({"pid": pid, "elapsed": elapsed, "records": records, "stats": stats, **counts}),
          flush=True)


if __name__ == "__main__":
    a = sys.argv[1:]
    asyncio.run(main(a[0], a[1], a[2], a[3], a[4], int(a[5]), int(a[6]), float(a[7]), float(a[8])))
