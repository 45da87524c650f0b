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

from harness.apps import ALL_APPS
from harness.project import materialise
from harness.server import Server, verify
from harness.shapes import BY_NAME, wrk_script
from harness.wrk import measure


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("deployments", nargs="+", help="server:app, e.g. granian:blacksheep")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=2.0)
    parser.add_argument("--shapes", default=",".join(BY_NAME))
    parser.add_argument("--port", type=int, default=8800)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    apps = {a.name: a for a in ALL_APPS}
    with tempfile.TemporaryDirectory(prefix="mega-sbs-") as tmp:
        work = Path(tmp)
        (work / "projects").mkdir()
        servers: list[Server] = []
        try:
            for i, spec in enumerate(args.deployments):
                server_name, _, name = spec.partition(":")
                app = apps[name]
                if app.variant is not None and not (work / "projects" / name).exists():
                    materialise(app.variant, work / "projects" / name)
                server = Server(server_name, app, args.port + i, "cli", work)
                server.start()
                verify(server.port, app)
                servers.append(server)
            shapes = [BY_NAME[s] for s in args.shapes.split(",")]
            runs: dict[tuple[str, str], list[dict[str, float]]] = {}
            for rnd in range(args.rounds):
                order = servers if rnd % 2 == 0 else servers[::-1]
                for shape in shapes:
                    for server in order:
                        if shape.name not in server.app.shape_names:
                            continue
                        measure(server.port, server.pgid, shape.path, 1, wrk_script(shape))  # warm-up
                        res = measure(server.port, server.pgid, shape.path, args.duration, wrk_script(shape))
                        key = (f"{server.server}:{server.app.name}", shape.name)
                        runs.setdefault(key, []).append(res)
                        print(f"r{rnd + 1} {key[0]:32} {shape.name:14} {res['rps']:9,.0f} req/s "
                              f"srv {res['server_cpu_us_per_req'] or 0:5.1f} µs/req  p99 {res['p99_ms']} ms  "
                              f"other core0 {res['core0_other']:.0%} core1 {res['core1_other']:.0%}",
                              flush=True)
        finally:
            for server in servers:
                server.stop()
    names = [f"{s.server}:{s.app.name}" for s in servers]
    summary: dict[str, dict[str, dict[str, float]]] = {}
    print()
    for shape in shapes:
        ref = runs.get((names[0], shape.name))
        for name in names:
            got = runs.get((name, shape.name))
            if not got:
                continue
            row = {"rps": statistics.median(r["rps"] for r in got),
                   "srv_us": statistics.median(r["server_cpu_us_per_req"] or 0 for r in got),
                   "p99_ms": statistics.median(r["p99_ms"] or 0 for r in got)}
            if ref:
                row["rps_ratio_to_first"] = statistics.median(
                    a["rps"] / b["rps"] for a, b in zip(got, ref, strict=False))
                row["srv_ratio_to_first"] = statistics.median(
                    (a["server_cpu_us_per_req"] or 0) / (b["server_cpu_us_per_req"] or 1)
                    for a, b in zip(got, ref, strict=False))
            summary.setdefault(shape.name, {})[name] = row
            print(f"{shape.name:14} {name:32} {row['rps']:9,.0f} req/s  srv {row['srv_us']:5.1f} µs  "
                  f"p99 {row['p99_ms']:5.2f} ms  ÷first rps {row.get('rps_ratio_to_first', 0):.3f} "
                  f"srv {row.get('srv_ratio_to_first', 0):.3f}")
    if args.out:
        args.out.write_text(json.dumps({"time": time.strftime("%Y-%m-%dT%H:%M:%S"), "rounds": args.rounds,
                                        "duration_s": args.duration, "summary": summary,
                                        "runs": {f"{k[0]} {k[1]}": v for k, v in runs.items()}}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
