"""A few deployments served at once and measured in turn, shape by shape: the quick comparison for a
shared machine, where run.py's one-app-after-another order lets minutes pass between the two sides of
a ratio. Each deployment is pinned to the server core like in run.py; the idle ones cost nothing.

Usage: python bench/http/side_by_side.py granian:mega_start_granian granian:blacksheep ... \
           [--rounds 3] [--duration 2] [--shapes hello,params] [--out PATH]

Prints, per shape, each deployment's median req/s and server CPU µs per request, and each one's
median same-round ratio to the first deployment named.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from harness.apps import ALL_APPS
from harness.project import materialise
from harness.server import Server, verify
from harness.shapes import BY_NAME, Shape, wrk_script
from harness.wrk import measure

Runs = dict[tuple[str, str], list[dict[str, Any]]]


def _start(specs: list[str], port: int, work: Path, servers: list[Server]) -> None:
    apps = {a.name: a for a in ALL_APPS}
    (work / "projects").mkdir()
    for i, spec in enumerate(specs):
        server_name, _, name = spec.partition(":")
        app = apps[name]
        if app.variant is not None and not (work / "projects" / name).exists():
            materialise(app.variant, work / "projects" / name)
        server = Server(server_name, app, port + i, "cli", work)
        servers.append(server)  # stopped by the caller, even if it fails to start
        server.start()
        verify(server.port, app)


def _measure(servers: list[Server], shapes: list[Shape], rounds: int, duration: float) -> Runs:
    runs: Runs = {}
    for rnd in range(rounds):
        order = servers if rnd % 2 == 0 else servers[::-1]
        for shape in shapes:
            for server in order:
                if shape.name not in server.app.shape_names:
                    continue
                measure(server.port, server.pgid, shape.path, 1, wrk_script(shape))  # warm-up
                res = measure(server.port, server.pgid, shape.path, duration, wrk_script(shape))
                key = (f"{server.server}:{server.app.name}", shape.name)
                runs.setdefault(key, []).append(res)
                print(f"r{rnd + 1} {key[0]:32} {shape.name:14} {res['rps']:9,.0f} req/s "
                      f"srv {res['server_cpu_us_per_req'] or 0:5.1f} µs/req  p99 {res['p99_ms']} ms  "
                      f"other core0 {res['core0_other']:.0%} core1 {res['core1_other']:.0%}", flush=True)
    return runs


def _summary(runs: Runs, names: list[str], shapes: list[Shape]) -> dict[str, dict[str, dict[str, float]]]:
    summary: dict[str, dict[str, dict[str, float]]] = {}
    for shape in shapes:
        ref = runs.get((names[0], shape.name))
        for name in names:
            got = runs.get((name, shape.name))
            if not got:
                continue
            row = {"rps": statistics.median(r["rps"] for r in got),
                   "srv_us": statistics.median(r["server_cpu_us_per_req"] or 0 for r in got),
                   "p99_ms": statistics.median(r["p99_ms"] or 0 for r in got)}
            if ref:  # same-round ratios: both sides measured seconds apart
                row["rps_ratio_to_first"] = statistics.median(
                    a["rps"] / b["rps"] for a, b in zip(got, ref, strict=False))
                row["srv_ratio_to_first"] = statistics.median(
                    (a["server_cpu_us_per_req"] or 0) / (b["server_cpu_us_per_req"] or 1)
                    for a, b in zip(got, ref, strict=False))
            summary.setdefault(shape.name, {})[name] = row
            print(f"{shape.name:14} {name:32} {row['rps']:9,.0f} req/s  srv {row['srv_us']:5.1f} µs  "
                  f"p99 {row['p99_ms']:5.2f} ms  ÷first rps {row.get('rps_ratio_to_first', 0):.3f} "
                  f"srv {row.get('srv_ratio_to_first', 0):.3f}")
    return summary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("deployments", nargs="+", help="server:app, e.g. granian:blacksheep")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=2.0)
    parser.add_argument("--shapes", default=",".join(BY_NAME))
    parser.add_argument("--port", type=int, default=8800)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    shapes = [BY_NAME[s] for s in args.shapes.split(",")]
    servers: list[Server] = []
    with tempfile.TemporaryDirectory(prefix="mega-sbs-") as tmp:
        try:
            _start(args.deployments, args.port, Path(tmp), servers)
            runs = _measure(servers, shapes, args.rounds, args.duration)
        finally:
            for server in servers:
                server.stop()
    print()
    summary = _summary(runs, [f"{s.server}:{s.app.name}" for s in servers], shapes)
    if args.out:
        args.out.write_text(json.dumps({"time": time.strftime("%Y-%m-%dT%H:%M:%S"), "rounds": args.rounds,
                                        "duration_s": args.duration, "summary": summary,
                                        "runs": {f"{k[0]} {k[1]}": v for k, v in runs.items()}}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
