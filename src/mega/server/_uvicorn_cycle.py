"""uvicorn's request/response cycle with a raw-header-block fast path (see docs/adr/0002-server-hardening.md).

An app that finds ``RAW_HEADERS_EXTENSION`` in ``scope["extensions"]`` may put a header block serialised
and validated at boot under the ``"mega.raw_headers"`` key of ``http.response.start``: the head is then a
few concatenations and goes out with the body in one ``transport.write``. Without the key, every message
goes through uvicorn's own ``send``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Generator
from typing import Any, Final, cast

from uvicorn._types import ASGI3Application, ASGISendEvent, HTTPResponseStartEvent
from uvicorn.protocols.http.httptools_impl import (
    HEADER_RE,
    HEADER_VALUE_RE,
    STATUS_LINE,
    RequestResponseCycle,
)
from uvicorn.protocols.utils import get_client_addr, get_path_with_query_string

from mega.server._sendfile import send_file
from mega.server._write_batch import OrderedTransport

__all__ = ["PATHSEND_EXTENSION", "RAW_HEADERS_EXTENSION", "RawHeaderCycle"]

RAW_HEADERS_EXTENSION: Final = "mega.raw_headers"
# ASGI's zero-copy file body: {"type": "http.response.pathsend", "path": ...} after the start message.
PATHSEND_EXTENSION: Final[str] = "http.response.pathsend"
# Optional key of a pathsend message from mega's own code: the content-length announced, sent at most.
PATHSEND_LENGTH: Final = "mega.length"

# Bodies above this are written separately rather than copied into one buffer with the head.
_COALESCE_LIMIT: Final = 65536


class _Done:
    """An awaitable that is already complete: what `send` returns when it did its work at the call."""

    __slots__ = ()

    def __await__(self) -> Generator[None, None, None]:
        return iter(())  # type: ignore[return-value]


_DONE: Final = _Done()


def _serialise_headers(headers: list[tuple[bytes, bytes]]) -> bytes:
    # Validated once per distinct list (uvicorn swaps the default-headers list once a second for the date).
    parts: list[bytes] = []
    for name, value in headers:
        if HEADER_RE.search(name):
            raise RuntimeError("Invalid HTTP header name.")
        if HEADER_VALUE_RE.search(value):
            raise RuntimeError("Invalid HTTP header value.")
        parts += (name.lower(), b": ", value, b"\r\n")
    return b"".join(parts)


# (source list, serialised block): one tuple so that a reader in another thread never pairs a new list
# with an old block.
_default_cache: tuple[object, bytes] = (None, b"")


def _default_block(headers: list[tuple[bytes, bytes]]) -> bytes:
    global _default_cache
    block = _serialise_headers(headers)
    _default_cache = (headers, block)
    return block


def _no_response() -> None:
    pass


class MessageEvent:
    """What uvicorn's cycle uses an ``asyncio.Event`` for (the request body has news), without its cost per
    request: the usual request never waits on it, so a waiter's future is made only by ``wait()``."""

    __slots__ = ("_value", "_waiters")

    def __init__(self) -> None:
        self._value = False
        self._waiters: list[asyncio.Future[None]] | None = None

    def is_set(self) -> bool:
        return self._value

    def set(self) -> None:
        self._value = True
        waiters = self._waiters
        if waiters:
            self._waiters = None
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)

    def clear(self) -> None:
        self._value = False

    async def wait(self) -> bool:
        if self._value:
            return True
        waiter = asyncio.get_running_loop().create_future()
        if self._waiters is None:
            self._waiters = []
        self._waiters.append(waiter)
        try:
            await waiter
        finally:
            if self._waiters is not None and waiter in self._waiters:
                self._waiters.remove(waiter)
        return True


