"""HTTP/1.1 framing against the server `mega start` really runs, as raw bytes over a socket.

Trailer fields, body bytes after an early answer, errors found after the head, pipelining before a
malformed request, the head limit in bytes as received, 414 and expect-100 on HTTP/1.0.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.cli.conftest import Server, environ, free_port, get, mega, wait_for
from tests.integration.server.server_wire import Response, at_eof, close, connect, read_response, request

pytestmark = pytest.mark.integration

LIMIT = 8192
MAX_HEADERS = 32

ROUTES = '''"""Routes for the framing tests: each reports what its handler saw."""

from pathlib import Path

HITS = Path(__file__).resolve().parents[3] / "hits"


async def echo(req, reply, ctx):
    body = await req.body()
    # Headers read after the body: trailer fields must not show up here.
    return {"body": len(body), "host": req.header("host"), "authorization": req.header("authorization"),
            "forwarded": req.header("x-forwarded-for"), "headers": len(req.headers)}


async def early(req, reply, ctx):
    return {"early": True}  # answers without reading the body


async def hit(req, reply, ctx):
    HITS.mkdir(exist_ok=True)
    (HITS / req.query.get("name", "unnamed")).write_text("ran")
    await req.body()
    return {"hit": True}


def routes(router):
    opts = {"csrf": False, "rate_limit": False}
    router.post("/echo", echo, **opts)
    router.post("/early", early, **opts)
    router.post("/hit", hit, **opts)
'''


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path, Server]]:
    """One `mega start` for the module: 2 s head timeout, 8 KiB heads, 32 header lines."""
    parent = tmp_path_factory.mktemp("framing")
    assert mega("new", "demo", "--dir", str(parent), cwd=parent).returncode == 0
    root = parent / "demo"
    (root / "mega_config.py").write_text(
        f'config = {{"server": {{"header_timeout": 2, "max_header_bytes": {LIMIT}, '
        f'"max_headers": {MAX_HEADERS}}},\n'
        '          "logger": {"level": "warning"}}\n'
    )
    (root / "apps" / "main" / "routes" / "framing.py").write_text(ROUTES)
    port = free_port()
    server = Server(["start", "--port", str(port)], root, parent / "server.log",
                    environ(MEGA_ENV="production"))
    try:
        wait_for(lambda: get(port, "/health/live").status_code == 200, 20, "mega start to serve")
        yield port, root, server
    finally:
        server.kill()


def post(path: str, *headers: str, version: str = "1.1") -> bytes:
    return "\r\n".join([f"POST {path} HTTP/{version}", "Host: test", *headers, "", ""]).encode("latin-1")


def plain_get(path: str = "/", *headers: str) -> bytes:
    return "\r\n".join([f"GET {path} HTTP/1.1", "Host: test", *headers, "", ""]).encode("latin-1")


def error_code(response: Response) -> object:
    body = response.json()
    assert isinstance(body, dict) and body["ok"] is False, body
    return body["error"]["code"]


async def ran(root: Path, name: str) -> bool:
    await asyncio.sleep(0.3)  # a handler task that was wrongly started has run by now
    return (root / "hits" / name).exists()


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


# -- trailer fields ---------------------------------------------------------------------------------------


async def test_trailer_fields_never_reach_the_request_headers(site) -> None:
    port, _, _ = site
    raw = (post("/echo", "Transfer-Encoding: chunked") + b"3\r\nabc\r\n0\r\n"
           b"Host: evil.example\r\nAuthorization: Bearer injected\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n")
    response, closed = await request(port, raw)
    assert response.status == 200, response
    data = response.json()["data"]  # type: ignore[index]
    assert data == {"body": 3, "host": "test", "authorization": None, "forwarded": None, "headers": 2}
    assert not closed


@pytest.mark.parametrize("trailers", [
    b"X-T: 1\r\n" * 600_000,  # 4.8 MB of small fields
    b"X-Big: " + b"a" * 1_000_000 + b"\r\n",  # one 1 MB field
], ids=["many-fields", "one-huge-field"])
async def test_an_oversized_trailer_section_gets_431_and_close(site, trailers: bytes) -> None:
    port, _, server = site
    before = rss_kib(server.proc.pid)
    reader, writer = await connect(port)
    try:
        writer.write(post("/echo", "Transfer-Encoding: chunked") + b"3\r\nabc\r\n0\r\n")
        await writer.drain()
        await asyncio.sleep(0.1)
        writer.write(trailers + b"\r\n")
        response = await read_response(reader)
        assert response.status in (400, 431), response
        if response.status == 431:
            assert error_code(response) in ("http.headers_too_large", "http.too_many_headers")
        assert response.header("connection") == "close"
        assert await at_eof(reader)
    finally:
        await close(writer)
    assert rss_kib(server.proc.pid) - before < 20_000  # KiB; before the fix: +115 MB for 5 MB


# -- body bytes after the answer --------------------------------------------------------------------------


async def test_body_still_arriving_after_the_answer_gets_no_unrequested_response(site) -> None:
    port, _, _ = site
    reader, writer = await connect(port)
    try:
        writer.write(post("/early", "Content-Length: 61000") + b"x" * 1000)
        await writer.drain()
        response = await read_response(reader)
        assert response.status == 200 and response.json()["data"] == {"early": True}  # type: ignore[index]
        # The rest of the body trickles in over ~0.9 s (more than one sweep of the head timer, well within
        # the head timeout), then the client reuses the connection: the next response it reads must be
        # the answer to its next request (before the fix: an unrequested 431).
        for _ in range(15):
            writer.write(b"x" * 4000)
            await writer.drain()
            await asyncio.sleep(0.06)
        writer.write(plain_get("/"))
        await writer.drain()
        response = await read_response(reader)
        assert response.status == 200, response
        assert "message" in response.json()["data"]  # type: ignore[index]
    finally:
        await close(writer)


async def test_body_bytes_after_the_answer_are_never_answered(site) -> None:
    port, _, _ = site
    reader, writer = await connect(port)
    try:
        writer.write(post("/early", "Content-Length: 1000000") + b"x" * 1000)
        await writer.drain()
        assert (await read_response(reader)).status == 200
        started = time.monotonic()

        async def trickle() -> None:
            try:
                while time.monotonic() - started < 7:
                    writer.write(b"x" * 3000)
                    await writer.drain()
                    await asyncio.sleep(0.1)
            except (ConnectionError, OSError):
                pass

        feeder = asyncio.create_task(trickle())
        # Nothing was asked: no 408, no 431, only a quiet close once the head timeout (2 s) has passed.
        try:
            rest = await asyncio.wait_for(reader.read(), 9)
        except ConnectionResetError:
            rest = b""
        feeder.cancel()
        assert rest == b"", rest[:200]
        assert time.monotonic() - started < 5.5
    finally:
        await close(writer)


# -- errors found after the head --------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "raw"), [
    ("identity", post("/hit?name=identity", "Transfer-Encoding: identity") + b"abc"),
    ("chunk-size", post("/hit?name=chunk-size", "Transfer-Encoding: chunked") + b"zz\r\nabc\r\n0\r\n\r\n"),
], ids=["transfer-encoding-identity", "bad-chunk-size"])
async def test_an_error_after_the_head_gets_400_and_its_handler_never_runs(site, name: str,
                                                                            raw: bytes) -> None:
    port, root, _ = site
    response, closed = await request(port, raw)
    assert response.status == 400, response
    assert error_code(response) == "http.bad_request"
    assert response.header("connection") == "close"
    assert closed
    assert not await ran(root, name)


@pytest.mark.parametrize(("name", "bad"), [
    ("pipe-identity", post("/hit?name=pipe-identity", "Transfer-Encoding: identity") + b"abc"),
    ("pipe-chunk", post("/hit?name=pipe-chunk", "Transfer-Encoding: chunked") + b"3\r\nabc\r\nzz\r\n"),
    ("pipe-head", b"POST /hit?name=pipe-head HTTP/1.1\r\nHost: test\r\nBad Header\r\n\r\n"),
], ids=["identity", "bad-chunk-size", "bad-head"])
async def test_a_valid_request_pipelined_before_a_malformed_one_is_answered_first(site, name: str,
                                                                                   bad: bytes) -> None:
    port, root, _ = site
    reader, writer = await connect(port)
    try:
        writer.write(plain_get("/") + post("/echo", "Content-Length: 2") + b"hi" + bad)
        await writer.drain()
        first = await read_response(reader)
        assert first.status == 200 and "message" in first.json()["data"], first  # type: ignore[index]
        second = await read_response(reader)
        assert second.status == 200 and second.json()["data"]["body"] == 2, second  # type: ignore[index]
        third = await read_response(reader)
        assert third.status == 400 and error_code(third) == "http.bad_request", third
        assert third.header("connection") == "close"
        assert await at_eof(reader)
    finally:
        await close(writer)
    assert not await ran(root, name)


# -- the head limit counts bytes as received --------------------------------------------------------------


@pytest.mark.parametrize("head", [
    plain_get("/", "X-Pad: " + " " * 20_000 + "v"),  # spaces before the value (llhttp strips them)
    plain_get("/", "X-Pad: v" + " " * 20_000),  # spaces after it (uvicorn strips them)
    b"GET" + b" " * 20_000 + b"/ HTTP/1.1\r\nHost: test\r\n\r\n",  # spaces in the request line
], ids=["leading-spaces", "trailing-spaces", "request-line-spaces"])
async def test_whitespace_counts_toward_the_head_limit(site, head: bytes) -> None:
    port, _, _ = site
    response, closed = await request(port, head)
    assert response.status in (414, 431), response
    assert closed


async def test_whitespace_counts_in_a_head_pipelined_after_another(site) -> None:
    port, _, _ = site
    reader, writer = await connect(port)
    try:
        writer.write(plain_get("/") + plain_get("/", "X-Pad: " + " " * 20_000 + "v"))
        await writer.drain()
        assert (await read_response(reader)).status == 200
        response = await read_response(reader)
        assert response.status == 431 and error_code(response) == "http.headers_too_large", response
        assert await at_eof(reader)
    finally:
        await close(writer)


async def test_a_head_exactly_at_the_limit_in_bytes_as_received_passes(site) -> None:
    port, _, _ = site
    bare = plain_get("/", "X-Pad:  v")
    for size, status in ((LIMIT, 200), (LIMIT + 1, 431)):
        head = plain_get("/", "X-Pad: " + " " * (size - len(bare) + 1) + "v")
        assert len(head) == size
        response, _ = await request(port, head)
        assert response.status == status, (size, response)


# -- request target, expect-100 ---------------------------------------------------------------------------


async def test_a_too_long_request_target_gets_414(site) -> None:
    port, _, _ = site
    response, closed = await request(port, plain_get("/" + "a" * (LIMIT + 100)))
    assert response.status == 414, response
    assert error_code(response) == "http.uri_too_long"
    assert response.json()["error"]["details"] == {"limit": LIMIT}  # type: ignore[index]
    assert closed
    # A long target that fits, with headers that pass the limit together: the headers are too large.
    response, _ = await request(port, plain_get("/" + "a" * (LIMIT // 2), "X-Pad: " + "p" * (LIMIT // 2)))
    assert response.status == 431 and error_code(response) == "http.headers_too_large", response


@pytest.mark.parametrize(("version", "interim"), [("1.0", False), ("1.1", True)])
async def test_100_continue_only_for_http_1_1(site, version: str, interim: bool) -> None:
    port, _, _ = site
    reader, writer = await connect(port)
    try:
        writer.write(post("/echo", "Content-Length: 3", "Expect: 100-continue", version=version))
        await writer.drain()
        try:
            early = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 0.7)
        except TimeoutError:
            early = b""
        assert (early == b"HTTP/1.1 100 Continue\r\n\r\n") is interim, early
        writer.write(b"abc")
        await writer.drain()
        response = await read_response(reader)
        assert response.status == 200 and response.json()["data"]["body"] == 3  # type: ignore[index]
    finally:
        await close(writer)
