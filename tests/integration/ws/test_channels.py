"""WebSocket channels through a real uvicorn server and the `websockets` client: frames, error frames
(socket kept), close codes (1003, 1009, 1013), the upgrade (Origin, `before` middleware, cookie
session, `require_auth`) refused without accepting the socket, and boot errors."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from mega.errors import MegaError
from mega.testing import live_server, running, write_project

pytestmark = [pytest.mark.integration]

SECRET = "test-secret-0123456789abcdef"
ORIGIN = "http://testserver"

ROUTES = """
    from pydantic import BaseModel, Field

    from mega import login, require_auth
    from mega.ws import WebSocketController, on

    EVENTS = []

    class SendText(BaseModel):
        text: str = Field(min_length=1)
        room: int

    class ChatChannel(WebSocketController):
        async def on_connect(self, sock, ctx):
            self.count = 0
            EVENTS.append(("connect", ctx.auth.user_id if ctx.auth else None))
            sock.send({"type": "hello", "payload": {"user": ctx.auth.user_id, "name": ctx.auth.user_name}})

        async def on_disconnect(self, sock, ctx, code):
            EVENTS.append(("disconnect", code))

        @on("chat.send", schema=SendText)
        async def send_text(self, sock, msg, ctx):
            self.count += 1
            sock.send({"type": "chat.sent", "payload": {"text": msg.text, "room": msg.room, "n": self.count}})

        @on("raw", schema={"type": "object", "required": ["n"], "properties": {"n": {"type": "integer"}}})
        def raw(self, sock, msg, ctx):
            sock.send({"type": "raw", "payload": msg})

        @on("boom")
        async def boom(self, sock, msg, ctx):
            raise RuntimeError("secret detail")

        @on("flood")
        async def flood(self, sock, msg, ctx):
            for i in range(200):
                sock.send({"type": "big", "payload": "x" * 16384})

        @on("bye")
        async def bye(self, sock, msg, ctx):
            sock.close(4000, "é" * 100)

    class OpenChannel(WebSocketController):
        @on("echo")
        async def echo(self, sock, msg, ctx):
            sock.send({"type": "echo", "payload": msg})

        @on("nums", schema={"type": "array", "items": {"type": "integer"}})
        async def nums(self, sock, msg, ctx):
            sock.send({"type": "nums", "payload": sum(msg)})

    async def sign_in(req, reply, ctx):
        auth = await login(ctx, req.query.get("user", "u1"), user_name="Ann")
        return {"user_id": auth.user_id}

    def routes(router):
        router.get("/login", sign_in)
        router.ws("/ws/chat", ChatChannel, before=[require_auth])
        router.ws("/ws/open", OpenChannel)
