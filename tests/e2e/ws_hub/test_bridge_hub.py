"""`bridge_hub` against a real `mega ws-hub` and real `mega start` processes: the issue's done-when
for the hub (boot never waits, late hub, kill -9 + restart with a resync and no ghosts, SIGTERM drain,
kick and requeue across two bridges, a bad token refused once and never retried)."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from mega.testing import write_project
from tests.e2e.cli.conftest import Server, environ, free_port, wait_for
from tests.integration.ws_hub._hub import TOKEN, HubProcess, bridge, roster, start_hub

pytestmark = pytest.mark.integration

ROUTES = """
    from mega import get_app
    from mega.ws import WebSocketController, on

    class Chat(WebSocketController):
        async def on_connect(self, sock, ctx):
            q = ctx.req.query
            await ctx.presence.join(user_id=q.get("user"), session_id=q.get("sid"), channels=["chat"])
            sock.send({"type": "hello", "payload": q.get("sid")})

        @on("say")
        async def say(self, sock, msg, ctx):
            await ctx.presence.broadcast(channel="chat", message={"type": "said", "payload": msg})

        @on("dm")
        async def dm(self, sock, msg, ctx):
            await ctx.presence.direct_to_user(msg["to"], {"type": "dm", "payload": msg["text"]})

        @on("kick")
        async def kick(self, sock, msg, ctx):
            ctx.app.presence.transport.kick(msg["sid"], requeue=msg.get("requeue", False))

    async def hub(req):
        link = get_app("web").presence.transport.link
        return {"registered": link.registered, "registrations": link.registrations,
                "attempts": link.attempts, "refused": link.refused, "last_close": link.last_close}

    def routes(router):
        router.ws("/ws/chat", Chat)
        router.get("/hub", hub)
