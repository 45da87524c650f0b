"""Sockets over a recording ASGI send, for presence tests (the real `Socket`, its queue and writer)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from mega.ws._socket import Socket


class Client:
    """What one client received: frames (decoded) and the close, if any."""

    def __init__(self) -> None:
        self.frames: list[dict[str, Any]] = []
        self.closed: tuple[int, str] | None = None

    async def __call__(self, message: dict[str, Any]) -> None:
        if message["type"] == "websocket.send":
            self.frames.append(json.loads(message["text"]))
        elif message["type"] == "websocket.close":
            self.closed = (message["code"], message["reason"])

    def take(self) -> list[dict[str, Any]]:
        out, self.frames = self.frames, []
        return out


def open_socket(presence: Any, ns: str = "/ws/chat", limit: int = 1 << 20) -> tuple[Socket, Client]:
    client = Client()
    sock = Socket(client, limit=limit, path=ns)
    presence.connected(sock)
    return sock, client


async def settle(rounds: int = 4) -> None:
    for _ in range(rounds):
        await asyncio.sleep(0)


async def close_socket(presence: Any, sock: Socket) -> None:
    await sock.finish()
    presence.disconnected(sock)
