"""µs per call: a circuit breaker and `mega.retry` around a call that succeeds, and an error log line with
and without the telegram sink (what a request pays for an alert).

    .venv/bin/python bench/observe/resilience_micro.py [--quick] [--calls N] [--rounds R]

`--quick` is the smoke mode (few calls, one round: checks it runs, not a figure). Each figure is the
best of `--rounds` rounds of `--calls` calls. Ratios are against the same call made directly (the
breaker, retry) and against a file sink writing to /dev/null (the telegram sink, whose post runs on
its own thread against a loopback endpoint that answers 200). Peer: tenacity's own `AsyncRetrying`
for retry. Results go to
bench/results/resilience.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import platform
import threading
import time
from collections.abc import Awaitable, Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tenacity import AsyncRetrying, stop_after_attempt

import mega
from mega.observe.logging import configure_logging, get_logger
from mega.resilience import reset_breakers

RESULTS = Path(__file__).resolve().parents[1] / "results" / "resilience.json"


async def best_us(call: Callable[[], Awaitable[Any]], calls: int, rounds: int) -> float:
    for _ in range(min(calls, 500)):
        await call()
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter_ns()
        for _ in range(calls):
            await call()
        best = min(best, (time.perf_counter_ns() - started) / calls / 1000)
    return best


async def work() -> int:
    return 1


class _Ok(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: Any) -> None:
        pass


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="smoke: few calls, one round")
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    calls, rounds = (500, 1) if args.quick else (args.calls, args.rounds)

    reset_breakers()
    breaker = mega.CircuitBreaker("bench", failure_threshold=5)
    opened = mega.CircuitBreaker("bench-open", failure_threshold=1, reset_timeout=3600, fallback=lambda e: 0)
    with contextlib.suppress(ZeroDivisionError):
        await opened.call(_fail)  # opens it

    async def tenacity_retry() -> int:
        async for attempt in AsyncRetrying(stop=stop_after_attempt(4), reraise=True):
            with attempt:
                return await work()
        return 0

    figures: dict[str, float] = {
        "direct": await best_us(work, calls, rounds),
        "breaker.call (closed)": await best_us(lambda: breaker.call(work), calls, rounds),
        "breaker.call (open, fallback)": await best_us(lambda: opened.call(work), calls, rounds),
        "mega.retry (first try succeeds)": await best_us(lambda: mega.retry(work), calls, rounds),
        "tenacity AsyncRetrying (peer)": await best_us(tenacity_retry, calls, rounds),
    }

    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    log = get_logger("mega.bench")
    with open(os.devnull, "w") as devnull:
        configure_logging(level="info", fmt="json", sinks=[{"type": "file", "path": devnull.name}])
        figures["log.error, file sink"] = await best_us(_log(log), calls, rounds)
        configure_logging(
            level="info",
            fmt="json",
            sinks=[
                {"type": "file", "path": devnull.name},
                {
                    "type": "telegram",
                    "token": "1:bench",
                    "chat_id": 1,
                    "api_url": url,
                    "min_interval": 0,
                    "flush_interval": 0.01,
                    "queue_size": 1_000_000,
                },
            ],
        )
        figures["log.error, file + telegram sinks"] = await best_us(_log(log), calls, rounds)
    configure_logging(sinks=[])
    server.shutdown()

    ratios = {
        "breaker closed ÷ direct": figures["breaker.call (closed)"] / figures["direct"],
        "mega.retry ÷ tenacity": figures["mega.retry (first try succeeds)"]
        / figures["tenacity AsyncRetrying (peer)"],
        "telegram+file ÷ file": figures["log.error, file + telegram sinks"] / figures["log.error, file sink"],
    }
    for name, us in figures.items():
        print(f"{name:40s} {us:8.2f} µs")
    for name, ratio in ratios.items():
        print(f"{name:40s} {ratio:8.2f}x")
    if not args.quick:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(
            json.dumps(
                {
                    "python": platform.python_version(),
                    "cpus": os.cpu_count(),
                    "us": figures,
                    "ratios": ratios,
                },
                indent=2,
            )
            + "\n"
        )


async def _fail() -> None:
    raise ZeroDivisionError


def _log(log: logging.Logger) -> Callable[[], Awaitable[None]]:
    async def call() -> None:
        log.error("payment %s failed", 7)

    return call


if __name__ == "__main__":
    asyncio.run(main())
