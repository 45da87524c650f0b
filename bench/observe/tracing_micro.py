"""Tracing's per-request cost in-process: mega's own server protocol fed `GET /users/42` over a fake
transport, tracing off against sampling 1.0 exporting over OTLP/HTTP to a receiver in another process.

    .venv/bin/python bench/observe/tracing_micro.py                 # 2 pairs x 5 rounds x 3,000 requests
    .venv/bin/python bench/observe/tracing_micro.py --profile       # cProfile of the traced build

The figure is the CPU time of the whole server process per request (`time.process_time`: the event
loop and the span processor's export thread together), after the processor has exported every span of
the round, so encoding and sending are counted. The same project as bench/observe/metrics_http.py.
A design aid; bench/observe/metrics_http.py under wrk is the benchmark of record.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import os
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "http"))

from asp_micro import _Transport  # noqa: E402
from metrics_http import MEGA_ROUTES, mega_config  # noqa: E402

from mega.testing import boot_for_test, write_project  # noqa: E402

REQUEST = b"GET /users/42 HTTP/1.1\r\nHost: 127.0.0.1:8000\r\n\r\n"
RECEIVER = """
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
class R(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", "0")))
        self.send_response(200); self.send_header("content-length", "0"); self.end_headers()
    def log_message(self, *a): pass
s = ThreadingHTTPServer(("127.0.0.1", 0), R)
print(s.server_address[1], flush=True)
s.serve_forever()
"""


async def _build(root: Path, kind: str, otlp: str) -> Any:
    config = mega_config("tracing1", otlp).replace('"otlp"', '"none"') if kind == "spans_only" else \
        mega_config(kind, otlp)
    project = write_project(root / kind, {
        "mega_config.py": config, "apps/bench/routes/main.py": MEGA_ROUTES,
        "apps/bench/app_config.py": 'config = {"rate_limit": {"max": 1_000_000_000, "window": 60}}\n'})
    environ = {k: v for k, v in os.environ.items() if not k.startswith("MEGA_")}
    environ["SESSION_SECRET"] = "bench-session-secret-" + "x" * 32
    return await boot_for_test(project, environ=environ, env="production")


def _protocol(rt: Any) -> tuple[Any, _Transport]:
    import uvicorn

    from mega.server._serve import uvicorn_config

    config = uvicorn_config(rt, rt.server_config)
    config.load()
    proto = config.http_protocol_class(config=config, server_state=uvicorn.server.ServerState(),  # type: ignore[call-arg]
                                       app_state={})
    transport = _Transport()
    proto.connection_made(transport)
    return proto, transport


async def _run_kind(kind: str, args: argparse.Namespace) -> list[float]:
    """One build (one project per process): its µs per request in each round."""
    loop = asyncio.get_running_loop()
    with tempfile.TemporaryDirectory() as tmp:
        rt = await _build(Path(tmp), kind, args.otlp)
        try:
            proto, transport = _protocol(rt)

            async def timed(n: int) -> float:
                gc.collect()
                started = time.process_time()
                for _ in range(n):
                    transport.waiter = loop.create_future()
                    proto.data_received(REQUEST)
                    await transport.waiter
                    transport.written.clear()
                if rt.tracing is not None:
                    rt.tracing.flush()  # every span of the round encoded and sent: counted here
                return (time.process_time() - started) / n * 1e6

            await timed(args.n)  # warm-up
            if args.profile:
                prof = cProfile.Profile()
                prof.enable()
                await timed(args.n)
                prof.disable()
                pstats.Stats(prof).sort_stats("tottime").print_stats(30)
                return []
            return [await timed(args.n) for _ in range(args.rounds)]
        finally:
            await rt.close()


def _child(kind: str, args: argparse.Namespace) -> list[float]:
    argv = [sys.executable, __file__, "--kind", kind, "--otlp", args.otlp, "-n", str(args.n),
            "--rounds", str(args.rounds)]
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    return [float(x) for x in out.split()]


def _compare(args: argparse.Namespace) -> None:
    receiver = subprocess.Popen([sys.executable, "-c", RECEIVER], stdout=subprocess.PIPE, text=True)
    assert receiver.stdout is not None
    args.otlp = f"http://127.0.0.1:{receiver.stdout.readline().strip()}/v1/traces"
    try:
        if args.profile:
            args.kind = "tracing1"
            import uvloop

            uvloop.run(_run_kind("tracing1", args))
            return
        kinds = ("off", "tracing1", "spans_only") if args.spans_only else ("off", "tracing1")
        per: dict[str, list[float]] = {kind: [] for kind in kinds}
        for pair in range(args.pairs):  # each build in its own process, in alternating order
            for kind in (kinds if pair % 2 == 0 else kinds[::-1]):
                per[kind].extend(_child(kind, args))
        for label, pick in (("median", statistics.median), ("min", min)):
            off, on = pick(per["off"]), pick(per["tracing1"])
            print(f"{label:6} off {off:.1f} us/request, tracing 1.0 to OTLP {on:.1f} us/request; "
                  f"+{on - off:.1f} us, rate ratio {off / on:.3f} (process CPU; {args.pairs} pairs x "
                  f"{args.rounds} rounds x {args.n})")
            if args.spans_only:
                print(f"{label:6} spans made, no exporter: {pick(per['spans_only']):.1f} us/request")
    finally:
        receiver.terminate()
        receiver.wait(5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("-n", type=int, default=3000, help="requests per round and build")
    parser.add_argument("--pairs", type=int, default=2, help="off/on process pairs")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--spans-only", action="store_true", help="also: sampling 1.0 without an exporter")
    parser.add_argument("--kind", default=None, help=argparse.SUPPRESS)  # a child: one build
    parser.add_argument("--otlp", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.kind is None:
        _compare(args)
        return
    import uvloop

    print(" ".join(f"{x:.3f}" for x in uvloop.run(_run_kind(args.kind, args))))


if __name__ == "__main__":
    main()
