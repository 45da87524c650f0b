"""Bus request/reply latency: mega's NATS bus against raw nats-py, same server, same run, interleaved.

A responder process answers three subjects, each on its own connection; this process asks them one
request at a time, in rotating blocks, so drift on the machine hits every variant alike:

- `mega`:      `await bus.request("echo", payload)` → `bus.on("echo", lambda p: p)` (JSON via mega's codec)
- `raw`:       nats-py `nc.request` → `msg.respond`, with orjson on both sides: the same work by hand
- `raw-bytes`: nats-py echoing bytes, no JSON: the floor

    .venv/bin/python bench/lockbus/bus_bench.py [n]      # n requests per variant (default 10,000)
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import nats
import orjson

URL = os.environ.get("MEGA_BENCH_NATS_URL", "nats://127.0.0.1:4222")
VARIANTS = ("mega", "raw", "raw-bytes")
BLOCK = 1  # requests per variant per turn: round robin spreads machine noise evenly
WARMUP = 500
PAYLOAD = {"seq": 0, "user": "bench", "items": [1, 2, 3], "note": "x" * 64}


def _run(coro: Coroutine[Any, Any, Any]) -> Any:
    try:
        import uvloop  # mega serves on uvloop: measure there (both sides, every variant)

        return uvloop.run(coro)
    except ImportError:
        return asyncio.run(coro)


# -- responder process -------------------------------------------------------------------------


async def _respond(url: str, tag: str) -> None:
    from mega.adapters.nats import NatsAdapter
    from mega.bus.nats import NatsBus

    raw = await nats.connect(url)
    raw_bytes = await nats.connect(url)

    async def echo_json(msg: Any) -> None:
        await msg.respond(orjson.dumps(orjson.loads(msg.data)))

    async def echo_bytes(msg: Any) -> None:
        await msg.respond(msg.data)

    await raw.subscribe(f"bench.{tag}.raw", cb=echo_json)
    await raw_bytes.subscribe(f"bench.{tag}.bytes", cb=echo_bytes)
    await raw.flush()
    await raw_bytes.flush()
    adapter = NatsAdapter("bench", {"url": url})
    await adapter.connect()
    bus = NatsBus(adapter, prefix=f"bench.{tag}.mega.")
    await bus.on("echo", lambda payload: payload)
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await bus.close()
    await adapter.disconnect()
    await raw.close()
    await raw_bytes.close()


# -- requester ---------------------------------------------------------------------------------


async def _measure(n: int, tag: str) -> dict[str, list[float]]:
    from mega.adapters.nats import NatsAdapter
    from mega.bus.nats import NatsBus

    raw = await nats.connect(URL)
    raw_bytes = await nats.connect(URL)
    adapter = NatsAdapter("bench", {"url": URL})
    await adapter.connect()
    bus = NatsBus(adapter, prefix=f"bench.{tag}.mega.")
    payload_bytes = orjson.dumps(PAYLOAD)

    async def mega_once() -> None:
        await bus.request("echo", PAYLOAD, timeout=10)

    async def raw_once() -> None:
        msg = await raw.request(f"bench.{tag}.raw", orjson.dumps(PAYLOAD), timeout=10)
        orjson.loads(msg.data)

    async def bytes_once() -> None:
        await raw_bytes.request(f"bench.{tag}.bytes", payload_bytes, timeout=10)

    calls: dict[str, Callable[[], Awaitable[None]]] = {"mega": mega_once, "raw": raw_once,
                                                      "raw-bytes": bytes_once}
    for call in calls.values():
        for _ in range(WARMUP):
            await call()
    samples: dict[str, list[float]] = {v: [] for v in VARIANTS}
    clock = time.perf_counter
    turn = 0
    while len(samples["mega"]) < n:
        order = VARIANTS[turn % 3:] + VARIANTS[:turn % 3]  # rotate who goes first
        turn += 1
        for variant in order:
            call, out = calls[variant], samples[variant]
            for _ in range(min(BLOCK, n - len(out))):
                started = clock()
                await call()
                out.append(clock() - started)
    await adapter.disconnect()
    await raw.close()
    await raw_bytes.close()
    return samples


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


def run(n: int = 10_000) -> dict[str, Any]:
    """n sequential requests per variant; latencies in microseconds and mega/raw ratios."""
    tag = uuid.uuid4().hex[:8]
    responder = subprocess.Popen([sys.executable, __file__, "--respond", URL, tag], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, text=True)
    try:
        assert responder.stdout is not None
        if responder.stdout.readline().strip() != "ready":
            raise RuntimeError("the responder process did not start")
        started = time.perf_counter()
        samples = _run(_measure(n, tag))
        seconds = time.perf_counter() - started
    finally:
        assert responder.stdin is not None
        responder.stdin.close()
        responder.wait(15)
    stats = {v: {"p50_us": round(statistics.median(s) * 1e6, 1), "p99_us": round(_pct(s, 0.99) * 1e6, 1),
                 "mean_us": round(statistics.fmean(s) * 1e6, 1)} for v, s in samples.items()}
    return {
        "name": "bus request/reply (NATS, 1 in flight)",
        "n": n,
        "seconds": round(seconds, 1),
        "server": URL,
        "variants": stats,
        "ratio_p50": round(stats["mega"]["p50_us"] / stats["raw"]["p50_us"], 3),
        "ratio_p99": round(stats["mega"]["p99_us"] / stats["raw"]["p99_us"], 3),
        "target": "mega within 1.1x of raw nats-py (p50 and p99)",
    }


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--respond":
        _run(_respond(sys.argv[2], sys.argv[3]))
    else:
        print(orjson.dumps(run(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000),
                           option=orjson.OPT_INDENT_2).decode())
