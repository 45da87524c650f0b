"""In-process µs per request, per route shape: each app's ASGI callable driven in a loop with a fake
scope/receive/send (no server, no socket), medians of several batches. For design choices on a shared
machine, where wrk figures are noise; the wrk benchmark (run.py) stays the judge.

Usage: python bench/http/inproc.py [--apps mega,mega_rsgi,blacksheep,...] [--shapes hello,params,...]
                                   [--n 5000] [--repeat 5] [--rounds 3] [--plain]
                                   [--out PATH]

mega runs the base project (bench/http/project) booted in this process, with the scope extension of
mega's own server (`mega.raw_headers`) unless --plain; peers run their module from bench/http/peers.
`mega_rsgi` is the same app behind mega's RSGI adapter (`mega start --server granian`), driven with a
fake RSGI scope and protocol: the adapter's own Python cost, not granian's work in Rust on either
interface.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE / "peers"))

from harness.project import materialise  # noqa: E402
from harness.shapes import SHAPES, Shape  # noqa: E402
from harness.variants import BY_NAME  # noqa: E402

PEERS = {"raw": "raw_asgi", "blacksheep": "blacksheep_app", "starlette": "starlette_app",
         "fastapi": "fastapi_app", "litestar": "litestar_app"}


def scope_for(shape: Shape, raw_headers: bool) -> dict[str, Any]:
    path, _, query = shape.path.partition("?")
    headers = [(b"host", b"127.0.0.1:8765"), (b"user-agent", b"wrk"), (b"accept", b"*/*")]
    if shape.body is not None:
        headers += [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(shape.body))]
    scope: dict[str, Any] = {
        "type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": "1.1",
        "server": ("127.0.0.1", 8765), "client": ("127.0.0.1", 40000), "scheme": "http",
        "method": shape.method, "root_path": "", "path": path, "raw_path": path.encode(),
        "query_string": query.encode(), "headers": headers, "state": {},
    }
    if raw_headers:
        scope["extensions"] = {"mega.raw_headers": {}}
    return scope


_LIFESPANS: list[Any] = []


async def _lifespan(app: Any) -> None:
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    await queue.put({"type": "lifespan.startup"})
    done = asyncio.Event()

    async def send(message: dict[str, Any]) -> None:
        if message["type"].startswith("lifespan.startup"):
            done.set()

    task = asyncio.ensure_future(app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}},
                                     queue.get, send))
    await asyncio.wait_for(done.wait(), 30)
    _LIFESPANS.append(task)  # kept alive until the process ends


async def measure(app: Any, shape: Shape, raw_headers: bool, n: int, repeat: int) -> tuple[float, int]:
    base = scope_for(shape, raw_headers)
    body_msg = {"type": "http.request", "body": shape.body or b"", "more_body": False}
    status = [0]

    async def receive() -> dict[str, Any]:
        return body_msg

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status[0] = message["status"]

    for _ in range(200):  # warm-up
        await app(dict(base), receive, send)
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(n):
            await app(dict(base), receive, send)
        samples.append((time.perf_counter() - t0) / n * 1e6)
    # the least disturbed batch: other jobs on a shared machine only ever add time (as timeit does)
    return min(samples), status[0]


class _Headers:
    """granian's RSGI headers as the adapter reads them (items, keys, get)."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self._pairs = pairs

    def items(self) -> list[tuple[str, str]]:
        return list(self._pairs)

    def keys(self) -> list[str]:  # each name once, as granian's
        return list(dict.fromkeys(k for k, _ in self._pairs))

    def get(self, key: str, default: Any = None) -> Any:
        return next((v for k, v in self._pairs if k == key), default)


class _RsgiScope:
    proto = "http"
    http_version = "1.1"
    scheme = "http"
    client = "127.0.0.1:40000"
    server = "127.0.0.1:8765"

    def __init__(self, shape: Shape) -> None:
        base = scope_for(shape, False)
        self.method = shape.method
        self.path = base["path"]
        self.query_string = base["query_string"].decode()
        self.headers = _Headers([(k.decode(), v.decode()) for k, v in base["headers"]])


