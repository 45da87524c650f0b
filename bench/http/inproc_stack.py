"""In-process µs per request through the whole server-side Python path: mega's uvicorn protocol, built
as `mega start` builds it, in front of the base benchmark project booted in production, on 64
connections with a transport that drops what is written (no socket, no kernel). Each turn feeds every
connection one request, then runs the loop until every handler task is done. For design choices on a
shared machine (interleave two source trees with PYTHONPATH); the wrk benchmark (run.py) stays the judge.

Usage: python bench/http/inproc_stack.py [--shapes hello,params,...] [--runs 7] [--requests 12800]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import uvloop
from uvicorn.server import ServerState

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from harness.project import materialise  # noqa: E402
from harness.shapes import SHAPES  # noqa: E402
from harness.variants import BY_NAME  # noqa: E402

CONNECTIONS = 64


class NullTransport(asyncio.Transport):
    """Takes writes and drops them; never closing, never paused."""

    def write(self, data: Any) -> None:
        pass

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        pass

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 8765)}.get(name, default)


def request_bytes(path: str, method: str, body: bytes | None) -> bytes:
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:8765\r\nUser-Agent: wrk\r\nAccept: */*\r\n"
    if body is not None:
        head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    return (head + "\r\n").encode() + (body or b"")


async def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shapes", default="hello,params,query,not_found,cached")
    p.add_argument("--runs", type=int, default=7, help="interleaved runs per shape (min and median shown)")
    p.add_argument("--requests", type=int, default=12_800, help="requests per run")
    args = p.parse_args()
    shapes = [s for s in SHAPES if s.name in args.shapes.split(",")]

    project = Path(tempfile.mkdtemp(prefix="mega-inproc-stack-")) / "mega_10"
    materialise(BY_NAME["mega_10"], project)
    os.environ["MEGA_ENV"] = "production"
    os.environ.setdefault("SESSION_SECRET", "bench-session-secret-" + "x" * 32)
    from mega.boot.stages import boot
    from mega.server._serve import uvicorn_config

    rt = await boot(project)
    config = uvicorn_config(rt, rt.server_config)
    config.load()
    state = ServerState()
    state.default_headers = [(b"date", b"Thu, 01 Jan 2026 00:00:00 GMT")]
    connections = []
    for _ in range(CONNECTIONS):
        proto = config.http_protocol_class(config=config, server_state=state, app_state={})  # type: ignore[call-arg]
        proto.connection_made(NullTransport())
        connections.append(proto)

    async def run(data: bytes, n: int) -> float:
        turns = max(1, n // CONNECTIONS)
        t0 = time.perf_counter()
        for _ in range(turns):
            for proto in connections:
                proto.data_received(data)
            while state.tasks:
                await asyncio.sleep(0)
        return (time.perf_counter() - t0) / (turns * CONNECTIONS) * 1e6

    wire = {s.name: request_bytes(s.path, s.method, s.body) for s in shapes}
    for name in wire:
        await run(wire[name], 6_400)  # warm-up
    samples: dict[str, list[float]] = {name: [] for name in wire}
    for _ in range(args.runs):
        for name, data in wire.items():
            samples[name].append(await run(data, args.requests))
    print(f"µs per request, {args.runs} interleaved runs of {args.requests:,} requests on {CONNECTIONS} "
          "connections")
    for name, values in samples.items():
        print(f"  {name:14} min {min(values):6.2f}  median {statistics.median(values):6.2f}")
    for proto in connections:
        proto.connection_lost(None)
    await rt.close()


if __name__ == "__main__":
    uvloop.install()
    asyncio.run(main())
