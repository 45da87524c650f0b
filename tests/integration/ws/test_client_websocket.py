"""`make_client(rt).websocket_connect(path, host=, cookies=, origin=)`: the test client opens sockets to a
channel (a live server of the same runtime, started on first use and stopped with the client); a login
made with the client carries over; origin and host are honoured."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from websockets.exceptions import InvalidStatus

from mega.testing import make_client, running, write_project

pytestmark = [pytest.mark.integration]

SECRET = "test-secret-0123456789abcdef"

ROUTES = """
    from mega import login, require_auth
    from mega.ws import WebSocketController, on

    class WhoChannel(WebSocketController):
        async def on_connect(self, sock, ctx):
            sock.send({"type": "who", "payload": {"user": ctx.auth.user_id, "host": ctx.req.headers["host"]}})

        @on("echo", schema={"type": "integer"})
        async def echo(self, sock, msg, ctx):
            sock.send({"type": "echo", "payload": msg + 1})

    async def sign_in(req, reply, ctx):
        auth = await login(ctx, req.query.get("user", "u1"))
        return {"user_id": auth.user_id}

    def routes(router):
        router.get("/login", sign_in)
        router.ws("/ws/who", WhoChannel, before=[require_auth])
"""

OTHER = """
    from mega.ws import WebSocketController

    class HereChannel(WebSocketController):
        async def on_connect(self, sock, ctx):
            sock.send({"type": "here", "payload": ctx.app.name})

    def routes(router):
        router.ws("/ws/who", HereChannel)
"""


def project(root: Path) -> Path:
    return write_project(root, {
        "mega_config.py": 'config = {"logger": {"level": "warning"}}\n',
        "apps/web/app_config.py":
            f"config = {{'hosts': ['chat.test'], 'session': {{'secret': '{SECRET}'}}}}\n",
        "apps/web/routes/main.py": ROUTES,
        "apps/other/app_config.py": "config = {'hosts': ['other.test']}\n",
        "apps/other/routes/main.py": OTHER,
    })


async def recv(ws: object) -> object:
    return json.loads(await asyncio.wait_for(ws.recv(), 10))  # type: ignore[attr-defined]


async def test_a_login_made_with_the_client_carries_over_to_its_sockets(tmp_path: Path) -> None:
    async with running(project(tmp_path)) as rt, make_client(rt, host="chat.test") as client:
        assert (await client.get("/login", params={"user": "u9"})).status_code == 200
        async with client.websocket_connect("/ws/who", origin="https://chat.test") as ws:
            assert client._live is not None
            host = f"chat.test:{client._live.port}"  # the client's host, sent to the live server
            assert await recv(ws) == {"type": "who", "payload": {"user": "u9", "host": host}}
            await ws.send(json.dumps({"type": "echo", "payload": 41}))
            assert await recv(ws) == {"type": "echo", "payload": 42}
        # a second socket reuses the same live server
        server = client._live
        async with client.websocket_connect("/ws/who", origin="https://chat.test") as ws:
            assert (await recv(ws))["payload"]["user"] == "u9"  # type: ignore[index]
        assert client._live is server and server is not None
    assert client._live is None  # closing the client stopped the server


async def test_cookies_origin_and_host_given_explicitly(tmp_path: Path) -> None:
    async with running(project(tmp_path)) as rt, make_client(rt, host="chat.test") as client:
        # no login: require_auth refuses the upgrade with 401, the socket never accepted
        with pytest.raises(InvalidStatus) as refused:
            async with client.websocket_connect("/ws/who", origin="https://chat.test"):
                pass
        assert refused.value.response.status_code == 401
        # a foreign origin, or none, is refused whatever the cookies
        sid = (await client.get("/login")).cookies["mega_sid"]
        client.cookies.clear()
        for origin in ("https://evil.test", None):
            with pytest.raises(InvalidStatus) as foreign:
                async with client.websocket_connect("/ws/who", cookies={"mega_sid": sid}, origin=origin):
                    pass
            assert foreign.value.response.status_code == 403
            assert b"ws.origin_refused" in foreign.value.response.body
        async with client.websocket_connect("/ws/who", cookies={"mega_sid": sid},
                                            origin="http://chat.test") as ws:
            assert (await recv(ws))["payload"]["user"] == "u1"  # type: ignore[index]
        # `host=` picks the app, as the Host header does
        async with client.websocket_connect("/ws/who", host="other.test", origin="http://other.test") as ws:
            assert await recv(ws) == {"type": "here", "payload": "other"}