"""


def project(root: Path, ws: str = "None") -> Path:
    return write_project(root, {
        "mega_config.py": 'config = {"logger": {"level": "warning"}}\n',
        "apps/web/app_config.py": f"config = {{'session': {{'secret': '{SECRET}'}}, 'ws': {ws}}}\n",
        "apps/web/routes/main.py": ROUTES,
    })


async def session_cookie(url: str, user: str = "u7") -> str:
    async with httpx.AsyncClient(base_url=url, headers={"host": "testserver"}) as http:
        r = await http.get("/login", params={"user": user})
        assert r.status_code == 200, r.text
        return r.cookies["mega_sid"]


async def recv(ws: Any) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 10))
    return data


async def closed_code(ws: Any) -> tuple[int, str]:
    with pytest.raises(ConnectionClosed):
        while True:
            await asyncio.wait_for(ws.recv(), 10)
    assert ws.close_code is not None
    return ws.close_code, ws.close_reason or ""


async def test_frames_errors_and_hooks(tmp_path: Path) -> None:
    async with running(project(tmp_path)) as rt, live_server(rt) as server:
        cookie = await session_cookie(server.url)
        async with server.websocket_connect("/ws/chat", cookies={"mega_sid": cookie}, origin=ORIGIN) as ws:
            assert await recv(ws) == {"type": "hello", "payload": {"user": "u7", "name": "Ann"}}
            await ws.send(json.dumps({"type": "chat.send", "payload": {"text": "hi", "room": 3}}))
            assert await recv(ws) == {"type": "chat.sent", "payload": {"text": "hi", "room": 3, "n": 1}}
            await ws.send("{not json")
            frame = await recv(ws)
            assert frame["type"] == "error" and frame["payload"]["code"] == "ws.invalid_json"
            for bad in ("[1, 2]", '{"payload": {}}', '{"type": 5}'):
                await ws.send(bad)
                assert (await recv(ws))["payload"]["code"] == "ws.invalid_envelope"
            await ws.send(json.dumps({"type": "nope"}))
            frame = await recv(ws)
            unknown = "no handler for message type 'nope'"
            assert frame["payload"] == {"code": "ws.unknown_type", "message": unknown,
                                        "details": {"type": "nope"}}
            await ws.send(json.dumps({"type": "chat.send", "payload": {"text": "", "room": "x"}}))
            frame = await recv(ws)
            assert frame["payload"]["code"] == "ws.validation_failed"
            assert {d["path"] for d in frame["payload"]["details"]} == {"/text", "/room"}
            # JSON Schema payloads, at most 20 details
            await ws.send(json.dumps({"type": "raw", "payload": {"n": "1"}}))
            assert (await recv(ws))["payload"]["code"] == "ws.validation_failed"
            await ws.send(json.dumps({"type": "raw", "payload": {"n": 4}}))
            assert await recv(ws) == {"type": "raw", "payload": {"n": 4}}
            await ws.send(json.dumps({"type": "boom"}))
            frame = await recv(ws)
            assert frame["payload"] == {"code": "internal", "message": "internal error", "details": None}
            # the socket is kept after every error, and the instance is the same (per connection)
            await ws.send(json.dumps({"type": "chat.send", "payload": {"text": "again", "room": 1}}))
            assert (await recv(ws))["payload"]["n"] == 2
        # a second connection gets its own instance
        async with server.websocket_connect("/ws/chat", cookies={"mega_sid": cookie}, origin=ORIGIN) as ws:
            await recv(ws)
            await ws.send(json.dumps({"type": "chat.send", "payload": {"text": "x", "room": 1}}))
            assert (await recv(ws))["payload"]["n"] == 1
            await ws.send(json.dumps({"type": "bye"}))
            code, reason = await closed_code(ws)
            assert code == 4000 and len(reason.encode()) <= 123 and reason == "é" * 61
        module = next(m for m in list(sys.modules.values()) if hasattr(m, "ChatChannel") and
                      hasattr(m, "EVENTS"))
        for _ in range(100):  # on_disconnect runs once the server saw the close
            if ("disconnect", 4000) in module.EVENTS:
                break
            await asyncio.sleep(0.05)
        assert module.EVENTS.count(("connect", "u7")) == 2 and ("disconnect", 4000) in module.EVENTS


async def test_validation_details_capped_at_20(tmp_path: Path) -> None:
    async with running(project(tmp_path)) as rt, live_server(rt) as server, \
            server.websocket_connect("/ws/open", origin=ORIGIN) as ws:
        await ws.send(json.dumps({"type": "echo", "payload": [1, 2]}))
        assert await recv(ws) == {"type": "echo", "payload": [1, 2]}
        await ws.send(json.dumps({"type": "nums", "payload": ["x"] * 40}))
        frame = await recv(ws)
        assert frame["payload"]["code"] == "ws.validation_failed"
        assert len(frame["payload"]["details"]) == 20
        first = {"in": "payload", "path": "/0", "message": "'x' is not of type 'integer'"}
        assert frame["payload"]["details"][0] == first
        await ws.send(json.dumps({"type": "nums", "payload": [1, 2]}))
        assert await recv(ws) == {"type": "nums", "payload": 3}


async def test_binary_frame_closes_1003(tmp_path: Path) -> None:
    async with running(project(tmp_path)) as rt, live_server(rt) as server, \
            server.websocket_connect("/ws/open", origin=ORIGIN) as ws:
        await ws.send(b"\x00\x01")
        assert (await closed_code(ws))[0] == 1003


async def test_limits_close_1009_and_1013(tmp_path: Path) -> None:
    ws_conf = "{'max_message_bytes': 1024, 'send_buffer_bytes': '64 KiB'}"
    async with running(project(tmp_path, ws_conf)) as rt, live_server(rt) as server:
        async with server.websocket_connect("/ws/open", origin=ORIGIN) as ws:
            await ws.send(json.dumps({"type": "echo", "payload": "y" * 900}))
            assert (await recv(ws))["type"] == "echo"
            await ws.send(json.dumps({"type": "echo", "payload": "y" * 1100}))
            assert (await closed_code(ws))[0] == 1009
        cookie = await session_cookie(server.url)
        async with server.websocket_connect("/ws/chat", cookies={"mega_sid": cookie}, origin=ORIGIN) as ws:
            await recv(ws)
            await ws.send(json.dumps({"type": "flood"}))  # 200 x 16 KiB queued at once: over 64 KiB
            code, reason = await closed_code(ws)
            assert (code, reason) == (1013, "slow consumer")


async def test_upgrade_refusals(tmp_path: Path) -> None:
    async with running(project(tmp_path)) as rt, live_server(rt) as server:
        cookie = await session_cookie(server.url, "u-xsite")

        async def refused(path: str, **kwargs: Any) -> tuple[int, dict[str, Any]]:
            with pytest.raises(InvalidStatus) as info:
                async with server.websocket_connect(path, **kwargs):
                    pass
            response = info.value.response
            return response.status_code, json.loads(response.body)

        # cross-site, with a valid session cookie: refused before any middleware runs
        status, body = await refused("/ws/chat", cookies={"mega_sid": cookie}, origin="https://evil.example")
        assert status == 403 and body["error"]["code"] == "ws.origin_refused"
        for origin in ("null", None):
            status, body = await refused("/ws/chat", cookies={"mega_sid": cookie}, origin=origin)
            assert status == 403 and body["error"]["code"] == "ws.origin_refused"
        # no channel instance saw those upgrades; the same cookie from the site itself is accepted
        events = [e for m in list(sys.modules.values()) if hasattr(m, "ChatChannel") and
                  isinstance(getattr(m, "EVENTS", None), list) for e in m.EVENTS]
        assert ("connect", "u-xsite") not in events
        async with server.websocket_connect("/ws/chat", cookies={"mega_sid": cookie}, origin=ORIGIN) as ws:
            assert (await recv(ws))["payload"]["user"] == "u-xsite"
        # same site but no session: require_auth refuses with 401
        status, body = await refused("/ws/chat", origin=ORIGIN)
        assert status == 401 and body["error"]["code"] == "auth.required"
        status, body = await refused("/ws/none", origin=ORIGIN)
        assert status == 404 and body["error"]["code"] == "route.not_found"


async def test_allowed_origins_and_missing_origin(tmp_path: Path) -> None:
    ws_conf = "{'allowed_origins': ['https://app.example.com'], 'allow_missing_origin': True}"
    async with running(project(tmp_path, ws_conf)) as rt, live_server(rt) as server:
        for origin in ("https://app.example.com", None):
            async with server.websocket_connect("/ws/open", origin=origin) as ws:
                await ws.send(json.dumps({"type": "echo", "payload": 1}))
                assert (await recv(ws))["payload"] == 1
        with pytest.raises(InvalidStatus):
            async with server.websocket_connect("/ws/open", origin="https://other.example.com"):
                pass


async def test_denial_without_the_extension_never_accepts() -> None:
    from mega.ws._endpoint import deny

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "websocket", "headers": [], "extensions": {}}
    await deny(scope, send, MegaError("ws.origin_refused", "no", status=403), development=False)
    assert sent == [{"type": "websocket.close", "code": 1008}]


DUPLICATE = """
    from mega.ws import WebSocketController, on

    class Twice(WebSocketController):
        @on("a")
        async def first(self, sock, msg, ctx): ...

        @on("a")
        async def second(self, sock, msg, ctx): ...

    def routes(router):
        router.ws("/ws/twice", Twice)
"""


async def test_duplicate_type_fails_boot(tmp_path: Path) -> None:
    write_project(tmp_path, {"mega_config.py": "config = {}\n", "apps/web/app_config.py": "config = {}\n",
                             "apps/web/routes/main.py": DUPLICATE})
    with pytest.raises(MegaError) as info:
        async with running(tmp_path):
            pass
    assert info.value.details["cause"] == "ws.duplicate_type"
    assert "'a' has two handlers" in str(info.value) and "first and second" in str(info.value)


async def test_bad_ws_config_fails_boot(tmp_path: Path) -> None:
    project(tmp_path, "{'max_message_bytes': 0}")
    with pytest.raises(MegaError) as info:
        async with running(tmp_path):
            pass
    assert info.value.details == {"stage": "config", "cause": "config.invalid"}
    assert "ws.max_message_bytes must be at least 1 byte" in str(info.value)
