"""Cluster mode throughput: one project served by mega with 1 worker, by mega in cluster mode with 2
workers, and by plain `uvicorn --workers 2` (mega.asgi:app), on a hello-JSON route and a CPU-bound
route (~0.5 ms of hashing). Rounds alternate the deployments; wrk -t1 -c64.

    .venv/bin/python bench/cluster/run.py            # 3 rounds x 10 s -> bench/results/cluster.json
    .venv/bin/python bench/cluster/run.py --quick    # smoke, 1 round x 2 s -> results/cluster-quick.json

With 3 or more cores the servers are pinned to cores 0-1 and wrk to core 2; with 2 cores wrk shares
them with the servers, which caps hello-JSON scaling (the output notes `nproc`).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE.parent / "results"
BIN = Path(sys.executable).parent
DEPLOYMENTS = ("mega_1", "mega_cluster_2", "uvicorn_2")
ROUTES = {"hello": "/hello", "cpu": "/cpu"}
GOALS = {"cpu: mega_cluster_2 / mega_1": 1.7, "hello: mega_cluster_2 / uvicorn_2": 0.95}

ROUTES_PY = '''
import hashlib
import os

LOOPS = int(os.environ.get("BENCH_CPU_LOOPS", "1000"))


async def hello(req, reply, ctx):
    return {"hello": "world"}


async def cpu(req, reply, ctx):
    digest = b"mega"
    for _ in range(LOOPS):
        digest = hashlib.sha256(digest * 8).digest()
    return {"digest": digest.hex()[:16]}


def routes(router):
    router.get("/hello", hello)
    router.get("/cpu", cpu)
'''


def calibrate(target: float = 0.0005) -> int:
    """Hashing loops that take about `target` seconds on an idle core here (the CPU route's work): the
    fastest of many calls, so that other jobs on the machine do not shrink it."""
    loops = 1000
    for _ in range(3):
        timings = []
        for _ in range(30):
            started = time.perf_counter()
            digest = b"mega"
            for _ in range(loops):
                digest = hashlib.sha256(digest * 8).digest()
            timings.append(time.perf_counter() - started)
        loops = max(1, round(loops * target / min(timings)))
    return loops


def write_project(root: Path) -> Path:
    files = {
        "mega_config.py": 'config = {"server": {"host": "127.0.0.1"}, '
                          '"logger": {"level": "warning", "access_log": False}}\n',
        "apps/bench/app_config.py": 'config = {"rate_limit": False, "session": False, "csrf": False}\n',
        "apps/bench/routes/main.py": ROUTES_PY,
    }
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def pin(cpus: str | None) -> list[str]:
    return ["taskset", "-c", cpus] if cpus and shutil.which("taskset") else []


def command(name: str, root: Path, port: int) -> tuple[list[str], dict[str, str]]:
    env = {**os.environ, "MEGA_ENV": "production", "PORT": str(port), "MEGA_ROOT": str(root),
           "SESSION_SECRET": "x" * 32}
    env.pop("MEGA_CLUSTER_WORKERS", None)
    mega = [sys.executable, "-m", "mega.cli.main", "--root", str(root), "start", "--port", str(port)]
    if name == "mega_1":
        return mega, env
    if name == "mega_cluster_2":
        return mega, {**env, "MEGA_CLUSTER_WORKERS": "2"}
    uvicorn = [str(BIN / "uvicorn"), "mega.asgi:app", "--workers", "2", "--host", "127.0.0.1",
               "--port", str(port), "--no-access-log", "--log-level", "warning", "--loop", "uvloop",
               "--http", "httptools"]
    return uvicorn, env


def wait_ready(port: int, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/hello", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError("server not ready in time")


def wrk(port: int, path: str, seconds: int, cpus: str | None) -> dict[str, Any]:
    out = subprocess.run([*pin(cpus), "wrk", "-t1", "-c64", f"-d{seconds}s", "--latency",
                          f"http://127.0.0.1:{port}{path}"], capture_output=True, text=True,
                         timeout=seconds + 60).stdout
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", out, re.M)
    if rps is None:
        raise RuntimeError(f"no Requests/sec in wrk output:\n{out}")
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    return {"rps": float(rps.group(1)), "non_2xx": int(errors.group(1)) if errors else 0,
            "socket_errors": socket_errors.group(1) if socket_errors else None}


def measure(name: str, root: Path, seconds: int, warmup: int, cpus: tuple[str | None, str | None]
            ) -> dict[str, Any]:
    port = free_port()
    cmd, env = command(name, root, port)
    proc = subprocess.Popen([*pin(cpus[0]), *cmd], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        wait_ready(port, proc)
        out: dict[str, Any] = {}
        for route, path in ROUTES.items():
            if warmup:
                wrk(port, path, warmup, cpus[1])
            out[route] = wrk(port, path, seconds, cpus[1])
        return out
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def summarize(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    medians = {name: {route: statistics.median(r[name][route]["rps"] for r in rounds) for route in ROUTES}
               for name in DEPLOYMENTS}
    pairs = (("cpu", "mega_cluster_2", "mega_1"), ("hello", "mega_cluster_2", "mega_1"),
             ("hello", "uvicorn_2", "mega_1"), ("hello", "mega_cluster_2", "uvicorn_2"),
             ("cpu", "mega_cluster_2", "uvicorn_2"))
    ratios = {f"{route}: {a} / {b}": medians[a][route] / medians[b][route] for route, a, b in pairs}
    per_round = [{f"{route}: {a} / {b}": r[a][route]["rps"] / r[b][route]["rps"] for route, a, b in pairs}
                 for r in rounds]
    return {"median_rps": medians, "ratios": {k: round(v, 3) for k, v in ratios.items()},
            "ratios_per_round": [{k: round(v, 3) for k, v in r.items()} for r in per_round],
            "goals": {k: {"goal": g, "met": ratios[k] >= g} for k, g in GOALS.items()}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=10, help="seconds of wrk per route (whole seconds)")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--quick", action="store_true",
                        help="1 round, 2 s, 1 s warm-up (checks the bench runs)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.duration, args.warmup = 1, 2, 1
    out = args.out or RESULTS / ("cluster-quick.json" if args.quick else "cluster.json")
    if shutil.which("wrk") is None:
        print("bench/cluster needs wrk", file=sys.stderr)
        return 1
    cores = os.cpu_count() or 1
    cpus: tuple[str | None, str | None] = ("0,1", "2") if cores >= 3 else (None, None)
    loops = calibrate()
    os.environ["BENCH_CPU_LOOPS"] = str(loops)
    rounds: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="mega-bench-cluster-") as tmp:
        root = write_project(Path(tmp) / "project")
        for index in range(args.rounds):
            order = DEPLOYMENTS if index % 2 == 0 else tuple(reversed(DEPLOYMENTS))
            figures: dict[str, Any] = {}
            for name in order:
                figures[name] = measure(name, root, args.duration, args.warmup, cpus)
                print(f"round {index + 1} {name:15} hello {figures[name]['hello']['rps']:>9.0f} rps   "
                      f"cpu {figures[name]['cpu']['rps']:>8.0f} rps", flush=True)
            rounds.append(figures)
    summary = summarize(rounds)
    result = {
        "bench": "cluster",
        "quick": args.quick,
        "machine": {"nproc": cores, "python": platform.python_version(), "platform": platform.platform(),
                    "pinning": "servers on cores 0-1, wrk on core 2" if cpus[0] else
                               f"none: wrk shares the {cores} cores with the servers"},
        "method": {"rounds": args.rounds, "duration_s": args.duration, "warmup_s": args.warmup,
                   "wrk": "-t1 -c64", "order": "alternating (reversed every other round)",
                   "cpu_route": f"{loops} sha256 rounds, ~0.5 ms here", "deployments": {
                       "mega_1": "mega start", "mega_cluster_2": "MEGA_CLUSTER_WORKERS=2 mega start",
                       "uvicorn_2": "uvicorn mega.asgi:app --workers 2 (uvloop, httptools)"}},
        "rounds": rounds,
        **summary,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"nproc {cores}; " + "; ".join(f"{k} {v:.3f}" for k, v in summary["ratios"].items()))
    for name, goal in summary["goals"].items():
        print(f"goal {name} >= {goal['goal']}: {'met' if goal['met'] else 'NOT met'}")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
