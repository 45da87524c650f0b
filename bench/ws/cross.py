"""The cross-instance part of bench/ws/run.py: the latency of a broadcast over 2 instances.

Two server processes of each system share one broker; `clients` connections are spread over both. One
sender connection per instance sends a chat message (`{"n": <seq>, "pad": <size bytes>}`), alternating
between the instances, one broadcast at a time: the next goes out once every receiver got the previous.
Latency = receive time - send time of each delivery, measured by the one client process (one clock);
a few warm-up broadcasts go first, unmeasured (with 40 clients the first one alone would be the p99).
Every receiver must get every message exactly once (checked), so a broken system posts no figure.

Settle step, the same for every system: once the clients are connected each server process runs one full
garbage collection (a `settle` frame from its sender; the reply says when it is done). Connecting 1,000
clients leaves some 50,000 new objects per process; CPython's first full collection after that takes
40-120 ms on this machine and comes after a number of allocations, so whether it fell inside the measured
broadcasts or before them depended on how little a system allocates per broadcast: one such pause is ~1%
of the deliveries, i.e. the whole p99 (measured: docs/adr/0029). Every system pays it, before the window.

    mega         two `mega start`, a channel handler calling `ctx.presence.broadcast`, ws_cluster on NATS
                 (local sockets are written at once, the other instance's through NATS)
    broadcaster  two Starlette apps on uvicorn, `broadcaster` on Redis pub/sub (one subscription per
                 process, a queue and a task per socket: its documented chat pattern); the sender's
                 message is parsed and re-serialised, as mega does
    socketio     two python-socketio ASGI servers on uvicorn with `AsyncRedisManager`: `sio.emit("m", data)`
                 from the event handler (delivered through Redis, the sender's instance too)

The client speaks raw WebSocket (and engine.io's text packets for socket.io) so that it costs every
system the same and little. Figures: p50/p99 over every delivery (`all`) and over those on the other
instance than the sender (`remote`, the cross-instance hop), in ms.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
NATS_URL = os.environ.get("MEGA_BENCH_NATS_URL", "nats://127.0.0.1:4222")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
SEQ = re.compile(rb'"n":(-?\d+)')

ROUTES = """
    import gc

    from mega.ws import WebSocketController, on

    class Room(WebSocketController):
        @on("say")
        async def say(self, sock, msg, ctx):
            await ctx.presence.broadcast(message={"type": "m", "payload": msg})

        @on("settle")
        async def settle(self, sock, msg, ctx):
            gc.collect()  # the bench's settle step (see measure): every system does the same
            sock.send({"type": "settled", "payload": None})

    def routes(router):
        router.ws("/ws/x", Room)
