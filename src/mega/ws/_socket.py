"""`Socket`: one connection's sending side. `send` never waits: a frame goes to the server's transport at
once when nothing is queued before it and the server offers a synchronous write (mega's uvicorn protocol),
else on a bounded queue that a writer task drains."""

from __future__ import annotations

import asyncio
import collections
import logging
import weakref
from collections.abc import Callable
from typing import Any

from mega.http.envelope import dumps

__all__ = ["REASON_MAX", "WRITE_KEY", "Socket", "cut_reason"]

# The scope extension under which a server offers `write_now(text) -> bool` (mega's uvicorn protocol).
WRITE_KEY = "mega.ws.write_now"
REASON_MAX = 123  # bytes: the most a close frame's reason may hold (RFC 6455 §5.5)
log = logging.getLogger("mega.ws")


def cut_reason(reason: str) -> str:
    """`reason` cut to 123 bytes of UTF-8, never in the middle of a character."""
    raw = reason.encode("utf-8")
    if len(raw) <= REASON_MAX:
        return reason
    return raw[:REASON_MAX].decode("utf-8", "ignore")


class _Turns:
    """Numbers an event loop's turns, lazily: the first socket writing at once in a turn arms one
    `call_soon` that moves `n` on (one per turn, not one per socket)."""

    __slots__ = ("armed", "n")

    def __init__(self) -> None:
        self.n = 0
        self.armed = False

    def now(self, loop: asyncio.AbstractEventLoop) -> int:
        if not self.armed:
            self.armed = True
            loop.call_soon(self._next)
        return self.n

    def _next(self) -> None:
        self.n += 1
        self.armed = False


_TURNS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Turns] = weakref.WeakKeyDictionary()


def _turns_of(loop: asyncio.AbstractEventLoop) -> _Turns:
    turns = _TURNS.get(loop)
    if turns is None:
        turns = _TURNS[loop] = _Turns()
    return turns


class Socket:
    """One WebSocket connection as a channel sees it.

    `send(obj)` serialises `obj` to JSON; it never waits for the network. `write_now(text) -> bool`,
    when the server offers one, writes a frame to the transport synchronously and says False when it
    cannot (handshake not done, closing, or the transport paused above its high-water mark): frames go
    that way only while nothing is queued or being written, so the order is kept and a slow client
    still fills the bounded queue. A connection whose unsent bytes would pass `ws.send_buffer_bytes`
    is closed with 1013 `slow consumer` (the queued messages are dropped); bytes written at once in
    the current event-loop turn count as unsent (a writer task would not have run before the turn
    ends), so a burst over the limit closes the socket as it did when every frame was queued.
    Why: ADR 0029."""

    __slots__ = ("_burst", "_burst_turn", "_closer", "_closing", "_event", "_limit", "_loop", "_pending",
                 "_queued", "_send", "_turns", "_write_now", "_writer", "close_code", "path")

    def __init__(self, send: Any, *, limit: int, path: str,
                 write_now: Callable[[str], bool] | None = None) -> None:
        self._send = send
        self._write_now = write_now
        self._limit = limit
        self.path = path
        self._pending: collections.deque[str | tuple[int, str]] = collections.deque()
        self._queued = 0
        self._burst = 0  # bytes written at once during loop turn `_burst_turn`
        self._burst_turn = -1
        self._loop = asyncio.get_running_loop()
        self._turns = _turns_of(self._loop)
        self._event = asyncio.Event()
        self._closing = False
        self._closer: asyncio.Future[None] | None = None
        self.close_code: int | None = None  # the code this side closed with
        self._writer = asyncio.ensure_future(self._write())

    @property
    def closed(self) -> bool:
        """True once the connection is closing or closed: `send` then drops messages."""
        return self._closing

    @property
    def queued_bytes(self) -> int:
        """Bytes of messages waiting to be written."""
        return self._queued

    def send(self, obj: Any) -> None:
        """Queue `obj` (a dict, list, ...) as one JSON text frame. Dropped once the socket closes."""
        if self._closing:
            return
        text = dumps(obj).decode("utf-8")
        self.send_text(text, len(text) if text.isascii() else len(text.encode("utf-8")))

    def send_text(self, text: str, size: int) -> None:
        """Queue an already serialised frame of `size` UTF-8 bytes (one broadcast serialises once).
        Every outbound data frame passes here (`send` too)."""
        if self._closing:
            return
        burst = self._burst if self._burst_turn == self._turns.n else 0
        if self._queued + burst + size > self._limit:
            self.fail(1013, "slow consumer")
            return
        # Nothing queued nor in flight (`_queued` drops only once the writer's send returned): straight
        # to the transport, no writer wake-up. A paused transport says no and the frame is queued.
        if self._queued == 0 and not self._pending and self._write_now is not None and self._write_now(text):
            self._burst_turn = self._turns.now(self._loop)
            self._burst = burst + size
            return
        self._queued += size
        self._pending.append(text)
        self._event.set()

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Close after the messages already queued are written."""
        if self._closing:
            return
        self._closing = True
        self.close_code = code
        self._pending.append((code, cut_reason(reason)))
        self._event.set()

    def fail(self, code: int, reason: str) -> None:
        """Close now: drop what is queued and stop the writer (it may be stuck on a slow client)."""
        if self._closing and self._closer is not None:
            return
        self._closing = True
        self.close_code = code
        self._pending.clear()
        self._queued = 0
        self._writer.cancel()
        self._closer = asyncio.ensure_future(self._send_close(code, cut_reason(reason)))

    async def _send_close(self, code: int, reason: str) -> None:
        try:
            await self._send({"type": "websocket.close", "code": code, "reason": reason})
        except Exception as exc:  # already gone: nothing to tell
            log.debug("close %d not sent: %s", code, exc)

    async def _write(self) -> None:
        pending = self._pending
        send = self._send
        try:
            while True:
                while not pending:
                    self._event.clear()
                    await self._event.wait()
                item = pending.popleft()
                if isinstance(item, tuple):
                    await send({"type": "websocket.close", "code": item[0], "reason": item[1]})
                    return
                await send({"type": "websocket.send", "text": item})
                self._queued -= len(item) if item.isascii() else len(item.encode("utf-8"))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the client went away: the receive loop sees the disconnect
            self._closing = True
            log.debug("websocket send failed: %s", exc)

    async def finish(self) -> None:
        """Stop the writer (the connection is over) and wait for a pending close."""
        self._closing = True
        self._writer.cancel()
        if self._closer is not None:
            await asyncio.gather(self._closer, return_exceptions=True)
        await asyncio.gather(self._writer, return_exceptions=True)
