"""Lock throughput: mega's redis lock against redis-py's `Lock` and raw commands, same Redis, same run.

Acquire + release cycles per second, uncontended (each task on its own key), interleaved in short
turns so drift on the machine hits every variant alike; each figure is the median over its turns:

- `mega`:       `held = await lock.acquire(key, ttl=10, wait=0)`; `await lock.release(held)`
                (one Lua script each way: fencing token, holder id, release notification)
- `mega-hold`:  `async with lock.hold(key, ttl=10, wait=0):` (adds the auto-extension timer)
- `redis-py`:   `redis.asyncio.lock.Lock(client, key, timeout=10, blocking=False)`: acquire / release
- `raw`:        `SET key token NX PX 10000` + a Lua compare-and-delete: the floor

Cases: 1 task (latency-bound) and 16 tasks in flight (client-CPU-bound). Target: mega >= 0.9x redis-py.

    .venv/bin/python bench/lockbus/lock_bench.py [duration]   # seconds per variant per case (default 5)
"""

from __future__ import annotations

import asyncio
import os
import secrets
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.lock import Lock as RedisPyLock

from mega.lock.redis import RedisLock

URL = os.environ.get("MEGA_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
VARIANTS = ("mega", "mega-hold", "redis-py", "raw")
CASES = {"c1": 1, "c16": 16}
TURN = 0.25  # seconds per variant per turn
TTL = 10

RAW_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('del', KEYS[1])
end
return 0
"""

Cycle = Callable[[str], Awaitable[None]]


def _run(coro: Coroutine[Any, Any, Any]) -> Any:
    try:
        import uvloop  # mega serves on uvloop: measure there, every variant alike

        return uvloop.run(coro)
    except ImportError:
        return asyncio.run(coro)


async def _cycles(client: aioredis.Redis, variant: str, prefix: str) -> Cycle:
    """One acquire + release of `key` in the variant's own way."""
    if variant in ("mega", "mega-hold"):
        lock = RedisLock(client, prefix=prefix)
        if variant == "mega":
            async def mega(key: str) -> None:
                await lock.release(await lock.acquire(key, TTL, 0))
            return mega

        async def mega_hold(key: str) -> None:
            async with lock.hold(key, ttl=TTL, wait=0):
                pass
        return mega_hold
    if variant == "redis-py":
        locks: dict[str, RedisPyLock] = {}

        async def redis_py(key: str) -> None:
            lock = locks.get(key)
            if lock is None:
                lock = locks[key] = RedisPyLock(client, prefix + key, timeout=TTL, blocking=False)
            if not await lock.acquire():
                raise RuntimeError("redis-py lock not acquired")
            await lock.release()
        return redis_py
    release = client.register_script(RAW_RELEASE)

    async def raw(key: str) -> None:
        name = prefix + key
        token = secrets.token_hex(8)
        if not await client.set(name, token, nx=True, px=TTL * 1000):
            raise RuntimeError("raw lock not acquired")
        await release(keys=[name], args=[token])
    return raw


async def _turn(cycle: Cycle, tasks: int, seconds: float) -> int:
    stop = time.perf_counter() + seconds
    done = 0

    async def worker(n: int) -> None:
        nonlocal done
        key = f"k{n}"
        while time.perf_counter() < stop:
            await cycle(key)
            done += 1

    await asyncio.gather(*(worker(n) for n in range(tasks)))
    return done


async def _bench(duration: float) -> dict[str, Any]:
    run_id = uuid.uuid4().hex[:8]
    clients = {v: aioredis.Redis.from_url(URL) for v in VARIANTS}
    prefixes = {v: f"bench:{run_id}:{v}:" for v in VARIANTS}
    try:
        cycles = {v: await _cycles(clients[v], v, prefixes[v]) for v in VARIANTS}
        figures: dict[str, Any] = {}
        for case, tasks in CASES.items():
            for variant in VARIANTS:  # warm-up: connections, script cache, code paths
                await _turn(cycles[variant], tasks, 0.3)
            rates: dict[str, list[float]] = {v: [] for v in VARIANTS}
            turns = max(1, round(duration / TURN))
            for turn in range(turns):
                order = VARIANTS[turn % len(VARIANTS):] + VARIANTS[:turn % len(VARIANTS)]
                for variant in order:
                    started = time.perf_counter()
                    done = await _turn(cycles[variant], tasks, TURN)
                    rates[variant].append(done / (time.perf_counter() - started))
            for variant in VARIANTS:
                rate = statistics.median(rates[variant])  # a turn hit by outside load does not skew it
                figures[f"{variant} {case}"] = {"ops_s": round(rate), "us_per_op": round(1e6 / rate, 1)}
        result: dict[str, Any] = {
            "name": "lock acquire+release, uncontended (Redis)", "server": URL,
            "seconds_per_variant_per_case": duration, "variants": figures}
        for case in CASES:
            mega = figures[f"mega {case}"]["ops_s"]
            result[f"ratio_{case}"] = round(mega / figures[f"redis-py {case}"]["ops_s"], 3)
            result[f"ratio_{case}_raw"] = round(mega / figures[f"raw {case}"]["ops_s"], 3)
            result[f"ratio_{case}_hold"] = round(figures[f"mega-hold {case}"]["ops_s"]
                                                 / figures[f"redis-py {case}"]["ops_s"], 3)
        result["target"] = "mega >= 0.9x redis-py Lock (ratio_c1, ratio_c16)"
        return result
    finally:
        for variant, client in clients.items():
            async for key in client.scan_iter(match=prefixes[variant] + "*"):
                await client.delete(key)
            await client.aclose()


def run(duration: float = 5.0) -> dict[str, Any]:
    """Seconds per variant per case; returns the figures (bench/lockbus/run.py prints and saves them)."""
    result: dict[str, Any] = _run(_bench(duration))
    return result


if __name__ == "__main__":
    import json

    print(json.dumps(run(float(sys.argv[1]) if len(sys.argv) > 1 else 5.0), indent=2))
