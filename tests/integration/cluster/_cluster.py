"""A cluster under test: `mega start` in cluster mode on a small probe project, its output in a file."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from mega.testing import write_project
from tests.e2e.cli.conftest import free_port, wait_for

PROBE = '''
import asyncio
import hashlib
import os
import time

import mega


async def pid(req, reply, ctx):
    return {"pid": os.getpid(), "worker": os.environ.get("MEGA_WORKER_ID")}


async def slow(req, reply, ctx):
    await asyncio.sleep(float(req.query.get("s", "1")))
    return {"pid": os.getpid()}


async def block(req, reply, ctx):
    time.sleep(float(req.query.get("s", "2")))  # the whole worker stalls: its event loop is blocked
    return {"pid": os.getpid()}


async def cpu(req, reply, ctx):
    digest = b"mega"
    for _ in range(1500):  # about 0.5 ms
        digest = hashlib.sha256(digest * 8).digest()
    return {"pid": os.getpid(), "digest": digest.hex()[:8]}


async def hold(req, reply, ctx):
    async with ctx.lock.hold(req.query["key"], ttl=10, wait=0) as held:
        await asyncio.sleep(float(req.query.get("s", "2")))
        return {"pid": os.getpid(), "token": held.token}


async def take(req, reply, ctx):
    try:
        held = await ctx.lock.acquire(req.query["key"], ttl=5, wait=0)
    except mega.MegaError as exc:
        return {"pid": os.getpid(), "acquired": False, "code": exc.code}
    await ctx.lock.release(held)
    return {"pid": os.getpid(), "acquired": True, "token": held.token}


async def drivers(req, reply, ctx):
    return {"pid": os.getpid(), "lock": (await ctx.lock.stats())["driver"],
            "bus": (await ctx.bus.stats())["driver"]}


def routes(router):
    router.get("/pid", pid)
    router.get("/hold", hold)
    router.get("/take", take)
    router.get("/drivers", drivers)
    router.get("/slow", slow)
    router.get("/cpu", cpu)
    router.get("/block", block)


if os.environ.get("PROBE_BOOT_FAIL"):
    raise RuntimeError("probe refuses to boot")
if os.environ.get("PROBE_EXIT_AFTER"):
    asyncio.get_running_loop().call_later(float(os.environ["PROBE_EXIT_AFTER"]), os._exit, 3)
if os.environ.get("PROBE_STUCK_HOOK"):  # a sync hook cannot be cut: the worker outlives its grace
    mega.shutdown.register("probe-stuck", lambda: time.sleep(60), order=5)
if os.environ.get("PROBE_HOOKS"):
    async def hang():
        await asyncio.sleep(120)

    mega.shutdown.register("probe-hang", hang, order=10, timeout="300ms")
    mega.shutdown.register("probe-after", lambda: print(f"probe-after ran in {os.getpid()}", flush=True),
                           order=20)
'''


def probe_project(root: Path, *, config: str = "", server: str = "") -> Path:
    """The probe project; `config` is more items of mega_config.py's dict, `server` of its server's."""
    return write_project(root, {
        "mega_config.py": f'config = {{"server": {{"host": "127.0.0.1", "shutdown_timeout": 5, {server}}}, '
                          f'"metrics": True, "logger": {{"level": "info", "access_log": False}}, '
                          f'{config}}}\n',
        "apps/main/app_config.py": "config = {\"rate_limit\": False}\n",
        "apps/main/routes/probe.py": PROBE,
    })


class Cluster:
    """`mega start` run on `root` with `env` added; every process it started is killed at `stop()`."""

    def __init__(self, root: Path, log: Path, *, workers: int | None = 2, port: int | None = None,
                 env: dict[str, str] | None = None, args: tuple[str, ...] = ()) -> None:
        self.port = port or free_port()
        self.log_path = log
        self._log = log.open("wb")
        environ = {**os.environ, "PYTHONUNBUFFERED": "1", "MEGA_ENV": "development", "PORT": str(self.port)}
        environ.pop("MEGA_TEST_RUN", None)
        environ.pop("MEGA_CLUSTER_WORKERS", None)
        if workers is not None:
            environ["MEGA_CLUSTER_WORKERS"] = str(workers)
        environ.update(env or {})
        command = [sys.executable, "-m", "mega.cli.main", "--root", str(root), "start", *args]
        self.proc = subprocess.Popen(command, stdout=self._log, stderr=subprocess.STDOUT, env=environ)

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def wait_started(self, timeout: float = 60) -> None:
        wait_for(lambda: "worker(s)" in self.output() or self.proc.poll() is not None, timeout, "the cluster")
        assert self.proc.poll() is None, self.output()

    def worker_pids(self) -> dict[int, int]:
        """{slot: pid} of the workers now serving, from the log."""
        found: dict[int, int] = {}
        for slot, pid in re.findall(r"worker (\d+) \(pid (\d+)\) serving", self.output()):
            found[int(slot)] = int(pid)
        return {s: p for s, p in found.items() if _alive(p)}

    def all_pids(self) -> set[int]:
        return {int(p) for p in re.findall(r"worker \d+ started \(pid (\d+)\)", self.output())}

    def signal(self, sig: int = signal.SIGTERM) -> None:
        self.proc.send_signal(sig)

    def wait(self, timeout: float = 60) -> int:
        return self.proc.wait(timeout)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        for pid in self.all_pids():
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        self._log.close()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie child of a dead primary still answers kill 0: read its state
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def get_json(client: httpx.Client, url: str) -> dict[str, Any]:
    response = client.get(url)
    response.raise_for_status()
    data: dict[str, Any] = response.json()["data"]
    return data
