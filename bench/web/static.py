"""Static files: a 4 KiB and a 1 MiB file served by mega (`mega start`), Starlette's `StaticFiles` and
BlackSheep's `serve_files` (both on uvicorn with uvloop and httptools), in the same run, one after the
other on the same pinned core, with bench/http's harness (server processes, wrk, CPU accounting).

Usage: python bench/web/static.py [--duration 10] [--warmup 2] [--rounds 2] [--quick] [--port 8765]
                                  [--quiet-wait 30] [--out PATH]

`run(...)` returns the results as a dict (what bench/web/run.py collects); `__main__` prints the table
and, with --out, writes the JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "http"))

from harness.common import BIN, HOST, SERVER_CPU, BenchError, log
from harness.machine import take_lock
from harness.quiet import wait_quiet
from harness.server import Server, http_get
from harness.wrk import measure, parse_wrk, run_wrk

PEERS = Path(__file__).resolve().parent / "peers"
# name -> (file under public/, size); the extensions are in BlackSheep's default list of served ones.
FILES = {"4k": ("small.css", 4 * 1024), "1m": ("large.jpg", 1024 * 1024)}
APPS = ("mega", "starlette", "blacksheep")
TARGET = 1.0  # mega ÷ each peer, per file

MEGA_CONFIG = 'config = {"logger": {"level": "warning", "access_log": False}}\n'
ROUTES = ('async def home(req, reply, ctx):\n    return "ok"\n\n\n'
          'def routes(router):\n    router.get("/", home)\n')


def write_files(public: Path) -> dict[str, bytes]:
    """The two files (fixed content, so every run serves the same bytes)."""
    public.mkdir(parents=True, exist_ok=True)
    out = {}
    for key, (name, size) in FILES.items():
        line = b"/* static benchmark: the same bytes every run */\n" if name.endswith(".css") else bytes(
            range(256))
        data = (line * (size // len(line) + 1))[:size]
        (public / name).write_bytes(data)
        out[key] = data
    return out


def write_project(root: Path) -> Path:
    (root / "apps/main/routes").mkdir(parents=True, exist_ok=True)
    (root / "mega_config.py").write_text(MEGA_CONFIG)
    (root / "apps/main/app_config.py").write_text("config = {}\n")
    (root / "apps/main/routes/home.py").write_text(ROUTES)
    return root / "apps/main/public"


class StaticServer(Server):
    """bench/http's server process group with a command of our own."""

    def __init__(self, name: str, port: int, workdir: Path, public: Path, project: Path) -> None:
        self.server, self.port = "uvicorn", port
        self.app = argparse.Namespace(name=name)  # only .name is read (logs, messages)
        env = {k: v for k, v in os.environ.items() if not k.startswith("MEGA_")}
        pin = ["taskset", "-c", SERVER_CPU]
        if name == "mega":
            env["MEGA_ENV"] = "production"
            env.setdefault("SESSION_SECRET", "bench-session-secret-" + "x" * 32)
            self.cmd, self.cwd = [*pin, str(BIN / "mega"), "start", "--port", str(port)], project
        else:
            env["STATIC_DIR"] = str(public)
            self.cmd = [*pin, str(BIN / "uvicorn"), f"static_{name}:app", "--host", HOST, "--port", str(port),
                        "--app-dir", str(PEERS), "--loop", "uvloop", "--http", "httptools", "--no-access-log",
                        "--log-level", "warning"]
            self.cwd = PEERS
        self.env = env
        self.logfile = workdir / f"static-{name}.log"
        self.proc = None


def check(port: int, name: str, expected: dict[str, bytes]) -> None:
    for key, data in expected.items():
        status, _, body = http_get(port, f"/static/{FILES[key][0]}")
        if status != 200 or body != data:
            raise BenchError(f"{name} GET /static/{FILES[key][0]}: status {status}, {len(body)} bytes; "
                             f"expected 200 with the file's {len(data)} bytes")


