"""A second process for the request/reply test: answers `<prefix>echo` with the sequence number it got.

Usage: python responder.py <nats url> <prefix>; prints "ready" once subscribed; exits when stdin closes.
"""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

from mega.adapters.nats import NatsAdapter
from mega.bus.nats import NatsBus


async def main(url: str, prefix: str) -> None:
    adapter = NatsAdapter("responder", {"url": url, "name": "mega-test-responder"})
    await adapter.connect()
    bus = NatsBus(adapter, prefix=prefix)
    pid = os.getpid()

    def echo(payload: Any) -> dict[str, Any]:
        return {"seq": payload["seq"], "pid": pid}

    await bus.on("echo", echo, queue="echo")
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until the test closes stdin
    stats = await bus.stats()
    await bus.close()
    await adapter.disconnect()
    print(f"handled {stats['received']}", flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
