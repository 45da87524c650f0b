"""One worker process for tests/integration/cluster/test_ipc_processes.py, connected to the test's
`ClusterHost` through MEGA_CLUSTER_SOCKET. Modes (argv[1]):

    sections KEY TASKS SECTIONS REDIS_URL GUARD
                                 "ready"; on a stdin line, TASKS tasks run SECTIONS sections each
                                 on KEY (hold()); each section writes through a fenced Redis guard
                                 (entry: raise GUARD to our token if it is greater; exit: accepted
                                 only if GUARD still holds our token); prints one JSON line of
                                 (token, entered, left, accepted) with CLOCK_MONOTONIC times, one
                                 clock for every process of the machine
    fifo KEY                     for each stdin line "w N" starts waiter N on KEY (printing "sent N"
                                 once the request is written); "done" waits for them, prints JSON
    hold KEY                     holds KEY (ttl 30 s, extended), prints "held", sleeps until killed
    echo MINE THEIRS N           answers MINE; on a stdin line sends N requests to THEIRS (100 at a
                                 time), prints JSON {lost, mismatched}; keeps answering until "quit"
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from typing import Any

from mega.bus.cluster import ClusterBus
from mega.cluster.ipc import SOCKET_ENV, ClusterClient
from mega.errors import MegaError
from mega.lock.cluster import ClusterLock


async def line() -> str:
    return (await asyncio.to_thread(sys.stdin.readline)).strip()


def say(value: Any) -> None:
    print(value if isinstance(value, str) else json.dumps(value), flush=True)


ENTER = "if tonumber(redis.call('get', KEYS[1]) or '0') < tonumber(ARGV[1]) then " \
        "redis.call('set', KEYS[1], ARGV[1]) return 1 end return 0"
LEAVE = "if redis.call('get', KEYS[1]) == ARGV[1] then return 1 end return 0"


async def sections(client: ClusterClient, key: str, tasks: int, count: int, url: str, guard: str) -> None:
    import redis.asyncio as aioredis

    lock = ClusterLock(client, prefix="t:")
    redis = aioredis.Redis.from_url(url)
    enter, leave = redis.register_script(ENTER), redis.register_script(LEAVE)
    records: list[tuple[int, float, float, bool]] = []

    async def run() -> None:
        for _ in range(count):
            async with lock.hold(key, ttl=5, wait=60) as held:
                entered = time.monotonic()
                ok = bool(await enter(keys=(guard,), args=(held.token,)))
                ok = bool(await leave(keys=(guard,), args=(held.token,))) and ok
                records.append((held.token, entered, time.monotonic(), ok))

    say("ready")
    await line()
    await asyncio.gather(*(run() for _ in range(tasks)))
    say({"pid": os.getpid(), "records": records, "stats": await lock.stats()})
    await lock.close()
    await redis.aclose()


async def fifo(client: ClusterClient, key: str) -> None:
    lock = ClusterLock(client, prefix="t:")
    served: list[tuple[int, int]] = []

    async def waiter(n: int) -> None:
        held = await lock.acquire(key, ttl=5, wait=60)
        served.append((n, held.token))
        await asyncio.sleep(0.001)
        await lock.release(held)

    tasks = []
    while (command := await line()) != "done":
        n = int(command.split()[1])
        tasks.append(asyncio.create_task(waiter(n)))
        await asyncio.sleep(0)  # the task writes its request
        say(f"sent {n}")
    await asyncio.gather(*tasks)
    say({"served": served})
    await lock.close()


async def hold(client: ClusterClient, key: str) -> None:
    lock = ClusterLock(client, prefix="t:")
    async with lock.hold(key, ttl=30, wait=0):
        say("held")
        await asyncio.sleep(3600)


async def echo(client: ClusterClient, mine: str, theirs: str, n: int) -> None:
    bus = ClusterBus(client)
    await bus.on(mine, lambda payload: {"echo": payload, "by": os.getpid()}, concurrency=50)
    say("ready")
    await line()
    lost = mismatched = 0
    slots = asyncio.Semaphore(100)

    async def one(i: int) -> None:
        nonlocal lost, mismatched
        async with slots:
            payload = {"i": i, "from": os.getpid()}
            try:
                answer = await bus.request(theirs, payload, timeout=30)
            except MegaError:
                lost += 1
                return
            if answer.get("echo") != payload or answer.get("by") == os.getpid():
                mismatched += 1

    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(n)))
    say({"lost": lost, "mismatched": mismatched, "elapsed": time.perf_counter() - started})
    await line()
    await bus.close()


async def main(mode: str, args: list[str]) -> None:
    client = ClusterClient(os.environ[SOCKET_ENV])
    await client.connect()
    try:
        if mode == "sections":
            await sections(client, args[0], int(args[1]), int(args[2]), args[3], args[4])
        elif mode == "fifo":
            await fifo(client, args[0])
        elif mode == "hold":
            await hold(client, args[0])
        else:
            await echo(client, args[0], args[1], int(args[2]))
    finally:
        await client.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2:]))
