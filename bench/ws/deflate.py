"""permessage-deflate on app sockets, in process: bytes on the wire, CPU and memory per connection for
1 KB JSON chat messages, uncompressed against deflate at a few window sizes (ADR 0036).

    .venv/bin/python bench/ws/deflate.py              # -> bench/results/ws-deflate.json
    .venv/bin/python bench/ws/deflate.py --quick      # fewer messages, prints only

One server-side extension (as mega's protocol negotiates it: context takeover, the threshold wrapper)
encodes a stream of distinct 1 KB chat envelopes; the client side decodes each one and checks it. Memory
is what zlib allocates for one server connection's compressor and decompressor (tracemalloc sees zlib's
allocations), once a message went each way.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import time
import tracemalloc
from pathlib import Path
from typing import Any

import orjson
from websockets.extensions.base import Extension
from websockets.extensions.permessage_deflate import PerMessageDeflate
from websockets.frames import Frame, Opcode

from mega.ws._deflate import Threshold

WORDS = ["the", "meeting", "moved", "to", "room", "four", "after", "lunch", "please", "bring", "slides",
         "and", "updated", "budget", "figures", "we", "also", "need", "someone", "book", "projector",
         "order", "coffee", "for", "twelve", "people"]
CONFIGS = [  # (name, window_bits, memLevel); mega's default for app sockets is window_bits 12
    ("deflate_w15_mem8", 15, 8),
    ("deflate_w12_mem5", 12, 5),
    ("deflate_w9_mem5", 9, 5),
]


def messages(count: int, seed: int = 7) -> list[bytes]:
    rng = random.Random(seed)
    out = []
    for i in range(count):
        payload: dict[str, Any] = {"id": f"m-{i:08d}", "user_id": f"u{rng.randrange(10_000)}",
                                   "user_name": rng.choice(["Ann", "Bob", "Chloé", "Dmitri"]),
                                   "channel": "room:42", "sent_at": 1_765_000_000 + i, "text": ""}
        while True:
            body = orjson.dumps({"type": "chat.message", "ns": "/ws/chat", "payload": payload})
            if len(body) >= 1024:
                break
            payload["text"] += rng.choice(WORDS) + " "
        out.append(body)
    return out


def plain(msgs: list[bytes]) -> dict[str, Any]:
    """Framing alone: what a server write costs without an extension."""
    t0 = time.perf_counter()
    wire = [Frame(Opcode.TEXT, m).serialize(mask=False, extensions=[]) for m in msgs]
    encode = time.perf_counter() - t0
    return {"wire_bytes_per_message": round(sum(map(len, wire)) / len(msgs), 1), "ratio": 1.0,
            "encode_us_per_message": round(encode / len(msgs) * 1e6, 2)}


class _Keep(Extension):
    """Passes frames to the server's extension and keeps what it made, for the client to decode."""

    def __init__(self, inner: Extension) -> None:
        self.inner = inner
        self.name = inner.name
        self.frames: list[Frame] = []

    def encode(self, frame: Frame) -> Frame:
        out = self.inner.encode(frame)
        self.frames.append(out)
        return out

    def decode(self, frame: Frame, *, max_size: int | None = None) -> Frame:
        return self.inner.decode(frame, max_size=max_size)


def deflate(msgs: list[bytes], bits: int, mem_level: int) -> dict[str, Any]:
    """One fresh connection's worth: memory, then every message encoded (server) and decoded (client)."""
    client = PerMessageDeflate(False, False, bits, bits)
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    server = Threshold(PerMessageDeflate(False, False, bits, bits, {"memLevel": mem_level}), 1024)
    server.decode(client.encode(Frame(Opcode.TEXT, msgs[-1])))  # the server's inflate window too
    client.decode(server.encode(Frame(Opcode.TEXT, msgs[0])))
    per_conn = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    kept = _Keep(server)
    t0 = time.perf_counter()
    wire = [Frame(Opcode.TEXT, m).serialize(mask=False, extensions=[kept]) for m in msgs]
    encode = time.perf_counter() - t0
    t0 = time.perf_counter()
    for f, m in zip(kept.frames, msgs, strict=True):
        if client.decode(f).data != m:
            raise SystemExit("round trip failed")
    decode = time.perf_counter() - t0
    total = sum(map(len, wire))
    raw = sum(len(Frame(Opcode.TEXT, m).serialize(mask=False, extensions=[])) for m in msgs)
    return {"wire_bytes_per_message": round(total / len(msgs), 1), "ratio": round(total / raw, 3),
            "encode_us_per_message": round(encode / len(msgs) * 1e6, 2),
            "decode_us_per_message": round(decode / len(msgs) * 1e6, 2),
            "memory_per_connection_kib": round(per_conn / 1024, 1)}


def best_of(rounds: int, msgs: list[bytes]) -> dict[str, Any]:
    """Rounds interleave the configurations; times are each one's best round (a shared machine)."""
    results: dict[str, Any] = {}
    for _ in range(rounds):
        runs = {"uncompressed": plain(msgs)}
        runs.update({name: deflate(msgs, bits, mem) for name, bits, mem in CONFIGS})
        for name, run in runs.items():
            kept = results.setdefault(name, run)
            for key, value in run.items():
                if key.endswith("_us_per_message"):
                    kept[key] = min(kept[key], value)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    count = 1_000 if args.quick else args.messages
    msgs = messages(count)
    results = best_of(1 if args.quick else args.rounds, msgs)
    report = {"messages": count, "rounds": 1 if args.quick else args.rounds,
              "message_bytes": round(sum(map(len, msgs)) / count, 1),
              "machine": platform.machine(), "python": platform.python_version(), "results": results}
    print(json.dumps(report, indent=2))
    if not args.quick:
        out = Path(__file__).resolve().parents[1] / "results" / "ws-deflate.json"
        out.write_text(json.dumps(report, indent=2) + "\n")
        print(f"written: {out}")


if __name__ == "__main__":
    main()