class RawHeaderCycle(RequestResponseCycle):
    # The http.response.start message of a raw-block response, held until its body arrives. A class default
    # so that uvicorn's __init__ stays untouched.
    _raw_start: HTTPResponseStartEvent | None = None
    # The server's set of request tasks (uvicorn's graceful shutdown waits until it is empty): the task
    # leaves it as its last step, instead of through a done callback (one more loop handle per request).
    tasks: set[asyncio.Task[None]] | None = None
    task: asyncio.Task[None] | None = None

    async def run_asgi(self, app: ASGI3Application) -> None:
        # uvicorn 0.54/0.55's run_asgi, plus leaving `tasks` at the end.
        try:
            result = await app(self.scope, self.receive, self.send)  # type: ignore[func-returns-value]
        except BaseException as exc:
            self.logger.error("Exception in ASGI application\n", exc_info=exc)
            if not self.response_started:
                await self.send_500_response()
            else:
                self.transport.close()
        else:
            if result is not None:
                self.logger.error("ASGI callable should return None, but returned '%s'.", result)
                self.transport.close()
            elif not self.response_started and not self.disconnected:
                self.logger.error("ASGI callable returned without starting response.")
                await self.send_500_response()
            elif not self.response_complete and not self.disconnected:
                self.logger.error("ASGI callable returned without completing response.")
                self.transport.close()
        finally:
            self.on_response = _no_response
            if self.tasks is not None:
                self.tasks.discard(self.task)

    def send(self, message: ASGISendEvent) -> Awaitable[None]:  # type: ignore[override]
        # A plain function that returns an awaitable. Without a raw block it hands back uvicorn's own send
        # coroutine (one call instead of an extra coroutine frame per message). A raw-block start, and the
        # one-message body after it while the transport takes writes, are done here and return an
        # awaitable that is already complete: no coroutine per message on the path nearly every response
        # takes. The rest (flow control, pathsend, errors) goes through _send_raw.
        start = self._raw_start
        if start is None:
            if self.response_started or RAW_HEADERS_EXTENSION not in message:
                if message["type"] != PATHSEND_EXTENSION:
                    return _uvicorn_send(self, message)
            elif not self.disconnected:
                if message["type"] == "http.response.start" and not self.access_log:
                    self._raw_start = message  # _hold_start's work, in this frame (the usual start)
                    self.waiting_for_100_continue = False
                else:
                    self._hold_start(message)
                return _DONE
        elif (message["type"] == "http.response.body" and not self.flow.write_paused and not self.disconnected
              and not message.get("more_body", False)):
            self._write_raw(start, message.get("body", b""))
            return _DONE
        return self._send_raw(message)

    async def _send_raw(self, message: ASGISendEvent) -> None:
        start = self._raw_start
        if start is None:
            if self.disconnected:
                return
            if message["type"] == PATHSEND_EXTENSION and self.response_started and not self.response_complete:
                await self._send_path(message, b"")  # after uvicorn wrote a plain head
                return
            self._hold_start(message)
            return

        if self.flow.write_paused and not self.disconnected:
            await self.flow.drain()
        if self.disconnected:
            return
        if message["type"] != "http.response.body":
            if message["type"] == PATHSEND_EXTENSION:
                self._raw_start = None
                await self._send_path(message, self._raw_head(start))
                return
            raise RuntimeError(f"Expected ASGI message 'http.response.body', but got '{message['type']}'.")
        if message.get("more_body", False):
            raise RuntimeError(
                "A response started with 'mega.raw_headers' must send its body in one message."
            )
        self._write_raw(start, message.get("body", b""))

    def _write_raw(self, start: HTTPResponseStartEvent, body: bytes) -> None:
        head = self._raw_head(start)
        self._raw_start = None
        self.response_started = True
        transport = self.transport
        if self.scope["method"] == "HEAD":
            body = b""
        if len(body) > _COALESCE_LIMIT:
            transport.write(head)
            transport.write(body)
        else:
            # Held for the turn's batch (mega.server._write_batch), in the order handlers answer; the close
            # below, when the connection ends here, writes it first.
            cast(OrderedTransport, transport).write_later(head + body)
        # _complete, in this frame: every raw-block response ends here
        self.response_complete = True
        self.message_event.set()
        if not self.keep_alive:
            transport.close()
        self.on_response()

    def _hold_start(self, message: ASGISendEvent) -> None:
        if message["type"] != "http.response.start":
            raise RuntimeError(f"Expected ASGI message 'http.response.start', but got '{message['type']}'.")
        # Hold the head: it goes out with the body in one write. response_started stays False until
        # then, so an app error in between still gets uvicorn's 500 (nothing has been written).
        self._raw_start = message
        self.waiting_for_100_continue = False
        if self.access_log:
            self.access_logger.info(
                '%s - "%s %s HTTP/%s" %d',
                get_client_addr(self.scope),
                self.scope["method"],
                get_path_with_query_string(self.scope),
                self.scope["http_version"],
                message["status"],
            )

    def _complete(self) -> None:
        self.response_complete = True
        self.message_event.set()
        if not self.keep_alive:
            self.transport.close()
        self.on_response()

    async def _send_path(self, message: Any, head: bytes) -> None:
        # The head (unless uvicorn wrote it), then the file with sendfile; the app set content-length.
        self.response_started = True
        if head:
            self.transport.write(head)
        if self.scope["method"] != "HEAD" and not await send_file(
                self.transport, message["path"], lambda: self.disconnected, message.get(PATHSEND_LENGTH)):
            self.keep_alive = False
        if not self.disconnected:
            self._complete()
        else:
            self.response_complete = True
            self.message_event.set()

    def _raw_head(self, start: HTTPResponseStartEvent) -> bytes:
        cache = _default_cache
        dh = self.default_headers
        default_block = cache[1] if cache[0] is dh else _default_block(dh)
        extra = start.get("headers")
        return b"".join(
            (
                STATUS_LINE[start["status"]],
                default_block,
                self._extra_headers(extra) if extra else b"",
                start[RAW_HEADERS_EXTENSION],  # type: ignore[typeddict-item]
                b"\r\n" if self.keep_alive else b"connection: close\r\n\r\n",
            )
        )

    def _extra_headers(self, headers: Any) -> bytes:
        # Plain headers next to a raw block (rare): validated as uvicorn does; honours "connection: close".
        parts: list[bytes] = []
        for name, value in headers:
            if HEADER_RE.search(name):
                raise RuntimeError("Invalid HTTP header name.")
            if HEADER_VALUE_RE.search(value):
                raise RuntimeError("Invalid HTTP header value.")
            name = name.lower()
            if name == b"connection" and b"close" in [t.lower().strip() for t in value.split(b",")]:
                self.keep_alive = False
                continue  # the terminator adds "connection: close" once
            parts += (name, b": ", value, b"\r\n")
        return b"".join(parts)

    async def send_500_response(self) -> None:
        # An app that failed between a raw start and its body: nothing is on the wire, so uvicorn's 500 fits.
        self._raw_start = None
        await super().send_500_response()


_uvicorn_send = RequestResponseCycle.send
