"""Holes the attack run found, closed in the server `mega start` runs: a request body that stops
arriving is answered 408 and closed; two Host fields or a malformed one are answered 400."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from tests.e2e.cli.conftest import environ, free_port, get, wait_for
from tests.integration.server.server_wire import at_eof, close, connect, read_response, request

pytestmark = pytest.mark.integration

ROUTES = """
    async def echo(req):
        return {"size": len(await req.body())}

    def routes(router):
        router.post("/echo", echo, csrf=False)
"""


@pytest.fixture
def served(fresh_project: Path, start_server, mega_server: str) -> int:
    """`mega start --server <each>` on the new project with a 1 s body timeout."""
    (fresh_project / "mega_config.py").write_text(
        'config = {"server": {"body_timeout": 1}, "logger": {"level": "warning"}}\n'
    )
    routes = fresh_project / "apps" / "main" / "routes"
    routes.mkdir(parents=True, exist_ok=True)
    (routes / "echo.py").write_text("\n".join(line[4:] for line in ROUTES.splitlines()) + "\n")
    port = free_port()
    start_server("start", "--port", str(port), "--server", mega_server, cwd=fresh_project,
                 env=environ(MEGA_ENV="production"))
    wait_for(lambda: get(port, "/health/live").status_code == 200, 20, "mega start to serve")
    return port


def post_head(length: int) -> bytes:
    return (f"POST /echo HTTP/1.1\r\nHost: test\r\nContent-Type: application/octet-stream\r\n"
            f"Content-Length: {length}\r\n\r\n").encode()


async def test_a_stalled_body_gets_408_and_the_close(served: int) -> None:
    # The attack: Content-Length 100, one byte sent, then nothing (it used to stay open past 70 s).
    reader, writer = await connect(served)
    try:
        start = time.monotonic()
        writer.write(post_head(100) + b"x")
        await writer.drain()
        response = await asyncio.wait_for(read_response(reader), 5)
        took = time.monotonic() - start
        assert response.status == 408 and response.json()["error"]["code"] == "http.body_timeout"
        assert response.header("connection") == "close"
        assert await at_eof(reader, 2.0)
    finally:
        await close(writer)
    assert 0.9 <= took < 3.5, took


async def test_a_slow_but_moving_body_is_served(served: int) -> None:
    # A byte every 0.4 s for 3 s: each one is progress, so the 1 s timeout never fires.
    reader, writer = await connect(served)
    try:
        writer.write(post_head(8))
        for _ in range(8):
            await asyncio.sleep(0.4)
            writer.write(b"y")
            await writer.drain()
        response = await asyncio.wait_for(read_response(reader), 5)
        assert response.status == 200 and response.json()["data"] == {"size": 8}
    finally:
        await close(writer)


async def test_two_or_malformed_host_fields_get_400(served: int) -> None:
    # A single app without hosts is served without the multi-app dispatcher: the protocol checks.
    ok, _ = await request(served, b"GET / HTTP/1.1\r\nHost: anything.example:3000\r\n\r\n")
    assert ok.status == 200
    for fields in ([b"evil.com", b"127.0.0.1"], [b"a@evil.com"], [b"evil.com x"], [b"[::1"]):
        head = b"GET / HTTP/1.1\r\n" + b"".join(b"Host: " + f + b"\r\n" for f in fields) + b"\r\n"
        response, closed = await request(served, head)
        assert response.status == 400 and response.json()["error"]["code"] == "host.invalid", fields
        assert closed
