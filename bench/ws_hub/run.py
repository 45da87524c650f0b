"""Hub benchmark: a real `mega ws-hub` process and protocol clients on this machine.

    relay    BROADCAST from bridge A to bridge B through the hub, one at a time: p50/p99 latency
    burst    N BROADCASTs of 1 KiB sent back to back: messages per second received by B
    deflate  the same 1 KiB chat message's wire size with ws_hub.compression on (threshold 256)

Writes bench/results/ws_hub.json (--quick: ws_hub-quick.json). A single run on a busy machine is
indicative only; the lead reruns it on a quiet one.

    .venv/bin/python bench/ws_hub/run.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection, connect

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "bench-token"


def start_hub(cwd: Path) -> tuple[subprocess.Popen[str], int]:
    env = {**os.environ, "MEGA_WSHUB_TOKENS": TOKEN, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "mega", "ws-hub", "--host", "127.0.0.1", "--port", "0"],
                            cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    return proc, int(line.split(":")[-1].split()[0])


async def link(port: int, bridge_id: str) -> ClientConnection:
    ws = await connect(f"ws://127.0.0.1:{port}", additional_headers={"Authorization": f"Bearer {TOKEN}"},
                       max_size=None)
    await ws.send(orjson.dumps({"type": "REGISTER", "payload": {"bridge_id": bridge_id, "protocol_version": 2,
                                                                "instance_id": bridge_id}}).decode())
    assert orjson.loads(await ws.recv())["type"] == "register_ok"
    return ws


async def next_broadcast(ws: ClientConnection) -> dict[str, Any]:
    while True:
        frame: dict[str, Any] = orjson.loads(await ws.recv())
        if frame["type"] == "BROADCAST":
            return frame


async def measure(port: int, relays: int, burst: int) -> dict[str, Any]:
    a, b = await link(port, "bench-a"), await link(port, "bench-b")
    await b.send(orjson.dumps({"type": "JOIN", "payload": {"session_id": "sb", "user_id": "ub",
                                                           "channels": ["chat"]}}).decode())
    await asyncio.sleep(0.2)
    message = {"type": "chat.msg", "payload": {"text": "x" * 1000}}
    frame = orjson.dumps({"type": "BROADCAST", "payload": {"ns": "/ws/chat", "channel": "chat",
                                                          "message": message}}).decode()
    latencies = []
    for _ in range(relays):
        started = time.perf_counter()
        await a.send(frame)
        await next_broadcast(b)
        latencies.append((time.perf_counter() - started) * 1000)
    started = time.perf_counter()
    for _ in range(burst):
        await a.send(frame)
    for _ in range(burst):
        await next_broadcast(b)
    rate = burst / (time.perf_counter() - started)
    await a.close()
    await b.close()
    latencies.sort()
    compressor = zlib.compressobj(wbits=-15)
    deflated = len(compressor.compress(frame.encode()) + compressor.flush(zlib.Z_SYNC_FLUSH)) - 4
    return {"relay_ms": {"p50": round(statistics.median(latencies), 3),
                         "p99": round(latencies[int(len(latencies) * 0.99) - 1], 3), "n": relays},
            "burst": {"messages": burst, "per_second": round(rate)},
            "deflate_1k": {"plain_bytes": len(frame), "deflated_bytes": deflated}}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    relays, burst = (200, 1000) if args.quick else (2000, 10000)
    with tempfile.TemporaryDirectory() as tmp:
        proc, port = start_hub(Path(tmp))
        try:
            result = asyncio.run(measure(port, relays, burst))
        finally:
            proc.terminate()
            proc.wait(15)
    result.update(machine=platform.machine(), python=platform.python_version(), load=os.getloadavg())
    name = "ws_hub-quick.json" if args.quick else "ws_hub.json"
    out = ROOT / "bench" / "results" / name
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
