"""CPU pool call overhead: mega's supervised process pool against a bare ProcessPoolExecutor (the peer
it replaces) on the same no-op handler. Sequential round trips and 32 concurrent callers.

    .venv/bin/python bench/workers/run.py [--calls 5000] [--size 2] [--smoke]

Writes bench/results/workers.json (not with --smoke, which runs 200 calls to check the bench works).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
OUT = HERE.parent / "results" / "workers.json"
sys.path.insert(0, str(HERE))


def noop(payload: Any) -> Any:
    return payload


async def measure(call: Any, calls: int, concurrency: int) -> float:
    """Calls per second."""
    await call(0)  # warm
    started = time.perf_counter()
    if concurrency == 1:
        for i in range(calls):
            await call(i)
    else:
        queue = iter(range(calls))

        async def caller() -> None:
            for i in queue:
                await call(i)

        await asyncio.gather(*(caller() for _ in range(concurrency)))
    return calls / (time.perf_counter() - started)


async def main(calls: int, size: int) -> dict[str, Any]:
    from mega.workers import PoolSettings, WorkerPool

    pool = WorkerPool(PoolSettings("bench", "run:noop", "process", size, 10_000, 0))
    pool.start()
    executor = ProcessPoolExecutor(size)
    loop = asyncio.get_running_loop()

    async def peer(payload: Any) -> Any:
        return await loop.run_in_executor(executor, noop, payload)

    figures: dict[str, Any] = {}
    try:
        for label, concurrency in (("sequential", 1), ("concurrent_32", 32)):
            mega = await measure(pool.run, calls, concurrency)
            bare = await measure(peer, calls, concurrency)
            figures[label] = {"mega_calls_s": round(mega), "process_pool_executor_calls_s": round(bare),
                              "ratio": round(mega / bare, 2)}
            print(f"{label:>14}: mega {mega:8.0f} calls/s   ProcessPoolExecutor {bare:8.0f} calls/s   "
                  f"ratio {mega / bare:.2f}")
    finally:
        await pool.close()
        executor.shutdown()
    return figures


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--size", type=int, default=2)
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    result = asyncio.run(main(200 if args.smoke else args.calls, args.size))
    if not args.smoke:
        meta = {"python": platform.python_version(), "calls": args.calls, "size": args.size}
        OUT.write_text(json.dumps({**meta, **result}, indent=2) + "\n")
        print(f"wrote {OUT}")
