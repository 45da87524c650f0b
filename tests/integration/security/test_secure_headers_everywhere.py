"""Every response carries the secure headers: health probes, a refused Host, and the 400/408/431 the
server writes itself before any app runs (an attack run found none on these)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import uvicorn

from mega.boot.stages import Runtime
from mega.server._listen import bind_socket
from mega.server._serve import uvicorn_config
from mega.testing import make_client, running, write_project
from tests.integration.server.server_wire import connect, read_response, request

ROUTES = """
    async def hello():
        return {"hello": "world"}

    def routes(router):
        router.get("/", hello)
"""


def project(root: Path, app_config: str = "config = {}\n") -> Path:
    return write_project(root, {
        "mega_config.py": 'config = {"logger": {"level": "warning"}, '
                          '"server": {"header_timeout": 1, "max_header_bytes": 8192, "max_headers": 32}}\n',
        "apps/web/app_config.py": app_config,
        "apps/web/routes/main.py": ROUTES,
    })


def secure(headers: dict[str, str] | httpx.Headers) -> bool:
    return headers.get("x-content-type-options") == "nosniff" \
        and headers.get("x-frame-options") == "SAMEORIGIN" \
        and "default-src 'self'" in (headers.get("content-security-policy") or "")


@asynccontextmanager
async def served(rt: Runtime) -> AsyncIterator[int]:
    """The project on mega's real server (the protocol `mega start` uses), on a free port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn_config(rt, {**rt.server_config, "host": "127.0.0.1", "port": port}))
    sock = bind_socket("127.0.0.1", port)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        for _ in range(200):
            if server.started:
                break
            await asyncio.sleep(0.02)
        yield port
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


def raw_get(path: str = "/", *extra: str) -> bytes:
    return "\r\n".join([f"GET {path} HTTP/1.1", "Host: test", *extra, "", ""]).encode("latin-1")


async def test_the_servers_own_400_408_and_431_carry_the_secure_headers(tmp_path: Path) -> None:
    async with running(project(tmp_path)) as rt, served(rt) as port:
        ok, _ = await request(port, raw_get())
        assert ok.status == 200 and secure(dict(ok.headers))
        big, closed = await request(port, raw_get("/", "X-Big: " + "a" * 20_000))
        assert big.status == 431 and closed and secure(dict(big.headers))
        many, _ = await request(port, raw_get("/", *(f"X-H{i}: v" for i in range(100))))
        assert many.status == 431 and secure(dict(many.headers))
        bad, _ = await request(port, b"POST / HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\n"
                                     b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
        assert bad.status == 400 and secure(dict(bad.headers))
        two_hosts, _ = await request(port, raw_get("/", "Host: evil.test"))
        assert two_hosts.status == 400 and secure(dict(two_hosts.headers))
        reader, writer = await connect(port)  # says nothing: 408 after the 1 s head timeout
        try:
            slow = await read_response(reader)
        finally:
            writer.close()
        assert slow.status == 408 and secure(dict(slow.headers))
        assert [k for k, _ in big.headers].count("x-frame-options") == 1


async def test_an_app_without_secure_headers_gets_none_on_the_servers_answers(tmp_path: Path) -> None:
    async with running(project(tmp_path, "config = {'helmet': False}\n")) as rt, served(rt) as port:
        big, _ = await request(port, raw_get("/", "X-Big: " + "a" * 20_000))
        assert big.status == 431 and "x-frame-options" not in dict(big.headers)


async def test_health_probes_and_a_refused_host_carry_them(tmp_path: Path) -> None:
    root = project(tmp_path, "config = {'hosts': ['app.test'], 'helmet': {'x-frame-options': 'DENY'}}\n")
    async with running(root) as rt, make_client(rt, host="app.test") as http:
        for path in ("/health/live", "/health/ready"):
            probe = await http.get(path)
            assert probe.status_code == 200 and probe.headers["x-frame-options"] == "DENY"
            assert probe.headers["x-content-type-options"] == "nosniff"
            assert probe.headers["cache-control"] == "no-store"
        refused = await http.get("/", headers={"host": "evil.test"})
        assert refused.status_code == 400 and refused.json()["error"]["code"] == "host.disallowed"
        assert refused.headers["x-frame-options"] == "DENY"
        assert refused.headers["x-content-type-options"] == "nosniff"
