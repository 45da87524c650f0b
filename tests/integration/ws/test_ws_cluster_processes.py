"""Two `mega start` processes on the real NATS with `ws_cluster`: many clients (200 by default,
MEGA_WS_CLUSTER_CLIENTS to change), 100 broadcasts from 10 senders on both processes: every client
receives every message exactly once, in each sender's order, and both rosters list every client. Then
a client that stops reading is closed with 1013 while the readers' p99 latency stays within 2x of the
same run without it."""

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
from websockets.asyncio.client import ClientConnection, connect

from mega.testing import write_project
from tests.integration.bus.nats_control import URL

pytestmark = [pytest.mark.integration, pytest.mark.service("nats")]

CLIENTS = int(os.environ.get("MEGA_WS_CLUSTER_CLIENTS", "200"))
SENDERS, PER_SENDER = 10, 10
BIG_READERS, BIG_COUNT, BIG_SIZE = 6, 300, 32_000

ROUTES = """
    from mega.ws import WebSocketController, on

    class Room(WebSocketController):
        async def on_connect(self, sock, ctx):
            q = ctx.req.query
            await ctx.presence.join(user_id=q["user"], session_id=q["sid"], channels=["lobby"])
            sock.send({"type": "ready", "payload": None})

        @on("say")
        async def say(self, sock, msg, ctx):
            await ctx.presence.broadcast(channel="lobby", message={"type": "m", "payload": msg})

        @on("count")
        async def count(self, sock, msg, ctx):
            sock.send({"type": "count", "payload": len(await ctx.presence.list())})

    def routes(router):
        router.ws("/ws/room", Room)
        router.ws("/ws/big", Room)
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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


async def open_client(port: int, path: str, n: int, **kwargs: Any) -> ClientConnection:
    ws = await connect(f"ws://127.0.0.1:{port}{path}?user=u{n % 50}&sid=s{n}", open_timeout=30,
                       max_size=None, **kwargs)
    if kwargs.get("max_queue") != 1:
        frame = json.loads(await asyncio.wait_for(ws.recv(), 30))
        assert frame["type"] == "ready"
    return ws


async def roster_size(ws: ClientConnection) -> int:
    await ws.send(json.dumps({"type": "count"}))
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), 30))
        if frame["type"] == "count":
            return int(frame["payload"])


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


async def collect(ws: ClientConnection, want: int, latencies: list[float]) -> list[tuple[int, int]]:
    got: list[tuple[int, int]] = []
    while len(got) < want:
        try:
            frame = json.loads(await asyncio.wait_for(ws.recv(), 15))
        except TimeoutError:
            path = ws.request.path if ws.request else ""
            raise AssertionError(f"{path}: {len(got)} of {want} received") from None
        if frame["type"] != "m":
            continue
        latencies.append(time.perf_counter() - frame["payload"]["t"])
        got.append((frame["payload"]["s"], frame["payload"]["n"]))
    return got


async def big_run(ports: list[int], readers: list[ClientConnection], sender: ClientConnection) -> list[float]:
    latencies: list[float] = []
    tasks = [asyncio.create_task(collect(ws, BIG_COUNT, latencies)) for ws in readers]
    pad = "x" * BIG_SIZE
    for n in range(BIG_COUNT):
        await sender.send(json.dumps({"type": "say", "payload": {"s": 0, "n": n, "t": time.perf_counter(),
                                                                  "pad": pad}}))
        await asyncio.sleep(0.01)
    results = await asyncio.gather(*tasks)
    for got in results:
        assert got == [(0, n) for n in range(BIG_COUNT)]
    return latencies


async def test_two_processes_exactly_once_in_order_and_a_slow_consumer(servers: list[int]) -> None:
    ports = servers
    clients: list[ClientConnection] = []
    try:
        for start in range(0, CLIENTS, 50):  # connect in waves
            clients += await asyncio.gather(*(open_client(ports[n % 2], "/ws/room", n)
                                              for n in range(start, min(CLIENTS, start + 50))))
        deadline = time.monotonic() + 30
        while (sizes := [await roster_size(clients[0]), await roster_size(clients[1])]) != [CLIENTS, CLIENTS]:
            assert time.monotonic() < deadline, f"rosters {sizes}, want {CLIENTS} on both"
            await asyncio.sleep(0.2)

        latencies: list[float] = []
        tasks = [asyncio.create_task(collect(ws, SENDERS * PER_SENDER, latencies)) for ws in clients]
        started = time.perf_counter()
        for n in range(PER_SENDER):  # senders alternate between the two processes
            for s in range(SENDERS):
                await clients[s].send(json.dumps({"type": "say", "payload": {"s": s, "n": n,
                                                                              "t": time.perf_counter()}}))
        results = await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - started
        for got in results:
            assert sorted(got) == [(s, n) for s in range(SENDERS) for n in range(PER_SENDER)]  # once each
            for s in range(SENDERS):
                assert [n for (x, n) in got if x == s] == list(range(PER_SENDER))  # in the sender's order
        print(f"\n{CLIENTS} clients on 2 processes, {SENDERS * PER_SENDER} broadcasts: "
              f"{len(latencies)} deliveries in {elapsed:.2f} s, latency p50 "
              f"{statistics.median(latencies) * 1e3:.1f} ms p99 {p99(latencies) * 1e3:.1f} ms")
    finally:
        await asyncio.gather(*(ws.close() for ws in clients), return_exceptions=True)

    readers = [await open_client(ports[n % 2], "/ws/big", 10_000 + n) for n in range(BIG_READERS)]
    sender = readers[0]
    try:
        base = await big_run(ports, readers, sender)
        slow_sock = socket.socket()
        slow_sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connecting: no autotuning
        slow_sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(slow_sock, ("127.0.0.1", ports[0]))
        reader, writer = await asyncio.open_connection(sock=slow_sock, limit=4096)
        writer.write(b"GET /ws/big?user=slow&sid=slow HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                     b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     b"Sec-WebSocket-Version: 13\r\n\r\n")
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
        assert head.startswith(b"HTTP/1.1 101")
        with_slow = await big_run(ports, readers, sender)  # the stuck client never reads from here on
        code, reason = await close_of(reader)
        writer.close()
        after = await big_run(ports, readers, sender)  # without it again: the machine may have drifted
        print(f"{BIG_READERS} readers, {BIG_COUNT} x {BIG_SIZE} B: p99 {p99(base) * 1e3:.1f} ms without a "
              f"stuck client, {p99(with_slow) * 1e3:.1f} ms with one (closed with {code}), "
              f"{p99(after) * 1e3:.1f} ms without it again")
        assert (code, reason) == (1013, "slow consumer")
        assert p99(with_slow) < 2 * max(p99(base), p99(after))
    finally:
        await asyncio.gather(*(ws.close() for ws in readers), return_exceptions=True)
