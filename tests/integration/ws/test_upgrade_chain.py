"""The upgrade runs the app's global `before` middleware, then the route's (with `ctx.req` carrying
the upgrade's headers and path parameters); a middleware's refusal is sent without accepting the
socket; an app with `hosts` admits only origins on those hosts."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from mega.security.rejections import on_rejection
from mega.testing import live_server, running, write_project

pytestmark = [pytest.mark.integration]

MIDDLEWARE = """
    async def stamp(req, reply, ctx):
        req.state.setdefault("seen", []).append("global")
"""

ROUTES = """
    from mega.errors import ForbiddenError
    from mega.http.response import Response
    from mega.ws import WebSocketController, on

    async def route_before(req, reply, ctx):
        req.state.setdefault("seen", []).append("route")
        if req.query.get("deny") == "answer":
            return Response("come back later", 429, {"retry-after": "7"})
        if req.query.get("deny") == "forbid":
            raise ForbiddenError("room.closed", "the room is closed")
        if req.query.get("deny") == "value":
            return {"not": "a response"}
        if req.query.get("deny") == "crash":
            raise RuntimeError("boom")

    class Room(WebSocketController):
        async def on_connect(self, sock, ctx):
            sock.send({"type": "joined", "payload": {"room": ctx.req.params.get("room"),
                                                     "seen": ctx.req.state.get("seen", [])}})

        @on("ping")
        async def ping(self, sock, msg, ctx):
            sock.send({"type": "pong"})

    class Crash(WebSocketController):
        def on_connect(self, sock, ctx):
            raise RuntimeError("no backend")

    def routes(router):
        router.ws("/ws/crash", Crash)
        router.ws("/ws/rooms/{room}", Room, before=route_before)
        router.group("/bare", global_middleware=False).ws("/ws", Room)
"""


def project(root: Path, hosts: str = "[]") -> Path:
    return write_project(root, {
        "mega_config.py": 'config = {"logger": {"level": "warning"}}\n',
        "apps/web/app_config.py": f"config = {{'hosts': {hosts}, 'middleware': {{'before': ['stamp']}}}}\n",
        "apps/web/middlewares/stamp.py": MIDDLEWARE,
        "apps/web/routes/main.py": ROUTES,
    })


async def recv(ws: Any) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 10))
    return data


async def refused(server: Any, path: str, **kwargs: Any) -> Any:
    with pytest.raises(InvalidStatus) as info:
        async with server.websocket_connect(path, **kwargs):
            pass
    return info.value.response


async def test_global_then_route_middleware_and_path_params(tmp_path: Path) -> None:
    async with running(project(tmp_path)) as rt, live_server(rt) as server:
        async with server.websocket_connect("/ws/rooms/blue", origin="http://testserver") as ws:
            joined = {"type": "joined", "payload": {"room": "blue", "seen": ["global", "route"]}}
            assert await recv(ws) == joined
        async with server.websocket_connect("/bare/ws", origin="http://testserver") as ws:  # no global
            assert await recv(ws) == {"type": "joined", "payload": {"room": None, "seen": []}}
            await ws.send(json.dumps({"type": "ping"}))
            assert await recv(ws) == {"type": "pong"}
        async with server.websocket_connect("/ws/crash", origin="http://testserver") as ws:
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 10)
            assert ws.close_code == 1011


async def test_middleware_refusals_never_accept(tmp_path: Path) -> None:
    async with running(project(tmp_path)) as rt, live_server(rt) as server:
        response = await refused(server, "/ws/rooms/a?deny=answer", origin="http://testserver")
        assert (response.status_code, response.body) == (429, b"come back later")
        assert response.headers["retry-after"] == "7"
        response = await refused(server, "/ws/rooms/a?deny=forbid", origin="http://testserver")
        assert response.status_code == 403 and json.loads(response.body)["error"]["code"] == "room.closed"
        response = await refused(server, "/ws/rooms/a?deny=value", origin="http://testserver")
        assert response.status_code == 403 and json.loads(response.body)["error"]["code"] == "ws.refused"
        response = await refused(server, "/ws/rooms/a?deny=crash", origin="http://testserver")
        body = json.loads(response.body)
        assert response.status_code == 500 and body["error"]["code"] == "internal"
        assert "boom" not in response.body.decode()


async def test_app_hosts_decide_the_allowed_origins(tmp_path: Path) -> None:
    heard: list[Any] = []
    stop = on_rejection(heard.append)
    async with running(project(tmp_path, "['chat.example.com']")) as rt, live_server(rt) as server:
        async with server.websocket_connect("/ws/rooms/r", host="chat.example.com",
                                            origin="https://chat.example.com:8443") as ws:
            assert (await recv(ws))["payload"]["room"] == "r"
        # the socket's own Host is not enough: the Origin must be one of the app's hosts
        response = await refused(server, "/ws/rooms/r", host="chat.example.com", origin="https://example.com")
        assert response.status_code == 403
        error = json.loads(response.body)["error"]
        assert (error["code"], error["details"]) == ("ws.origin_refused", {"origin": "https://example.com"})
        assert error["message"] == "origin 'https://example.com' may not open this socket"
    stop()
    assert [(r.reason, r.status, r.method, r.path) for r in heard] == [
        ("ws.origin_refused", 403, "GET", "/ws/rooms/r")]
