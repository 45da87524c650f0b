"""HTTP benchmark: mega against BlackSheep, Starlette, FastAPI, Litestar and a raw ASGI app.

Method (see bench/README.md):
- one server worker pinned to core 0 (`taskset -c 0`), `wrk -t1 -c64` pinned to core 1;
- every app is started, checked (GET / and GET /users/42 must return the right JSON), warmed up,
  then measured on each endpoint; the server is stopped before the next app starts;
- rounds are interleaved: round 1 runs the whole app list, round 2 runs it again in reverse order
  (ABBA), so every pair of apps is measured close in time and drift cancels out;
- per app/endpoint we keep the median req/s and the median p99 over rounds; a ratio such as
  mega ÷ BlackSheep is the median over rounds of the ratio measured within each round.

Usage: python bench/http/run.py [--duration 10] [--rounds 2] [--quick] [--servers uvicorn,granian]
                                [--only name,...] [--port 8765] [--out PATH]
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import http.client
import importlib.metadata
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
APPS = HERE / "apps"
REPO = HERE.parent.parent
RESULTS = REPO / "bench" / "results"
BIN = Path(sys.executable).parent
HOST = "127.0.0.1"
LOCK_PATH = Path("/tmp/mega-bench.lock")

ENDPOINTS = {"hello": "/", "params": "/users/42"}
PEER_BODIES = {"hello": {"hello": "world"}, "params": {"id": 42}}
MEGA_BODIES = {k: {"ok": True, "data": v} for k, v in PEER_BODIES.items()}

SERVER_CPU = "0"
WRK_CPU = "1"
WRK_THREADS = 1
WRK_CONNECTIONS = 64
PACKAGES = ("mega", "uvicorn", "uvloop", "httptools", "granian", "blacksheep", "starlette", "fastapi",
            "litestar", "pydantic", "pydantic-core", "msgspec", "orjson")


@dataclass(frozen=True)
class App:
    name: str
    # "peer": a module in apps/; "peer_megaproto": the same on mega's uvicorn protocol;
    # "mega": a project dir; "mega_asgi": mega.asgi on the server's own CLI
    kind: str
    target: str  # module name or project dir name
    note: str
    servers: tuple[str, ...] = ("uvicorn", "granian")
    access_log: bool = False

    @property
    def bodies(self) -> dict[str, Any]:
        return MEGA_BODIES if self.kind.startswith("mega") else PEER_BODIES


# Order matters: raw and mega_10 are adjacent; round 2 runs the list backwards.
ALL_APPS = [
    App("raw", "peer", "raw_asgi", "raw ASGI, precomputed body + content-type/length (ceiling)"),
    App("mega_10", "mega", "mega_10", "mega defaults (secure headers, CSRF, rate limit counting), "
        "2 routes + 8 filler routes"),
    App("raw_megaproto", "peer_megaproto", "raw_asgi_megaproto",
        "raw ASGI on mega's own uvicorn protocol, one precomputed header block (ceiling of `mega start`)",
        servers=("uvicorn",)),
    App("blacksheep", "peer", "blacksheep_app", "BlackSheep, json() with orjson via json_settings"),
    App("starlette", "peer", "starlette_app", "Starlette, JSONResponse subclass rendering with orjson"),
    App("fastapi", "peer", "fastapi_app", "FastAPI, return annotation -> pydantic-core dump_json"),
    App("litestar", "peer", "litestar_app", "Litestar, msgspec (built-in default)"),
    App("mega_1000", "mega", "mega_1000", "mega, 2 routes + 998 filler routes"),
    App("mega_ctx_idle", "mega", "mega_ctx_idle", "mega, handlers take (req, reply, ctx), never touch them"),
    App("mega_ctx_used", "mega", "mega_ctx_used", "mega, handlers read ctx.log and set ctx.user"),
    App("mega_access_log", "mega", "mega_access_log", "mega_10 with logger.access_log = True",
        access_log=True),
    App("mega_nosec", "mega", "mega_nosec", "mega_10 with helmet, CSRF and the rate limit off"),
    App("mega_stock_uvicorn", "mega_asgi", "mega_10",
        "mega_10 via `uvicorn mega.asgi:app` (stock protocol, not mega's own)", servers=("uvicorn",)),
]
BASE = "mega_10"
PEERS = ["raw", "raw_megaproto", "blacksheep", "starlette", "fastapi", "litestar"]
VARIANTS = {  # name -> what the ratio to mega_10 shows
    "mega_1000": "route count: 1000 routes ÷ 10 routes",
    "mega_ctx_idle": "lazy ctx: (req, reply, ctx) untouched ÷ default",
    "mega_ctx_used": "lazy ctx: ctx.log + ctx.user touched ÷ default",
    "mega_access_log": "access log on ÷ default (off)",
    "mega_nosec": "security defaults off ÷ on (headers, CSRF, rate limit)",
    "mega_stock_uvicorn": "stock uvicorn protocol ÷ mega's own protocol",
}


class BenchError(Exception):
    pass


def log(msg: str) -> None:
    print(msg, flush=True)


# -- machine info ------------------------------------------------------------------------------


def _cmd_out(cmd: list[str], cwd: Path | None = None) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30, cwd=cwd)
        return (out.stdout + out.stderr).strip()
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unavailable: {exc}"


def machine_info() -> dict[str, Any]:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    versions = {}
    for pkg in PACKAGES:
        try:
            versions[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            versions[pkg] = None
    dirty = _cmd_out(["git", "status", "--porcelain", "--", "src"], cwd=REPO)
    return {
        "cpu_model": cpu,
        "cpu_count": os.cpu_count(),
        "hypervisor": "yes" if "hypervisor" in Path("/proc/cpuinfo").read_text() else "no",
        "kernel": platform.release(),
        "python": sys.version.split()[0],
        "python_implementation": platform.python_implementation(),
        "packages": versions,
        "wrk": _cmd_out(["wrk", "-v"]).splitlines()[0],
        "git_commit": _cmd_out(["git", "rev-parse", "HEAD"], cwd=REPO),
        "git_src_dirty_files": len([ln for ln in dirty.splitlines() if ln.strip()]),
    }


# -- CPU accounting ----------------------------------------------------------------------------

CLK_TCK = os.sysconf("SC_CLK_TCK")


def core_ticks() -> dict[str, tuple[int, int, int]]:
    """(busy, total, steal) jiffies for cpu0 and cpu1."""
    out = {}
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith("cpu") and line[3:4].isdigit():
            name, *vals = line.split()
            nums = [int(v) for v in vals]
            idle = nums[3] + nums[4]  # idle + iowait
            out[name] = (sum(nums[:8]) - idle, sum(nums[:8]), nums[7])
    return out


def core_busy(seconds: float) -> dict[str, float]:
    """Busy fraction of each core over `seconds` (the server is idle when this is called)."""
    a = core_ticks()
    time.sleep(seconds)
    b = core_ticks()
    return {c: (b[c][0] - a[c][0]) / max(1, b[c][1] - a[c][1]) for c in ("cpu0", "cpu1")}


def wait_quiet(max_wait: float, threshold: float, ours: int, quiet_for: int = 3) -> dict[str, Any]:
    """Wait until both cores have been idle for `quiet_for` seconds in a row (other people's jobs
    share this machine); never fails: after `max_wait` it measures anyway, and says so."""
    start = time.monotonic()
    said = False
    streak = 0
    while True:
        busy = core_busy(1.0)
        waited = time.monotonic() - start
        streak = streak + 1 if max(busy.values()) <= threshold else 0
        if streak >= quiet_for:
            return {"quiet": True, "waited_s": round(waited, 1), "idle_busy": busy}
        if waited >= max_wait:
            log(f"    machine still busy after {waited:.0f}s (core0 {busy['cpu0']:.0%}, core1 "
                f"{busy['cpu1']:.0%}): measuring anyway")
            return {"quiet": False, "waited_s": round(waited, 1), "idle_busy": busy}
        if not said and streak == 0:
            log(f"    waiting for a quiet machine: core0 {busy['cpu0']:.0%}, core1 {busy['cpu1']:.0%} busy "
                f"with the server idle ({_top_other(ours)})")
            said = True


def _top_other(ours: int) -> str:
    """The busiest process that is not ours, for the log line (evidence of who shares the machine)."""
    out = _cmd_out(["ps", "-eo", "pid,pgid,pcpu,psr,args", "--sort=-pcpu", "--no-headers"])
    for line in out.splitlines():
        parts = line.split(None, 4)
        if len(parts) == 5 and int(parts[0]) != os.getpid() and int(parts[1]) != ours \
                and "ps -eo" not in parts[4]:
            return f"top: pid {parts[0]} {parts[2]}% on cpu{parts[3]}: {parts[4][:70]}"
    return "top: ?"


def children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def group_ticks(pgid: int) -> int:
    """utime + stime (all threads) of every live process in process group `pgid`."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            raw = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = raw.rsplit(")", 1)[1].split()
        # fields[0] is state (field 3); pgrp is field 5, utime 14, stime 15
        if int(fields[2]) == pgid:
            total += int(fields[11]) + int(fields[12])
    return total


