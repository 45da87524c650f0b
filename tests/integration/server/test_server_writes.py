"""mega's protocol object driven in-process with a recording transport: what goes out, in how many writes."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
import uvicorn
from uvicorn.server import ServerState

from mega.server import RAW_HEADERS_EXTENSION, HardenedHttpProtocol, make_protocol_class
from mega.server import _uvicorn_protocol as protocol_module

pytestmark = pytest.mark.integration

DATE = (b"date", b"Thu, 01 Jan 2026 00:00:00 GMT")
BODY = b'{"ok":true}'
BLOCK = b"content-type: application/json\r\ncontent-length: 11\r\nx-request-id: r-1\r\n"
EXPECTED = b"HTTP/1.1 200 OK\r\ndate: Thu, 01 Jan 2026 00:00:00 GMT\r\n" + BLOCK + b"\r\n" + BODY


class RecordingTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: Any) -> None:
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        pass

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 8000)}.get(name, default)


class Harness:
    def __init__(self, app: Any, cls: type[HardenedHttpProtocol] = HardenedHttpProtocol) -> None:
        config = uvicorn.Config(app, http=cls, lifespan="off", log_config=None, proxy_headers=False)
        self.state = ServerState()
        self.state.default_headers = [DATE]
        self.transport = RecordingTransport()
        self.protocol = cls(config=config, server_state=self.state, app_state={})
        self.protocol.connection_made(self.transport)

    async def feed(self, data: bytes) -> list[bytes]:
        start = len(self.transport.writes)
        self.protocol.data_received(data)
        while self.state.tasks:
            await asyncio.gather(*self.state.tasks)
        return self.transport.writes[start:]

    def close(self) -> None:
        self.protocol.connection_lost(None)


scopes: list[dict[str, Any]] = []


async def raw_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    scopes.append(scope)
    path = scope["path"]
    start: dict[str, Any] = {"type": "http.response.start", "status": 200, RAW_HEADERS_EXTENSION: BLOCK}
    if path == "/extra":
        start["headers"] = [(b"X-Extra", b"1"), (b"Connection", b"close")]
    if path == "/plain":
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", b"11"),
            (b"x-request-id", b"r-1"),
        ]
        start = {"type": "http.response.start", "status": 200, "headers": headers}
    await send(start)
    if path == "/fail-after-start":
        raise RuntimeError("boom")
    await send({"type": "http.response.body", "body": BODY, "more_body": path == "/stream-raw"})


async def test_raw_block_response_is_one_write() -> None:
    h = Harness(raw_app)
    assert await h.feed(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n") == [EXPECTED]
    assert await h.feed(b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n") == [EXPECTED[: -len(BODY)]]
    assert await h.feed(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n") == [
        EXPECTED[: -len(BODY) - 2] + b"connection: close\r\n\r\n" + BODY
    ]
    assert h.transport.closed
    h.close()


async def test_plain_headers_next_to_a_raw_block_are_validated_and_honoured() -> None:
    h = Harness(raw_app)
    writes = await h.feed(b"GET /extra HTTP/1.1\r\nHost: x\r\n\r\n")
    head_end = EXPECTED.index(b"content-type")
    expected = EXPECTED[:head_end] + b"x-extra: 1\r\n" + BLOCK + b"connection: close\r\n\r\n" + BODY
    assert writes == [expected]
    assert h.transport.closed
    h.close()


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


async def test_raw_block_responses_are_access_logged(monkeypatch: pytest.MonkeyPatch) -> None:
    # A handler on the access logger itself: what an earlier boot in the same process did to
    # propagation, levels or `disabled` (mega's logging setup) cannot hide the line from the test.
    access = logging.getLogger("uvicorn.access")
    monkeypatch.setattr(access, "disabled", False)
    level = access.level
    access.setLevel(logging.INFO)  # setLevel, not the attribute: it clears the logger's isEnabledFor cache
    lines = _Lines()
    access.addHandler(lines)
    try:
        h = Harness(raw_app)
        await h.feed(b"GET /x?y=1 HTTP/1.1\r\nHost: x\r\n\r\n")
        h.close()
    finally:
        access.removeHandler(lines)
        access.setLevel(level)
    assert lines.lines == ['127.0.0.1:50000 - "GET /x?y=1 HTTP/1.1" 200']


async def test_plain_headers_go_through_uvicorns_send() -> None:
    h = Harness(raw_app)
    writes = await h.feed(b"GET /plain HTTP/1.1\r\nHost: x\r\n\r\n")
    assert writes == [EXPECTED[: -len(BODY)], BODY]  # uvicorn: head and body in two writes
    h.close()


@pytest.mark.parametrize("path", [
    "/stream-raw",  # streaming with a raw block is refused
    "/fail-after-start",  # the app fails between the raw start and the body
])
async def test_a_raw_response_that_cannot_be_sent_gets_a_clean_500(path: str) -> None:
    h = Harness(raw_app)
    out = b"".join(await h.feed(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode()))
    # Nothing of the held raw head went out.
    assert out.startswith(b"HTTP/1.1 500 Internal Server Error\r\n")
    assert out.endswith(b"\r\n\r\nInternal Server Error")
    assert b"x-request-id" not in out
    h.close()


async def test_extensions_dict_is_shared_and_default_headers_follow_the_date_tick() -> None:
    scopes.clear()
    h = Harness(raw_app)
    await h.feed(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n")
    assert [s["path"] for s in scopes] == ["/a", "/b"]
    assert scopes[0]["extensions"] is scopes[1]["extensions"]
    assert scopes[0]["extensions"] == {RAW_HEADERS_EXTENSION: {}, "http.response.pathsend": {}}
    # uvicorn replaces the default-headers list every second; a new list is serialised anew.
    h.state.default_headers = [(b"date", b"Fri, 02 Jan 2026 00:00:00 GMT"), (b"server", b"uvicorn")]
    writes = await h.feed(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert writes == [
        EXPECTED.replace(b"Thu, 01", b"Fri, 02").replace(b"GMT\r\n", b"GMT\r\nserver: uvicorn\r\n", 1)
    ]
    h.close()


async def test_sweeper_is_per_loop_and_goes_away_with_the_last_connection() -> None:
    loop = asyncio.get_running_loop()
    cls = make_protocol_class(header_timeout=5.0)
    first, second = Harness(raw_app, cls), Harness(raw_app, cls)
    sweeper = protocol_module._SWEEPERS[loop]
    assert sweeper.conns == {first.protocol, second.protocol}
    assert sweeper.handle is not None
    first.close()
    assert protocol_module._SWEEPERS[loop] is sweeper
    second.close()
    assert loop not in protocol_module._SWEEPERS
    assert sweeper.handle is None


def test_make_protocol_class_binds_limits() -> None:
    cls = make_protocol_class(header_timeout=2.5, max_header_bytes=4096, max_headers=10)
    assert issubclass(cls, HardenedHttpProtocol)
    assert (cls.header_timeout, cls.max_header_bytes, cls.max_headers) == (2.5, 4096, 10)
    assert b'"limit":4096' in cls._too_large_body
    assert (HardenedHttpProtocol.header_timeout, HardenedHttpProtocol.max_header_bytes) == (30.0, 65536)
    with pytest.raises(ValueError):
        make_protocol_class(header_timeout=0)
