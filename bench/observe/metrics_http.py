"""What metrics and tracing cost on hello-JSON: mega against its own metrics-off build, and the peers'
Prometheus and OpenTelemetry integrations against theirs, in one run.

    .venv/bin/python bench/observe/metrics_http.py            # figures: wrk, 10 s x 3 rounds per build
    .venv/bin/python bench/observe/metrics_http.py --smoke    # seconds: every build answers, 1 s each
    .venv/bin/python bench/observe/metrics_http.py --micro    # in-process µs per request, no server
    .venv/bin/python bench/observe/metrics_http.py --builds mega_off,mega_tracing1 --duration 3 --rounds 2

Builds (one uvicorn worker each, uvloop + httptools, pinned like bench/http):
  mega off | mega metrics | mega tracing, sampling 0 | mega tracing, sampling 1.0 exporting over OTLP/HTTP
  to a local receiver (started here) | Litestar off | Litestar + PrometheusPlugin | Litestar +
  OpenTelemetryPlugin | Starlette off | Starlette + starlette-exporter | Starlette + OpenTelemetry's ASGI
  middleware. The peers' tracing builds sample everything and export with OpenTelemetry's batch
  processor and OTLP/HTTP exporter to the same receiver. Each ratio is a build's requests/s over its
  own off build's, from nearby runs (off, then its on builds), medians over rounds. Needs the `bench` extra.
Results go to bench/results/observe_http.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE.parent / "results" / "observe_http.json"
HOST = "127.0.0.1"
SERVER_CPU, WRK_CPU = "0", "1"

MEGA_ROUTES = '''
async def hello():
    return {"hello": "world"}


async def user(req):
    return {"id": req.params["id"]}


def routes(router):
    router.get("/", hello)
    router.get("/users/{id:int}", user)
'''

LITESTAR = '''
from litestar import Litestar, get

@get("/")
async def hello() -> dict[str, str]:
    return {"hello": "world"}

@get("/users/{id:int}")
async def user(id: int) -> dict[str, int]:
    return {"id": id}

if METRICS:
    from litestar.plugins.prometheus import PrometheusConfig, PrometheusController
    app = Litestar(route_handlers=[hello, user, PrometheusController],
                   middleware=[PrometheusConfig(group_path=True).middleware])
elif OTLP:
    from litestar.plugins.opentelemetry import OpenTelemetryConfig, OpenTelemetryPlugin
    app = Litestar(route_handlers=[hello, user],
                   plugins=[OpenTelemetryPlugin(OpenTelemetryConfig(tracer_provider=tracer_provider()))])
else:
    app = Litestar(route_handlers=[hello, user])
'''

PEER_TRACER = '''
def tracer_provider():
    """Sampling 1.0, OpenTelemetry's batch processor and OTLP/HTTP exporter (what their docs show)."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": "bench"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=OTLP)))
    return provider
'''

STARLETTE = '''
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

async def hello(request):
    return JSONResponse({"hello": "world"})

async def user(request):
    return JSONResponse({"id": int(request.path_params["id"])})

routes = [Route("/", hello), Route("/users/{id:int}", user)]
if METRICS:
    from starlette_exporter import PrometheusMiddleware, handle_metrics
    app = Starlette(routes=[*routes, Route("/metrics", handle_metrics)])
    app.add_middleware(PrometheusMiddleware, group_paths=True)
elif OTLP:
    from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
    app = Starlette(routes=routes)
    app.add_middleware(OpenTelemetryMiddleware, tracer_provider=tracer_provider())
else:
    app = Starlette(routes=routes)