# -- servers -----------------------------------------------------------------------------------


def mega_cli_usable() -> bool:
    exe = BIN / "mega"
    if not exe.exists():
        return False
    out = subprocess.run([str(exe), "start", "--help"], capture_output=True, text=True, timeout=30,
                         cwd=APPS / BASE)
    return out.returncode == 0 and "--port" in out.stdout


def server_command(server: str, app: App, port: int, launcher: str) -> tuple[list[str], Path, dict[str, str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEGA_")}
    pin = ["taskset", "-c", SERVER_CPU]
    if app.kind.startswith("peer"):
        cwd = APPS
        target = f"{app.target}:app"
    else:
        cwd = APPS / app.target
        env["MEGA_ENV"] = "production"
        env["MEGA_ROOT"] = str(cwd)
        target = "mega.asgi:app"
    if server == "uvicorn":
        if app.kind == "peer_megaproto":
            return [*pin, sys.executable, str(HERE / "serve_mega_protocol.py"), target, "--host", HOST,
                    "--port", str(port), "--app-dir", str(cwd)], cwd, env
        if app.kind == "mega":
            if launcher == "cli":
                return [*pin, str(BIN / "mega"), "start", "--port", str(port)], cwd, env
            code = f"from pathlib import Path; from mega.server import run; run(Path('.'), port={port})"
            return [*pin, sys.executable, "-c", code], cwd, env
        return [*pin, str(BIN / "uvicorn"), target, "--host", HOST, "--port", str(port),
                "--app-dir", str(cwd), "--loop", "uvloop", "--http", "httptools", "--no-access-log",
                "--log-level", "warning"], cwd, env
    if server == "granian":
        return [*pin, str(BIN / "granian"), "--interface", "asgi", "--loop", "uvloop", "--workers", "1",
                "--host", HOST, "--port", str(port), "--working-dir", str(cwd), "--no-access-log",
                "--log-level", "warning", target], cwd, env
    raise BenchError(f"unknown server {server!r}")


def port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        if s.connect_ex((HOST, port)) == 0:
            return True
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((HOST, port))
        except OSError:
            return True
    return False


def wait_port_free(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while port_in_use(port):
        if time.monotonic() > deadline:
            raise BenchError(f"port {port} is still in use; stop whatever listens there or pass --port")
        time.sleep(0.2)


def http_get(port: int, path: str, timeout: float = 5.0) -> tuple[int, list[tuple[str, str]], bytes]:
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.getheaders(), resp.read()
    finally:
        conn.close()


class Server:
    """One server process group; `stop()` is safe to call twice and always kills the group."""

    def __init__(self, server: str, app: App, port: int, launcher: str, logdir: Path) -> None:
        self.server, self.app, self.port = server, app, port
        self.cmd, self.cwd, self.env = server_command(server, app, port, launcher)
        self.logfile = logdir / f"{server}-{app.name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> None:
        wait_port_free(self.port)
        out = self.logfile.open("wb")
        self.proc = subprocess.Popen(self.cmd, cwd=self.cwd, env=self.env, stdout=out,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True)
        out.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(f"{self.server}/{self.app.name} exited with {self.proc.returncode} before "
                                 f"answering:\n{self.tail()}")
            try:
                http_get(self.port, "/", timeout=1.0)
                return
            except OSError:
                time.sleep(0.1)
        raise BenchError(f"{self.server}/{self.app.name} did not answer within {timeout:.0f}s:\n"
                         f"{self.tail()}")

    def tail(self, n: int = 30) -> str:
        try:
            return "\n".join(self.logfile.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    @property
    def pgid(self) -> int:
        assert self.proc is not None
        return self.proc.pid  # start_new_session: the child leads its own group

    def stop(self) -> None:
        proc = self.proc
        if proc is None:
            return
        self.proc = None
        for sig, wait in ((signal.SIGTERM, 8.0), (signal.SIGKILL, 5.0)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)
            try:
                proc.wait(timeout=wait)
                # the group may still hold children (granian workers): make sure they are gone too
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                break
            except subprocess.TimeoutExpired:
                continue
        wait_port_free(self.port)


def verify(port: int, app: App) -> dict[str, Any]:
    """Both endpoints must answer 200 with the exact JSON body; returns the response headers."""
    seen = {}
    for endpoint, path in ENDPOINTS.items():
        status, headers, body = http_get(port, path)
        ctype = dict((k.lower(), v) for k, v in headers).get("content-type", "")
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
        if status != 200 or not ctype.startswith("application/json") or parsed != app.bodies[endpoint]:
            raise BenchError(f"{app.name} GET {path}: status {status}, content-type {ctype!r}, "
                             f"body {body[:300]!r}; expected 200 application/json "
                             f"{json.dumps(app.bodies[endpoint])}")
        seen[endpoint] = {"status": status, "headers": headers, "body": body.decode()}
    return seen


# -- wrk ---------------------------------------------------------------------------------------

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not m:
        raise BenchError(f"cannot parse latency {text!r}")
    return float(m.group(1)) * _UNITS[m.group(2)]


def parse_wrk(out: str) -> dict[str, Any]:
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", out, re.M)
    if not rps:
        raise BenchError(f"no Requests/sec in wrk output:\n{out}")
    res: dict[str, Any] = {"rps": float(rps.group(1))}
    for pct in ("50", "75", "90", "99"):
        m = re.search(rf"^\s+{pct}%\s+(\S+)", out, re.M)
        res[f"p{pct}_ms"] = _ms(m.group(1)) if m else None
    m = re.search(r"^\s+(\d+) requests in ([\d.]+)(\w+)", out, re.M)
    res["requests"] = int(m.group(1)) if m else None
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    res["non_2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    counts = map(int, m.groups()) if m else (0, 0, 0, 0)
    res["socket_errors"] = dict(zip(("connect", "read", "write", "timeout"), counts, strict=True))
    return res


def run_wrk(port: int, path: str, seconds: float) -> str:
    cmd = ["taskset", "-c", WRK_CPU, "wrk", f"-t{WRK_THREADS}", f"-c{WRK_CONNECTIONS}", f"-d{seconds:g}s",
           "--latency", f"http://{HOST}:{port}{path}"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60)
    if out.returncode != 0:
        raise BenchError(f"wrk failed ({out.returncode}): {out.stderr.strip()}")
    return out.stdout


def measure(srv: Server, path: str, seconds: float) -> dict[str, Any]:
    cores0, ticks0, wrk0, t0 = core_ticks(), group_ticks(srv.pgid), children_cpu(), time.monotonic()
    out = run_wrk(srv.port, path, seconds)
    cores1, ticks1, wrk1, t1 = core_ticks(), group_ticks(srv.pgid), children_cpu(), time.monotonic()
    res = parse_wrk(out)
    srv_ticks = ticks1 - ticks0
    c0b, c0t = (cores1["cpu0"][i] - cores0["cpu0"][i] for i in (0, 1))
    c1b, c1t = (cores1["cpu1"][i] - cores0["cpu1"][i] for i in (0, 1))
    res["server_cpu_s"] = srv_ticks / CLK_TCK
    res["server_cpu_us_per_req"] = (srv_ticks / CLK_TCK * 1e6 / res["requests"]) if res["requests"] else None
    res["core0_busy"] = round(c0b / c0t, 3) if c0t else None
    # time on the server core that was not the server's: other processes (noise) + kernel softirq
    res["core0_other"] = round(max(0, c0b - srv_ticks) / c0t, 3) if c0t else None
    res["core1_busy"] = round(c1b / c1t, 3) if c1t else None
    res["wrk_cpu_s"] = round(wrk1 - wrk0, 3)
    # time on the wrk core that was not wrk's (other processes, plus any softirq not charged to wrk)
    res["core1_other"] = round(max(0.0, c1b / CLK_TCK - (wrk1 - wrk0)) / (c1t / CLK_TCK), 3) if c1t else None
    res["core0_steal"] = round((cores1["cpu0"][2] - cores0["cpu0"][2]) / c0t, 3) if c0t else None
    res["wall_s"] = round(t1 - t0, 2)
    res["wrk_output"] = out
    return res


# -- the run -----------------------------------------------------------------------------------


@dataclass
class Results:
    meta: dict[str, Any]
    runs: list[dict[str, Any]] = field(default_factory=list)
    responses: dict[str, dict[str, Any]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def count_lines(path: Path) -> int:
    with path.open("rb") as fh:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b""))


def interference(r: dict[str, Any], threshold: float) -> list[str]:
    out = []
    if r["core0_other"] is not None and r["core0_other"] > threshold:
        out.append(f"{r['core0_other']:.0%} of the server core went to other processes")
    if r["core1_other"] is not None and r["core1_other"] > threshold:
        out.append(f"{r['core1_other']:.0%} of the wrk core went to other processes")
    return out


def measure_endpoint(res: Results, srv: Server, server: str, app: App, endpoint: str, path: str, rnd: int,
                     args: argparse.Namespace) -> int:
    """Warm up and measure one endpoint; re-measure (up to --retries) when another job shared a core."""
    sent = 0
    for attempt in range(1, args.retries + 2):
        gate = wait_quiet(args.quiet_wait, args.noise, srv.pgid)
        warm = parse_wrk(run_wrk(args.port, path, args.warmup))
        sent += warm["requests"] or 0
        r = measure(srv, path, args.duration)
        sent += r["requests"] or 0
        verify(args.port, app)  # still correct after the load
        run = {"server": server, "app": app.name, "endpoint": endpoint, "path": path, "round": rnd,
               "attempt": attempt, "time": time.strftime("%Y-%m-%dT%H:%M:%S"), "quiet_gate": gate, **r}
        errors = []
        if r["non_2xx"]:
            errors.append(f"{r['non_2xx']} non-2xx responses")
        if any(r["socket_errors"].values()):
            errors.append(f"socket errors {r['socket_errors']}")
        noisy = interference(r, args.noise)
        bad = errors + noisy
        if bad:
            run["invalid"] = "; ".join(bad)
        res.runs.append(run)
        log(f"  {server:8} {app.name:20} {endpoint:7} r{rnd}  {r['rps']:>10,.0f} req/s  p99 "
            f"{r['p99_ms']:6.2f} ms  srv {r['server_cpu_us_per_req'] or 0:5.1f} µs/req  core0 "
            f"{r['core0_busy']:.0%} (other {r['core0_other']:.0%})  core1 {r['core1_busy']:.0%} (other "
            f"{r['core1_other']:.0%})" + (f"  !! {run['invalid']}" if bad else ""))
        if not noisy:  # errors on a quiet machine are the app's: keep them, do not retry
            break
        if attempt <= args.retries:
            log("    re-measuring: another job shared a core")
    if bad:
        res.problems.append(f"{server}/{app.name}/{endpoint} round {rnd}: {run['invalid']}")
    return sent


def bench_app(res: Results, server: str, app: App, rnd: int, args: argparse.Namespace, logdir: Path) -> None:
    srv = Server(server, app, args.port, args.launcher, logdir)
    sent = 0
    problems_before = len(res.problems)
    try:
        srv.start()
        checked = verify(args.port, app)
        res.responses.setdefault(server, {}).setdefault(app.name, checked)
        for endpoint, path in ENDPOINTS.items():
            sent += measure_endpoint(res, srv, server, app, endpoint, path, rnd, args)
        if app.access_log:
            srv_log = srv.logfile
            srv.stop()  # flush the batched access log before counting
            lines = count_lines(srv_log)
            if lines < 0.9 * sent:
                res.problems.append(f"{server}/{app.name} round {rnd}: access log wrote {lines} lines for "
                                    f"{sent} load requests; is it really on?")
            res.runs[-1]["access_log_lines_session"] = lines
            res.runs[-1]["requests_session"] = sent
    except (BenchError, OSError, subprocess.SubprocessError) as exc:
        msg = f"{server}/{app.name} round {rnd}: {exc}"
        res.problems.append(msg)
        log(f"  !! {msg}")
    finally:
        srv.stop()
        if len(res.problems) == problems_before:  # keep the server log only when something went wrong
            with contextlib.suppress(OSError):
                srv.logfile.unlink()


def median(xs: list[float]) -> float | None:
    return statistics.median(xs) if xs else None


def summarise(res: Results, servers: list[str], apps: list[App]) -> dict[str, Any]:
    valid = [r for r in res.runs if "invalid" not in r]
    summary: dict[str, Any] = {}
    ratios: dict[str, Any] = {}
    for server in servers:
        s = summary[server] = {}
        for app in apps:
            for ep in ENDPOINTS:
                runs = [r for r in valid
                        if r["server"] == server and r["app"] == app.name and r["endpoint"] == ep]
                if not runs:
                    continue
                s.setdefault(app.name, {})[ep] = {
                    "rps_median": median([r["rps"] for r in runs]),
                    "p99_ms_median": median([r["p99_ms"] for r in runs]),
                    "server_cpu_us_per_req_median": median([r["server_cpu_us_per_req"] for r in runs
                                                            if r["server_cpu_us_per_req"]]),
                    "rps_runs": [r["rps"] for r in runs],
                    "rounds": [r["round"] for r in runs],
                }

        def paired(num: str, den: str, ep: str, server: str = server) -> dict[str, Any] | None:
            """Median over rounds of num/den measured in the same round."""
            by_round: dict[int, dict[str, float]] = {}
            for r in valid:
                if r["server"] == server and r["endpoint"] == ep and r["app"] in (num, den):
                    by_round.setdefault(r["round"], {})[r["app"]] = r["rps"]
            per = [v[num] / v[den] for v in by_round.values() if num in v and den in v]
            return {"ratio": round(median(per), 4), "per_round": [round(x, 4) for x in per]} if per else None

        rt = ratios[server] = {"mega_10_over": {}, "variants_over_mega_10": {}}
        names = [a.name for a in apps]
        for peer in PEERS:
            if peer in names and BASE in names:
                rt["mega_10_over"][peer] = {ep: paired(BASE, peer, ep) for ep in ENDPOINTS}
        for var in VARIANTS:
            if var in names and BASE in names:
                rt["variants_over_mega_10"][var] = {ep: paired(var, BASE, ep) for ep in ENDPOINTS}
    return {"summary": summary, "ratios": ratios}


def fmt_ratio(entry: dict[str, Any] | None) -> str:
    return f"{entry['ratio']:.3f}" if entry else "  -  "


def print_tables(report: dict[str, Any], servers: list[str], apps: list[App], rounds: int) -> None:
    summary, ratios = report["summary"], report["ratios"]
    for server in servers:
        s, rt = summary.get(server, {}), ratios.get(server, {})
        log("")
        log(f"=== {server} === req/s and p99: median of {rounds} round(s); "
            "ratios: median of per-round ratios")
        log(f"{'app':20} {'endpoint':8} {'req/s':>10} {'p99 ms':>8} {'srv µs/req':>10} {'mega_10 ÷ app':>14}")
        for app in apps:
            if server not in app.servers or app.name not in s:
                continue
            for ep in ENDPOINTS:
                e = s[app.name].get(ep)
                if e is None:
                    log(f"{app.name:20} {ep:8} {'(no valid run)':>10}")
                    continue
                ratio = ""
                if app.name in rt["mega_10_over"]:
                    ratio = fmt_ratio(rt["mega_10_over"][app.name][ep])
                elif app.name == BASE:
                    ratio = "1.000"
                cpu = e["server_cpu_us_per_req_median"]
                log(f"{app.name:20} {ep:8} {e['rps_median']:>10,.0f} {e['p99_ms_median']:>8.2f} "
                    f"{(f'{cpu:.1f}' if cpu else '-'):>10} {ratio:>14}")
        if rt.get("variants_over_mega_10"):
            log(f"--- {server}: mega variants ÷ mega_10 (same round) ---")
            for var, eps in rt["variants_over_mega_10"].items():
                log(f"{VARIANTS[var]:50} hello {fmt_ratio(eps['hello'])}   params {fmt_ratio(eps['params'])}")


def parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, list[str], list[App]]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--duration", type=float, default=None, help="seconds of wrk per endpoint (default 10)")
    p.add_argument("--rounds", type=int, default=None, help="interleaved rounds (default 2; --quick: 1)")
    p.add_argument("--warmup", type=float, default=None, help="seconds of warm-up per endpoint (default 2)")
    p.add_argument("--quick", action="store_true", help="smoke run: 3 s per endpoint, 1 round, 1 s warm-up")
    p.add_argument("--servers", default="uvicorn,granian")
    p.add_argument("--only", default="", help="comma-separated app names (default: all)")
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--noise", type=float, default=0.05,
                   help="max share of a core other processes may take (idle gate and per run; default 0.05)")
    p.add_argument("--quiet-wait", type=float, default=600.0,
                   help="max seconds to wait for a quiet machine before each measurement (default 600)")
    p.add_argument("--retries", type=int, default=5,
                   help="re-measure a run disturbed by another job up to this many times (default 5)")
    p.add_argument("--launcher", choices=("auto", "cli", "python"), default="auto",
                   help="how mega runs on uvicorn: `mega start` (cli) or mega.server.run (python)")
    p.add_argument("--no-snapshot", action="store_true",
                   help="serve mega from src/ as it is at each start, not from a copy taken at start")
    p.add_argument("--out", type=Path, default=None, help="results json (default bench/results/http.json; "
                   "--quick: bench/results/http-quick.json)")
    args = p.parse_args(argv)
    args.duration = args.duration or (3.0 if args.quick else 10.0)
    args.rounds = args.rounds or (1 if args.quick else 2)
    args.warmup = args.warmup if args.warmup is not None else (1.0 if args.quick else 2.0)
    args.out = args.out or RESULTS / ("http-quick.json" if args.quick else "http.json")

    servers = [s.strip() for s in args.servers.split(",") if s.strip()]
    bad_servers = set(servers) - {"uvicorn", "granian"}
    if bad_servers:
        p.error(f"unknown server(s): {', '.join(sorted(bad_servers))}; known: uvicorn, granian")
    only = {n.strip() for n in args.only.split(",") if n.strip()}
    unknown = only - {a.name for a in ALL_APPS}
    if unknown:
        p.error(f"unknown app(s): {', '.join(sorted(unknown))}; known: {', '.join(a.name for a in ALL_APPS)}")
    for tool in ("wrk", "taskset"):
        if shutil.which(tool) is None:
            p.error(f"{tool} not found on PATH")
    if (os.cpu_count() or 1) < 2:
        p.error("needs 2 cores: the server runs on core 0, wrk on core 1")
    if port_in_use(args.port):
        p.error(f"port {args.port} is in use; pass --port")
    return args, servers, [a for a in ALL_APPS if not only or a.name in only]


def _relative(text: str, prefixes: dict[str, str]) -> str:
    for prefix, replacement in prefixes.items():
        text = text.replace(prefix, replacement)
    return text


def build_meta(args: argparse.Namespace, servers: list[str], apps: list[App]) -> dict[str, Any]:
    commands = {}
    for server in servers:
        for app in apps:
            if server in app.servers:
                cmd, cwd, env = server_command(server, app, args.port, args.launcher)
                mega_env = {k: v for k, v in env.items() if k.startswith("MEGA_")}
                # Paths relative to the repository: results must not name the machine's checkout.
                rel = {str(REPO) + "/": "", str(REPO): "."}
                commands[f"{server}/{app.name}"] = {
                    "cmd": [_relative(c, rel) for c in cmd],
                    "cwd": _relative(str(cwd), rel),
                    "env": {k: _relative(v, rel) for k, v in mega_env.items()},
                }
    return {
        "machine": machine_info(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "method": {
            "server_cpu": SERVER_CPU, "wrk_cpu": WRK_CPU,
            "wrk": f"-t{WRK_THREADS} -c{WRK_CONNECTIONS} --latency",
            "duration_s": args.duration, "warmup_s_per_endpoint": args.warmup, "rounds": args.rounds,
            "order": "per server: round 1 forward, round 2 reversed, ... (ABBA)",
            "stat": "req/s and p99: median over rounds; ratios: median over rounds of the same-round ratio",
            "endpoints": ENDPOINTS, "mega_launcher_uvicorn": args.launcher,
            "quick": args.quick, "noise_threshold": args.noise, "quiet_wait_s": args.quiet_wait,
            "retries": args.retries,
        },
        "apps": {a.name: {"note": a.note, "servers": list(a.servers)} for a in apps},
        "commands": commands,
    }


def snapshot_mega(dest: Path) -> dict[str, Any]:
    """Copy src/mega to `dest`/mega and put it first on PYTHONPATH for every server: other engineers edit
    src/ while a run lasts, and one run must measure one version of mega (a half-saved edit once broke
    boot in the middle of a run)."""
    src = REPO / "src" / "mega"
    shutil.copytree(src, dest / "mega", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    digest = hashlib.sha256()
    files = sorted(f for f in (dest / "mega").rglob("*") if f.is_file())
    for f in files:
        digest.update(str(f.relative_to(dest)).encode() + b"\0" + f.read_bytes() + b"\0")
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = str(dest) + (os.pathsep + old if old else "")
    dirty = _cmd_out(["git", "status", "--porcelain", "--", "src"], cwd=REPO)
    return {"path": str(dest / "mega"), "sha256": digest.hexdigest(), "files": len(files),
            "taken": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "git_status_src": [ln for ln in dirty.splitlines() if ln.strip()]}


def take_lock() -> Any:
    """One benchmark at a time on this machine: an flock on LOCK_PATH (other benchmark scripts may take
    it too). Waits, saying who holds it."""
    fh = LOCK_PATH.open("a+")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.seek(0)
        log(f"waiting for {LOCK_PATH} (held by: {fh.read().strip() or '?'})")
        fcntl.flock(fh, fcntl.LOCK_EX)
    fh.seek(0)
    fh.truncate()
    fh.write(f"pid {os.getpid()}: {' '.join(sys.argv)}\n")
    fh.flush()
    return fh


def main(argv: list[str] | None = None) -> int:
    args, servers, apps = parse_args(argv)
    logdir = Path(tempfile.mkdtemp(prefix="mega-bench-http-"))
    snapshot = None if args.no_snapshot else snapshot_mega(logdir / "snapshot")
    if args.launcher == "auto":
        args.launcher = "cli" if mega_cli_usable() else "python"
    res = Results(meta=build_meta(args, servers, apps))
    res.meta["mega_snapshot"] = snapshot
    log(f"mega on uvicorn via: {args.launcher}; servers {servers}; {len(apps)} apps; {args.rounds} round(s) "
        f"of {args.duration:g}s per endpoint")
    lock = take_lock()
    complete = False
    try:
        for server in servers:
            for rnd in range(1, args.rounds + 1):
                order = apps if rnd % 2 == 1 else list(reversed(apps))
                log(f"{server}: round {rnd}/{args.rounds}")
                for app in order:
                    if server in app.servers:
                        bench_app(res, server, app, rnd, args, logdir)
        complete = True
    finally:
        res.meta["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        res.meta["complete"] = complete
        report = summarise(res, servers, apps)
        out = {"meta": res.meta, **report, "problems": res.problems, "responses": res.responses,
               "runs": res.runs}
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(out, indent=2, ensure_ascii=False) + "\n")
        print_tables(report, servers, apps, args.rounds)
        log("")
        if not complete:
            log("INCOMPLETE run (interrupted or failed): the tables above hold what was measured")
        if res.problems:
            log(f"PROBLEMS ({len(res.problems)}); server logs kept in {logdir}:")
            for prob in res.problems:
                log(f"  - {prob}")
        else:
            shutil.rmtree(logdir, ignore_errors=True)
        log(f"results: {args.out}")
        lock.close()
    return 1 if res.problems else 0


if __name__ == "__main__":
    sys.exit(main())
