"""mega's uvicorn HTTP/1.1 protocol: request-head limits, a slow-head timeout, the raw-header fast path.

Stock uvicorn keeps a connection that trickles header lines open forever and accepts a 1 MB header or
2,000 header lines; this class answers 408 / 431 and closes. Responses may use the raw header block of
``mega.server._uvicorn_cycle``. Everything else (keep-alive, pipelining, upgrades, expect-100, flow
control, the 500 on app errors) is uvicorn's own code, reached through the base classes. Why and what it
costs: docs/adr/0002-server-hardening.md.
"""

from __future__ import annotations

import asyncio
import sys
import types
from typing import Any, ClassVar, Final, cast

import httptools
import orjson
import uvicorn
from uvicorn.protocols.http import httptools_impl
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from mega.server._uvicorn_cycle import RAW_HEADERS_EXTENSION, RawHeaderCycle

__all__ = ["RAW_HEADERS_EXTENSION", "UVICORN_TESTED", "HardenedHttpProtocol", "make_protocol_class"]

# The uvicorn minor versions whose internals this module was tested against (pinned in pyproject.toml).
UVICORN_TESTED: Final = "0.54, 0.55"

# One dict shared by every scope: building a new one per request would cost for nothing.
_EXTENSIONS: Final[dict[str, dict[object, object]]] = {RAW_HEADERS_EXTENSION: {}}

# _deadline of a head that began since the last sweep.
_UNSTAMPED: Final = -1.0

# After an error answer we half-close and keep reading (and discarding) this long before closing: closing
# with unread input makes the kernel send RST, and the client may then lose our 408/431/400 response.
_LINGER_SECONDS: Final = 2.0

# llhttp's reasons for length framing conflicts (it rejects them itself, before on_headers_complete).
_LENGTH_CONFLICTS: Final = frozenset(
    {
        "Content-Length can't be present with Transfer-Encoding",
        "Transfer-Encoding can't be present with Content-Length",
        "Duplicate Content-Length",
    }
)


class _Rejected(Exception):
    """Raised from a parser callback after we answered, to make llhttp stop parsing this read."""


def _error_body(code: str, message: str, details: dict[str, Any]) -> bytes:
    return orjson.dumps({"ok": False, "error": {"code": code, "message": message, "details": details}})


# ---------------------------------------------------------------------------------------------------------
# Slow-head sweep: one loop timer per event loop, not one call_later per request.


class _Sweeper:
    __slots__ = ("conns", "handle", "interval", "loop")

    def __init__(self, loop: asyncio.AbstractEventLoop, interval: float) -> None:
        self.loop = loop
        self.interval = interval
        self.conns: set[HardenedHttpProtocol] = set()
        self.handle: asyncio.TimerHandle | None = None

    def add(self, proto: HardenedHttpProtocol) -> None:
        self.conns.add(proto)
        self.interval = min(self.interval, proto._sweep_interval)
        if self.handle is None:
            self.handle = self.loop.call_later(self.interval, self._tick)

    def discard(self, proto: HardenedHttpProtocol) -> None:
        self.conns.discard(proto)
        if not self.conns:
            # No timer and no registry entry left behind on an idle server or a closed loop.
            if self.handle is not None:
                self.handle.cancel()
                self.handle = None
            if _SWEEPERS.get(self.loop) is self:
                del _SWEEPERS[self.loop]

    def _tick(self) -> None:
        now = self.loop.time()
        expired: list[HardenedHttpProtocol] = []
        for p in self.conns:
            deadline = p._deadline
            if deadline:
                if deadline < 0.0:
                    # A head began since the last sweep: stamp its deadline now (never early; at most one
                    # interval late). Cheaper than reading the clock in on_message_begin per request.
                    p._deadline = now + p.header_timeout
                elif deadline <= now:
                    expired.append(p)
            elif p.timeout_keep_alive_task is None and p.cycle is not None and p.cycle.response_complete:
                # Idle, yet no keep-alive timer: the client sent bytes llhttp skips between messages (bare
                # CRLFs) and so cancelled uvicorn's timer without starting a head. Treat them as one.
                p._deadline = now + p.header_timeout
        for p in expired:
            p._deadline_passed()
        if self.conns:
            self.handle = self.loop.call_later(self.interval, self._tick)
        else:
            # Nothing left on this loop: drop the timer and the registry entry (restarted lazily).
            self.handle = None
            if _SWEEPERS.get(self.loop) is self:
                del _SWEEPERS[self.loop]


# A plain dict (a _Sweeper holds its loop, so weak keys would never die); entries go when their last
# connection does.
_SWEEPERS: dict[asyncio.AbstractEventLoop, _Sweeper] = {}


