"""mega's uvicorn HTTP/1.1 protocol: request-head limits, slow-head and slow-body timeouts, framing, the
raw-header path.

Stock uvicorn keeps a connection that trickles header lines open forever, accepts a 1 MB header or 2,000
header lines, merges chunked trailer fields into the request headers and drops the answer to a pipelined
request when a later one is malformed; this class answers 408 / 414 / 431 / 400, in order, and closes.
A request body that stops arriving (`Content-Length: 100`, one byte sent) is answered 408 and closed after
`body_timeout` seconds without a byte of it, unless the app is the one not reading (flow control).
Responses may use the raw header block of ``mega.server._uvicorn_cycle``.

Per request it does less than uvicorn (docs/adr/0037-eager-handlers-on-megas-protocol.md): each handler is
a task created once the read is parsed, in its own copy of the connection's context (started eagerly on
Python 3.12+), that leaves the server's task set as its last step; the keep-alive wait is a stamp read by
the one sweep per loop instead of a loop timer per response. Everything else (pipelining, upgrades,
expect-100, flow control, the 500 on app errors) is uvicorn's own code, reached through the base classes.
Why and what the hardening costs: docs/adr/0002-server-hardening.md.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import re
import sys
import urllib.parse
from collections.abc import Callable
from typing import Any, ClassVar, Final, cast

import httptools
import orjson
from uvicorn.protocols.http.flow_control import service_unavailable
from uvicorn.protocols.http.httptools_impl import (
    STATUS_LINE,
    HttpToolsProtocol,
    RequestResponseCycle,
)

from mega.errors import MegaError
from mega.http._host_field import HOST_VALUE
from mega.security import rejections
from mega.server._uvicorn_cycle import PATHSEND_EXTENSION, RAW_HEADERS_EXTENSION, MessageEvent, RawHeaderCycle
from mega.server._write_batch import OrderedTransport, batch_for

__all__ = ["RAW_HEADERS_EXTENSION", "UVICORN_TESTED", "HardenedHttpProtocol", "make_protocol_class"]

# The uvicorn minor versions whose internals this module was tested against (pinned in pyproject.toml).
UVICORN_TESTED: Final = "0.54, 0.55"

# One dict shared by every scope: building a new one per request would cost for nothing.
_EXTENSIONS: Final[dict[str, dict[object, object]]] = {RAW_HEADERS_EXTENSION: {}, PATHSEND_EXTENSION: {}}

# _deadline of a head that began since the last sweep.
_UNSTAMPED: Final = -1.0

# After an error answer we half-close and keep reading (and discarding) this long before closing: closing
# with unread input makes the kernel send RST, and the client may then lose our 408/431/400 response.
_LINGER_SECONDS: Final = 2.0

# A read fed in pieces (see _feed_pieces) stops being split after this many pieces that complete no head:
# past it the rest goes in one piece, so a body full of blank lines cannot cost a parser call per line.
_MAX_IDLE_PIECES: Final = 64

# llhttp's reasons for length framing conflicts (it rejects them itself, before on_headers_complete).
_LENGTH_CONFLICTS: Final = frozenset(
    {
        "Content-Length can't be present with Transfer-Encoding",
        "Transfer-Encoding can't be present with Content-Length",
        "Duplicate Content-Length",
    }
)

# llhttp skips CR and LF before a request line: they are not part of the head.
_CRLFS: Final = re.compile(rb"[\r\n]*")
# "METHOD SP+" by method (llhttp's fixed set of method names, so this stays small).
_METHOD_SPACES: dict[bytes, re.Pattern[bytes]] = {}


# Host values seen well-formed (a site sees few): a dict lookup instead of a regex per request.
_GOOD_HOSTS: dict[bytes, None] = {}


def _good_host(value: bytes) -> bool:
    if value and not HOST_VALUE.fullmatch(value):
        return False
    if len(_GOOD_HOSTS) >= 256:  # client-chosen values: bounded
        _GOOD_HOSTS.clear()
    _GOOD_HOSTS[value] = None
    return True


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
        self.interval = min(self.interval, proto._sweep_interval, max(proto.timeout_keep_alive / 4, 0.01))
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
        self._sweep_bodies(now)
        # Actions run after the walk: they remove connections from the set being walked.
        due = [action for p in self.conns if (action := p._swept(now)) is not None]
        for action in due:
            action()
        if self.conns:
            self.handle = self.loop.call_later(self.interval, self._tick)
        else:
            # Nothing left on this loop: drop the timer and the registry entry (restarted lazily).
            self.handle = None
            if _SWEEPERS.get(self.loop) is self:
                del _SWEEPERS[self.loop]


    def _sweep_bodies(self, now: float) -> None:
        stalled = [p for p in self.conns if p._body_deadline and p._body_stalled(now)]
        for p in stalled:
            p._body_deadline_passed()


# A plain dict (a _Sweeper holds its loop, so weak keys would never die); entries go when their last
# connection does.
_SWEEPERS: dict[asyncio.AbstractEventLoop, _Sweeper] = {}


_RUN_ASGI_CODE: Final = RawHeaderCycle.run_asgi.__code__


# Python 3.12+ can run a task's first step at its creation (a real task: `asyncio.current_task()`,
# `asyncio.timeout` and cancellation work from the first line of a handler); a handler that answers without
# awaiting anything pending then completes there, with no loop turn. On 3.11 every handler is a task.
_EAGER_START: Final = sys.version_info >= (3, 12)


# ---------------------------------------------------------------------------------------------------------
# Framing helpers


class _Trailers:
    """Stands in for the header list once a chunked body starts: trailer fields are counted, then dropped.

    uvicorn's on_header appends every field llhttp reports to ``self.headers``, the very list in
    ``scope["headers"]``; trailer fields would land there after the body, where a handler reading headers
    late would trust them (``Host``, ``Authorization``...). RFC 9110 lets a recipient discard them.
    """

    __slots__ = ("fields", "proto", "size")

    def __init__(self, proto: HardenedHttpProtocol) -> None:
        self.proto = proto
        self.fields = 0
        self.size = 0

    def append(self, field: tuple[bytes, bytes]) -> None:
        proto = self.proto
        self.fields += 1
        self.size += len(field[0]) + len(field[1]) + 4
        if self.fields > proto.max_headers:
            proto._refuse_request(431, proto._too_many_trailers_body)
            raise _Rejected
        if self.size > proto.max_header_bytes:
            proto._refuse_request(431, proto._trailers_too_large_body)
            raise _Rejected


class _ErrorAnswer:
    """A pipeline entry that answers a refused request in its turn, after the responses before it.

    uvicorn starts a queued entry with ``cycle.run_asgi(app)`` once the response before it is complete.
    """

    __slots__ = ("body", "proto", "status")

    def __init__(self, proto: HardenedHttpProtocol, status: int, body: bytes) -> None:
        self.proto = proto
        self.status = status
        self.body = body

    async def run_asgi(self, app: object) -> None:
        self.proto._answer(self.status, self.body)


def _skip_crlf(data: bytes, lo: int, hi: int) -> int:
    found = _CRLFS.match(data, lo, hi)
    return found.end() if found is not None else lo


def _request_line_at(data: bytes, lo: int, hi: int, method: bytes, url: bytes) -> int:
    """The first offset in data[lo:hi] where "METHOD SP+ URL" begins, or lo (never past the real start)."""
    pattern = _METHOD_SPACES.get(method)
    if pattern is None:
        pattern = _METHOD_SPACES.setdefault(method, re.compile(re.escape(method) + rb" +"))
    for found in pattern.finditer(data, lo, hi):
        if data.startswith(url, found.end(), hi):
            return found.start()
    return lo


# ---------------------------------------------------------------------------------------------------------
# Protocol


class HardenedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with request-head limits, strict framing and the raw-header fast path.

    Pass it (or a class from ``make_protocol_class``) as ``uvicorn.Config(http=...)``.
    """

    header_timeout: ClassVar[float] = 30.0
    body_timeout: ClassVar[float] = 30.0
    max_header_bytes: ClassVar[int] = 65536
    max_headers: ClassVar[int] = 100
    # The secure headers of the apps served, as a raw block: the server's own answers carry them too.
    secure_block: ClassVar[bytes] = b""
    # Derived from the limits by _configure().
    _sweep_interval: ClassVar[float]
    _timeout_body: ClassVar[bytes]
    _body_timeout_body: ClassVar[bytes]
    _bad_host_body: ClassVar[bytes] = _error_body(
        "host.invalid", "bad request: two Host header fields, or a Host that is not name[:port]", {}
    )
    _too_large_body: ClassVar[bytes]
    _too_many_body: ClassVar[bytes]
    _uri_too_long_body: ClassVar[bytes]
    _trailers_too_large_body: ClassVar[bytes]
    _too_many_trailers_body: ClassVar[bytes]

    # Per-connection state (class defaults; uvicorn's __init__ is left alone).
    # _deadline: loop time by which the current request head must be complete; 0.0 = no head in progress;
    # _UNSTAMPED = a head began, the next sweep sets the time. While lingering after an error answer it is
    # the time to close.
    _deadline: float = 0.0
    # _body_deadline: loop time by which the next byte of the current request's body must arrive; 0.0 = no
    # body in progress; _UNSTAMPED = body bytes arrived (or the head ended) since the last sweep, which
    # then sets the time. Stamped by the sweep like _deadline: no clock read per read.
    _body_deadline: float = 0.0
    # Byte accounting, as offsets in the stream of bytes received on this connection: the bytes being
    # parsed are [_pos, _end) (a whole read, or a piece of it); _head_start is at or before the first byte
    # of the current head (never after it: a head is never counted smaller than it is).
    _pos: int = 0
    _end: int = 0
    _head_start: int = 0
    # Body bytes of the current request received so far: a read that begins inside a Content-Length body is
    # split where that body ends, so the next head's start is known exactly.
    _body_got: int = 0
    # While a read is fed in pieces: that read and its offset (None when its pieces cannot be trusted to
    # end at a blank line).
    _split_data: bytes | None = None
    _split_pos: int = 0
    # Offset just past the request line of the head that starts at _rl_for (-1: not seen yet).
    _rl_for: int = -1
    _rl_end: int = 0
    # Offset from which the bytes of a chunked body that are not data (its trailer section) are counted;
    # -1 when no chunk is open.
    _run_from: int = -1
    # Set once we refused a request or closed: input is discarded from then on.
    _rejected: bool = False
    _upgraded: bool = False
    # Quiet close of a connection that receives bytes while no request is pending (see _Sweeper._tick).
    _idle_cycle: object = None
    _idle_until: float = 0.0
    # Loop time at which an idle keep-alive connection is closed; 0.0 = a request is in progress or bytes
    # came; _UNSTAMPED = the last response was just written (the next sweep sets the time).
    _keep_alive_until: float = 0.0
    # A request whose head was parsed in the read being fed: its handler starts once the whole read is parsed
    # (its body, when the read holds it, is then already in the cycle), unless the read refused it.
    _pending: tuple[RequestResponseCycle, Any] | None = None
    _feeding: bool = False
    _context: contextvars.Context

    @classmethod
    def _configure(cls) -> None:
        # Heads are stamped by the sweep, so a slow one is closed within [timeout, timeout + 2 intervals].
        cls._sweep_interval = min(1.0, cls.header_timeout / 4, cls.body_timeout / 4)
        limit = {"limit": cls.max_header_bytes}
        cls._timeout_body = _error_body(
            "http.request_timeout",
            "The request head was not received in time.",
            {"timeout": cls.header_timeout},
        )
        cls._body_timeout_body = _error_body(
            "http.body_timeout",
            "The request body stopped arriving.",
            {"timeout": cls.body_timeout},
        )
        cls._too_large_body = _error_body("http.headers_too_large", "The request head is too large.", limit)
        cls._too_many_body = _error_body(
            "http.too_many_headers",
            "The request has too many header fields.",
            {"limit": cls.max_headers},
        )
        cls._uri_too_long_body = _error_body("http.uri_too_long", "The request target is too long.", limit)
        cls._trailers_too_large_body = _error_body(
            "http.headers_too_large", "The trailer section of the request is too large.", limit
        )
        cls._too_many_trailers_body = _error_body(
            "http.too_many_headers",
            "The request has too many trailer fields.",
            {"limit": cls.max_headers},
        )

    # -- connection lifecycle ------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        # Everything in the protocol writes through OrderedTransport: a response held for the turn's batch
        # is never overtaken (docs/adr/0039-responses-written-in-order.md).
        super().connection_made(OrderedTransport(transport, batch_for(self.loop)))
        # What a handler's context is copied from: the server's, as a task created here would copy (uvicorn's
        # reset_contextvars: an empty one each time, from an empty one).
        self._context = contextvars.Context() if self.config.reset_contextvars else contextvars.copy_context()
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

    def eof_received(self) -> bool | None:  # type: ignore[override]  # asyncio.Protocol allows a bool
        # The client closed its sending side. A request it sent whole and that has no answer yet is still
        # answered (with those pipelined before it), then the connection closes (RFC 9112 §9.6); uvicorn
        # lets the loop close the transport at once, answering nothing. Otherwise the loop closes it now,
        # after what is held.
        cast(OrderedTransport, self.transport).flush()
        cycle = self.cycle
        if cycle is not None and not (cycle.response_complete or cycle.more_body or self._rejected):
            cycle.keep_alive = False
            return True
        return None

    def handle_websocket_upgrade(self) -> None:
        # The websocket protocol takes the transport over; connection_lost will not reach us. It gets the
        # loop's own transport (its frames need no ordering against held responses once these are out).
        self._upgraded = True
        self._unregister()
        ordered = cast(OrderedTransport, self.transport)
        ordered.flush()
        self.transport = ordered.wrapped
        super().handle_websocket_upgrade()

    def _swept(self, now: float) -> Callable[[], None] | None:
        """What the sweep at `now` must do to this connection (None: nothing); stamps new deadlines."""
        deadline = self._deadline
        if deadline:
            if deadline < 0.0:
                # A head began since the last sweep: stamp its deadline now (never early; at most one interval
                # late). Cheaper than reading the clock in on_message_begin per request.
                self._deadline = now + self.header_timeout
            elif deadline <= now:
                return self._deadline_passed
        elif self._keep_alive_until:
            # Every response written, no byte since: closed keep_alive_timeout after the sweep that first saw
            # it (uvicorn arms and cancels a loop timer per response for this).
            if self._keep_alive_until < 0.0:
                self._keep_alive_until = now + self.timeout_keep_alive
            elif self._keep_alive_until <= now:
                return self._keep_alive_passed
        elif self.cycle is not None and self.cycle.response_complete:
            # Every request is answered, yet no keep-alive wait runs: bytes came that start no request (bare
            # CRLFs, which llhttp skips between messages, or the rest of a body whose request was answered
            # without reading it). No response is owed, so none is sent: the connection is closed quietly
            # after header_timeout.
            if self._idle_cycle is not self.cycle:
                self._idle_cycle = self.cycle
                self._idle_until = now + self.header_timeout
            elif self._idle_until <= now:
                return self._stray_bytes_passed
        return None

    def _keep_alive_passed(self) -> None:
        self._keep_alive_until = 0.0
        if not self.transport.is_closing():
            self.transport.close()

    def _stray_bytes_passed(self) -> None:
        self.logger.debug("No request after %.3g s of stray bytes; closing.", self.header_timeout)
        self._close_quietly()

    def _unregister(self) -> None:
        self._deadline = self._body_deadline = self._keep_alive_until = 0.0
        sweeper = _SWEEPERS.get(self.loop)
        if sweeper is not None:
            sweeper.discard(self)

    # -- parsing -------------------------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if self._rejected:
            return  # refused or lingering: discard
        self._keep_alive_until = 0.0  # bytes came: the keep-alive wait is over (a head's clock takes over)
        pos = self._pos = self._end
        end = self._end = pos + len(data)
        in_head = self._deadline  # a head was already in progress when this read arrived
        self._feeding = True
        try:
            if end - (self._head_start if in_head else pos) > self.max_header_bytes:
                # A head ending in this read could pass the limit: feed the read in pieces that end at blank
                # lines, so that each head's end (and so its size in bytes as received) is known exactly.
                self._feed_pieces(data, pos, bool(in_head))
            else:
                # The common case: any head that ends in this read is within the limit; nothing to count.
                try:
                    self.parser.feed_data(data)
                except (httptools.HttpParserError, httptools.HttpParserUpgrade):
                    self._feed_failed()
        finally:
            self._feeding = False
        pending = self._pending
        if pending is not None:
            self._pending = None
            cycle = pending[0]
            if not (cycle.disconnected or self.transport.is_closing()):
                self._run(cycle, pending[1])
        if self._deadline:
            if not self._rejected:  # (else: lingering)
                self._head_left_open(data, pos)
        elif self._run_from >= 0 and end - self._run_from > self.max_header_bytes and not self._rejected:
            self._refuse_request(431, self._trailers_too_large_body)

    def _feed(self, data: bytes) -> None:
        # uvicorn's data_received without its keep-alive timer (ours is a stamp the sweep reads).
        try:
            self.parser.feed_data(data)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade):
            self._feed_failed()

    def _feed_failed(self) -> None:
        # Called inside the except clause: send_400_response reads llhttp's reason from sys.exc_info().
        if isinstance(sys.exc_info()[1], httptools.HttpParserUpgrade):
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        msg = "Invalid HTTP request received."
        self.logger.warning(msg)
        self.send_400_response(msg)

    def _feed_pieces(self, data: bytes, pos: int, in_head: bool) -> None:
        # Pieces end at each blank line ("\r\n\r\n", where every head ends) and at the end of each body of
        # known length, so a head begins where a piece begins (after CR/LF, or after a body's tail that is
        # found by content) and ends where it ends.
        feed = HardenedHttpProtocol._feed
        view = memoryview(data)
        n = len(data)
        at = 0
        # Offset in data where the body of the request just parsed ends (Content-Length): a body that began in
        # an earlier read ends after what is left of it, whatever it holds (blank lines included).
        body_end = self._content_length() - self._body_got if self._body_deadline and not in_head else 0
        idle = 0
        # The blank line ending a head in progress may have begun in the previous read: its last bytes here
        # are fed one at a time.
        straddle = 3 if in_head and not data.startswith(b"\r\n\r\n") else 0
        self._split_data = data
        self._split_pos = pos
        while at < n and not (self._rejected or self._upgraded or self.transport.is_closing()):
            if at < straddle and data[at] in b"\r\n" and self._deadline:
                stop = at + 1
            elif body_end > at:
                stop = min(body_end, n)
            elif idle < _MAX_IDLE_PIECES:
                cut = data.find(b"\r\n\r\n", at)
                stop = n if cut < 0 else cut + 4
            else:
                stop = n
                self._split_data = None  # this last piece may hold several blank lines
            self._pos, self._end = pos + at, pos + stop
            cycle = self.cycle
            feed(self, cast(bytes, view[at:stop]))
            if self.cycle is not cycle:
                body_end = stop + self._content_length()
            elif stop != body_end:
                idle += 1
            at = stop
        self._split_data = None
        self._pos, self._end = pos, pos + n

    def _content_length(self) -> int:
        # Of the head just parsed (llhttp has checked the value); 0 without one.
        headers = self.headers
        if isinstance(headers, list):
            for name, value in headers:
                if name == b"content-length":
                    try:
                        return int(value)
                    except ValueError:
                        return 0
        return 0

    def _head_left_open(self, data: bytes, pos: int) -> None:
        # A head is still incomplete at the end of this read: bound what it holds so far.
        limit = self.max_header_bytes
        start = self._head_start
        if start >= pos:
            # It began in this read, after the last blank line in it (it has none of its own yet) and after
            # the CR/LF that llhttp skips before a request line.
            at = start - pos
            blank = data.rfind(b"\r\n\r\n", at)
            if blank >= 0:
                at = blank + 4
            at = _skip_crlf(data, at, len(data))
            if self._end - (pos + at) > limit:
                at = _request_line_at(data, at, len(data), self.parser.get_method(), self.url)
            start = self._head_start = pos + at
        if self._rl_for != start:
            lf = data.find(b"\n", max(start - pos, 0))
            if lf >= 0:
                self._rl_for, self._rl_end = start, pos + lf + 1
        if self._end - start > limit:
            self._refuse_head(*self._oversized(start, data, pos))

    def on_message_begin(self) -> None:
        # uvicorn's, with mega's scope extensions in the same dict literal.
        self.url = b""
        self.expect_100_continue = False
        self.headers = []
        self.scope = {  # type: ignore[typeddict-item]
            "type": "http",
            "asgi": {"version": self.asgi_version, "spec_version": "2.3"},
            "http_version": "1.1",
            "server": self.server,
            "client": self.client,
            "scheme": self.scheme,  # type: ignore[typeddict-item]
            "root_path": self.root_path,
            "headers": self.headers,
            "state": self.app_state.copy(),
            "extensions": _EXTENSIONS,
        }
        self._head_start = self._pos
        self._body_got = 0
        if not self._deadline:
            self._deadline = _UNSTAMPED

    def on_header(self, name: bytes, value: bytes) -> None:
        # uvicorn's (mega's on_headers_complete is its own, so this one is too).
        name = name.lower()
        # llhttp keeps trailing OWS, which RFC 9110 §5.5 excludes from the value.
        value = value.rstrip(b" \t")
        if name == b"expect" and value.lower() == b"100-continue":
            self.expect_100_continue = True
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        self._deadline = 0.0
        # One test on the common path: the head's bytes are [_head_start, _end) at most, and within the limit
        # unless this read was fed in pieces (then the exact size is computed).
        if len(self.headers) > self.max_headers or self._end - self._head_start > self.max_header_bytes:
            self._check_head()
        self._check_host()
        parser = self.parser
        http_version = parser.get_http_version()
        scope = self.scope
        scope["method"] = parser.get_method().decode("ascii")
        if http_version != "1.1":
            scope["http_version"] = http_version
            # RFC 9110 §10.1.1: a 100-continue expectation in an HTTP/1.0 request is ignored.
            self.expect_100_continue = False
        if parser.should_upgrade() and self._should_upgrade():
            return  # data_received hands the connection to the WebSocket protocol
        # From here uvicorn's own on_headers_complete (0.54/0.55), minus what mega does not use per request.
        parsed_url = httptools.parse_url(self.url)
        raw_path = parsed_url.path
        path = raw_path.decode("ascii")
        if "%" in path:
            path = urllib.parse.unquote(path)
        root_path = self.root_path
        scope["path"] = root_path + path if root_path else path
        scope["raw_path"] = root_path.encode("ascii") + raw_path if root_path else raw_path
        scope["query_string"] = parsed_url.query or b""
        limit = self.limit_concurrency
        if limit is not None and (len(self.connections) >= limit or len(self.tasks) >= limit):
            app = service_unavailable
            self.logger.warning("Exceeded concurrency limit.")
        else:
            app = self.app
        existing_cycle = self.cycle
        self.cycle = RawHeaderCycle(
            scope, self.transport, self.flow, self.logger, self.access_logger, self.access_log,
            self.server_state.default_headers, MessageEvent(), self.expect_100_continue,  # type: ignore[arg-type]
            http_version != "1.0" and parser.should_keep_alive(), self.on_response_complete,
        )
        if existing_cycle is None or existing_cycle.response_complete:
            self._start_asgi_task(self.cycle, app)
        else:
            # Pipelined requests wait for the responses before them.
            self.flow.pause_reading()
            self.pipeline.appendleft((self.cycle, app))
        # A body may follow: its clock runs until on_message_complete (which llhttp calls at once, in this
        # same read, for a request without one).
        self._body_deadline = _UNSTAMPED

    def on_message_complete(self) -> None:
        # uvicorn's, in this frame (one call less per request), plus the end of the body clock.
        self._body_deadline = 0.0
        cycle = self.cycle
        if (self.parser.should_upgrade() and self._should_upgrade()) or cycle.response_complete:
            return
        cycle.more_body = False
        cycle.message_event.set()

    def _check_host(self) -> None:
        # RFC 9112 §3.2: more than one Host field, or one that is not name[:port], is a 400 (the app would
        # route on one and compare another, or build links to "a@evil.com").
        host = None
        for name, value in self.headers:
            if name == b"host":
                if host is not None or (value not in _GOOD_HOSTS and not _good_host(value)):
                    self._refuse_head(400, self._bad_host_body)
                    if rejections.LISTENERS:  # refused before any app: the hook hears it from here
                        self._report_bad_host()
                    raise _Rejected
                host = value

    def _check_head(self) -> None:
        if len(self.headers) > self.max_headers:
            self._refuse_head(431, self._too_many_body)
            raise _Rejected
        start = self._head_start
        data = self._split_data
        if data is not None and start >= self._pos:
            # The head began in this piece, which ends where the head ends.
            lo, hi = start - self._split_pos, self._end - self._split_pos
            lo = _skip_crlf(data, lo, hi)
            start = self._split_pos + _request_line_at(data, lo, hi, self.parser.get_method(), self.url)
        if self._end - start > self.max_header_bytes:
            self._refuse_head(*self._oversized(start, data, self._split_pos))
            raise _Rejected

    def _oversized(self, start: int, data: bytes | None, data_pos: int) -> tuple[int, bytes]:
        # 414 when the request line alone passes the limit (or has not ended yet), else 431. `data` holds
        # the head's latest bytes from offset data_pos (None: unknown, then 431).
        if self._rl_for == start:
            rl_end = self._rl_end
        elif data is None:
            return 431, self._too_large_body
        else:
            lf = data.find(b"\n", max(start - data_pos, 0))
            rl_end = sys.maxsize if lf < 0 else data_pos + lf + 1
        if rl_end - start > self.max_header_bytes:
            return 414, self._uri_too_long_body
        return 431, self._too_large_body

    # -- running the app ------------------------------------------------------------------------------------

    def on_response_complete(self) -> None:
        # uvicorn's, with the keep-alive wait as a stamp the sweep reads instead of a loop timer armed and
        # cancelled per response.
        self.server_state.total_requests += 1
        if self.transport.is_closing():
            return
        self.flow.resume_reading()
        if self.pipeline:
            cycle, app = self.pipeline.pop()
            self._start_asgi_task(cycle, app)
        else:
            self._keep_alive_until = _UNSTAMPED

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: Any) -> None:
        # uvicorn calls this from on_headers_complete (inside the parser) and from on_response_complete (a
        # pipelined request whose turn came, called from inside the previous handler's send). The first
        # waits for the end of the read (data_received runs it); the second is never started eagerly, so a
        # long run of pipelined requests never nests one handler inside another.
        if self._feeding and self._pending is None:
            self._pending = (cycle, app)
            return
        # In the connection's context, not in the previous handler's (on_response_complete runs inside it):
        # a context variable one request sets is never seen by the next.
        context = self._request_context()
        task = self.loop.create_task(cycle.run_asgi(app), context=context)
        self._track(cycle, task)

    def _run(self, cycle: RequestResponseCycle, app: Any) -> None:
        # The handler's task, in its own copy of the connection's context; on 3.12+ its first step runs now
        # (most answer in it), counted in self.tasks only when it did not finish there (graceful shutdown
        # waits for the ones in self.tasks).
        # (_request_context and _track, written out: this runs once per request)
        coro = cycle.run_asgi(app)
        if _EAGER_START:
            task = asyncio.Task(coro, loop=self.loop, context=self._context.copy(),  # type: ignore[call-arg]
                                eager_start=True)
            if task.done():
                return
        else:
            task = self.loop.create_task(coro, context=self._context.copy())
        tasks = self.tasks
        tasks.add(task)
        if cycle.__class__ is RawHeaderCycle:
            cycle.tasks = tasks
            cycle.task = task
        else:
            task.add_done_callback(tasks.discard)

    def _request_context(self) -> contextvars.Context:
        # A copy of the connection's context per request (uvicorn's reset_contextvars: an empty one, copied).
        return self._context.copy()

    def _track(self, cycle: RequestResponseCycle, task: asyncio.Task[None]) -> None:
        # In self.tasks until it ends (graceful shutdown waits for them): our cycle's run_asgi leaves the set
        # as its last step; an _ErrorAnswer (no such step) leaves it through a done callback.
        self.tasks.add(task)
        if isinstance(cycle, RawHeaderCycle):
            cycle.tasks = self.tasks
            cycle.task = task
        else:
            task.add_done_callback(self.tasks.discard)

    def on_body(self, body: bytes) -> None:
        self._run_from = -1  # data: any open trailer count is over
        self._body_deadline = _UNSTAMPED  # progress: the next sweep restarts the body clock
        self._body_got += len(body)
        HttpToolsProtocol.on_body(self, body)

    def on_chunk_header(self) -> None:
        # Chunked bodies only. Trailer fields may follow the last chunk: from now on llhttp's header fields
        # go to a counter, not to the request's header list.
        if not isinstance(self.headers, _Trailers):
            self.headers = cast(list[tuple[bytes, bytes]], _Trailers(self))
        if self._run_from < 0:
            # Until data comes, bytes are counted from the end of this read (its own share is unknown, at
            # most one read).
            self._run_from = self._end

    def on_chunk_complete(self) -> None:
        self._run_from = -1

    # -- refusals ------------------------------------------------------------------------------------------
    #
    # A response goes out only to a request that has none yet: responses to earlier pipelined requests go
    # first, and bytes that start no request are never answered.

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
        if self._deadline:
            self._refuse_head(400, body)  # the error is in a head
        else:
            self._refuse_request(400, body)  # found after the head of self.cycle's request

    def _deadline_passed(self) -> None:
        self._deadline = 0.0
        if self._rejected or self.transport.is_closing():
            self.transport.close()  # lingering is over
            return
        self.logger.debug("Request head not received within %.3g s; closing.", self.header_timeout)
        self._refuse_head(408, self._timeout_body)

    def _body_stalled(self, now: float) -> bool:
        """Whether the body's deadline has passed (called by the sweep while a body is in progress)."""
        if self._body_deadline < 0.0 or self.flow.read_paused:  # bytes since the last sweep, or the app
            self._body_deadline = now + self.body_timeout       # is the one not reading: the clock restarts
            return False
        return self._body_deadline <= now

    def _body_deadline_passed(self) -> None:
        self._body_deadline = 0.0
        if self._rejected or self.transport.is_closing() or self._upgraded:
            return
        self.logger.debug("No request body bytes for %.3g s; closing.", self.body_timeout)
        self._refuse_request(408, self._body_timeout_body)  # only the close when a response has begun

    def _report_bad_host(self) -> None:
        path = self.url.partition(b"?")[0].decode("latin-1")
        scope = {"method": self.parser.get_method().decode("latin-1"), "path": path, "client": self.client,
                 "headers": self.headers}
        err = MegaError("host.invalid", "bad request: two Host header fields, or a Host that is not "
                        "name[:port]", status=400)
        rejections.report(err, scope, b"")

    def _refuse_head(self, status: int, body: bytes) -> None:
        """Refuse the request whose head is being parsed (it has no cycle): answer after those before it."""
        self._rejected = True
        self._deadline = 0.0
        if self.transport.is_closing():
            return
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            # Earlier requests are still being answered: ours takes the next place in uvicorn's pipeline.
            self.pipeline.appendleft(cast(Any, (_ErrorAnswer(self, status, body), None)))
            return
        self._answer(status, body)

    def _refuse_request(self, status: int, body: bytes) -> None:
        """Refuse self.cycle's request after its head: its handler must not run, or must see a disconnect."""
        self._rejected = True
        self._deadline = 0.0
        if self.transport.is_closing():
            return
        cycle = self.cycle
        if cycle is None:  # pragma: no cover - a body always follows a head that made a cycle
            self._answer(status, body)
            return
        if self.pipeline and self.pipeline[0][0] is cycle:
            # Queued behind earlier requests, never started: the answer takes its place.
            self.pipeline[0] = cast(Any, (_ErrorAnswer(self, status, body), None))
            return
        if cycle.response_started or cycle.response_complete:
            # It has an answer (or one is being written): no second response, only the close.
            if not cycle.response_complete:
                cycle.disconnected = True
                cycle.message_event.set()
            self._close_quietly()
            return
        self._cancel_unstarted(cycle)
        cycle.disconnected = True  # its receive() now returns http.disconnect; its sends are dropped
        cycle.message_event.set()
        self._answer(status, body)

    def _cancel_unstarted(self, cycle: RequestResponseCycle) -> None:
        # The handler was not started yet: its head came in this same read (or, as a task, its first step
        # has not run): it never starts.
        pending = self._pending
        if pending is not None and pending[0] is cycle:
            self._pending = None
            return
        for task in self.tasks:
            coro = task.get_coro()
            if (
                getattr(coro, "cr_code", None) is _RUN_ASGI_CODE
                and inspect.getcoroutinestate(coro) == inspect.CORO_CREATED  # type: ignore[arg-type]
                and inspect.getcoroutinelocals(coro).get("self") is cycle  # type: ignore[arg-type]
            ):
                task.cancel()
                self.tasks.discard(task)  # it never runs the step that would leave the set
                return

    def _answer(self, status: int, body: bytes) -> None:
        transport = self.transport
        if transport.is_closing():
            return
        head = [STATUS_LINE[status]]
        for name, value in self.server_state.default_headers:
            head += (name, b": ", value, b"\r\n")
        head.append(self.secure_block)
        head.append(
            b"content-type: application/json\r\ncontent-length: %d\r\nconnection: close\r\n\r\n" % len(body)
        )
        head.append(body)
        transport.write(b"".join(head))
        self._close_quietly()

    def _close_quietly(self) -> None:
        self._rejected = True
        self._deadline = self._body_deadline = self._keep_alive_until = 0.0
        transport = self.transport
        if transport.is_closing():
            return
        if transport.can_write_eof():
            # Half-close so the client reads what we wrote and EOF, and keep draining its input for a while.
            transport.write_eof()
            self.flow.resume_reading()
            self._deadline = self.loop.time() + _LINGER_SECONDS
        else:
            transport.close()


