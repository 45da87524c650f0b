"""Stock uvicorn protocol vs HardenedHttpProtocol for a raw ASGI app (not a test; figures go to ADR 0002).

    python bench_protocol.py inproc            # µs per request, protocol object + fake transport, in-process
    python bench_protocol.py wrk [SECONDS] [REPS]  # throughput: server pinned to CPU 0, wrk -t1 -c64 on CPU 1

The app sends a precomputed JSON body with content-type, content-length and x-request-id; on mega's protocol
through the raw block ("raw"), or as a plain header list ("plain", to price the fallback). The "helmet"
variants add 12 helmet-style security headers (HELMET below); "mega-raw-2writes" uses the raw block but
writes head and body separately, as uvicorn does, to tell the saved syscall from the saved header work.
"""

from __future__ import annotations

import asyncio
import re
import socket
import statistics
import subprocess
import sys
import time
from typing import Any

import uvicorn
import uvloop
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from mega.server import RAW_HEADERS_EXTENSION, HardenedHttpProtocol
from mega.server import _uvicorn_cycle as cycle_module

BODY = b'{"ok":true,"data":{"hello":"world"}}'
BASE = [
    (b"content-type", b"application/json"),
    (b"content-length", b"%d" % len(BODY)),
    (b"x-request-id", b"req-0001"),
]
HELMET = [
    (
        b"content-security-policy",
        b"default-src 'self';base-uri 'self';font-src 'self' https: data:;form-action 'self';"
        b"frame-ancestors 'self';img-src 'self' data:;object-src 'none';script-src 'self';"
        b"script-src-attr 'none';style-src 'self' https: 'unsafe-inline';upgrade-insecure-requests",
    ),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"origin-agent-cluster", b"?1"),
    (b"referrer-policy", b"same-origin"),
    (b"strict-transport-security", b"max-age=31536000; includeSubDomains"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-dns-prefetch-control", b"off"),
    (b"x-download-options", b"noopen"),
    (b"x-frame-options", b"SAMEORIGIN"),
    (b"x-permitted-cross-domain-policies", b"none"),
    (b"x-xss-protection", b"0"),
]


def block(headers: list[tuple[bytes, bytes]]) -> bytes:
    return b"".join(name + b": " + value + b"\r\n" for name, value in headers)


def make_app(headers: list[tuple[bytes, bytes]], raw: bool) -> Any:
    start_plain = {"type": "http.response.start", "status": 200, "headers": headers}
    start_raw = {"type": "http.response.start", "status": 200, RAW_HEADERS_EXTENSION: block(headers)}
    body = {"type": "http.response.body", "body": BODY}

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if raw and RAW_HEADERS_EXTENSION in scope["extensions"]:
            await send(start_raw)
        else:
            await send(start_plain)
        await send(body)

    return app


VARIANTS: dict[str, tuple[type[HttpToolsProtocol], list[tuple[bytes, bytes]], bool]] = {
    "stock": (HttpToolsProtocol, BASE, False),
    "mega-raw": (HardenedHttpProtocol, BASE, True),
    "mega-plain": (HardenedHttpProtocol, BASE, False),
    "mega-raw-2writes": (HardenedHttpProtocol, BASE, True),  # raw block, but head and body in two writes
    "stock-helmet": (HttpToolsProtocol, BASE + HELMET, False),
    "mega-raw-helmet": (HardenedHttpProtocol, BASE + HELMET, True),
}

REQUEST = b"GET /hello HTTP/1.1\r\nHost: 127.0.0.1:8000\r\nUser-Agent: wrk\r\nAccept: */*\r\n\r\n"


# -- in-process -------------------------------------------------------------------------------------------


class NullTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def write(self, data: Any) -> None:
        self.writes += 1

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        pass

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 8000)}.get(name, default)


async def per_request_us(variant: str, n: int) -> tuple[float, float]:
    cls, headers, raw = VARIANTS[variant]
    cycle_module._COALESCE_LIMIT = 0 if variant == "mega-raw-2writes" else 65536  # type: ignore[misc]
    config = uvicorn.Config(make_app(headers, raw), lifespan="off", log_config=None, proxy_headers=False)
    state = ServerState()
    state.default_headers = [(b"date", b"Thu, 01 Jan 2026 00:00:00 GMT"), (b"server", b"uvicorn")]
    proto = cls(config=config, server_state=state, app_state={})
    transport = NullTransport()
    proto.connection_made(transport)
    tasks = state.tasks
    feed = proto.data_received
    t0 = time.perf_counter()
    for _ in range(n):
        feed(REQUEST)
        for task in list(tasks):
            await task
    elapsed = time.perf_counter() - t0
    proto.connection_lost(None)
    return elapsed / n * 1e6, transport.writes / n


