"""WebSocket fan-out benchmark, one run. Writes bench/results/ws.json.

    local   100 broadcasts of 1 KB to 5,000 local connections: mega (`presence.broadcast`) vs a Starlette
            `await ws.send_text()` loop and the websockets library's `broadcast()` (the ceiling). Each
            server runs in its own process; one client process holds the connections and only counts
            bytes. Two figures per server: the server's own time until every write buffer is empty, and the
            client's time until every connection got every byte. Target: mega >= 0.9x Starlette.
    stuck   the same for mega with one more client that never reads: it is closed with 1013 and mega stays
            within 1.1x of its own time.
    cross   the latency p50/p99 of a broadcast over 2 instances: mega (ws_cluster on NATS) vs Starlette +
            broadcaster on Redis and python-socketio's AsyncRedisManager (bench/ws/cross.py).

    .venv/bin/python bench/ws/run.py            # 5,000 connections, 100 broadcasts of 1 KB
    .venv/bin/python bench/ws/run.py --quick    # smoke: 200 connections, 10 broadcasts, 40 cross

The stuck run checks the 1013 close on both sides. Needs the bench extra, NATS and Redis.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
RESULTS = REPO / "bench" / "results"
sys.path.insert(0, str(HERE))
from cross import cross  # noqa: E402
from peers import frame_text  # noqa: E402

LIMIT = 1024 * 1024  # ws.send_buffer_bytes of the mega project (its default, 1 MiB)

ROUTES = """
    import asyncio
    import time

    from mega import get_app
    from mega.ws import WebSocketController

    LIMIT = 1024 * 1024  # ws.send_buffer_bytes (its default)

    class B(WebSocketController):
        async def on_connect(self, sock, ctx):
            if ctx.req.query.get("stuck"):  # the client that never reads: found by its session id
                await ctx.presence.join(user_id="stuck", session_id="stuck")

    async def go(req, reply, ctx):
        n, size = int(req.query["n"]), int(req.query["size"])
        presence = get_app("web").presence
        message = {"type": "b", "payload": "x" * size}
        started = time.perf_counter()
        for _ in range(n):
            await presence.broadcast(ns="/ws/b", message=message)
        socks = presence.indexes()[0].get("/ws/b", set())
        while any(s.queued_bytes and not s.closed for s in socks):
            await asyncio.sleep(0.001)
        return {"seconds": time.perf_counter() - started, "sockets": len(socks)}

    async def fill(req, reply, ctx):
        # Put the stuck client's queue `behind` bytes short of ws.send_buffer_bytes before the timed run
        # (its socket and transport buffers full first), so that the burst overflows it: it is closed
        # with 1013 during the run, whatever the kernel's buffer sizes.
        behind = int(req.query["behind"])
        sock = get_app("web").presence.indexes()[2]["stuck"]
        deadline = time.monotonic() + 30
        while (need := LIMIT - behind - sock.queued_bytes) > 0 and time.monotonic() < deadline:
            chunk = "x" * min(16_000, need)
            sock.send_text(chunk, len(chunk))
            await asyncio.sleep(0.002)
        return {"queued": sock.queued_bytes, "closed": sock.closed}

    async def stuck(req, reply, ctx):
        sock = get_app("web").presence.indexes()[2].get("stuck")
        return {"close_code": None if sock is None else sock.close_code}

    def routes(router):
        router.ws("/ws/b", B)
        router.get("/go", go)
        router.get("/fill", fill)
        router.get("/stuck", stuck)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Counter(asyncio.Protocol):
    """A client that did the handshake and then only counts the bytes it receives."""

    def __init__(self, want: int, done: asyncio.Event, state: dict[str, int]) -> None:
        self.head = b""
        self.got = 0
        self.want = want
        self.done = done
        self.state = state
        self.upgraded = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if not self.upgraded.done():
            self.head += data
            if b"\r\n\r\n" in self.head:
                head, _, rest = self.head.partition(b"\r\n\r\n")
                self.upgraded.set_result(head.split(b"\r\n")[0])
                data = rest
            else:
                return
        before = self.got
        self.got += len(data)
        if before < self.want <= self.got:
            self.state["complete"] += 1
            if self.state["complete"] == self.state["total"]:
                self.done.set()


