"""Presence through a real server: `ctx.presence` in a channel (join with `ctx.auth`, list, broadcast
with except, direct), `get_app(name).presence` from an HTTP handler, and disconnect cleanup."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from mega.testing import live_server, running, write_project

pytestmark = [pytest.mark.integration]

SECRET = "test-secret-0123456789abcdef"
ORIGIN = "http://testserver"

ROUTES = """
    from mega import get_app, login, require_auth
    from mega.ws import WebSocketController, on

    class ChatChannel(WebSocketController):
        async def on_connect(self, sock, ctx):
            a = ctx.auth
            await ctx.presence.join(user_id=a.user_id, session_id=a.session_id, channels=["lobby"],
                                    metadata={"name": a.user_name})
            await ctx.presence.broadcast(channel="lobby", message={"type": "joined", "payload": a.user_id},
                                         except_session_ids=[a.session_id])
            sock.send({"type": "roster", "payload": await ctx.presence.list()})

        async def on_disconnect(self, sock, ctx, code):
            left = {"type": "left", "payload": ctx.auth.user_id}
            await ctx.presence.broadcast(channel="lobby", message=left)

        @on("say")
        async def say(self, sock, msg, ctx):
            await ctx.presence.broadcast(channel="lobby", message={"type": "said", "payload": msg})

        @on("dm")
        async def dm(self, sock, msg, ctx):
            await ctx.presence.direct_to_user(msg["to"], {"type": "dm", "payload": msg["text"]})

        @on("away")
        async def away(self, sock, msg, ctx):
            meta = {"name": ctx.auth.user_name, "away": True}
            await ctx.presence.update_metadata(ctx.auth.session_id, meta)
            sock.send({"type": "channel", "payload": await ctx.presence.list("lobby")})

    async def sign_in(req, reply, ctx):
        user = req.query.get("user")
        auth = await login(ctx, user, user_name=user.upper())
        return {"user_id": auth.user_id}

    async def announce(req, reply, ctx):
        presence = get_app("web").presence
        n = await presence.broadcast(ns="/ws/chat", channel="lobby", message={"type": "notice", "payload": 1})
        return {"reached": n, "members": await presence.list(ns="/ws/chat"),
                "same": ctx.presence is presence}

    def routes(router):
        router.get("/login", sign_in)
        router.post("/announce", announce, csrf=False)
        router.ws("/ws/chat", ChatChannel, before=[require_auth])
"""


async def cookie_of(url: str, user: str) -> str:
    async with httpx.AsyncClient(base_url=url, headers={"host": "testserver"}) as http:
        r = await http.get("/login", params={"user": user})
        assert r.status_code == 200, r.text
        return r.cookies["mega_sid"]


async def recv(ws: Any) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 10))
    return data


async def test_presence_in_a_channel_and_from_http(tmp_path: Path) -> None:
    root = write_project(tmp_path, {
        "mega_config.py": 'config = {"logger": {"level": "warning"}}\n',
        "apps/web/app_config.py": f"config = {{'session': {{'secret': '{SECRET}'}}}}\n",
        "apps/web/routes/main.py": ROUTES,
    })
    async with running(root) as rt, live_server(rt) as server:
        ann, bob = await cookie_of(server.url, "ann"), await cookie_of(server.url, "bob")
        async with server.websocket_connect("/ws/chat", cookies={"mega_sid": ann}, origin=ORIGIN) as a:
            roster = await recv(a)
            assert roster["type"] == "roster" and [m["user_id"] for m in roster["payload"]] == ["ann"]
            assert roster["payload"][0]["metadata"] == {"name": "ANN"}
            async with server.websocket_connect("/ws/chat", cookies={"mega_sid": bob}, origin=ORIGIN) as b:
                assert await recv(a) == {"type": "joined", "ns": "/ws/chat", "payload": "bob"}
                roster = await recv(b)  # bob did not get his own "joined" (except_session_ids)
                assert sorted(m["user_id"] for m in roster["payload"]) == ["ann", "bob"]
                await b.send(json.dumps({"type": "dm", "payload": {"to": "ann", "text": "psst"}}))
                assert await recv(a) == {"type": "dm", "payload": "psst"}
                await a.send(json.dumps({"type": "say", "payload": "hello"}))
                said = {"type": "said", "ns": "/ws/chat", "payload": "hello"}
                assert await recv(a) == said and await recv(b) == said
                await b.send(json.dumps({"type": "away"}))
                listed = (await recv(b))["payload"]
                assert {m["user_id"]: m["metadata"] for m in listed} == {
                    "ann": {"name": "ANN"}, "bob": {"name": "BOB", "away": True}}
                async with httpx.AsyncClient(base_url=server.url, headers={"host": "testserver"}) as http:
                    r = await http.post("/announce")
                body = r.json()["data"]
                assert r.status_code == 200 and body["reached"] == 2 and body["same"] is True
                assert sorted(m["user_id"] for m in body["members"]) == ["ann", "bob"]
                assert await recv(a) == {"type": "notice", "ns": "/ws/chat", "payload": 1}
            assert await recv(a) == {"type": "left", "ns": "/ws/chat", "payload": "bob"}
            presence = rt.apps["web"].presence
            for _ in range(100):
                if [m["user_id"] for m in await presence.list(ns="/ws/chat")] == ["ann"]:
                    break
                await asyncio.sleep(0.02)
            assert [m["user_id"] for m in await presence.list(ns="/ws/chat")] == ["ann"]
