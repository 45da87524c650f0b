"""Server hardening checked against the server `mega start` really runs (not a test server)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.e2e.cli.conftest import environ, free_port, get, wait_for
from tests.integration.server.server_wire import at_eof, connect, read_response, request, trickle

pytestmark = pytest.mark.integration


def refusal_code(response, server: str) -> str | None:
    """The error code of a refusal the server answers before the app runs. granian (hyper) answers
    these itself with an empty body, never mega's error envelope (ADR 0033)."""
    if server == "granian":
        assert response.body == b""
        return None
    return response.json()["error"]["code"]


@pytest.fixture
def served(fresh_project: Path, start_server, mega_server: str):
    """`mega start --server <each>` on the new project with a 1 s head timeout and small head limits."""
    (fresh_project / "mega_config.py").write_text(
        'config = {"server": {"header_timeout": 1, "max_header_bytes": 8192, "max_headers": 32},\n'
        '          "logger": {"level": "warning"}}\n'
    )
    port = free_port()
    start_server("start", "--port", str(port), "--server", mega_server, cwd=fresh_project,
                 env=environ(MEGA_ENV="production"))
    wait_for(lambda: get(port, "/health/live").status_code == 200, 20, "mega start to serve")
    return port


def raw_get(path: str = "/", *extra: str) -> bytes:
    return "\r\n".join([f"GET {path} HTTP/1.1", "Host: test", *extra, "", ""]).encode("latin-1")


async def test_slow_head_is_disconnected(served):
    reader, writer = await connect(served)
    try:
        outcome = await trickle(reader, writer, [b"GET / HTTP/1.1\r\n", b"X-Slow: 1\r\n"], 0.2, limit=4.0)
    finally:
        writer.close()
    assert outcome.closed_after < 3.0
    assert outcome.response is None or outcome.response.status == 408
    # the server still serves others
    response, _ = await request(served, raw_get())
    assert response.status == 200


async def test_oversized_head_gets_431_and_close(served, mega_server):
    try:
        response, closed = await request(served, raw_get("/", "X-Big: " + "a" * 1_000_000))
    except (BrokenPipeError, ConnectionResetError):
        # granian answers 431 and closes with the rest of the megabyte unread: the kernel's reset can
        # overtake the answer. Refused either way, never served.
        assert mega_server == "granian"
        return
    assert response.status == 431 and closed
    assert refusal_code(response, mega_server) in ("http.headers_too_large", None)


async def test_too_many_headers_get_431(served, mega_server):
    headers = [f"X-H{i}: v" for i in range(2000)]
    response, closed = await request(served, raw_get("/", *headers))
    assert response.status == 431 and closed
    assert refusal_code(response, mega_server) in ("http.too_many_headers", None)


async def test_header_count_limit_below_hypers_own(served):
    """server.max_headers (32 here): mega's protocol enforces it, and on granian (whose hyper only has a
    fixed 100) mega's guard in front of the app does."""
    response, closed = await request(served, raw_get("/", *[f"X-H{i}: v" for i in range(40)]))
    assert response.status == 431 and closed
    assert response.json()["error"]["code"] == "http.too_many_headers"


async def test_conflicting_lengths_get_400(served, mega_server):
    raw = (b"POST / HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
           b"0\r\n\r\n")
    response, closed = await request(served, raw)
    if mega_server == "granian":
        # hyper drops the Content-Length, reads the body chunked (the app answers: 405 on /), then
        # closes the connection (RFC 9112 6.3): no second request can be smuggled after it.
        assert response.status == 405 and closed
        return
    assert response.status == 400 and closed
    assert refusal_code(response, mega_server) == "http.conflicting_length"


async def test_envelope_and_request_id_over_the_real_server(served):
    reader, writer = await connect(served)
    try:
        for _ in range(3):  # keep-alive across requests on one connection
            writer.write(raw_get("/", "X-Request-Id: abc-1"))
            await writer.drain()
            response = await read_response(reader)
            assert response.status == 200
            assert response.header("x-request-id") == "abc-1"
            assert response.json()["ok"] is True
        writer.write(raw_get("/nope"))
        response = await read_response(reader)
        assert response.status == 404 and response.json()["error"]["code"] == "route.not_found"
        assert not await at_eof(reader, 0.2)
    finally:
        writer.close()
    await asyncio.sleep(0)