# uvicorn's on_headers_complete builds `RequestResponseCycle(...)` by global name. Reuse its exact code with
# that one name bound to our subclass instead of copying 50 lines that would drift from uvicorn.
_UVICORN_ON_HEADERS_COMPLETE = HttpToolsProtocol.on_headers_complete
if "RequestResponseCycle" not in _UVICORN_ON_HEADERS_COMPLETE.__code__.co_names:  # pragma: no cover
    raise ImportError(
        f"mega's HTTP protocol rebuilds uvicorn internals tested on uvicorn {UVICORN_TESTED}; uvicorn "
        f"{uvicorn.__version__} changed HttpToolsProtocol.on_headers_complete: it no longer builds "
        "RequestResponseCycle by name. Install a uvicorn version that mega's pyproject.toml allows."
    )
_uvicorn_on_headers_complete = types.FunctionType(
    _UVICORN_ON_HEADERS_COMPLETE.__code__,
    {**vars(httptools_impl), "RequestResponseCycle": RawHeaderCycle},
    "on_headers_complete",
    _UVICORN_ON_HEADERS_COMPLETE.__defaults__,
    _UVICORN_ON_HEADERS_COMPLETE.__closure__,
)


# ---------------------------------------------------------------------------------------------------------
# Protocol


class HardenedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with request-head limits and the raw-header-block fast path.

    Pass it (or a class from ``make_protocol_class``) as ``uvicorn.Config(http=...)``.
    """

    header_timeout: ClassVar[float] = 30.0
    max_header_bytes: ClassVar[int] = 65536
    max_headers: ClassVar[int] = 100
    # Derived from the limits by _configure().
    _sweep_interval: ClassVar[float]
    _timeout_body: ClassVar[bytes]
    _too_large_body: ClassVar[bytes]
    _too_many_body: ClassVar[bytes]

    # Per-connection state, set in connection_made (uvicorn's __init__ is left alone).
    # _deadline: loop time by which the current request head must be complete; 0.0 = no head in progress;
    # _UNSTAMPED = a head began, the next sweep sets the time. While lingering after an error answer it is
    # the time to close.
    _deadline: float = 0.0
    # Bytes of the incomplete head seen in earlier reads: _head_lo counts only reads known to be all head
    # (it decides rejection, so never over-counts); _head_hi also counts the read where the head began
    # after other bytes (an upper bound: below the limit, on_headers_complete skips the exact count).
    # _head_lo == -1: a head was completed during the current read.
    _head_lo: int = 0
    _head_hi: int = 0
    _read_len: int = 0
    _rejected: bool = False

    @classmethod
    def _configure(cls) -> None:
        # Heads are stamped by the sweep, so a slow one is closed within [timeout, timeout + 2 intervals].
        cls._sweep_interval = min(1.0, cls.header_timeout / 4)
        cls._timeout_body = _error_body(
            "http.request_timeout",
            "The request head was not received in time.",
            {"timeout": cls.header_timeout},
        )
        cls._too_large_body = _error_body(
            "http.headers_too_large",
            "The request head is too large.",
            {"limit": cls.max_header_bytes},
        )
        cls._too_many_body = _error_body(
            "http.too_many_headers",
            "The request has too many header fields.",
            {"limit": cls.max_headers},
        )

    # -- connection lifecycle ------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        # The first head is due header_timeout after the connection opens (this also covers a client
        # that connects and sends nothing: uvicorn has no timer for that).
        self._deadline = self.loop.time() + self.header_timeout
        sweeper = _SWEEPERS.get(self.loop)
        if sweeper is None:
            sweeper = _SWEEPERS[self.loop] = _Sweeper(self.loop, self._sweep_interval)
        sweeper.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._unregister()
        super().connection_lost(exc)

    def handle_websocket_upgrade(self) -> None:
        # The websocket protocol takes the transport over; connection_lost will not reach us.
        self._unregister()
        super().handle_websocket_upgrade()

    def _unregister(self) -> None:
        self._deadline = 0.0
        sweeper = _SWEEPERS.get(self.loop)
        if sweeper is not None:
            sweeper.discard(self)

    # -- parsing -------------------------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if self._rejected:
            return  # lingering after an error answer: discard
        n = self._read_len = len(data)
        in_head = self._deadline  # a head was already in progress when this read arrived
        HttpToolsProtocol.data_received(self, data)  # not super(): per read, the proxy object costs
        if not self._deadline or self._rejected:
            return  # the common case: no head left incomplete by this read
        if in_head and self._head_lo >= 0:
            # The same head continues: every byte of this read belongs to it.
            self._head_lo += n
            self._head_hi += n
            if self._head_lo > self.max_header_bytes:
                self._reject(431, self._too_large_body)
        else:
            # The head began inside this read after other bytes; its share is unknown but at most n
            # (one read, uvloop: 256 KiB). Count exactly from the next read.
            self._head_lo = 0
            self._head_hi = n

    def on_message_begin(self) -> None:
        HttpToolsProtocol.on_message_begin(self)  # not super(): per request
        scope = self.scope
        if "extensions" in scope:
            scope["extensions"] = {**scope["extensions"], **_EXTENSIONS}
        else:
            scope["extensions"] = _EXTENSIONS
        if not self._deadline:
            self._deadline = _UNSTAMPED

    def on_headers_complete(self) -> None:
        self._deadline = 0.0
        # One test on the common path. The size bound (bytes of earlier reads + this whole read) is cheap;
        # the exact size is computed only when the bound passes the limit.
        if len(self.headers) > self.max_headers or self._head_hi + self._read_len > self.max_header_bytes:
            self._check_head()
        self._head_lo = -1
        self._head_hi = 0
        _uvicorn_on_headers_complete(self)

    def _check_head(self) -> None:
        if len(self.headers) > self.max_headers:
            self._reject(431, self._too_many_body)
            raise _Rejected
        if self._head_size() > self.max_header_bytes:
            self._reject(431, self._too_large_body)
            raise _Rejected

    def _head_size(self) -> int:
        # As sent with single spaces: "METHOD URL HTTP/1.1\r\n" + "name: value\r\n"... + "\r\n".
        size = len(self.parser.get_method()) + len(self.url) + 14
        for name, value in self.headers:
            size += len(name) + len(value) + 4
        return size

    # -- error answers -------------------------------------------------------------------------------------

    def send_400_response(self, msg: str) -> None:
        # uvicorn calls this from its `except httptools.HttpParserError` block in data_received.
        if self._rejected:
            return  # we raised _Rejected from a callback and have answered already
        exc = sys.exc_info()[1]
        reason = str(exc) if isinstance(exc, httptools.HttpParserError) and str(exc) else msg
        if reason in _LENGTH_CONFLICTS:
            body = _error_body(
                "http.conflicting_length",
                "Conflicting Content-Length / Transfer-Encoding headers.",
                {"reason": reason},
            )
        else:
            body = _error_body("http.bad_request", "Malformed HTTP request.", {"reason": reason})
        self._reject(400, body)

    def _deadline_passed(self) -> None:
        self._deadline = 0.0
        if self._rejected or self.transport.is_closing():
            self.transport.close()  # lingering is over
            return
        self.logger.debug("Request head not received within %.3g s; closing.", self.header_timeout)
        self._reject(408, self._timeout_body)

    def _reject(self, status: int, body: bytes) -> None:
        self._rejected = True
        self._deadline = 0.0
        transport = self.transport
        if transport.is_closing():
            return
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            # A response is in flight (pipelining): an answer now would interleave with it.
            transport.close()
            return
        head = [STATUS_LINE[status]]
        for name, value in self.server_state.default_headers:
            head += (name, b": ", value, b"\r\n")
        head.append(
            b"content-type: application/json\r\ncontent-length: %d\r\nconnection: close\r\n\r\n" % len(body)
        )
        head.append(body)
        transport.write(b"".join(head))
        if transport.can_write_eof():
            # Half-close so the client reads our answer and EOF, and keep draining its input for a while.
            transport.write_eof()
            self.flow.resume_reading()
            self._deadline = self.loop.time() + _LINGER_SECONDS
        else:
            transport.close()


HardenedHttpProtocol._configure()


def make_protocol_class(
    *, header_timeout: float = 30.0, max_header_bytes: int = 65536, max_headers: int = 100
) -> type[HardenedHttpProtocol]:
    """A ``HardenedHttpProtocol`` subclass with these limits, for ``uvicorn.Config(http=...)``.

    header_timeout: seconds to receive a whole request head, from the connection opening (first request)
    or from the first byte of a later one; then 408 and close.
    max_header_bytes: bytes of the request head (request line, header lines, blank line); above it 431.
    max_headers: header lines; above it 431.
    """
    if not header_timeout > 0:
        raise ValueError("header_timeout must be > 0")
    if max_header_bytes < 64:
        raise ValueError("max_header_bytes must be >= 64")
    if max_headers < 1:
        raise ValueError("max_headers must be >= 1")
    cls = cast(
        type[HardenedHttpProtocol],
        type(
            "HardenedHttpProtocol",
            (HardenedHttpProtocol,),
            {
                "__module__": __name__,
                "header_timeout": float(header_timeout),
                "max_header_bytes": max_header_bytes,
                "max_headers": max_headers,
            },
        ),
    )
    cls._configure()
    return cls