'''


def mega_config(kind: str, otlp: str) -> str:
    extra = {
        "off": "",
        "metrics": '"metrics": True,',
        "tracing0": '"tracing": {"exporter": "none", "sample_ratio": 0},',
        "tracing1": f'"tracing": {{"exporter": "otlp", "endpoint": "{otlp}", "sample_ratio": 1.0}},',
    }[kind]
    return f'config = {{"logger": {{"level": "warning", "access_log": False}}, {extra}}}\n'


BUILDS = {  # name -> (family, off build of the family)
    "mega_off": ("mega", "mega_off"), "mega_metrics": ("mega", "mega_off"),
    "mega_tracing0": ("mega", "mega_off"), "mega_tracing1": ("mega", "mega_off"),
    "litestar_off": ("litestar", "litestar_off"), "litestar_prometheus": ("litestar", "litestar_off"),
    "litestar_tracing1": ("litestar", "litestar_off"),
    "starlette_off": ("starlette", "starlette_off"), "starlette_exporter": ("starlette", "starlette_off"),
    "starlette_tracing1": ("starlette", "starlette_off"),
}
METRICS_ON = ("mega_metrics", "litestar_prometheus", "starlette_exporter")
TRACING_ON = ("mega_tracing1", "litestar_tracing1", "starlette_tracing1")


class Receiver(BaseHTTPRequestHandler):
    """A local OTLP/HTTP collector that accepts and counts every export."""

    posts = 0

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", "0")))
        type(self).posts += 1
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def write_builds(root: Path, otlp: str) -> None:
    for kind in ("off", "metrics", "tracing0", "tracing1"):
        project = root / f"mega_{kind}"
        (project / "apps/bench/routes").mkdir(parents=True)
        (project / "mega_config.py").write_text(mega_config(kind, otlp))
        (project / "apps/bench/app_config.py").write_text(
            'config = {"rate_limit": {"max": 1_000_000_000, "window": 60}}\n')
        (project / "apps/bench/routes/main.py").write_text(MEGA_ROUTES)
    for name, source in (("litestar", LITESTAR), ("starlette", STARLETTE)):
        switches = (("off", False, None), ("prometheus" if name == "litestar" else "exporter", True, None),
                    ("tracing1", False, otlp))
        for suffix, metrics, endpoint in switches:
            (root / f"peer_{name}_{suffix}.py").write_text(
                f"METRICS = {metrics}\nOTLP = {endpoint!r}\n" + PEER_TRACER + source)


def command(name: str, root: Path, port: int) -> tuple[list[str], Path, dict[str, str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEGA_")}
    pin = ["taskset", "-c", SERVER_CPU] if _has_taskset() else []
    if name.startswith("mega_"):
        cwd = root / name
        env.update(MEGA_ENV="production", SESSION_SECRET="bench-session-secret-" + "x" * 32)
        code = f"from pathlib import Path; from mega.server import run; run(Path('.'), port={port})"
        return [*pin, sys.executable, "-c", code], cwd, env
    return [*pin, sys.executable, "-m", "uvicorn", f"peer_{name}:app", "--host", HOST, "--port", str(port),
            "--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning"], root, env


def _has_taskset() -> bool:
    return subprocess.run(["which", "taskset"], capture_output=True).returncode == 0


class Server:
    def __init__(self, name: str, root: Path) -> None:
        self.name, self.port = name, free_port()
        argv, cwd, env = command(name, root, self.port)
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the server; a pipe could fill
        self.proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=self.log,
                                     start_new_session=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.log.seek(0)
                raise RuntimeError(f"{name} exited: {self.log.read().decode()[-2000:]}")
            try:
                socket.create_connection((HOST, self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"{name} did not listen on {self.port}")

    def get(self, path: str) -> tuple[int, bytes]:
        import urllib.request

        try:
            with urllib.request.urlopen(f"http://{HOST}:{self.port}{path}", timeout=5) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def stop(self) -> None:
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.log.close()


def wrk(port: int, path: str, seconds: float) -> float:
    pin = ["taskset", "-c", WRK_CPU] if _has_taskset() else []
    out = subprocess.run([*pin, "wrk", "-t1", "-c64", f"-d{seconds:g}s", f"http://{HOST}:{port}{path}"],
                         capture_output=True, text=True, timeout=seconds + 60).stdout
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not match or "Non-2xx" in out:
        raise RuntimeError(f"wrk output not usable:\n{out}")
    return float(match.group(1))


def measure(root: Path, seconds: float, rounds: int, smoke: bool,
            builds: list[str]) -> dict[str, list[float]]:
    rps: dict[str, list[float]] = {name: [] for name in builds}
    for rnd in range(rounds):
        for name in builds:  # off builds come right before their on builds: adjacent pairs
            server = Server(name, root)
            try:
                status, body = server.get("/users/42")
                if status != 200 or b"42" not in body:
                    raise RuntimeError(f"{name}: GET /users/42 answered {status} {body[:200]!r}")
                rps[name].append(wrk(server.port, "/users/42", seconds))
                if smoke and name in ("mega_metrics", "litestar_prometheus", "starlette_exporter"):
                    status, body = server.get("/metrics")
                    assert status == 200 and b"/users/" in body, f"{name}: /metrics {status} {body[:300]!r}"
            finally:
                server.stop()
            print(f"round {rnd + 1} {name:22s} {rps[name][-1]:10.0f} rps", flush=True)
    return rps


def report(rps: dict[str, list[float]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    print("\nbuild                   rps (median)   ÷ own off build")
    for name, (family, off) in BUILDS.items():
        if name not in rps or off not in rps:
            continue
        ratios = [on / base for on, base in zip(rps[name], rps[off], strict=True)]
        out[name] = {"family": family, "rps": statistics.median(rps[name]),
                     "ratio": statistics.median(ratios)}
        print(f"{name:22s} {out[name]['rps']:12.0f}   {out[name]['ratio']:.3f}")
    for switch, names in (("metrics on", METRICS_ON), ("tracing 1.0 to OTLP", TRACING_ON)):
        measured = [n for n in names if n in out]
        if measured:
            print(f"{switch}, best ratio: {max(measured, key=lambda n: out[n]['ratio'])}")
    return out


# -- in-process: µs per request through the app, no server -----------------------------------------


async def micro(calls: int, rounds: int) -> dict[str, float]:
    from mega.testing import running, write_project

    scope_base = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
                  "scheme": "http", "path": "/users/42", "raw_path": b"/users/42", "query_string": b"",
                  "headers": [(b"host", b"bench")], "client": ("127.0.0.1", 5000), "server": (HOST, 80)}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        pass

    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for kind in ("off", "metrics", "tracing0", "tracing1"):
            config = mega_config(kind, "http://127.0.0.1:9/v1/traces").replace('"otlp"', '"none"')
            root = write_project(Path(tmp) / kind, {
                "mega_config.py": config, "apps/bench/routes/main.py": MEGA_ROUTES,
                "apps/bench/app_config.py": 'config = {"rate_limit": False}\n'})
            async with running(root) as rt:
                app = rt.host
                best = float("inf")
                for _ in range(rounds):
                    started = time.perf_counter()
                    for _ in range(calls):
                        await app(dict(scope_base), receive, send)
                    best = min(best, (time.perf_counter() - started) / calls * 1e6)
                figures[kind] = best
    base = figures["off"]
    for kind, us in figures.items():
        print(f"{kind:10s} {us:7.2f} µs/request  (+{us - base:.2f})")
    return figures


async def hook_micro(calls: int, rounds: int) -> dict[str, float]:
    """µs per call of each hook around an endpoint that does nothing, and of prometheus_client's own
    labelled Counter + Histogram (the alternative the hook's design was measured against)."""
    from prometheus_client import CollectorRegistry, Counter, Histogram

    from mega.observe._metrics_settings import OFF as METRICS_OFF
    from mega.observe._tracing_settings import OFF as TRACING_OFF
    from mega.observe.metrics import Metrics
    from mega.observe.tracing import Tracing

    async def bare(scope: Any, receive: Any, send: Any, params: Any) -> int:
        return 200

    bare.returns_status = True  # type: ignore[attr-defined]
    metrics = Metrics(METRICS_OFF)
    registry = CollectorRegistry()
    counter = Counter("c", "c", ["app", "method", "route", "status"], registry=registry)
    hist = Histogram("h", "h", ["app", "method", "route", "status"], registry=registry)

    async def with_client(scope: Any, receive: Any, send: Any, params: Any) -> int:
        started = time.perf_counter()
        status = await bare(scope, receive, send, params)
        counter.labels("web", "GET", "/users/{id}", "2xx").inc()
        hist.labels("web", "GET", "/users/{id}", "2xx").observe(time.perf_counter() - started)
        return status

    from dataclasses import replace

    variants = {
        "bare endpoint": bare,
        "metrics hook": metrics.http_hook("web", "GET", "/users/{id}", bare),
        "prometheus_client labels().inc/observe": with_client,
        "tracing hook, sampling 0": Tracing(replace(TRACING_OFF, enabled=True, sample_ratio=0.0)).http_hook(
            "web", "GET", "/users/{id}", bare),
        "tracing hook, sampling 1, no exporter": Tracing(replace(TRACING_OFF, enabled=True)).http_hook(
            "web", "GET", "/users/{id}", bare),
    }
    scope = {"type": "http", "method": "GET", "scheme": "http", "path": "/users/42",
             "headers": [(b"host", b"bench")], "client": ("127.0.0.1", 5000)}
    figures: dict[str, float] = {}
    for label, endpoint in variants.items():
        best = float("inf")
        for _ in range(rounds):
            started = time.perf_counter()
            for _ in range(calls):
                await endpoint(scope, None, None, None)
            best = min(best, (time.perf_counter() - started) / calls * 1e6)
        figures[label] = best
    base = figures["bare endpoint"]
    for label, us in figures.items():
        print(f"{label:42s} {us:6.2f} µs  (+{us - base:.2f})")
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="1 s per build, one round: does everything run?")
    parser.add_argument("--micro", action="store_true", help="in-process µs per request only")
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--builds", default=",".join(BUILDS),
                        help="comma-separated builds to run (a subset is printed, not saved)")
    args = parser.parse_args()
    if args.micro:
        calls, rounds = (2000, 3) if args.smoke else (20000, 7)
        hooks_us = asyncio.run(hook_micro(calls * 5, rounds))
        micro_us = asyncio.run(micro(calls, rounds))
        if not args.smoke:
            _save({"micro_us": micro_us, "hooks_us": hooks_us})
        return 0
    receiver = ThreadingHTTPServer((HOST, 0), Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    otlp = f"http://{HOST}:{receiver.server_address[1]}/v1/traces"
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_builds(root, otlp)
        seconds, rounds = (1.0, 1) if args.smoke else (args.duration, args.rounds)
        builds = [name for name in args.builds.split(",") if name]
        unknown = set(builds) - set(BUILDS)
        if unknown:
            parser.error(f"unknown builds: {', '.join(sorted(unknown))}")
        rps = measure(root, seconds, rounds, args.smoke, builds)
    receiver.shutdown()
    print(f"OTLP receiver got {Receiver.posts} exports")
    if args.smoke and Receiver.posts == 0:
        print("no span reached the OTLP receiver", file=sys.stderr)
        return 1
    figures = report(rps)
    if not args.smoke and set(builds) == set(BUILDS):  # a smoke or partial run is not a figure of record
        _save({"wrk": figures, "exports": Receiver.posts})
    return 0


def _save(data: dict[str, Any]) -> None:
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    old = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    old.update(data)
    RESULTS.write_text(json.dumps(old, indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(main())
