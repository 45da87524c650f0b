"""The cluster drivers against memory and the networked ones, same run, interleaved turns.

The `ClusterHost` runs in a child process (as the cluster primary would); the bench process is one
worker. Each figure is the median over short alternating turns, so drift hits every variant alike.

- lock: acquire + release cycles/s, each task on its own key, 1 task and 16 tasks in flight:
  `memory` (in-process), `cluster` (one round trip to the host each way), `redis` (one Lua script each
  way; skipped when Redis does not answer);
- bus: sequential request/reply round trips/s, responder on another connection (another "worker"):
  `memory` (one broker), `cluster` (requester → host → responder → host → requester), `nats`
  (skipped when NATS does not answer).

    .venv/bin/python bench/lockbus/cluster_bench.py [duration]   # seconds per variant per case (default 3)
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from mega.bus.cluster import ClusterBus
from mega.bus.contract import Bus
from mega.bus.memory import MemoryBroker, MemoryBus
from mega.cluster.ipc import ClusterClient
from mega.lock.cluster import ClusterLock
from mega.lock.contract import Lock
from mega.lock.memory import MemoryLock

REDIS_URL = os.environ.get("MEGA_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
NATS_URL = os.environ.get("MEGA_BENCH_NATS_URL", "nats://127.0.0.1:4222")
TURN = 0.25

HOST = """
import asyncio, sys
from mega.cluster.ipc import ClusterHost

async def main():
    host = ClusterHost(sys.argv[1])
    await host.start()
    print("ready", flush=True)
    await asyncio.to_thread(sys.stdin.readline)
    await host.close()

asyncio.run(main())
"""


async def _turns(variants: dict[str, Callable[[float], Awaitable[int]]], duration: float) -> dict[str, float]:
    """Alternate TURN-second turns of each variant until each ran `duration` s; median rate each."""
    rates: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(max(1, round(duration / TURN))):
        for name, turn in variants.items():
            started = time.perf_counter()
            done = await turn(TURN)
            rates[name].append(done / (time.perf_counter() - started))
    return {name: round(statistics.median(values)) for name, values in rates.items()}


def _lock_turn(lock: Lock, tasks: int) -> Callable[[float], Awaitable[int]]:
    keys = [f"bench:{uuid.uuid4().hex[:8]}:{i}" for i in range(tasks)]

    async def turn(seconds: float) -> int:
        stop = time.perf_counter() + seconds
        counts = [0] * tasks

        async def cycle(i: int) -> None:
            key = keys[i]
            while time.perf_counter() < stop:
                held = await lock.acquire(key, ttl=10, wait=0)
                await lock.release(held)
                counts[i] += 1

        await asyncio.gather(*(cycle(i) for i in range(tasks)))
        return sum(counts)

    return turn


def _bus_turn(requester: Bus) -> Callable[[float], Awaitable[int]]:
    async def turn(seconds: float) -> int:
        stop = time.perf_counter() + seconds
        n = 0
        while time.perf_counter() < stop:
            assert await requester.request("echo", n, timeout=5) == n
            n += 1
        return n

    return turn


async def _redis_lock() -> tuple[Lock | None, Callable[[], Awaitable[None]]]:
    try:
        import redis.asyncio as aioredis

        from mega.lock.redis import RedisLock

        client = aioredis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
        await client.ping()
    except Exception as exc:  # no redis extra, or no server: skip the variant
        print(f"redis: skipped ({exc})", file=sys.stderr)
        return None, _nothing
    lock = RedisLock(client, prefix=f"bench:{uuid.uuid4().hex[:6]}:")

    async def close() -> None:
        await lock.close()
        await client.aclose()

    return lock, close


async def _nats_buses(prefix: str) -> tuple[tuple[Bus, Bus] | None, Callable[[], Awaitable[None]]]:
    try:
        from mega.adapters.nats import NatsAdapter
        from mega.bus.nats import NatsBus

        adapters = [NatsAdapter("bench", {"url": NATS_URL}) for _ in range(2)]
        for adapter in adapters:
            await adapter.connect()
    except Exception as exc:
        print(f"nats: skipped ({exc})", file=sys.stderr)
        return None, _nothing
    buses = (NatsBus(adapters[0], prefix=prefix), NatsBus(adapters[1], prefix=prefix))

    async def close() -> None:
        for bus in buses:
            await bus.close()
        for adapter in adapters:
            await adapter.disconnect()

    return buses, close


async def _nothing() -> None:
    return None


async def _main(duration: float) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix="mega-bench-", dir="/tmp"))
    path = folder / "cluster.sock"
    host = subprocess.Popen([sys.executable, "-c", HOST, str(path)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert host.stdout is not None and host.stdout.readline().strip() == "ready"
        clients = [ClusterClient(path), ClusterClient(path)]
        for client in clients:
            await client.connect()
        out: dict[str, Any] = {"variants": {}, "duration_s": duration, "host": "child process",
                               "nproc": os.cpu_count()}
        redis_lock, close_redis = await _redis_lock()
        for tasks in (1, 16):
            locks: dict[str, Lock] = {"memory": MemoryLock(), "cluster": ClusterLock(clients[0])}
            if redis_lock is not None:
                locks["redis"] = redis_lock
            rates = await _turns({name: _lock_turn(lock, tasks) for name, lock in locks.items()}, duration)
            for name, rate in rates.items():
                out["variants"][f"lock {name} c{tasks}"] = {"cycles_per_s": rate}
        await close_redis()
        prefix = f"bench{uuid.uuid4().hex[:6]}."
        broker = MemoryBroker()
        pairs: dict[str, tuple[Bus, Bus]] = {
            "memory": (MemoryBus(broker, prefix=prefix), MemoryBus(broker, prefix=prefix)),
            "cluster": (ClusterBus(clients[0], prefix=prefix), ClusterBus(clients[1], prefix=prefix)),
        }
        nats, close_nats = await _nats_buses(prefix + "n.")
        if nats is not None:
            pairs["nats"] = nats
        for responder, _ in pairs.values():
            await responder.on("echo", lambda p: p)
        rates = await _turns({name: _bus_turn(requester) for name, (_, requester) in pairs.items()}, duration)
        for name, rate in rates.items():
            out["variants"][f"bus request {name}"] = {"round_trips_per_s": rate,
                                                      "us_per_round_trip": round(1e6 / rate, 1)}
        for responder, requester in pairs.values():
            await responder.close()
            await requester.close()
        await close_nats()
        for client in clients:
            await client.close()
        return out
    finally:
        if host.stdin is not None:
            host.stdin.write("\n")
            host.stdin.flush()
        try:
            host.wait(5)
        except subprocess.TimeoutExpired:
            host.kill()
        path.unlink(missing_ok=True)
        folder.rmdir()


def run(duration: float = 3.0) -> dict[str, Any]:
    return asyncio.run(_main(duration))


if __name__ == "__main__":
    import json

    print(json.dumps(run(float(sys.argv[1]) if len(sys.argv) > 1 else 3.0), indent=2))
