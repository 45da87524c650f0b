"""Start and stop one server process group, and check what it answers."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from .apps import App
from .common import BIN, HOST, HTTP, PEERS_DIR, SERVER_CPU, BenchError
from .common import pin as pin_to
from .project import BASE_PROJECT
from .shapes import Shape

SERVE_MEGA_PROTOCOL = HTTP / "serve_mega_protocol.py"


def mega_cli_usable() -> bool:
    exe = BIN / "mega"
    if not exe.exists():
        return False
    out = subprocess.run([str(exe), "start", "--help"], capture_output=True, text=True, timeout=30,
                         cwd=BASE_PROJECT)
    return out.returncode == 0 and "--port" in out.stdout


def server_command(server: str, app: App, port: int, launcher: str,
                   projects: Path) -> tuple[list[str], Path, dict[str, str]]:
    """(argv, cwd, env) of `app` on `server`; mega variants run from `projects`/<name>."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEGA_")}
    pin = pin_to(SERVER_CPU)
    if app.variant is None:
        cwd = PEERS_DIR
        target = f"{app.target}:{'shim' if app.name == 'raw_rsgi_shim' else 'app'}"
    else:
        cwd = projects / app.name
        env["MEGA_ENV"] = "production"
        env.setdefault("SESSION_SECRET", "bench-session-secret-" + "x" * 32)
        env["MEGA_ROOT"] = str(cwd)
        target = "mega.asgi:app"
    if server == "uvicorn":
        if app.kind == "peer_megaproto":
            return [*pin, sys.executable, str(SERVE_MEGA_PROTOCOL), target, "--host", HOST,
                    "--port", str(port), "--app-dir", str(cwd)], cwd, env
        if app.variant is not None and app.variant.launch == "mega":
            if launcher == "cli":
                return [*pin, str(BIN / "mega"), "start", "--port", str(port)], cwd, env
            code = f"from pathlib import Path; from mega.server import run; run(Path('.'), port={port})"
            return [*pin, sys.executable, "-c", code], cwd, env
        http = "mega.server:HardenedHttpProtocol" if app.variant is not None and \
            app.variant.launch == "uvicorn_http" else "httptools"
        return [*pin, str(BIN / "uvicorn"), target, "--host", HOST, "--port", str(port),
                "--app-dir", str(cwd), "--loop", "uvloop", "--http", http, "--no-access-log",
                "--log-level", "warning"], cwd, env
    if server == "granian":
        if app.variant is not None and app.variant.launch == "start_granian":
            return [*pin, str(BIN / "mega"), "start", "--port", str(port), "--server", "granian"], cwd, env
        return [*pin, str(BIN / "granian"), "--interface", app.interface, "--loop", "uvloop",
                "--workers", "1", "--host", HOST, "--port", str(port), "--working-dir", str(cwd),
                "--no-access-log", "--log-level", "warning", target], cwd, env
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
    return http_request(port, "GET", path, None, timeout)


def http_request(port: int, method: str, path: str, body: bytes | None,
                 timeout: float = 5.0) -> tuple[int, list[tuple[str, str]], bytes]:
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        headers = {"content-type": "application/json"} if body is not None else {}
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.getheaders(), resp.read()
    finally:
        conn.close()


def check_shape(port: int, app: App, shape: Shape) -> dict[str, Any]:
    """One shape must answer its status, and a 200 exactly the expected JSON; returns what it answered."""
    status, headers, body = http_request(port, shape.method, shape.path, shape.body)
    ctype = dict((k.lower(), v) for k, v in headers).get("content-type", "")
    seen = {"status": status, "headers": headers, "body": body.decode(errors="replace")}
    if shape.status != 200:
        if status != shape.status:
            raise BenchError(f"{app.name} {shape.method} {shape.path}: status {status}, "
                             f"expected {shape.status}; "
                             f"body {body[:300]!r}")
        return seen
    try:
        parsed = json.loads(body)
    except ValueError:
        parsed = None
    expected = app.bodies[shape.name]
    if status != 200 or not ctype.startswith("application/json") or parsed != expected:
        raise BenchError(f"{app.name} {shape.method} {shape.path}: status {status}, content-type {ctype!r}, "
                         f"body {body[:300]!r}; expected 200 application/json {json.dumps(expected)}")
    return seen


def verify(port: int, app: App) -> dict[str, Any]:
    """Every shape the app is measured on answers correctly; returns what they answered."""
    return {shape.name: check_shape(port, app, shape) for shape in app.shapes}


class Server:
    """One server process group; `stop()` is safe to call twice and always kills the group."""

    def __init__(self, server: str, app: App, port: int, launcher: str, workdir: Path) -> None:
        self.server, self.app, self.port = server, app, port
        self.cmd, self.cwd, self.env = server_command(server, app, port, launcher, workdir / "projects")
        self.logfile = workdir / f"{server}-{app.name}.log"
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
