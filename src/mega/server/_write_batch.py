"""Whole responses written once per loop turn, in the order their handlers finished
(docs/adr/0039-responses-written-in-order.md).

uvloop queues every ``transport.write`` and writes the queued transports after the next poll for I/O, in
the order of a ``set`` (by object address), not the order the handlers answered in. Under load the same
few connections are written last every turn; their clients' next requests then miss the next poll, and
level-triggered epoll lists them after every connection it reported before: each such request waits two
turns instead of one (at 64 connections about 1 request in 70, the whole p99). Holding each keep-alive
response until the start of the next turn and writing the held ones there, in order, straight to the
socket, puts a poll between a handler's answer and its write: every reply then has a whole turn to arrive
before the next poll, which reports them in arrival order.

`OrderedTransport` stands in for the connection's transport everywhere in the protocol, so that nothing
(another response, an error answer, a close, an upgrade, a file body) can overtake a held response: every
write and close goes out after it.
"""

from __future__ import annotations

import asyncio
import os
import weakref
from typing import Any

__all__ = ["OrderedTransport", "WriteBatch"]


class WriteBatch:
    """The loop's connections that hold a response, and the one callback per turn that writes them."""

    __slots__ = ("__weakref__", "_held", "_loop")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._held: list[OrderedTransport] = []

    def hold(self, transport: OrderedTransport) -> None:
        held = self._held
        if not held:
            self._loop.call_soon(self._write_held)
        held.append(transport)

    def _write_held(self) -> None:
        held = self._held
        self._held = []
        for transport in held:
            transport.flush()


_BATCHES: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, WriteBatch] = weakref.WeakKeyDictionary()


def batch_for(loop: asyncio.AbstractEventLoop) -> WriteBatch:
    batch = _BATCHES.get(loop)
    if batch is None:
        batch = _BATCHES[loop] = WriteBatch(loop)
    return batch


class OrderedTransport(asyncio.Transport):
    """A connection's transport whose `write_later` holds a whole response for the loop's batch; every
    other write, and every close, first writes what is held."""

    # The methods that only pass through are the wrapped transport's own bound methods (set per instance):
    # no Python frame per call.
    __slots__ = (
        "_batch", "_fd", "_transport", "_unsent", "can_write_eof", "get_extra_info", "get_protocol",
        "get_write_buffer_limits", "is_closing", "is_reading", "pause_reading", "resume_reading",
        "set_protocol", "set_write_buffer_limits",
    )

    def __init__(self, transport: asyncio.Transport, batch: WriteBatch) -> None:
        super().__init__()
        self._transport = transport
        self._batch = batch
        self._unsent: bytes | None = None
        # Held bytes go straight to the socket; a TLS transport (the socket carries records, not our bytes)
        # or one without a socket writes through itself at once instead.
        sock = transport.get_extra_info("socket")
        plain = sock is not None and transport.get_extra_info("sslcontext") is None
        self._fd = sock.fileno() if plain else -1
        self.can_write_eof = transport.can_write_eof  # type: ignore[method-assign]
        self.get_extra_info = transport.get_extra_info  # type: ignore[method-assign]
        self.get_protocol = transport.get_protocol  # type: ignore[method-assign]
        self.get_write_buffer_limits = transport.get_write_buffer_limits  # type: ignore[method-assign]
        self.is_closing = transport.is_closing  # type: ignore[method-assign]
        self.is_reading = transport.is_reading  # type: ignore[method-assign]
        self.pause_reading = transport.pause_reading  # type: ignore[method-assign]
        self.resume_reading = transport.resume_reading  # type: ignore[method-assign]
        self.set_protocol = transport.set_protocol  # type: ignore[method-assign]
        self.set_write_buffer_limits = transport.set_write_buffer_limits  # type: ignore[method-assign]

    @property
    def wrapped(self) -> asyncio.Transport:
        return self._transport

    def write_later(self, data: bytes) -> None:
        """`data` (a whole response) goes out at the start of the next loop turn, after what is held."""
        unsent = self._unsent
        if unsent is not None:
            self._unsent = unsent + data
        elif self._fd >= 0:
            self._unsent = data
            self._batch.hold(self)
        else:
            self._transport.write(data)

    def flush(self) -> None:
        """Write what is held now (a no-op when nothing is)."""
        data = self._unsent
        if data is None:
            return
        self._unsent = None
        transport = self._transport
        if transport.is_closing():
            return  # closed or lost since: nothing can be delivered
        if not transport.get_write_buffer_size():
            try:
                sent = os.write(self._fd, data)
            except OSError:
                sent = 0  # would block, or the peer is gone: the transport's write waits or reports it
            if sent == len(data):
                return
            data = data[sent:]
        transport.write(data)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._unsent is not None:
            self.flush()
        self._transport.write(data)

    def writelines(self, list_of_data: Any) -> None:
        if self._unsent is not None:
            self.flush()
        self._transport.writelines(list_of_data)

    def write_eof(self) -> None:
        if self._unsent is not None:
            self.flush()
        self._transport.write_eof()

    def get_write_buffer_size(self) -> int:
        if self._unsent is not None:
            self.flush()
        return self._transport.get_write_buffer_size()

    def close(self) -> None:
        if self._unsent is not None:
            self.flush()
        self._transport.close()

    def abort(self) -> None:
        self._unsent = None
        self._transport.abort()