HardenedHttpProtocol._configure()


def make_protocol_class(
    *,
    header_timeout: float = 30.0,
    max_header_bytes: int = 65536,
    max_headers: int = 100,
    body_timeout: float = 30.0,
    secure_headers: bytes = b"",
) -> type[HardenedHttpProtocol]:
    """A ``HardenedHttpProtocol`` subclass with these limits, for ``uvicorn.Config(http=...)``.

    header_timeout: seconds to receive a whole request head, from the connection opening (first request)
    or from the first byte of a later one; then 408 and close.
    max_header_bytes: bytes of the request head as received (request line, header lines, blank line,
    whitespace included); above it 414 when the request line alone is longer, else 431. Also the bound of
    a chunked request's trailer section (431).
    max_headers: header lines (and trailer fields); above it 431.
    body_timeout: seconds a request body may go without a byte arriving (while the app is not the one
    holding it back); then 408 (or only the close when the response has begun).
    secure_headers: a raw header block (`name: value\r\n` lines) added to the answers the protocol gives
    itself (400/408/414/431), computed once: the secure headers of the apps served.
    """
    if not header_timeout > 0:
        raise ValueError("header_timeout must be > 0")
    if not body_timeout > 0:
        raise ValueError("body_timeout must be > 0")
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
                "body_timeout": float(body_timeout),
                "max_header_bytes": max_header_bytes,
                "max_headers": max_headers,
                "secure_block": secure_headers,
            },
        ),
    )
    cls._configure()
    return cls
