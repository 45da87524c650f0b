"""The control channel between the primary and one worker: a socketpair, one message per frame
(4-byte big-endian length, then a JSON object)."""

from __future__ import annotations

import asyncio
import struct
from typing import Any

import orjson

__all__ = ["MAX_FRAME", "read_message", "write_message"]

MAX_FRAME = 64 * 1024 * 1024  # a metrics snapshot of a big app stays far below
_HEAD = struct.Struct(">I")


async def read_message(reader: asyncio.StreamReader) -> dict[str, Any] | None:
    """The next message, or None once the other side has closed the channel."""
    try:
        head = await reader.readexactly(_HEAD.size)
        (size,) = _HEAD.unpack(head)
        if size > MAX_FRAME:
            raise ConnectionError(f"control frame of {size} bytes (limit {MAX_FRAME})")
        message: dict[str, Any] = orjson.loads(await reader.readexactly(size))
        return message
    except (asyncio.IncompleteReadError, ConnectionResetError):
        return None


def write_message(writer: asyncio.StreamWriter, message: dict[str, Any]) -> None:
    """Queue one message (the caller drains when it must wait for the bytes to leave)."""
    body = orjson.dumps(message)
    writer.write(_HEAD.pack(len(body)) + body)
