"""mega's app over granian's RSGI interface (`mega start --server granian`).

The head comes from the RSGI scope (parsed in Rust), the body from the protocol's chunks (a body
that arrives in one read is one await) and a JSON answer goes out in one `protocol.response_bytes` call: the
pipeline finds this request's `Exchange` under `RSGI` in the scope's extensions and, when it is the
`send` it was given (no wrapper in between), hands it the body and the header pairs directly. Every
other answer (streams, files, pages, a wrapped `send`) goes through the exchange as ASGI messages, so
the pipeline, the routes and the middleware are the ones every server runs.

In front of the app it keeps what hyper does not enforce: `server.max_headers` (431 with mega's
envelope), one well-formed Host field (400 `host.invalid`) and `server.body_timeout` (408).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import orjson

from mega.errors import MegaError
from mega.http._public_error import fallback_body
from mega.http._wire import RSGI, Headers, request_id
from mega.security import rejections
from mega.server._uvicorn_cycle import PATHSEND_EXTENSION as PATHSEND
from mega.server._uvicorn_cycle import PATHSEND_LENGTH
from mega.server._uvicorn_protocol import _GOOD_HOSTS, _good_host

log = logging.getLogger("mega.server")

_STR_PAIRS: dict[bytes, list[tuple[str, str]]] = {}  # a boot-time header block -> its (str, str) pairs
_JSON = ("content-type", "application/json")


def str_pairs(headers: Headers) -> list[tuple[str, str]]:
    return [(n.decode("latin-1"), v.decode("latin-1")) for n, v in headers]


def constant_pairs(constant: tuple[Headers, bytes]) -> list[tuple[str, str]]:
    """The constant headers (secure ones, the app's own) as str pairs, converted once per block."""
    pairs = _STR_PAIRS.get(constant[1])
    if pairs is None:
        if len(_STR_PAIRS) >= 1024:  # built at boot, one per app or route: the bound is a safety net
            _STR_PAIRS.clear()
        pairs = _STR_PAIRS[constant[1]] = str_pairs(constant[0])
    return pairs


def _block_pairs(block: bytes) -> list[tuple[str, str]]:
    lines = (line.partition(": ") for line in block.decode("latin-1").split("\r\n") if line)
    return [(name, value) for name, _, value in lines]


def _refusal(code: str, message: str, details: dict[str, Any]) -> tuple[list[tuple[str, str]], bytes]:
    body = orjson.dumps({"ok": False, "error": {"code": code, "message": message, "details": details}})
    return [_JSON, ("content-length", str(len(body))), ("connection", "close")], body


_BAD_HOST_HEAD, _BAD_HOST = _refusal(
    "host.invalid", "bad request: two Host header fields, or a Host that is not name[:port]", {})


_ASGI = {"version": "3.0", "spec_version": "2.3"}
_PEERS: dict[str, tuple[str, int] | None] = {}  # "ip:port" -> (ip, port), bounded: client-chosen ports


def _peer(address: str) -> tuple[str, int] | None:
    """An RSGI address ("ip:port", "[v6]:port") as ASGI's (host, port)."""
    peer = _PEERS.get(address)
    if peer is None:
        host, _, port = address.rpartition(":")
        if host[:1] == "[":
            host = host[1:-1]
        peer = (host, int(port) if port.isdigit() else 0) if host else None
        if len(_PEERS) >= 4096:
            _PEERS.clear()
        _PEERS[address] = peer
    return peer


class BodyDeadlines:
    """`server.body_timeout` for every body read in progress on this loop: a sweep every
    min(1 s, timeout / 4) cancels the reads that have waited longer (ADR 0035)."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.interval = min(1.0, timeout / 4)
        self.reading: dict[Exchange, tuple[float, asyncio.Task[Any]]] = {}
        self._timer: asyncio.TimerHandle | None = None

    def watch(self, exchange: Exchange) -> None:
        loop = asyncio.get_running_loop()
        self.reading[exchange] = (loop.time() + self.timeout, asyncio.current_task())  # type: ignore[assignment]
        if self._timer is None:
            self._timer = loop.call_later(self.interval, self._sweep, loop)

    def _sweep(self, loop: asyncio.AbstractEventLoop) -> None:
        now = loop.time()
        for exchange, (deadline, task) in list(self.reading.items()):
            if now >= deadline:
                del self.reading[exchange]
                exchange.timed_out = True
                task.cancel()
        self._timer = loop.call_later(self.interval, self._sweep, loop) if self.reading else None


class Exchange:
    """One HTTP request's `receive` and `send` over an RSGI protocol, plus the direct JSON answer."""

    __slots__ = ("_chunks", "_deadlines", "_head", "_left", "body_done", "protocol", "started", "stream",
                 "timed_out")

    def __init__(self, protocol: Any, head: Any, deadlines: BodyDeadlines) -> None:
        self.protocol = protocol
        self._head = head  # the RSGI headers: content-length read only when the body is
        self._deadlines = deadlines
        self.timed_out = False
        self._chunks: Any = None
        self._left = -1  # body bytes still announced (Content-Length), -1 when not announced
        self.body_done = False
        self.started: tuple[int, list[tuple[str, str]]] | bool = False
        self.stream: Any = None

    def json(self, status: int, body: bytes, rid: bytes, constant: tuple[Headers, bytes],
             extra: Headers | None, block: bytes | None = None) -> None:
        """A JSON answer in one call: the pipeline's usual last step."""
        headers = [_JSON, ("content-length", str(len(body))), ("x-request-id", rid.decode("latin-1")),
                   *constant_pairs(constant)]
        if extra:
            headers += str_pairs(extra)
        if block is not None:
            headers += _block_pairs(block)
        self.started = True
        self.protocol.response_bytes(status, headers, body)

    async def receive(self) -> dict[str, Any]:
        if self.body_done:  # as ASGI: after the body, wait for the client to go
            await self.protocol.client_disconnect()
            return {"type": "http.disconnect"}
        chunks = self._chunks
        if chunks is None:
            declared = self._head.get("content-length")
            self._left = int(declared) if declared is not None and declared.isdigit() else -1
            if self._left == 0:
                self.body_done = True
                return {"type": "http.request", "body": b"", "more_body": False}
            chunks = self._chunks = self.protocol.__aiter__()
        # Each read waits at most body_timeout (one sweep per loop, not a timer per read): a slow body
        # that keeps moving is served.
        deadlines = self._deadlines
        deadlines.watch(self)
        try:
            chunk = await chunks.__anext__()
        except StopAsyncIteration:
            self.body_done = True
            return {"type": "http.request", "body": b"", "more_body": False}
        except asyncio.CancelledError:
            if not self.timed_out:
                raise
            asyncio.current_task().uncancel()  # type: ignore[union-attr]
            chunks = None  # this frame outlives the read in the error's traceback: not the body stream
            err = MegaError("http.body_timeout", "The request body stopped arriving.",
                            details={"timeout": deadlines.timeout}, status=408)
            err.headers = [(b"connection", b"close")]
            raise err from None
        finally:
            deadlines.reading.pop(self, None)
        if self._left > 0:
            self._left -= len(chunk)
            if self._left <= 0:  # the announced length is in: no second read to learn the end
                self.body_done = True
                return {"type": "http.request", "body": chunk, "more_body": False}
        return {"type": "http.request", "body": chunk, "more_body": True}

    async def __call__(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            self.started = (message["status"], str_pairs(message["headers"]))
            return
        if kind == PATHSEND:  # a whole file: granian reads and writes it, not Python
            status, headers = self._head_sent()
            length = message.get(PATHSEND_LENGTH)
            if length is None:
                self.protocol.response_file(status, headers, message["path"])
            else:
                self.protocol.response_file_range(status, headers, message["path"], 0, int(length))
            return
        if kind != "http.response.body":
            raise RuntimeError(f"unexpected ASGI message {kind!r} on RSGI")
        body = message.get("body", b"")
        if self.stream is not None:
            if body:
                await self.stream.send_bytes(bytes(body))
            return
        status, headers = self._head_sent()
        if message.get("more_body", False):
            self.stream = self.protocol.response_stream(status, headers)
            if body:
                await self.stream.send_bytes(bytes(body))
        else:
            self.protocol.response_bytes(status, headers, bytes(body))


    def _head_sent(self) -> tuple[int, list[tuple[str, str]]]:
        started = self.started
        if type(started) is not tuple:
            raise RuntimeError("a response body before http.response.start")
        self.started = True
        return started


class RsgiApp:
    """The RSGI callable granian runs: the booted project's ASGI app behind the guard and the adapter."""

    def __init__(self, app: Any, *, max_headers: int, body_timeout: float) -> None:
        self.app = app
        self.max_headers = max_headers
        self.body_timeout = body_timeout
        self._deadlines = BodyDeadlines(body_timeout)
        self._too_many = _refusal("http.too_many_headers", "The request has too many header fields.",
                                  {"limit": max_headers})

    async def __rsgi__(self, scope: Any, protocol: Any) -> None:
        if scope.proto != "http":
            await self._websocket(scope, protocol)
            return
        head = scope.headers
        items = head.items()
        if len(items) > self.max_headers:
            protocol.response_bytes(431, *self._too_many)
            return
        headers = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in items]
        host = head.get("host")
        if host is not None:
            value = host.encode("latin-1")
            # keys() lists each name once: a shorter list than items() means a repeated field.
            if (value not in _GOOD_HOSTS and not _good_host(value)) or (
                    len(head.keys()) != len(items) and [n for n, _ in items].count("host") > 1):
                self._bad_host(scope, protocol)
                return
        exchange = Exchange(protocol, head, self._deadlines)
        asgi = {"type": "http", "asgi": _ASGI,
                "http_version": scope.http_version, "method": scope.method, "scheme": scope.scheme,
                "path": scope.path, "query_string": scope.query_string.encode("latin-1"), "root_path": "",
                "headers": headers, "client": _peer(scope.client), "server": _peer(scope.server),
                "extensions": {RSGI: exchange, PATHSEND: {}}}
        try:
            await self.app(asgi, exchange.receive, exchange)
        except Exception as exc:
            if exchange.started is True:  # mid-response: granian drops the connection on the raise
                raise
            rid = request_id(headers)
            log.error("%s %s failed outside the pipeline: %s", scope.method, scope.path, exc, exc_info=exc,
                      extra={"request_id": rid.decode("latin-1")})
            body = fallback_body(rid)
            protocol.response_bytes(500, [_JSON, ("content-length", str(len(body))),
                                          ("x-request-id", rid.decode("latin-1"))], body)
            return
        finally:
            # An error's traceback can keep the exchange alive in a cycle until the next gc; granian's
            # protocol (and the request body it holds) must go now, or hyper may keep the connection
            # open after a `connection: close` answer to a request whose body was not read to its end.
            exchange.protocol = exchange._chunks = None
        if exchange.started is not True:  # the app returned without answering: as ASGI servers do
            protocol.response_bytes(500, [("content-length", "0")], b"")

    @staticmethod
    def _bad_host(scope: Any, protocol: Any) -> None:
        """RFC 9112 3.2, as mega's protocol answers it: two Host fields or one that is not name[:port]."""
        if rejections.LISTENERS:  # refused before any app: the hook hears it from here
            err = MegaError("host.invalid", "bad request: two Host header fields, or a Host that is not "
                            "name[:port]", status=400)
            head = [(n.encode("latin-1"), v.encode("latin-1")) for n, v in scope.headers.items()]
            rejections.report(err, {"type": "http", "method": scope.method, "path": scope.path,
                                    "headers": head, "client": _peer(scope.client)}, b"")
        protocol.response_bytes(400, _BAD_HOST_HEAD, _BAD_HOST)

    async def _websocket(self, scope: Any, protocol: Any) -> None:
        headers = [(n.encode("latin-1"), v.encode("latin-1")) for n, v in scope.headers.items()]
        offered = scope.headers.get("sec-websocket-protocol")
        socket = WebSocket(protocol)
        asgi = {"type": "websocket", "asgi": _ASGI,
                "http_version": scope.http_version, "scheme": "wss" if scope.scheme == "https" else "ws",
                "path": scope.path, "query_string": scope.query_string.encode("latin-1"), "root_path": "",
                "headers": headers, "client": _peer(scope.client), "server": _peer(scope.server),
                "subprotocols": [p.strip() for p in offered.split(",")] if offered else [],
                "extensions": {}}
        try:
            await self.app(asgi, socket.receive, socket.send)
        finally:
            socket.finish()


class WebSocket:
    """One WebSocket connection's ASGI `receive` and `send` over granian's RSGI WebSocket protocol.
    RSGI has no denial response (a refused upgrade is a bare 403) and no close reason."""

    __slots__ = ("_closed", "_connected", "_protocol", "_transport")

    def __init__(self, protocol: Any) -> None:
        self._protocol = protocol
        self._transport: Any = None
        self._connected = False
        self._closed = False

    async def receive(self) -> dict[str, Any]:
        if not self._connected:
            self._connected = True
            return {"type": "websocket.connect"}
        if self._transport is None or self._closed:
            return {"type": "websocket.disconnect", "code": 1006}
        try:
            message = await self._transport.receive()
        except Exception:  # granian's ProtocolClosed: the client went away
            self._closed = True
            return {"type": "websocket.disconnect", "code": 1006}
        kind = int(message.kind)
        if kind == 2:
            return {"type": "websocket.receive", "text": message.data}
        if kind == 1:
            return {"type": "websocket.receive", "bytes": message.data}
        self._closed = True
        return {"type": "websocket.disconnect", "code": 1005}

    async def send(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "websocket.accept":
            self._transport = await self._protocol.accept()
        elif kind == "websocket.send":
            if self._transport is None or self._closed:
                raise RuntimeError("websocket is not open")
            text = message.get("text")
            if text is not None:
                await self._transport.send_str(text)
            else:
                await self._transport.send_bytes(message.get("bytes") or b"")
        elif kind == "websocket.close":
            if not self._closed:
                self._closed = True
                # Before the accept, a close is the refused upgrade: a 403 answer.
                self._protocol.close(int(message.get("code", 1000)) if self._transport is not None else 403)
        else:
            raise RuntimeError(f"unexpected ASGI message {kind!r} on an RSGI websocket")

    def finish(self) -> None:
        if not self._closed:
            self._closed = True
            self._protocol.close(1000 if self._transport is not None else 403)
