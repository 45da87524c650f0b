"""What a newcomer's first mistakes on a socket get back: a frame type with a typo names the type the
channel handles; a client without an Origin header is told how to get in."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from websockets.exceptions import InvalidStatus

from mega.testing import live_server, running, write_project

pytestmark = [pytest.mark.integration]

ROUTES = """
    from mega.ws import WebSocketController, on

    class ChatChannel(WebSocketController):
        @on("chat.send")
        async def send(self, sock, msg, ctx):
            sock.send({"type": "chat.sent", "payload": msg})

    def routes(router):
        router.ws("/ws/chat", ChatChannel)
"""


def project(root: Path) -> Path:
    return write_project(root, {
        "mega_config.py": 'config = {"logger": {"level": "warning"}}\n',
        "apps/web/app_config.py": "config = {}\n",
        "apps/web/routes/main.py": ROUTES,
    })


async def test_a_type_with_a_typo_gets_did_you_mean(tmp_path: Path) -> None:
    async with running(project(tmp_path)) as rt, live_server(rt) as server, \
            server.websocket_connect("/ws/chat", origin="http://testserver") as ws:
        await ws.send(json.dumps({"type": "chat.sned", "payload": 1}))
        frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert frame["payload"] == {"code": "ws.unknown_type",
                                    "message": "no handler for message type 'chat.sned': "
                                               "did you mean 'chat.send'?",
                                    "details": {"type": "chat.sned"}}
        await ws.send(json.dumps({"type": "zzz"}))  # nothing close: no suggestion
        frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert frame["payload"]["message"] == "no handler for message type 'zzz'"


async def test_no_origin_is_told_how_to_get_in(tmp_path: Path) -> None:
    async with running(project(tmp_path)) as rt, live_server(rt) as server:
        with pytest.raises(InvalidStatus) as info:
            async with server.websocket_connect("/ws/chat", origin=None):
                pass
        body = json.loads(info.value.response.body)
        assert info.value.response.status_code == 403 and body["error"]["code"] == "ws.origin_refused"
        assert "ws.allow_missing_origin" in body["error"]["message"]
