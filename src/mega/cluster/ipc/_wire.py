"""Framing between the cluster host (the primary) and its clients (the workers), over a Unix socket.

One frame: `!II` (header length, data length), the header (an orjson array whose first item names
the operation), then the data bytes as they are (a bus payload; empty for lock operations). Payloads
cross without being re-encoded; orjson is already a base dependency (docs/adr/0032-cluster-ipc.md).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

import orjson

SOCKET_ENV = "MEGA_CLUSTER_SOCKET"
"""Set by the cluster primary for each worker: the path of the socket its `ClusterHost` listens on."""

WORKER_ENV = "MEGA_WORKER_ID"

_PREFIX = struct.Struct("!II")
PREFIX_SIZE = _PREFIX.size
MAX_FRAME = 64 * 1024 * 1024  # a larger frame is a protocol error: the connection is dropped

Dispatch = Callable[[list[Any], bytes], None]


class ProtocolError(Exception):
    """A peer sent something that is not a frame of this protocol."""


def frame(head: list[Any], data: bytes = b"") -> bytes:
    h = orjson.dumps(head)
    return _PREFIX.pack(len(h), len(data)) + h + data


class Reader:
    """Accumulates bytes and hands each complete frame to `dispatch(head, data)`."""

    __slots__ = ("_buf", "_dispatch")

    def __init__(self, dispatch: Dispatch) -> None:
        self._buf = bytearray()
        self._dispatch = dispatch

    def feed(self, chunk: bytes) -> None:
        buf = self._buf
        buf += chunk
        start = 0
        end = len(buf)
        dispatch = self._dispatch
        try:
            while end - start >= PREFIX_SIZE:
                hlen, dlen = _PREFIX.unpack_from(buf, start)
                if hlen + dlen > MAX_FRAME:
                    raise ProtocolError(f"frame of {hlen + dlen} bytes exceeds {MAX_FRAME}")
                stop = start + PREFIX_SIZE + hlen + dlen
                if stop > end:
                    break
                at = start + PREFIX_SIZE
                try:
                    head = orjson.loads(memoryview(buf)[at:at + hlen])
                except orjson.JSONDecodeError as exc:
                    raise ProtocolError(f"undecodable frame header: {exc}") from exc
                if type(head) is not list or not head:
                    raise ProtocolError("a frame header must be a non-empty array")
                data = bytes(buf[at + hlen:stop]) if dlen else b""
                start = stop
                dispatch(head, data)
        finally:
            if start:
                del buf[:start]
