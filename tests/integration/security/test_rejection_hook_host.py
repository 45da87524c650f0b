"""Host refusals reach the security rejection hook: `host.disallowed` and `host.invalid` are answered
before any route's error boundary (by the host dispatcher, or by the server reading the request head),
and each of those places reports them."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import httpx
import uvicorn

from mega.security import Rejection
from mega.server._uvicorn_protocol import make_protocol_class
from mega.testing import make_client, running, write_project

ROUTES = """
    async def hello():
        return {"hello": "world"}

    def routes(router):
        router.get("/", hello)
"""


def project(root: Path, config: str) -> Path:
    return write_project(root, {
        "mega_config.py": 'config = {"logger": {"level": "warning"}}\n',
        "apps/web/app_config.py": config,
        "apps/web/routes/main.py": ROUTES,
    })


async def test_a_host_outside_the_allow_list_is_heard(tmp_path: Path, heard: list[Rejection]) -> None:
    async with running(project(tmp_path, 'config = {"hosts": ["shop.test"]}\n')) as rt:
        async with make_client(rt, host="shop.test") as http:
            assert (await http.get("/")).status_code == 200
        assert heard == []
        async with make_client(rt, host="evil.test") as http:
            r = await http.get("/reset?x=1")
        assert r.status_code == 400 and r.json()["error"]["code"] == "host.disallowed"
    assert [(h.reason, h.status, h.method, h.path) for h in heard] == [
        ("host.disallowed", 400, "GET", "/reset")]
    assert heard[0].request_id and heard[0].ip == "127.0.0.1"


async def test_a_malformed_host_seen_by_the_dispatcher_is_heard(
        tmp_path: Path, heard: list[Rejection]) -> None:
    async with running(project(tmp_path, "config = {}\n")) as rt:
        async def app(scope: dict, receive: object, send: object) -> None:
            kept = [(n, v) for n, v in scope["headers"] if n != b"host"]
            scope["headers"] = [*kept, (b"host", b"a@evil.com")]
            await rt.host(scope, receive, send)  # type: ignore[union-attr]

        transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            r = await http.get("/")
    assert r.status_code == 400 and r.json()["error"]["code"] == "host.invalid"
    assert [(h.reason, h.status, h.path) for h in heard] == [("host.invalid", 400, "/")]


async def test_two_host_fields_refused_by_the_server_are_heard(
        tmp_path: Path, heard: list[Rejection]) -> None:
    async with running(project(tmp_path, "config = {}\n")) as rt:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        config = uvicorn.Config(rt.host, http=make_protocol_class(), lifespan="off",  # type: ignore[arg-type]
                                log_level="warning")
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve(sockets=[sock]))
        try:
            while not server.started:
                await asyncio.sleep(0.01)
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /probe?a=1 HTTP/1.1\r\nHost: evil.com\r\nHost: 127.0.0.1\r\n\r\n")
            await writer.drain()
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            writer.close()
        finally:
            server.should_exit = True
            await asyncio.wait_for(task, 10)
    assert head.startswith(b"HTTP/1.1 400")
    assert [(h.reason, h.status, h.method, h.path, h.ip) for h in heard] == [
        ("host.invalid", 400, "GET", "/probe", "127.0.0.1")]