def inproc() -> None:
    # Many short runs, variants interleaved; min and median (the box is shared: min is the steadier figure).
    uvloop.install()
    n, reps = 4_000, 25
    results: dict[str, list[float]] = {v: [] for v in VARIANTS}
    writes: dict[str, float] = {}

    async def run_all() -> None:
        for variant in VARIANTS:
            await per_request_us(variant, n)  # warm-up
        for _ in range(reps):
            for variant in VARIANTS:
                us, writes[variant] = await per_request_us(variant, n)
                results[variant].append(us)

    asyncio.run(run_all())
    print(f"in-process: {reps} runs x {n} requests per variant; µs per request")
    for variant, values in results.items():
        med, low = statistics.median(values), min(values)
        print(f"  {variant:16} min {low:6.2f}  median {med:6.2f}  writes/request {writes[variant]:.0f}")


# -- real server + wrk ------------------------------------------------------------------------------------


def serve(variant: str, port: int) -> None:
    cls, headers, raw = VARIANTS[variant]
    if variant == "mega-raw-2writes":
        cycle_module._COALESCE_LIMIT = 0  # type: ignore[misc]  # to separate the syscall from the rest
    config = uvicorn.Config(
        make_app(headers, raw),
        host="127.0.0.1",
        port=port,
        http=cls,
        loop="uvloop",
        lifespan="off",
        access_log=False,
        proxy_headers=False,
        log_level="warning",
    )
    uvicorn.Server(config).run()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_for_quiet_machine(limit: float = 300.0) -> None:
    # The box is shared: do not measure while someone else's wrk runs.
    deadline = time.monotonic() + limit
    while subprocess.run(["pgrep", "-x", "wrk"], capture_output=True).returncode == 0:
        if time.monotonic() > deadline:
            print("  (another wrk is still running; measuring anyway)", flush=True)
            return
        time.sleep(1.0)


def wrk(seconds: int, reps: int) -> None:
    port = free_port()
    rps: dict[str, list[float]] = {v: [] for v in VARIANTS}
    for rep in range(reps):
        for variant in VARIANTS:  # adjacent runs: machine noise drifts over minutes
            server = subprocess.Popen(
                ["taskset", "-c", "0", sys.executable, __file__, "serve", variant, str(port)]
            )
            try:
                for _ in range(100):
                    try:
                        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                        break
                    except OSError:
                        time.sleep(0.05)
                wait_for_quiet_machine()
                subprocess.run(  # warm-up
                    ["taskset", "-c", "1", "wrk", "-t1", "-c64", "-d1s", f"http://127.0.0.1:{port}/"],
                    capture_output=True,
                    check=True,
                )
                out = subprocess.run(
                    [
                        "taskset",
                        "-c",
                        "1",
                        "wrk",
                        "-t1",
                        "-c64",
                        f"-d{seconds}s",
                        f"http://127.0.0.1:{port}/",
                    ],
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout
            finally:
                server.terminate()
                server.wait()
            match = re.search(r"Requests/sec:\s+([\d.]+)", out)
            assert match and "Non-2xx" not in out and "Socket errors" not in out, out
            rps[variant].append(float(match[1]))
            print(f"  rep {rep} {variant:16} {float(match[1]):10.0f} req/s", flush=True)
    base = statistics.median(rps["stock"])
    print(f"wrk -t1 -c64 -d{seconds}s, {reps} reps, medians (x stock):")
    for variant, values in rps.items():
        med = statistics.median(values)
        runs = ", ".join(f"{v:.0f}" for v in values)
        print(f"  {variant:16} {med:10.0f} req/s  x{med / base:.3f}  (runs: {runs})")


if __name__ == "__main__":
    command = sys.argv[1] if len(sys.argv) > 1 else "inproc"
    if command == "inproc":
        inproc()
    elif command == "serve":
        serve(sys.argv[2], int(sys.argv[3]))
    elif command == "wrk":
        wrk(int(sys.argv[2]) if len(sys.argv) > 2 else 5, int(sys.argv[3]) if len(sys.argv) > 3 else 3)