def _measure(srv: StaticServer, key: str, path: str, rnd: int, duration: float, warmup: float,
             quiet_wait: float, problems: list[str]) -> dict[str, Any]:
    name, port = srv.app.name, srv.port
    gate = wait_quiet(quiet_wait, 0.15, srv.pgid) if quiet_wait > 0 else None
    parse_wrk(run_wrk(port, path, warmup))
    r = measure(port, srv.pgid, path, duration)
    r.pop("wrk_output", None)
    log(f"  {name:10} {key:3} r{rnd}  {r['rps']:>10,.0f} req/s  p99 {r['p99_ms']:6.2f} ms  "
        f"srv {r['server_cpu_us_per_req'] or 0:6.1f} µs/req")
    if r["non_2xx"] or any(r["socket_errors"].values()):
        problems.append(f"{name}/{key} round {rnd}: {r['non_2xx']} non-2xx, "
                        f"socket errors {r['socket_errors']}")
    return {"app": name, "file": key, "round": rnd, "quiet_gate": gate, **r}


def run(duration: float = 10.0, warmup: float = 2.0, rounds: int = 2, port: int = 8765,
        quiet_wait: float = 30.0) -> dict[str, Any]:
    """Measure every app on both files; returns {"meta", "runs", "rps", "ratios", "problems"}."""
    workdir = Path(tempfile.mkdtemp(prefix="mega-bench-static-"))
    public = write_project(workdir / "project")
    expected = write_files(public)
    runs: list[dict[str, Any]] = []
    problems: list[str] = []
    lock = take_lock()
    try:
        for rnd in range(1, rounds + 1):
            for name in APPS if rnd % 2 else tuple(reversed(APPS)):
                srv = StaticServer(name, port, workdir, public, workdir / "project")
                try:
                    srv.start()
                    check(port, name, expected)
                    for key, (file, _) in FILES.items():
                        runs.append(_measure(srv, key, f"/static/{file}", rnd, duration, warmup, quiet_wait,
                                             problems))
                    check(port, name, expected)  # still right after the load
                except (BenchError, OSError) as exc:
                    problems.append(f"{name} round {rnd}: {exc}")
                    log(f"  !! {name}: {exc}\n{srv.tail()}")
                finally:
                    srv.stop()
    finally:
        lock.close()
        shutil.rmtree(workdir, ignore_errors=True)
    rps = {key: {name: _median([r["rps"] for r in runs if r["app"] == name and r["file"] == key])
                 for name in APPS} for key in FILES}
    ratios = {key: {peer: round(v["mega"] / v[peer], 3) if v["mega"] and v[peer] else None
                    for peer in APPS[1:]} for key, v in rps.items()}
    return {"meta": {"time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "duration_s": duration, "warmup_s": warmup,
                     "rounds": rounds, "files": {k: {"name": n, "bytes": s} for k, (n, s) in FILES.items()},
                     "target": f"mega / each peer >= {TARGET}", "servers": "mega start; peers on uvicorn "
                     "(uvloop, httptools); server pinned to cpu " + SERVER_CPU},
            "runs": runs, "rps": rps, "ratios": ratios, "problems": problems}


def _median(values: list[float]) -> float | None:
    if not values:
        return None
    values = sorted(values)
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2


def print_table(result: dict[str, Any]) -> None:
    log(f"\n{'file':5} {'mega':>10} {'starlette':>10} {'blacksheep':>11}   mega/starlette  mega/blacksheep")
    for key in FILES:
        rps, ratio = result["rps"][key], result["ratios"][key]
        cells = " ".join(f"{(rps[a] or 0):>10,.0f}" for a in APPS)
        log(f"{key:5} {cells}   {_x(ratio['starlette']):>14}  {_x(ratio['blacksheep']):>15}")
    for problem in result["problems"]:
        log(f"  PROBLEM: {problem}")


def _x(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x" + ("" if value >= TARGET else " (<target)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--quiet-wait", type=float, default=30.0)
    parser.add_argument("--quick", action="store_true",
                        help="smoke: 2 s per file, 1 round, 1 s warm-up (wrk takes whole seconds)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    if args.quick:
        args.duration, args.rounds, args.warmup, args.quiet_wait = 2.0, 1, 1.0, 0.0
    result = run(args.duration, args.warmup, args.rounds, args.port, args.quiet_wait)
    print_table(result)
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")
        log(f"results: {args.out}")
    return 1 if result["problems"] else 0


if __name__ == "__main__":
    sys.exit(main())