def upgrade_request(path: str) -> bytes:
    return (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: http://127.0.0.1\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n").encode()


def masked_text(text: str) -> bytes:
    data = text.encode()
    assert len(data) < 126
    return bytes([0x81, 0x80 | len(data)]) + b"\0\0\0\0" + data  # a zero mask leaves the payload as is


async def open_counters(port: int, count: int, want: int, done: asyncio.Event,
                        state: dict[str, int]) -> list[Counter]:
    loop = asyncio.get_running_loop()
    out: list[Counter] = []
    for start in range(0, count, 200):
        batch = []
        for _ in range(start, min(count, start + 200)):
            _, proto = await loop.create_connection(lambda: Counter(want, done, state), "127.0.0.1", port)
            assert proto.transport is not None
            proto.transport.write(upgrade_request("/ws/b"))
            batch.append(proto)
        for proto in batch:
            status = await asyncio.wait_for(proto.upgraded, 30)
            assert b" 101 " in status, status
        out += batch
    return out


async def stuck_client(port: int, behind: int) -> socket.socket:
    """A client that never reads, its queue on the server filled to `behind` bytes short of the limit."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    await loop.sock_connect(sock, ("127.0.0.1", port))
    await loop.sock_sendall(sock, upgrade_request("/ws/b?stuck=1"))
    await asyncio.sleep(0.3)
    filled = await asyncio.to_thread(http_get, port, f"/fill?behind={behind}")
    assert not filled["closed"] and filled["queued"] >= LIMIT - behind, filled
    return sock  # not read from until the run is over


async def close_code_of(sock: socket.socket) -> tuple[int | None, str]:
    """Read a raw (server) WebSocket stream to its close frame: (code, reason); (None, "") if none."""
    reader, writer = await asyncio.open_connection(sock=sock, limit=2**20)
    try:
        await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
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
    except (asyncio.IncompleteReadError, TimeoutError, ConnectionError):
        return None, ""
    finally:
        writer.close()


def http_get(port: int, path: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=600) as response:
        body = json.loads(response.read())
    return body.get("data", body)


async def one_run(kind: str, port: int, conns: int, n: int, size: int, stuck: bool = False) -> dict[str, Any]:
    per_frame = len(frame_text(size).encode()) + 4  # server frames: 2-byte header + 2-byte length
    done, state = asyncio.Event(), {"complete": 0, "total": conns}
    counters = await open_counters(port, conns, n * per_frame, done, state)
    stuck_sock = await stuck_client(port, n * per_frame // 2) if stuck else None
    await asyncio.sleep(0.5)
    started = time.perf_counter()
    if kind == "websockets":
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(upgrade_request("/ws/b"))
        await reader.readuntil(b"\r\n\r\n")
        writer.write(masked_text(f"go {n} {size}"))
        await asyncio.wait_for(done.wait(), 600)
        client = time.perf_counter() - started
        head = await reader.readexactly(2)
        length = head[1] & 0x7F
        server = json.loads(await reader.readexactly(length))
        writer.close()
    else:
        answer = asyncio.create_task(asyncio.to_thread(http_get, port, f"/go?n={n}&size={size}"))
        await asyncio.wait_for(done.wait(), 600)
        client = time.perf_counter() - started
        server = await answer
    out: dict[str, Any] = {"server_s": round(server["seconds"], 4), "client_s": round(client, 4)}
    if stuck_sock is not None:  # the server says it closed it with 1013, and the client reads that
        out["stuck_server_close"] = (await asyncio.to_thread(http_get, port, "/stuck"))["close_code"]
        out["stuck_client_close"] = list(await close_code_of(stuck_sock))
        assert out["stuck_server_close"] == 1013, out
        assert out["stuck_client_close"] == [1013, "slow consumer"], out
    for c in counters:
        assert c.transport is not None
        c.transport.close()
    await asyncio.sleep(0.5)
    return out


def start_server(kind: str, port: int, root: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if kind == "mega":
        env.pop("MEGA_TEST_RUN", None)
        cmd = [sys.executable, "-m", "mega", "--root", str(root), "start", "--port", str(port)]
    else:
        cmd = [sys.executable, str(HERE / "peers.py"), kind, str(port)]
    # stderr to a file, never a pipe nobody reads: a server logging 5,000 closed connections would fill
    # the pipe and block in write() (its accept queue then overflows: connect timeouts).
    log = root / f"{kind}-{port}.log"
    with log.open("wb") as err:
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=err)
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return proc
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{kind} did not start: {log.read_text()[-2000:]}") from None
            time.sleep(0.1)


def mega_project(root: Path) -> Path:
    (root / "apps" / "web" / "routes").mkdir(parents=True)
    (root / "mega_config.py").write_text('config = {"logger": {"level": "warning", "access_log": False}}\n')
    (root / "apps" / "web" / "app_config.py").write_text("config = {'ws': {'allow_missing_origin': True}}\n")
    (root / "apps" / "web" / "routes" / "main.py").write_text(textwrap.dedent(ROUTES))
    return root


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {"connections": args.connections, "broadcasts": args.broadcasts,
                               "size": args.size, "quick": args.quick, "local": {}}
    with tempfile.TemporaryDirectory() as tmp:
        root = mega_project(Path(tmp))
        for kind in () if args.no_local else args.kinds.split(","):
            port = free_port()
            proc = start_server(kind, port, root)
            try:
                runs, stuck = [], []
                for _ in range(args.rounds):  # mega: each round with and without the stuck client, in turn
                    runs.append(await one_run(kind, port, args.connections, args.broadcasts, args.size))
                    if kind == "mega":
                        stuck.append(await one_run(kind, port, args.connections, args.broadcasts, args.size,
                                                   stuck=True))
                    print(f"local {kind}: {runs[-1]}" + (f" stuck: {stuck[-1]}" if stuck else ""), flush=True)
                results["local"][kind] = {**min(runs, key=lambda r: r["client_s"]), "runs": runs}
                if kind == "mega":
                    results["stuck"] = {"mega": dict(min(stuck, key=lambda r: r["client_s"])), "runs": stuck}
                    if args.quick:
                        results["stuck"]["note"] = ("quick: the stuck run is measured as the full one is, "
                                                    "but too short to judge the 1.1x target")
            finally:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                for log in root.glob(f"{kind}-*.log"):
                    if size := log.stat().st_size:
                        print(f"{kind} stderr ({size} bytes): {log.read_text()[-300:]!r}", flush=True)
        local = results["local"]
        results["ratios"] = {} if len(local) < 3 else {
            "mega_vs_starlette_speed": round(local["starlette"]["client_s"] / local["mega"]["client_s"], 3),
            "mega_vs_websockets_speed": round(local["websockets"]["client_s"] / local["mega"]["client_s"], 3),
            "mega_stuck_over_own": round(results["stuck"]["mega"]["client_s"] / local["mega"]["client_s"], 3),
        }
        if not args.no_cross:
            results["cross"] = await cross(args, Path(tmp), free_port)
            results["ratios"].update(results["cross"]["ratios"])
    results["targets"] = {"mega_vs_starlette_speed": ">= 0.9", "mega_stuck_over_own": "<= 1.1",
                          "stuck_closed_with": 1013, "mega_p99_over_broadcaster": "<= 1",
                          "mega_p99_over_socketio": "<= 1"}
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--connections", type=int, default=5000)
    parser.add_argument("--broadcasts", type=int, default=100)
    parser.add_argument("--size", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cross-clients", type=int, default=1000, help="connections over the 2 instances")
    parser.add_argument("--cross-broadcasts", type=int, default=100)
    parser.add_argument("--cross-rounds", type=int, default=3)
    parser.add_argument("--cross-warmup", type=int, default=5, help="broadcasts sent first and not measured")
    parser.add_argument("--no-cross", action="store_true", help="the local part only")
    parser.add_argument("--no-local", action="store_true", help="the cross-instance part only")
    parser.add_argument("--kinds", default="mega,starlette,websockets", help="local servers to run (a subset "
                        "writes no ratios)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)  # 5,000 sockets on each side (servers inherit)
    want = args.connections + args.cross_clients + 1000
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard) if hard != resource.RLIM_INFINITY
                                                    else want, hard))
    if args.quick:
        args.connections, args.broadcasts, args.rounds = 200, 10, 1
        args.cross_clients, args.cross_broadcasts, args.cross_rounds, args.cross_warmup = 40, 10, 1, 2
    results = asyncio.run(bench(args))
    out = args.out or RESULTS / ("ws-quick.json" if args.quick else "ws.json")
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results["ratios"]), "->", out)


if __name__ == "__main__":
    main()
