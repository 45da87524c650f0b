"""The cluster lock and bus across 2 real worker processes, against a `ClusterHost` run by the test
(as the cluster primary runs it). Workers: tests/integration/cluster/ipc_worker.py.

- 2 processes x 4 tasks x 1,000 sections on one key, each writing through a fenced Redis guard: the
  guard accepts every section (none fenced off), no two sections overlap (CLOCK_MONOTONIC, one clock
  for the machine), and tokens rise strictly in the order the sections ran;
- 100 waiters, alternating between the processes: served in arrival order (0 inversions);
- a holder process killed (SIGKILL) → its key goes to the waiter within 100 ms;
- 10,000 cross-process requests (5,000 each way) → 0 lost, 0 mismatched.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import redis.asyncio as aioredis

from mega.cluster.ipc import SOCKET_ENV, ClusterClient, ClusterHost
from mega.lock.cluster import ClusterLock
from tests import services

pytestmark = pytest.mark.integration

WORKER = Path(__file__).with_name("ipc_worker.py")
ROOT = Path(__file__).resolve().parents[3]
SECTIONS = int(os.environ.get("MEGA_CLUSTER_SECTIONS", "1000"))


@pytest.fixture
def host(cluster_host: ClusterHost) -> ClusterHost:
    return cluster_host  # tests/conftest.py


class Worker:
    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    async def read(self, timeout: float = 60) -> str:
        assert self.proc.stdout is not None
        raw = await asyncio.wait_for(self.proc.stdout.readline(), timeout)
        if not raw:
            raise AssertionError(f"worker {self.proc.pid} exited ({await self.proc.wait()})")
        return raw.decode().strip()

    async def json(self, timeout: float = 120) -> Any:
        return json.loads(await self.read(timeout))

    async def write(self, text: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(text.encode() + b"\n")
        await self.proc.stdin.drain()


@pytest_asyncio.fixture
async def spawn(host: ClusterHost) -> AsyncIterator[Callable[..., Any]]:
    procs: list[asyncio.subprocess.Process] = []
    env = {**os.environ, SOCKET_ENV: str(host.path), "PYTHONPATH": str(ROOT / "src")}

    async def start(*args: str) -> Worker:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, str(WORKER), *args, env=env, cwd=str(ROOT),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, limit=64 * 1024 * 1024)
        procs.append(proc)
        return Worker(proc)

    yield start
    for proc in procs:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()


async def settled(check: Callable[[], bool], timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.001)


async def test_sections_on_one_key_never_overlap_and_tokens_rise(spawn: Callable[..., Any]) -> None:
    services.require("redis")
    guard = f"mega:test:cluster-guard:{uuid.uuid4().hex[:10]}"
    workers = [await spawn("sections", "shared", "4", str(SECTIONS), services.url("redis"), guard)
               for _ in range(2)]
    for w in workers:
        assert await w.read() == "ready"
    for w in workers:
        await w.write("go")
    results = [await w.json(timeout=600) for w in workers]
    redis = aioredis.Redis.from_url(services.url("redis"))
    await redis.delete(guard)
    await redis.aclose()
    records = sorted((tuple(r) for res in results for r in res["records"]), key=lambda r: r[1])
    assert len(records) == 2 * 4 * SECTIONS
    overlaps = sum(1 for a, b in itertools.pairwise(records) if b[1] < a[2])
    inversions = sum(1 for a, b in itertools.pairwise(records) if b[0] <= a[0])
    fenced = sum(1 for r in records if not r[3])
    assert (overlaps, inversions, fenced) == (0, 0, 0)
    assert all(res["records"] for res in results)  # both processes ran sections
    rate = len(records) / (records[-1][2] - records[0][1])
    print(f"\n{len(records)} sections, 0 overlaps, 0 fenced off, tokens strictly rising; "
          f"{rate:.0f} sections/s")


async def test_waiters_across_processes_are_served_in_arrival_order(host: ClusterHost,
                                                                    spawn: Callable[..., Any]) -> None:
    workers = [await spawn("fifo", "queue") for _ in range(2)]
    client = ClusterClient(host.path)
    lock = ClusterLock(client, prefix="t:")
    first = await lock.acquire("queue", ttl=30, wait=0)
    for n in range(100):
        await workers[n % 2].write(f"w {n}")
        assert await workers[n % 2].read() == f"sent {n}"
        await settled(lambda n=n: host.stats()["waiting"] == n + 1)
    await lock.release(first)
    for w in workers:
        await w.write("done")
    results = [await w.json() for w in workers]
    served = sorted((token, n) for res in results for n, token in res["served"])
    order = [n for _, n in served]
    inversions = sum(1 for a, b in itertools.pairwise(order) if b < a)
    assert len(order) == 100 and inversions == 0, order
    assert served[0][0] > first.token
    await lock.close()
    await client.close()


async def test_a_killed_holder_frees_its_key_at_once(host: ClusterHost, spawn: Callable[..., Any]) -> None:
    holder = await spawn("hold", "crash")
    assert await holder.read() == "held"
    client = ClusterClient(host.path)
    lock = ClusterLock(client, prefix="t:")
    waiter = asyncio.create_task(lock.acquire("crash", ttl=5, wait=10))
    await settled(lambda: host.stats()["waiting"] == 1)
    killed = time.monotonic()
    os.kill(holder.proc.pid, signal.SIGKILL)
    held = await waiter
    freed_after = time.monotonic() - killed
    print(f"\nkey free {freed_after * 1000:.1f} ms after SIGKILL of the holder (ttl 30 s)")
    assert freed_after < 0.1
    await lock.release(held)
    await lock.close()
    await client.close()


async def test_ten_thousand_cross_process_requests(spawn: Callable[..., Any]) -> None:
    a = await spawn("echo", "svc.a", "svc.b", "5000")
    b = await spawn("echo", "svc.b", "svc.a", "5000")
    for w in (a, b):
        assert await w.read() == "ready"
    for w in (a, b):
        await w.write("go")
    results = [await w.json(timeout=300) for w in (a, b)]
    for w in (a, b):
        await w.write("quit")
    lost = sum(r["lost"] for r in results)
    mismatched = sum(r["mismatched"] for r in results)
    elapsed = max(r["elapsed"] for r in results)
    print(f"\n10,000 requests across 2 processes: {lost} lost, {mismatched} mismatched, "
          f"{10_000 / elapsed:.0f} requests/s")
    assert (lost, mismatched) == (0, 0)
