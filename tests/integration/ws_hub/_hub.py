"""A real `mega ws-hub` process for tests, and a bare protocol client."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection, connect

TOKEN = "tok-a"


class HubProcess:
    def __init__(self, proc: subprocess.Popen[str], port: int) -> None:
        self.proc = proc
        self.port = port
        self.url = f"ws://127.0.0.1:{port}"

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(15)
        finally:
            if self.proc.stdout:
                self.proc.stdout.close()


def start_hub(cwd: Path, *, heartbeat: float = 25, port: int = 0, env: dict[str, str] | None = None,
              args: tuple[str, ...] = ()) -> HubProcess:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("MEGA_WSHUB")}
    environ.update({"MEGA_WSHUB_TOKENS": f"{TOKEN},tok-b", "PYTHONUNBUFFERED": "1"})
    environ.update(env or {})
    command = [sys.executable, "-m", "mega", "ws-hub", "--host", "127.0.0.1", "--port", str(port),
               "--heartbeat", str(heartbeat), *args]
    proc = subprocess.Popen(command, cwd=cwd, env=environ, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True)
    assert proc.stdout is not None
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        if "listening on" in line:
            return HubProcess(proc, int(line.split(":")[-1].split()[0]))
    proc.kill()
    raise RuntimeError(f"the hub did not start (exit {proc.wait()})")


async def open_link(url: str, token: str | None = TOKEN, **kwargs: Any) -> ClientConnection:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return await connect(url, additional_headers=headers, max_size=None, open_timeout=10, **kwargs)


async def send(ws: ClientConnection, type_: str, payload: dict[str, Any] | None = None) -> None:
    await ws.send(orjson.dumps({"type": type_, "payload": payload or {}}).decode())


async def recv(ws: ClientConnection, timeout: float = 10) -> dict[str, Any]:
    frame: dict[str, Any] = orjson.loads(await asyncio.wait_for(ws.recv(), timeout))
    return frame


async def recv_type(ws: ClientConnection, type_: str, timeout: float = 10) -> dict[str, Any]:
    """The next frame of this type, skipping HEARTBEATs and presence notices."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        frame = await recv(ws, max(0.01, deadline - asyncio.get_running_loop().time()))
        if frame["type"] == type_:
            return frame


async def nothing_of(ws: ClientConnection, type_: str, wait: float = 0.5) -> bool:
    try:
        await recv_type(ws, type_, wait)
    except TimeoutError:
        return True
    return False


async def bridge(url: str, bridge_id: str, *, version: int = 2, instance_id: str = "i-1") -> ClientConnection:
    ws = await open_link(url)
    await send(ws, "REGISTER", {"bridge_id": bridge_id, "protocol_version": version,
                                "instance_id": instance_id})
    ok = await recv(ws)
    assert ok["type"] == "register_ok", ok
    return ws


async def roster(ws: ClientConnection, channel: str | None = None) -> list[dict[str, Any]]:
    await send(ws, "ROSTER", {"channel": channel} if channel else {})
    sessions: list[dict[str, Any]] = (await recv_type(ws, "roster"))["payload"]["sessions"]
    return sessions