"""

PATHS = {"mega": "/ws/x", "broadcaster": "/ws/x", "socketio": "/socket.io/?EIO=4&transport=websocket"}


def mega_project(root: Path, prefix: str) -> Path:
    (root / "apps" / "web" / "routes").mkdir(parents=True)
    (root / "mega_config.py").write_text(
        'config = {"logger": {"level": "warning", "access_log": False}, '
        f'"services": {{"buses": {{"events": {{"driver": "nats", "url": "{NATS_URL}"}}}}}}, '
        f'"ws_cluster": {{"bus": "events", "roster": {{"driver": "none"}}, '
        f'"subject_prefix": "{prefix}"}}}}\n')
    (root / "apps" / "web" / "app_config.py").write_text("config = {'ws': {'allow_missing_origin': True}}\n")
    (root / "apps" / "web" / "routes" / "main.py").write_text(textwrap.dedent(ROUTES))
    return root


def mask(opcode: int, data: bytes) -> bytes:
    """A client frame with a zero mask (the payload stays as is)."""
    size = len(data)
    if size < 126:
        head = bytes([0x80 | opcode, 0x80 | size])
    else:
        head = bytes([0x80 | opcode, 0x80 | 126]) + size.to_bytes(2, "big")
    return head + b"\0\0\0\0" + data


class Tally:
    """Counts the frames the receivers got; `done` is set once `expect`'s count is reached. (One event
    per broadcast, not one wake-up per delivery: the client process must cost little, it shares the
    cores with the servers.)"""

    def __init__(self) -> None:
        self.count = 0
        self.want = -1
        self.done = asyncio.Event()

    def expect(self, want: int) -> None:
        self.count, self.want = 0, want
        self.done.clear()

    def arrived(self) -> None:
        self.count += 1
        if self.count == self.want:
            self.done.set()


class Recorder(asyncio.Protocol):
    """A raw WebSocket client: answers pings (and engine.io's), keeps (time, payload) of each text frame."""

    def __init__(self, kind: str, got: Tally) -> None:
        self.kind = kind
        self.buf = b""
        self.frames: list[tuple[float, bytes]] = []
        self.got = got
        self.close_code: int | None = None
        self.upgraded: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self.opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None
        if kind != "socketio":
            self.opened.set_result(None)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def send_text(self, data: bytes) -> None:
        assert self.transport is not None
        self.transport.write(mask(1, data))

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        self.buf += data
        if not self.upgraded.done():
            if b"\r\n\r\n" not in self.buf:
                return
            head, _, self.buf = self.buf.partition(b"\r\n\r\n")
            self.upgraded.set_result(head.split(b"\r\n")[0])
        buf = self.buf
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
                self.text(now, payload)
            elif opcode == 9 and self.transport is not None:
                self.transport.write(mask(10, payload))
            elif opcode == 8:
                self.close_code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
        self.buf = buf

    def text(self, now: float, payload: bytes) -> None:
        if self.kind == "socketio":
            if payload == b"2":  # engine.io ping
                self.send_text(b"3")
                return
            if payload.startswith(b"0{"):
                self.send_text(b"40")
                return
            if payload.startswith(b"40"):
                if not self.opened.done():
                    self.opened.set_result(None)
                return
        self.frames.append((now, payload))
        self.got.arrived()


def upgrade(path: str) -> bytes:
    return (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: http://127.0.0.1\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n").encode()


async def connect_all(kind: str, ports: list[int], count: int, got: Tally) -> list[Recorder]:
    loop = asyncio.get_running_loop()
    out: list[Recorder] = []
    for start in range(0, count, 100):
        batch = []
        for i in range(start, min(count, start + 100)):
            _, proto = await loop.create_connection(lambda: Recorder(kind, got), "127.0.0.1", ports[i % 2])
            assert proto.transport is not None
            proto.transport.write(upgrade(PATHS[kind]))
            batch.append(proto)
        for proto in batch:
            status = await asyncio.wait_for(proto.upgraded, 60)
            assert b" 101 " in status, (kind, status)
            await asyncio.wait_for(proto.opened, 60)
        out += batch
    return out


def message(kind: str, n: int, pad: str) -> bytes:
    body = f'{{"n":{n},"pad":"{pad}"}}'
    if kind == "socketio":
        return f'42["say",{body}]'.encode()
    return f'{{"type":"say","payload":{body}}}'.encode()


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1000, 3)


async def one_broadcast(sender: Recorder, frame: bytes, clients: int, got: Tally) -> None:
    """Send one chat message and wait until every receiver got a frame."""
    got.expect(clients)
    sender.send_text(frame)
    await asyncio.wait_for(got.done.wait(), 30)


def settle_frame(kind: str) -> bytes:
    if kind == "socketio":
        return b'42["settle",{}]'
    return b'{"type":"settle","payload":{}}'


async def settle(kind: str, senders: list[Recorder]) -> None:
    """Each server process runs a full garbage collection now (see the module's docstring)."""
    for sender in senders:
        sender.frames.clear()
        sender.send_text(settle_frame(kind))
        deadline = time.monotonic() + 30
        while not any(b"settled" in payload for _, payload in sender.frames):
            assert time.monotonic() < deadline, f"{kind}: no settle reply"
            await asyncio.sleep(0.01)
        sender.frames.clear()


async def measure(kind: str, ports: list[int], clients: int, broadcasts: int, size: int,
                  warmup: int = 0) -> dict[str, Any]:
    got = Tally()
    receivers = await connect_all(kind, ports, clients, got)
    senders = await connect_all(kind, ports, 2, Tally())  # senders[i] is on ports[i]
    await asyncio.sleep(1.0)  # subscriptions settle (broker, cluster)
    await settle(kind, senders)
    pad = "x" * size
    for n in range(-warmup, 0):  # first-use costs of every system (imports, caches, buffers): not measured
        await one_broadcast(senders[n % 2], message(kind, n, pad), clients, got)
    for r in receivers + senders:
        r.frames.clear()
    sent: list[float] = []
    started = time.perf_counter()
    for n in range(broadcasts):
        sender = senders[n % 2]
        frame = message(kind, n, pad)
        sent.append(time.perf_counter())
        await one_broadcast(sender, frame, clients, got)
        for s in senders:
            s.frames.clear()
    elapsed = time.perf_counter() - started
    all_ms: list[float] = []
    remote: list[float] = []
    local: list[float] = []
    for i, r in enumerate(receivers):
        seqs = []
        for at, payload in r.frames:
            found = SEQ.search(payload)
            assert found is not None, payload[:200]
            n = int(found.group(1))
            seqs.append(n)
            all_ms.append(at - sent[n])
            if n % 2 != i % 2:  # the sender was on the other instance
                remote.append(at - sent[n])
            else:
                local.append(at - sent[n])
        assert seqs == list(range(broadcasts)), f"{kind}: receiver {i} got {seqs[:10]}..."
    for r in receivers + senders:
        if r.transport is not None:
            r.transport.close()
    return {"p50_ms": pct(all_ms, 0.5), "p99_ms": pct(all_ms, 0.99),
            "remote_p50_ms": pct(remote, 0.5), "remote_p99_ms": pct(remote, 0.99),
            "local_p50_ms": pct(local, 0.5), "local_p99_ms": pct(local, 0.99),
            "mean_ms": round(statistics.fmean(all_ms) * 1000, 3), "deliveries": len(all_ms),
            "seconds": round(elapsed, 3)}


def start(kind: str, port: int, root: Path, channel: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("MEGA_TEST_RUN", None)
    if kind == "mega":
        cmd = [sys.executable, "-m", "mega", "--root", str(root), "start", "--port", str(port)]
    else:
        cmd = [sys.executable, str(HERE / "peers.py"), kind, str(port), REDIS_URL, channel]
    with log_of(root, port).open("wb") as err:  # a file: a full pipe nobody reads would block the server
        return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=err)


def log_of(root: Path, port: int) -> Path:
    return root / f"server-{port}.log"


def wait_up(procs: list[subprocess.Popen[bytes]], ports: list[int], root: Path) -> None:
    deadline = time.monotonic() + 60
    for proc, port in zip(procs, ports, strict=True):
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    err = log_of(root, port).read_text()[-2000:]
                    raise RuntimeError(f"server on {port} did not start: {err}") from None
                time.sleep(0.1)


def stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def one(kind: str, root: Path, ports: list[int], args: Any) -> dict[str, Any]:
    channel = f"bench-ws-{secrets.token_hex(4)}"
    procs = [start(kind, port, root, channel) for port in ports]
    try:
        wait_up(procs, ports, root)
        await asyncio.sleep(0.5)
        return await measure(kind, ports, args.cross_clients, args.cross_broadcasts, args.size,
                             args.cross_warmup)
    finally:
        stop(procs)


async def cross(args: Any, tmp: Path, free_port: Any) -> dict[str, Any]:
    """Every system over `args.cross_rounds` rounds (order reversed every other round); per system the
    round with the lowest p99 and every round."""
    root = mega_project(tmp / "cross", f"bench{secrets.token_hex(4)}.ws")
    kinds = ["mega", "broadcaster", "socketio"]
    runs: dict[str, list[dict[str, Any]]] = {k: [] for k in kinds}
    for r in range(args.cross_rounds):
        for kind in kinds if r % 2 == 0 else kinds[::-1]:
            runs[kind].append(await one(kind, root, [free_port(), free_port()], args))
            print(f"cross {kind}: {runs[kind][-1]}", flush=True)
    best = {k: min(v, key=lambda x: x["p99_ms"]) for k, v in runs.items()}
    out: dict[str, Any] = {"clients": args.cross_clients, "broadcasts": args.cross_broadcasts,
                           "warmup": args.cross_warmup,
                           "size": args.size, "instances": 2,
                           "brokers": {"mega": NATS_URL, "broadcaster": REDIS_URL, "socketio": REDIS_URL},
                           "best": best, "runs": runs}
    out["ratios"] = {f"mega_p99_over_{k}": round(best["mega"]["p99_ms"] / best[k]["p99_ms"], 3)
                     for k in ("broadcaster", "socketio")}
    out["ratios"].update({f"mega_remote_p99_over_{k}": round(best["mega"]["remote_p99_ms"] /
                                                             best[k]["remote_p99_ms"], 3)
                          for k in ("broadcaster", "socketio")})
    return out
