"""permessage-deflate per app (`ws.compression`), through mega's uvicorn server and a `websockets`
client that offers it: off by default (nothing negotiated), on for the app that asks (several apps on
one port differ), messages under the threshold go out uncompressed, and a compressed frame that
inflates too far closes the socket with 1009; an offer that does not parse opens the socket uncompressed."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed
from websockets.extensions.base import Extension
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory
from websockets.frames import Frame

from mega.boot.stages import BootError
from mega.testing import live_server, running, write_project

pytestmark = [pytest.mark.integration]

ROUTES = """
    from mega.ws import WebSocketController, on

    class EchoChannel(WebSocketController):
        @on("echo")
        async def echo(self, sock, msg, ctx):
            sock.send({"type": "echo", "payload": msg})

        @on("size")
        async def size(self, sock, msg, ctx):
            sock.send({"type": "size", "payload": len(msg)})

    def routes(router):
        router.ws("/ws/echo", EchoChannel)
"""


def project(root: Path, packed_ws: str) -> Path:
    """Two apps on one port, by Host: `plain` keeps the defaults, `packed` sets `ws` to `packed_ws`."""
    return write_project(root, {
        "mega_config.py": 'config = {"logger": {"level": "warning"}}\n',
        "apps/plain/app_config.py": "config = {'hosts': ['plain.test']}\n",
        "apps/plain/routes/main.py": ROUTES,
        "apps/packed/app_config.py": f"config = {{'hosts': ['packed.test'], 'ws': {packed_ws}}}\n",
        "apps/packed/routes/main.py": ROUTES,
    })


class _Recorder(Extension):
    """Client side: records each received data frame as it came off the wire (payload size, RSV1)."""

    def __init__(self, inner: Extension, seen: list[tuple[int, bool]]) -> None:
        self.inner = inner
        self.name = inner.name
        self.seen = seen

    def decode(self, frame: Frame, *, max_size: int | None = None) -> Frame:
        if frame.opcode.name in ("TEXT", "BINARY"):
            self.seen.append((len(frame.data), frame.rsv1))
        return self.inner.decode(frame, max_size=max_size)

    def encode(self, frame: Frame) -> Frame:
        return self.inner.encode(frame)


class RecordingDeflate(ClientPerMessageDeflateFactory):
    """What browsers offer (`permessage-deflate; client_max_window_bits`), recording the frames."""

    def __init__(self) -> None:
        super().__init__(client_max_window_bits=True)
        self.seen: list[tuple[int, bool]] = []

    def process_response_params(self, params: Any, accepted_extensions: Any) -> Any:
        return _Recorder(super().process_response_params(params, accepted_extensions), self.seen)


async def recv(ws: Any) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 10))
    return data


def big_payload() -> list[dict[str, Any]]:
    """About 20 KB of chat-like JSON."""
    return [{"id": f"m-{i:05d}", "user": f"u{i % 7}", "text": "see you at the meeting in room four"}
            for i in range(250)]


async def test_off_by_default_and_on_for_the_app_that_asks_on_the_same_port(tmp_path: Path) -> None:
    async with running(project(tmp_path, "{'compression': {'threshold': 512}}")) as rt, \
            live_server(rt) as server:
        payload = big_payload()
        offer = RecordingDeflate()
        async with server.websocket_connect("/ws/echo", host="plain.test", origin="http://plain.test",
                                            extensions=[offer]) as ws:
            assert ws.response.headers.get("Sec-WebSocket-Extensions") is None
            assert ws.protocol.extensions == []
            await ws.send(json.dumps({"type": "echo", "payload": payload}))
            assert (await recv(ws))["payload"] == payload
        assert offer.seen == []  # nothing negotiated: the recorder was never installed

        offer = RecordingDeflate()
        async with server.websocket_connect("/ws/echo", host="packed.test", origin="http://packed.test",
                                            extensions=[offer]) as ws:
            assert ws.response.headers["Sec-WebSocket-Extensions"] == (
                "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12")
            await ws.send(json.dumps({"type": "echo", "payload": payload}))  # compressed by the client
            assert (await recv(ws))["payload"] == payload
            await ws.send(json.dumps({"type": "size", "payload": "x" * 100}))
            assert await recv(ws) == {"type": "size", "payload": 100}
        sent = len(json.dumps({"type": "echo", "payload": payload}, separators=(",", ":")))
        (big_wire, big_rsv1), (small_wire, small_rsv1) = offer.seen
        assert big_rsv1 is True and big_wire < sent / 5  # the 20 KB echo, deflated on the wire
        assert small_rsv1 is False and small_wire == len(b'{"type":"size","payload":100}')  # under 512 B


async def test_true_turns_it_on_with_the_defaults(tmp_path: Path) -> None:
    async with running(project(tmp_path, "{'compression': True}")) as rt, live_server(rt) as server:
        offer = RecordingDeflate()
        async with server.websocket_connect("/ws/echo", host="packed.test", origin="http://packed.test",
                                            extensions=[offer]) as ws:
            await ws.send(json.dumps({"type": "echo", "payload": "y" * 1500}))  # over 1024 B: compressed
            assert (await recv(ws))["payload"] == "y" * 1500
            await ws.send(json.dumps({"type": "echo", "payload": "y" * 900}))  # under: sent as is
            assert (await recv(ws))["payload"] == "y" * 900
        assert [rsv1 for _, rsv1 in offer.seen] == [True, False]


async def test_a_client_that_offers_nothing_gets_plain_frames(tmp_path: Path) -> None:
    async with running(project(tmp_path, "{'compression': True}")) as rt, live_server(rt) as server, \
            server.websocket_connect("/ws/echo", host="packed.test", origin="http://packed.test",
                                     compression=None) as ws:
        assert ws.response.headers.get("Sec-WebSocket-Extensions") is None
        await ws.send(json.dumps({"type": "echo", "payload": "z" * 5000}))
        assert (await recv(ws))["payload"] == "z" * 5000


async def test_an_offer_that_does_not_parse_opens_the_socket_uncompressed(tmp_path: Path) -> None:
    bad_offer = [("Sec-WebSocket-Extensions", "permessage-deflate; ,=")]
    async with running(project(tmp_path, "{'compression': True}")) as rt, live_server(rt) as server, \
            connect(f"ws://packed.test:{server.port}/ws/echo", host="127.0.0.1", port=server.port,
                    origin="http://packed.test", compression=None,  # type: ignore[arg-type]
                    additional_headers=bad_offer) as ws:
        assert ws.response.headers.get("Sec-WebSocket-Extensions") is None
        await ws.send(json.dumps({"type": "echo", "payload": "q" * 3000}))
        assert (await recv(ws))["payload"] == "q" * 3000


async def test_a_frame_that_inflates_past_twice_the_message_limit_closes_1009(tmp_path: Path) -> None:
    ws_conf = "{'compression': True, 'max_message_bytes': 4096}"
    async with running(project(tmp_path, ws_conf)) as rt, live_server(rt) as server, \
            server.websocket_connect("/ws/echo", host="packed.test", origin="http://packed.test") as ws:
        await ws.send(json.dumps({"type": "size", "payload": "a" * 4000}))  # within the limit
        assert await recv(ws) == {"type": "size", "payload": 4000}
        await ws.send("b" * 1_000_000)  # a 1 MB frame that deflates to about 1 KB
        with pytest.raises(ConnectionClosed):
            while True:
                await asyncio.wait_for(ws.recv(), 10)
        assert ws.close_code == 1009


@pytest.mark.parametrize(("value", "key", "code"), [
    ("{'compression': {'window_bits': 8}}", "ws.compression.window_bits", "config.invalid_value"),
    ("{'compression': {'window_bits': 16}}", "ws.compression.window_bits", "config.invalid_value"),
    ("{'compression': {'threshold': -1}}", "ws.compression.threshold", "config.invalid_value"),
    ("{'compression': 'yes'}", "ws.compression", "config.invalid_type"),
])
async def test_a_bad_value_fails_boot(tmp_path: Path, value: str, key: str, code: str) -> None:
    with pytest.raises(BootError) as info:
        async with running(project(tmp_path, value)):
            pass
    problems = info.value.original.problems  # type: ignore[attr-defined]
    assert [(p.code, p.key, p.file) for p in problems] == [(code, key, "apps/packed/app_config.py")]
