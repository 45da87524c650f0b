"""Two `mega start` processes on the real NATS with `ws_cluster`: 1,000 clients (MEGA_WS_CLUSTER_CLIENTS
to change), 100 broadcasts from 10 senders on both processes: every client receives every message
exactly once, in each sender's order, and both rosters list every client. Then the same 100 broadcasts
with one more client that stops reading: it is closed with 1013 while the others' p99 latency stays
below 2x the run without it (measured before and after, the machine may drift).

The clients speak raw WebSocket (one asyncio protocol each) so that one test process can read 100,000
frames in seconds and the servers, not the client, set the pace.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mega.testing import write_project
from tests.integration.bus.nats_control import URL

pytestmark = [pytest.mark.integration, pytest.mark.service("nats")]

CLIENTS = int(os.environ.get("MEGA_WS_CLUSTER_CLIENTS", "1000"))
SENDERS, PER_SENDER = 10, 10
BROADCASTS = SENDERS * PER_SENDER
PACE = 0.05  # seconds between two broadcasts: the servers keep up, latency is not just queueing
STUCK_BEHIND = 3_000  # the stuck client's queue starts this many bytes short of ws.send_buffer_bytes

ROUTES = """
    import asyncio
    import time

    from mega.ws import WebSocketController, on

    LIMIT = 1024 * 1024  # ws.send_buffer_bytes (its default)
    FILLED = {}

    async def fill(sock, behind):
        # Fill the stuck client's queue to `behind` bytes short of the limit (its socket and transport
        # buffers full first), so that the next run's broadcasts overflow it whatever the kernel buffers.
        deadline = time.monotonic() + 30
        while (need := LIMIT - behind - sock.queued_bytes) > 0 and time.monotonic() < deadline:
            sock.send({"type": "fill", "payload": "x" * min(16_000, need - 40)})
            await asyncio.sleep(0.002)
        FILLED["queued"] = sock.queued_bytes

    class Room(WebSocketController):
        async def on_connect(self, sock, ctx):
            q = ctx.req.query
            await ctx.presence.join(user_id=q["user"], session_id=q["sid"], channels=["lobby"])
            if q.get("fill"):
                asyncio.ensure_future(fill(sock, int(q["fill"])))
            else:
                sock.send({"type": "ready", "payload": None})

        @on("say")
        async def say(self, sock, msg, ctx):
            await ctx.presence.broadcast(channel="lobby", message={"type": "m", "payload": msg})

        @on("count")
        async def count(self, sock, msg, ctx):
            sock.send({"type": "count", "payload": len(await ctx.presence.list())})

    async def filled(req, reply, ctx):
        return {"queued": FILLED.get("queued")}

    def routes(router):
        router.ws("/ws/room", Room)
        router.get("/filled", filled)
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def get(port: int, path: str) -> Any:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
        body = json.loads(response.read())
    return body.get("data", body)


def ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/ready", timeout=2) as response:
            return int(response.status) == 200
    except (urllib.error.URLError, OSError):
        return False


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[list[int]]:
    prefix = f"t{secrets.token_hex(4)}.ws"
    root = write_project(tmp_path, {
        "mega_config.py": f"""config = {{"logger": {{"level": "warning", "access_log": False}},
            "services": {{"buses": {{"events": {{"driver": "nats", "url": "{URL}"}}}}}},
            "ws_cluster": {{"bus": "events", "roster": {{"ttl": 6}}, "subject_prefix": "{prefix}"}}}}
        """,
        "apps/web/app_config.py": "config = {'ws': {'allow_missing_origin': True}}\n",
        "apps/web/routes/main.py": ROUTES,
    })
    ports = [free_port(), free_port()]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "MEGA_ENV": "development"}
    env.pop("MEGA_TEST_RUN", None)
    procs = [subprocess.Popen([sys.executable, "-m", "mega", "--root", str(root), "start", "--port", str(p)],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
             for p in ports]
    try:
        deadline = time.monotonic() + 60
        while not all(ready(p) for p in ports):
            for proc in procs:
                if proc.poll() is not None:
                    raise AssertionError(f"mega start exited: {proc.communicate()[1][-2000:]}")
            assert time.monotonic() < deadline, "the servers did not get ready"
            time.sleep(0.1)
        yield ports
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate()


def upgrade(path: str) -> bytes:
    return (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n").encode()


def masked(opcode: int, data: bytes) -> bytes:
    """A client frame with a zero mask (the payload stays as is)."""
    size = len(data)
    head = bytes([0x80 | opcode, 0x80 | size]) if size < 126 else \
        bytes([0x80 | opcode, 0x80 | 126]) + size.to_bytes(2, "big")
    return head + b"\0\0\0\0" + data


class Client(asyncio.Protocol):
    """A raw WebSocket client: answers pings, keeps (arrival time, frame) of every text frame."""

    def __init__(self) -> None:
        loop = asyncio.get_running_loop()
        self.buf = b""
        self.frames: list[tuple[float, bytes]] = []
        self.upgraded: asyncio.Future[bytes] = loop.create_future()
        self.arrived = asyncio.Event()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def send(self, obj: Any) -> None:
        assert self.transport is not None
        self.transport.write(masked(1, json.dumps(obj).encode()))

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        buf = self.buf + data
        if not self.upgraded.done():
            if b"\r\n\r\n" not in buf:
                self.buf = buf
                return
            head, _, buf = buf.partition(b"\r\n\r\n")
            self.upgraded.set_result(head.split(b"\r\n")[0])
        while len(buf) >= 2:
            opcode, size, at = buf[0] & 0x0F, buf[1] & 0x7F, 2
            if size == 126:
                size, at = int.from_bytes(buf[2:4], "big"), 4
            elif size == 127:
                size, at = int.from_bytes(buf[2:10], "big"), 10
            if len(buf) < at + size:
                break
            payload, buf = buf[at:at + size], buf[at + size:]
            if opcode == 1:
                self.frames.append((now, payload))
                self.arrived.set()
            elif opcode == 9 and self.transport is not None:
                self.transport.write(masked(10, payload))
        self.buf = buf

    async def next_of(self, kind: str) -> Any:
        """The payload of the next frame of type `kind` (frames before it are dropped)."""
        while True:
            while not self.frames:
                self.arrived.clear()
                await asyncio.wait_for(self.arrived.wait(), 30)
            frame = json.loads(self.frames.pop(0)[1])
            if frame["type"] == kind:
                return frame["payload"]

    def messages(self) -> list[tuple[float, dict[str, Any]]]:
        return [(at, frame["payload"]) for at, raw in self.frames
                if (frame := json.loads(raw))["type"] == "m"]


async def open_clients(ports: list[int], count: int) -> list[Client]:
    loop = asyncio.get_running_loop()
    clients: list[Client] = []
    for start in range(0, count, 100):  # in waves: the accept backlog and handshakes keep up
        wave = []
        for n in range(start, min(count, start + 100)):
            _, client = await loop.create_connection(Client, "127.0.0.1", ports[n % 2])
            assert client.transport is not None
            client.transport.write(upgrade(f"/ws/room?user=u{n % 50}&sid=s{n}"))
            wave.append(client)
        for client in wave:
            status = await asyncio.wait_for(client.upgraded, 30)
            assert b" 101 " in status, status
            await client.next_of("ready")
        clients += wave
    return clients


async def roster_size(client: Client) -> int:
    client.send({"type": "count"})
    return int(await client.next_of("count"))


async def stuck_client(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A client that stops reading, its queue on the server filled to STUCK_BEHIND bytes short."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connecting: no autotuning
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    reader, writer = await asyncio.open_connection(sock=sock, limit=4096)
    writer.write(upgrade(f"/ws/room?user=slow&sid=slow&fill={STUCK_BEHIND}"))
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
    assert head.startswith(b"HTTP/1.1 101")
    deadline = time.monotonic() + 40
    while (queued := (await asyncio.to_thread(get, port, "/filled"))["queued"]) is None:
        assert time.monotonic() < deadline, "the stuck client's queue was not filled"
        await asyncio.sleep(0.1)
    assert queued >= 1024 * 1024 - STUCK_BEHIND
    return reader, writer


async def close_of(reader: asyncio.StreamReader) -> tuple[int | None, str]:
    """Read a raw WebSocket stream up to its close frame: (code, reason)."""
    while True:
        head = await asyncio.wait_for(reader.readexactly(2), 30)
        opcode, size = head[0] & 0x0F, head[1] & 0x7F
        if size == 126:
            size = int.from_bytes(await reader.readexactly(2), "big")
        elif size == 127:
            size = int.from_bytes(await reader.readexactly(8), "big")
        body = await asyncio.wait_for(reader.readexactly(size), 30)
        if opcode == 8:
            return int.from_bytes(body[:2], "big"), body[2:].decode()


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


async def run(clients: list[Client], tag: str) -> list[float]:
    """100 broadcasts from 10 senders (alternating between the processes): each client gets each once,
    in each sender's order. Returns every delivery's latency."""
    for client in clients:
        client.frames.clear()
    for n in range(PER_SENDER):
        for s in range(SENDERS):
            clients[s].send({"type": "say", "payload": {"r": tag, "s": s, "n": n, "t": time.perf_counter()}})
            await asyncio.sleep(PACE)
    deadline = time.monotonic() + 60
    while (short := sum(len(c.frames) < BROADCASTS for c in clients)) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    latencies: list[float] = []
    for i, client in enumerate(clients):
        got = client.messages()
        assert len(got) == BROADCASTS, f"run {tag}: client {i} got {len(got)} of {BROADCASTS} ({short} short)"
        assert sorted((p["s"], p["n"]) for _, p in got) == [(s, n) for s in range(SENDERS)
                                                            for n in range(PER_SENDER)]  # once each
        for s in range(SENDERS):
            assert [p["n"] for _, p in got if p["s"] == s] == list(range(PER_SENDER))  # in order
        assert all(p["r"] == tag for _, p in got)
        latencies += [at - p["t"] for at, p in got]
    return latencies


async def test_two_processes_exactly_once_in_order_and_a_slow_consumer(servers: list[int]) -> None:
    ports = servers
    clients = await open_clients(ports, CLIENTS)
    writer: asyncio.StreamWriter | None = None
    try:
        deadline = time.monotonic() + 30
        while (sizes := [await roster_size(clients[0]), await roster_size(clients[1])]) != [CLIENTS, CLIENTS]:
            assert time.monotonic() < deadline, f"rosters {sizes}, want {CLIENTS} on both"
            await asyncio.sleep(0.2)

        started = time.perf_counter()
        base = await run(clients, "base")
        elapsed = time.perf_counter() - started
        reader, writer = await stuck_client(ports[0])
        with_stuck = await run(clients, "stuck")  # the stuck client never reads from here on
        code, reason = await close_of(reader)
        after = await run(clients, "after")  # without it again
        print(f"\n{CLIENTS} clients on 2 processes, {BROADCASTS} broadcasts {PACE * 1e3:.0f} ms apart: "
              f"{len(base)} deliveries in {elapsed:.2f} s; latency p50 "
              f"{statistics.median(base) * 1e3:.1f} ms, "
              f"p99 {p99(base) * 1e3:.1f} ms without a stuck client, {p99(with_stuck) * 1e3:.1f} ms with one "
              f"(closed with {code} {reason!r}), {p99(after) * 1e3:.1f} ms without it again")
        assert (code, reason) == (1013, "slow consumer")
        assert p99(with_stuck) < 2 * max(p99(base), p99(after))
    finally:
        if writer is not None:
            writer.close()
        for client in clients:
            if client.transport is not None:
                client.transport.close()
