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
from websockets.extensions.permessage_deflate import PerMessageDeflate
from websockets.frames import Frame, Opcode

from mega.ws._deflate import Threshold

WORDS = ("the meeting moved to room four after lunch please bring the slides and the updated budget "
         "figures we also need someone to book the projector and order coffee for twelve people").split()
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


def wire(data_len: int) -> int:
    """Bytes of a server frame (unmasked) carrying `data_len` bytes."""
    return data_len + (2 if data_len < 126 else 4 if data_len < 65536 else 10)


def plain(msgs: list[bytes]) -> dict[str, Any]:
    total = sum(wire(len(m)) for m in msgs)
    return {"wire_bytes_per_message": round(total / len(msgs), 1), "ratio": 1.0}


def deflate(msgs: list[bytes], bits: int, mem_level: int) -> dict[str, Any]:
    client = PerMessageDeflate(False, False, bits, bits)
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    server = Threshold(PerMessageDeflate(False, False, bits, bits, {"memLevel": mem_level}), 1024)
    server.decode(client.encode(Frame(Opcode.TEXT, msgs[-1])))  # the server's inflate window too
    client.decode(server.encode(Frame(Opcode.TEXT, msgs[0])))
    per_conn = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    frames = []
    t0 = time.perf_counter()
    for m in msgs:
        frames.append(server.encode(Frame(Opcode.TEXT, m)))
    encode = time.perf_counter() - t0
    t0 = time.perf_counter()
    for f, m in zip(frames, msgs, strict=True):
        if client.decode(f).data != m:
            raise SystemExit("round trip failed")
    decode = time.perf_counter() - t0
    total = sum(wire(len(f.data)) for f in frames)
    raw = sum(wire(len(m)) for m in msgs)
    return {"wire_bytes_per_message": round(total / len(msgs), 1), "ratio": round(total / raw, 3),
            "encode_us_per_message": round(encode / len(msgs) * 1e6, 2),
            "decode_us_per_message": round(decode / len(msgs) * 1e6, 2),
            "memory_per_connection_kib": round(per_conn / 1024, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--messages", type=int, default=20_000)
    args = parser.parse_args()
    count = 1_000 if args.quick else args.messages
    msgs = messages(count)
    results: dict[str, Any] = {"uncompressed": plain(msgs)}
    for name, bits, mem in CONFIGS:
        results[name] = deflate(msgs, bits, mem)
    report = {"messages": count, "message_bytes": round(sum(map(len, msgs)) / count, 1),
              "machine": platform.machine(), "python": platform.python_version(), "results": results}
    print(json.dumps(report, indent=2))
    if not args.quick:
        out = Path(__file__).resolve().parents[1] / "results" / "ws-deflate.json"
        out.write_text(json.dumps(report, indent=2) + "\n")
        print(f"written: {out}")


if __name__ == "__main__":
    main()