class _Protocol:
    """An RSGI HTTP protocol that hands over the body at once and records the status."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.status = 0

    async def __call__(self) -> bytes:
        return self.body

    def __aiter__(self) -> Any:  # granian's is a Rust object: no async generator (and its finaliser)
        return self

    async def __anext__(self) -> bytes:
        body, self.body = self.body, b""
        if not body:
            raise StopAsyncIteration
        return body

    def response_bytes(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.status = status

    response_str = response_bytes


async def measure_rsgi(app: Any, shape: Shape, n: int, repeat: int) -> tuple[float, int]:
    """mega's RSGI adapter (mega.server._rsgi) with a fake RSGI scope and protocol."""
    scope = _RsgiScope(shape)
    body = shape.body or b""
    proto = _Protocol(body)
    for _ in range(200):
        await app.__rsgi__(scope, _Protocol(body))
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(n):
            await app.__rsgi__(scope, _Protocol(body))
        samples.append((time.perf_counter() - t0) / n * 1e6)
    await app.__rsgi__(scope, proto)
    return min(samples), proto.status


async def load_mega(tmp: Path) -> Any:
    project = tmp / "mega_10"
    materialise(BY_NAME["mega_10"], project)
    os.environ["MEGA_ENV"] = "production"
    os.environ.setdefault("SESSION_SECRET", "bench-session-secret-" + "x" * 32)
    from mega.boot.stages import boot

    rt = await boot(project)
    return rt.host.asgi


async def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--apps", default="mega,raw,blacksheep,starlette")
    p.add_argument("--shapes", default=",".join(s.name for s in SHAPES))
    p.add_argument("--n", type=int, default=5000)
    p.add_argument("--repeat", type=int, default=5, help="batches per round (fastest one counts)")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds (median over rounds)")
    p.add_argument("--plain", action="store_true", help="mega without its server's raw-header extension")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()
    shapes = [s for s in SHAPES if s.name in args.shapes.split(",")]
    names = list(dict.fromkeys(args.apps.split(",")))
    samples: dict[str, dict[str, list[float]]] = {n: {s.name: [] for s in shapes} for n in names}
    table: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        apps: dict[str, tuple[Any, bool]] = {}
        for name in names:
            if name == "mega":
                apps[name] = (await load_mega(Path(tmp)), not args.plain)
            elif name == "mega_rsgi":  # the same booted app behind mega's RSGI adapter
                from mega.server._rsgi import RsgiApp

                asgi = apps["mega"][0] if "mega" in apps else await load_mega(Path(tmp))
                apps[name] = (RsgiApp(asgi, max_headers=100, body_timeout=30.0), False)
            else:
                app = importlib.import_module(PEERS[name]).app
                if name != "raw":
                    await _lifespan(app)
                apps[name] = (app, False)
        # Rounds interleave the apps (ABAB...), so a burst of load on the shared machine hits all of them.
        for rnd in range(args.rounds):
            for name in names if rnd % 2 == 0 else reversed(names):
                app, raw = apps[name]
                for shape in shapes:
                    us, status = await (measure_rsgi(app, shape, args.n, args.repeat) if name == "mega_rsgi"
                                        else measure(app, shape, raw, args.n, args.repeat))
                    samples[name][shape.name].append(us)
                    print(f"r{rnd + 1} {name:11} {shape.name:14} {us:7.2f} µs  ({status})", flush=True)
    print("\nmedian over rounds, µs per request")
    print(f"{'shape':14}" + "".join(f"{n:>12}" for n in names))
    for shape in shapes:
        row = [statistics.median(samples[n][shape.name]) for n in names]
        for n, v in zip(names, row, strict=True):
            table.setdefault(n, {})[shape.name] = round(v, 2)
        print(f"{shape.name:14}" + "".join(f"{v:12.2f}" for v in row))
    if args.out:
        args.out.write_text(json.dumps(table, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    try:
        import uvloop

        sys.exit(uvloop.run(main()))
    except ImportError:
        sys.exit(asyncio.run(main()))