"""


def project(root: Path, bridge: bool = True) -> Path:
    conf = ("{'bridge_hub': {'channels': ['chat'], 'retry': {'min_timeout': 0.3, 'max_timeout': 1}}, "
            "'ws': {'allow_missing_origin': True}}") if bridge else "{'ws': {'allow_missing_origin': True}}"
    return write_project(root, {
        "mega_config.py": "config = {'logger': {'level': 'info'}}\n",
        "apps/web/app_config.py": f"config = {conf}\n",
        "apps/web/routes/main.py": ROUTES,
    })


@pytest.fixture
def start_app(tmp_path: Path) -> Iterator[Callable[..., tuple[Server, int]]]:
    started: list[Server] = []

    def start(root: Path, hub_port: int, bridge_id: str, token: str = TOKEN) -> tuple[Server, int]:
        port = free_port()
        env = environ(MEGA_WSHUB_URL=f"ws://127.0.0.1:{hub_port}", MEGA_WSHUB_TOKEN=token,
                      BRIDGE_ID=bridge_id, MEGA_ENV="development")
        server = Server(["start", "--port", str(port)], root, tmp_path / f"app-{len(started)}.log", env)
        started.append(server)
        wait_for(lambda: httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=2).status_code == 200,
                 30, "the app to be ready")
        return server, port

    yield start
    for server in started:
        server.kill()


def state(port: int) -> dict[str, Any]:
    data: dict[str, Any] = httpx.get(f"http://127.0.0.1:{port}/hub", timeout=2).json()["data"]
    return data


async def client(port: int, user: str, sid: str) -> ClientConnection:
    ws = await connect(f"ws://127.0.0.1:{port}/ws/chat?user={user}&sid={sid}", open_timeout=10)
    assert json.loads(await asyncio.wait_for(ws.recv(), 10)) == {"type": "hello", "payload": sid}
    return ws


async def recv(ws: ClientConnection) -> dict[str, Any]:
    frame: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 10))
    return frame


async def closed(ws: ClientConnection) -> tuple[int | None, str]:
    with pytest.raises(ConnectionClosed):
        while True:
            await asyncio.wait_for(ws.recv(), 10)
    return ws.close_code, ws.close_reason or ""


async def hub_sessions(hub: HubProcess) -> set[str]:
    observer = await bridge(hub.url, f"observer-{time.monotonic_ns()}")
    try:
        return {m["session_id"] for m in await roster(observer) if not m["session_id"].startswith("bridge:")}
    finally:
        await observer.close()


def test_hub_down_at_boot_then_started_registers_within_one_backoff_step(
        tmp_path: Path, start_app: Callable[..., tuple[Server, int]]) -> None:
    hub_port = free_port()
    _, port = start_app(project(tmp_path / "p"), hub_port, "late-1")
    first = state(port)
    assert first["registered"] is False and first["attempts"] >= 1 and first["refused"] is None
    hub = start_hub(tmp_path, port=hub_port)
    try:
        started = time.monotonic()
        wait_for(lambda: state(port)["registered"], 5, "the bridge to register")
        took = time.monotonic() - started
        assert took <= 1.0 + 0.5, took  # max_timeout is 1 s: at most one backoff step (and a connect)
    finally:
        hub.stop()


def test_kill_9_and_restart_reconnects_and_resyncs_without_ghosts(
        tmp_path: Path, start_app: Callable[..., tuple[Server, int]]) -> None:
    hub = start_hub(tmp_path)
    _, port = start_app(project(tmp_path / "p"), hub.port, "crash-1")
    wait_for(lambda: state(port)["registered"], 10, "the bridge to register")

    async def main() -> None:
        nonlocal hub
        socks = [await client(port, f"u{i}", f"s{i}") for i in range(3)]
        await socks[2].close()
        wait = time.monotonic() + 5
        while await hub_sessions(hub) != {"s0", "s1"} and time.monotonic() < wait:
            await asyncio.sleep(0.1)
        assert await hub_sessions(hub) == {"s0", "s1"}
        hub.stop(signal.SIGKILL)
        hub = start_hub(tmp_path, port=hub.port)
        await asyncio.to_thread(wait_for, lambda: state(port)["registrations"] >= 2, 10, "a reconnect")
        await asyncio.sleep(0.3)
        assert await hub_sessions(hub) == {"s0", "s1"}  # the resync, and nothing else: 0 ghosts
        for ws in socks[:2]:
            await ws.close()

    try:
        asyncio.run(main())
    finally:
        hub.stop()


def test_sigterm_drains_the_bridge_with_4503_and_it_reconnects(
        tmp_path: Path, start_app: Callable[..., tuple[Server, int]]) -> None:
    hub = start_hub(tmp_path)
    _, port = start_app(project(tmp_path / "p"), hub.port, "drain-1")
    wait_for(lambda: state(port)["registered"], 10, "the bridge to register")
    assert hub.stop(signal.SIGTERM) == 0
    wait_for(lambda: state(port)["last_close"] == 4503, 5, "the drain's 4503")
    hub = start_hub(tmp_path, port=hub.port)
    try:
        wait_for(lambda: state(port)["registrations"] == 2 and state(port)["registered"], 10, "a reconnect")
    finally:
        hub.stop()


def test_broadcast_direct_kick_and_requeue_across_two_bridges(
        tmp_path: Path, start_app: Callable[..., tuple[Server, int]]) -> None:
    hub = start_hub(tmp_path)
    root = project(tmp_path / "p")
    _, port1 = start_app(root, hub.port, "two-1")
    _, port2 = start_app(root, hub.port, "two-2")
    for port in (port1, port2):
        wait_for(lambda port=port: state(port)["registered"], 10, "both bridges to register")

    async def main() -> None:
        ann = await client(port1, "ann", "sa")
        bob = await client(port2, "bob", "sb")
        await asyncio.sleep(0.3)  # the JOINs reach the hub
        await ann.send(json.dumps({"type": "say", "payload": {"text": "hi"}}))
        assert await recv(ann) == {"type": "said", "ns": "/ws/chat", "payload": {"text": "hi"}}
        assert await recv(bob) == {"type": "said", "ns": "/ws/chat", "payload": {"text": "hi"}}
        await ann.send(json.dumps({"type": "dm", "payload": {"to": "bob", "text": "psst"}}))
        assert await recv(bob) == {"type": "dm", "payload": "psst"}
        await ann.send(json.dumps({"type": "kick", "payload": {"sid": "sb"}}))
        assert await closed(bob) == (1008, "disconnected by hub")
        cid = await client(port2, "cid", "sc")
        await asyncio.sleep(0.3)
        await ann.send(json.dumps({"type": "kick", "payload": {"sid": "sc", "requeue": True}}))
        assert await closed(cid) == (4503, "requeued — reconnect")
        await ann.send(json.dumps({"type": "kick", "payload": {"sid": "nobody"}}))  # unknown: no-op
        await ann.send(json.dumps({"type": "say", "payload": 2}))
        assert (await recv(ann))["payload"] == 2  # ann's socket is untouched
        await ann.close()

    try:
        asyncio.run(main())
    finally:
        hub.stop()


def test_a_bad_token_is_refused_with_1008_and_never_retried(
        tmp_path: Path, start_app: Callable[..., tuple[Server, int]]) -> None:
    hub = start_hub(tmp_path)
    try:
        _, port = start_app(project(tmp_path / "p"), hub.port, "bad-1", token="wrong")
        wait_for(lambda: state(port)["refused"] == "hub.auth_failed", 10, "the refusal")
        time.sleep(2.5)  # two backoff steps' worth: nothing more is tried
        final = state(port)
        assert (final["attempts"], final["registered"], final["registrations"]) == (1, False, 0)
        ready = httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=2)
        assert ready.status_code == 200  # the hub never fails readiness
    finally:
        hub.stop()


def test_a_bridge_killed_with_9_leaves_no_ghosts_on_the_hub(
        tmp_path: Path, start_app: Callable[..., tuple[Server, int]]) -> None:
    hub = start_hub(tmp_path)
    root = project(tmp_path / "p")
    doomed, port1 = start_app(root, hub.port, "doomed-1")
    _, port2 = start_app(root, hub.port, "alive-1")
    for port in (port1, port2):
        wait_for(lambda port=port: state(port)["registered"], 10, "both bridges to register")

    async def main() -> None:
        gone = await client(port1, "u1", "gone-1")
        kept = await client(port2, "u2", "kept-1")
        await asyncio.sleep(0.3)
        assert await hub_sessions(hub) == {"gone-1", "kept-1"}
        doomed.proc.kill()  # SIGKILL: no close frame, no LEAVE
        deadline = time.monotonic() + 5
        while await hub_sessions(hub) != {"kept-1"} and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        assert await hub_sessions(hub) == {"kept-1"}
        gone.transport.abort()
        await kept.close()

    try:
        asyncio.run(main())
    finally:
        hub.stop()
