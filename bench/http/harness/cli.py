"""The command line of bench/http/run.py."""

from __future__ import annotations

import argparse
import os
import shutil
from pathlib import Path

from .apps import ALL_APPS, App
from .common import RESULTS
from .server import port_in_use

DESCRIPTION = """\
HTTP benchmark: mega against BlackSheep, Starlette, FastAPI, Litestar and a raw ASGI app, each on
uvicorn and on granian, over the route shapes of bench/http/harness/shapes.py; mega is reported
against the best peer deployment of each shape.

Method (see bench/README.md):
- one server worker pinned to core 0 (`taskset -c 0`), `wrk -t1 -c64` pinned to core 1;
- every app is started, checked (each route shape of bench/http/harness/shapes.py must answer its
  status and exact JSON), warmed up, then measured on each shape; the server is stopped before the
  next app starts;
- the mega apps are variants of one base project (bench/http/project), written to a temp directory
  at start from the table in bench/http/harness/variants.py;
- rounds are interleaved: round 1 runs every server and the whole app list, round 2 runs them again
  in reverse order (ABBA), so every pair of deployments is measured close in time and drift cancels out;
- per app/endpoint we keep the median req/s and the median p99 over rounds; a ratio such as
  mega ÷ BlackSheep is the median over rounds of the ratio measured within each round.
"""


def parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, list[str], list[App]]:
    p = argparse.ArgumentParser(prog="bench/http/run.py", description=DESCRIPTION,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--duration", type=float, default=None, help="seconds of wrk per endpoint (default 10)")
    p.add_argument("--rounds", type=int, default=None, help="interleaved rounds (default 3; --quick: 1)")
    p.add_argument("--warmup", type=float, default=None, help="seconds of warm-up per endpoint (default 2)")
    p.add_argument("--quick", action="store_true",
                   help="smoke run: 1 s warm-up + 1 s of wrk per cell, 1 round, no quiet wait or retry")
    p.add_argument("--servers", default="uvicorn,granian")
    p.add_argument("--only", default="", help="comma-separated app names (default: all)")
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--noise", type=float, default=0.05,
                   help="max share of a core other processes may take (idle gate and per run; default 0.05)")
    p.add_argument("--quiet-wait", type=float, default=None,
                   help="max seconds to wait for a quiet machine before each measurement "
                        "(default 600; --quick: 0)")
    p.add_argument("--retries", type=int, default=None,
                   help="re-measure a run disturbed by another job up to this many times (default 5)")
    p.add_argument("--launcher", choices=("auto", "cli", "python"), default="auto",
                   help="how mega runs on uvicorn: `mega start` (cli) or mega.server.run (python)")
    p.add_argument("--no-snapshot", action="store_true",
                   help="serve mega from src/ as it is at each start, not from a copy taken at start")
    p.add_argument("--out", type=Path, default=None, help="results json (default bench/results/http.json; "
                   "--quick: bench/results/http-quick.json)")
    args = p.parse_args(argv)
    args.duration = args.duration or (1.0 if args.quick else 10.0)
    args.rounds = args.rounds or (1 if args.quick else 3)
    args.warmup = args.warmup if args.warmup is not None else (1.0 if args.quick else 2.0)
    if args.quiet_wait is None:
        args.quiet_wait = 0.0 if args.quick else 600.0
    if args.retries is None:
        args.retries = 0 if args.quick else 5
    args.out = args.out or RESULTS / ("http-quick.json" if args.quick else "http.json")

    servers = [s.strip() for s in args.servers.split(",") if s.strip()]
    bad_servers = set(servers) - {"uvicorn", "granian"}
    if bad_servers:
        p.error(f"unknown server(s): {', '.join(sorted(bad_servers))}; known: uvicorn, granian")
    only = {n.strip() for n in args.only.split(",") if n.strip()}
    unknown = only - {a.name for a in ALL_APPS}
    if unknown:
        p.error(f"unknown app(s): {', '.join(sorted(unknown))}; known: {', '.join(a.name for a in ALL_APPS)}")
    if shutil.which("wrk") is None:
        p.error("wrk not found on PATH")
    if shutil.which("taskset") is None:
        print("taskset not found: server and wrk run unpinned (figures less comparable)", flush=True)
    if (os.cpu_count() or 1) < 2:
        p.error("needs 2 cores: the server runs on core 0, wrk on core 1")
    if port_in_use(args.port):
        p.error(f"port {args.port} is in use; pass --port")
    return args, servers, [a for a in ALL_APPS if not only or a.name in only]
