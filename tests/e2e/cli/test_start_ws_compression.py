"""`mega start` and `ws.compression`: two apps on one port negotiate permessage-deflate as each one's
config says (uvicorn); granian never negotiates it, so `--server granian` refuses an app that turns it
on and serves the others uncompressed."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect

from mega.testing import write_project

from .conftest import Server, free_port, mega, wait_for

pytestmark = pytest.mark.integration

ROUTES = """
    from mega.ws import WebSocketController, on

    class EchoChannel(WebSocketController):
        @on("echo")
        async def echo(self, sock, msg, ctx):
            sock.send({"type": "echo", "payload": msg})

    def routes(router):
        router.ws("/ws/echo", EchoChannel)
"""


def project(root: Path, packed: str) -> Path:
    return write_project(root, {
        "mega_config.py": 'config = {"logger": {"level": "warning"}}\n',
        "apps/plain/app_config.py": "config = {'hosts': ['plain.test']}\n",
        "apps/plain/routes/main.py": ROUTES,
        "apps/packed/app_config.py":
            f"config = {{'hosts': ['packed.test'], 'ws': {{'compression': {packed}}}}}\n",
        "apps/packed/routes/main.py": ROUTES,
    })


async def negotiated(port: int, host: str) -> str | None:
    """The Sec-WebSocket-Extensions answer to a client offering permessage-deflate; checks an echo."""
    async with connect(f"ws://{host}:{port}/ws/echo", host="127.0.0.1", port=port, open_timeout=10,
                       origin=f"http://{host}") as ws:  # type: ignore[arg-type]
        payload = "chat " * 2000
        await ws.send(json.dumps({"type": "echo", "payload": payload}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 10))["payload"] == payload
        answer: str | None = ws.response.headers.get("Sec-WebSocket-Extensions")
        return answer


def serve(start_server: Callable[..., Server], root: Path, *args: str) -> tuple[Server, int]:
    port = free_port()
    server = start_server("start", "--port", str(port), *args, cwd=root)
    live = f"http://127.0.0.1:{port}/health/live"
    wait_for(lambda: httpx.get(live, headers={"host": "plain.test"}, timeout=2).status_code == 200, 20,
             "the server")
    return server, port


def test_each_app_on_the_port_gets_its_own_setting(tmp_path: Path,
                                                   start_server: Callable[..., Server]) -> None:
    server, port = serve(start_server, project(tmp_path, "True"))
    assert asyncio.run(negotiated(port, "plain.test")) is None
    assert asyncio.run(negotiated(port, "packed.test")) == (
        "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12")
    assert server.terminate() == 0, server.output()


def test_granian_refuses_an_app_that_turns_it_on(tmp_path: Path) -> None:
    result = mega("start", "--server", "granian", "--port", str(free_port()), cwd=project(tmp_path, "True"),
                  timeout=60)
    assert result.returncode == 1, result.stdout + result.stderr
    assert ("granian cannot compress WebSocket messages, and app 'packed' turns ws.compression on"
            in result.stderr)
    assert "set ws.compression to False in apps/packed/app_config.py" in result.stderr
    assert "server.unsupported_feature" in result.stderr


def test_granian_serves_every_socket_uncompressed(tmp_path: Path,
                                                  start_server: Callable[..., Server]) -> None:
    server, port = serve(start_server, project(tmp_path, "False"), "--server", "granian")
    assert asyncio.run(negotiated(port, "plain.test")) is None
    assert asyncio.run(negotiated(port, "packed.test")) is None
    assert server.terminate() == 0, server.output()
    # Close codes are lost on granian: said at boot, naming the apps with channels.
    assert "granian loses WebSocket close codes" in server.output()
