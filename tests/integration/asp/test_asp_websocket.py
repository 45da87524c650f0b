"""ASP on WebSocket namespaces: `E:` frames decrypted before the channel, every frame out encrypted,
the four refusals close with 1008 and the code (heard by rejection listeners, on a span with
tracing), uncovered namespaces stay plain; `ws_encrypt`/`ws_decrypt` and `Client` interoperate."""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from websockets.exceptions import ConnectionClosed

from mega.asp import Client, ws_decrypt, ws_encrypt
from mega.errors import MegaError
from mega.security import on_rejection
from mega.testing import live_server, running, write_project
from tests.services import unavailable

pytestmark = [pytest.mark.integration]

SECRET = "ws-asp-secret-0123456789abcdefghijklmn"
ORIGIN = "http://testserver"
NS = "/ws/secure"
JS = Path(__file__).parents[3] / "src/mega/asp/asp.js"

ROUTES = """
    from mega.ws import WebSocketController, on

    SEEN = []

    class Echo(WebSocketController):
        async def on_connect(self, sock, ctx):
            sock.send({"type": "hello", "payload": {"ns": "secure"}})

        async def on_disconnect(self, sock, ctx, code):
            SEEN.append(("closed", code))

        @on("echo")
        async def echo(self, sock, msg, ctx):
            SEEN.append(("echo", msg))
            sock.send({"type": "echo", "payload": msg})

    def routes(router):
        router.ws("/ws/secure", Echo)
        router.ws("/ws/plain", Echo)
"""


def project(root: Path, extra: str = "", app_extra: str = "") -> Path:
    return write_project(root, {
        "mega_config.py": f'config = {{"logger": {{"level": "warning"}}{extra}}}\n',
        "apps/web/app_config.py": f"config = {{'asp': {{'secret': '{SECRET}', 'drift': 30, "
                                  f"'websocket': {{'namespaces': ['{NS}']}}}}{app_extra}}}\n",
        "apps/web/routes/main.py": ROUTES,
    })


async def closed(ws: Any) -> tuple[int | None, str]:
    with pytest.raises(ConnectionClosed):
        while True:
            await asyncio.wait_for(ws.recv(), 10)
    return ws.close_code, ws.close_reason or ""


async def test_frames_are_decrypted_in_and_encrypted_out(tmp_path: Path) -> None:
    asp = Client(SECRET)
    async with running(project(tmp_path)) as rt, live_server(rt) as server, \
            server.websocket_connect(NS, origin=ORIGIN) as ws:
        hello = await ws.recv()
        assert hello.startswith("E:")
        assert asp.ws_decrypt(hello, ns=NS) == {"type": "hello", "payload": {"ns": "secure"}}
        await ws.send(asp.ws_encrypt({"type": "echo", "payload": {"text": "hi"}}, ns=NS))
        reply = await ws.recv()
        assert ws_decrypt(SECRET, reply, ns=NS) == {"type": "echo", "payload": {"text": "hi"}}
        await ws.send(ws_encrypt(SECRET, {"type": "nope"}, ns=NS))  # error frames are encrypted too
        error = asp.ws_decrypt(await ws.recv(), ns=NS)
        assert error["payload"]["code"] == "ws.unknown_type"
        with pytest.raises(MegaError) as info:
            ws_decrypt(SECRET, reply, ns="/ws/other")  # bound to its namespace
        assert info.value.code == "asp.decrypt_failed"


async def test_an_uncovered_namespace_stays_plain(tmp_path: Path) -> None:
    async with running(project(tmp_path)) as rt, live_server(rt) as server, \
            server.websocket_connect("/ws/plain", origin=ORIGIN) as ws:
        assert json.loads(await ws.recv())["type"] == "hello"
        await ws.send(json.dumps({"type": "echo", "payload": 1}))
        assert json.loads(await ws.recv()) == {"type": "echo", "payload": 1}


def _tampered(frame: str) -> str:
    raw = bytearray(base64.urlsafe_b64decode(frame[2:] + "=" * (-len(frame[2:]) % 4)))
    raw[-1] ^= 1
    return "E:" + base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=")


@pytest.mark.parametrize("case", ["signal", "bad_base64", "bad_tag", "drift", "replay"])
async def test_each_refusal_closes_1008_with_its_code(tmp_path: Path, case: str) -> None:
    heard: list[str] = []
    stop = on_rejection(lambda r: heard.append(r.reason))
    good = ws_encrypt(SECRET, {"type": "echo", "payload": 1}, ns=NS)
    frames = {
        "signal": ['{"type": "echo", "payload": 1}'],
        "bad_base64": ["E:not*base64!"],
        "bad_tag": [_tampered(good)],
        "drift": [ws_encrypt(SECRET, {"type": "echo"}, ns=NS, timestamp=int(time.time() * 1000) - 31_000)],
        "replay": [good, good],
    }[case]
    code = {"signal": "asp.signal", "bad_base64": "asp.decrypt_failed", "bad_tag": "asp.decrypt_failed",
            "drift": "asp.drift", "replay": "asp.replay"}[case]
    try:
        async with running(project(tmp_path, ', "tracing": {"exporter": "none"}')) as rt:
            exporter = InMemorySpanExporter()
            rt.tracing.provider.add_span_processor(SimpleSpanProcessor(exporter))
            async with live_server(rt) as server, server.websocket_connect(NS, origin=ORIGIN) as ws:
                await ws.recv()  # hello
                if case == "replay":  # the first use is answered, the second refused
                    await ws.send(frames.pop())
                    assert Client(SECRET).ws_decrypt(await ws.recv(), ns=NS)["type"] == "echo"
                for frame in frames:
                    await ws.send(frame)
                assert await closed(ws) == (1008, code)
            spans = [s for s in exporter.get_finished_spans() if s.name == f"WS {NS}"]
            assert [s.attributes["mega.security.reason"] for s in spans] == [code]
    finally:
        stop()
    assert heard == [code]


async def test_the_browser_clients_aspsocket_talks_to_a_covered_channel(tmp_path: Path) -> None:
    """AspSocket from /_mega/asp.js, run by Node's WebCrypto and WebSocket (no browser on this machine)."""
    node = shutil.which("node")
    if node is None:
        unavailable("node is not installed: the browser client's AspSocket is checked with Node")
    script = tmp_path / "socket.mjs"
    async with running(project(tmp_path / "p", app_extra=", 'ws': {'allow_missing_origin': True}")) as rt, \
            live_server(rt) as server:
        script.write_text(f"""
            import {{ AspClient, AspSocket }} from {json.dumps(JS.as_uri())};
            const asp = await AspClient.create({json.dumps(SECRET)});
            const sock = new AspSocket(asp, "ws://127.0.0.1:{server.port}{NS}");
            const got = [];
            sock.addEventListener("message", (e) => {{
              got.push(e.data);
              if (got.length === 1) sock.send({{ type: "echo", payload: {{ text: "héllo" }} }});
              else if (got.length === 2) sock.close(1000, "done");
            }});
            sock.addEventListener("close", (e) => {{
              console.log(JSON.stringify({{ got, code: e.code, ns: sock.ns }}));
            }});
        """)
        proc = await asyncio.create_subprocess_exec(node, "--experimental-websocket", str(script),
                                                    stdout=asyncio.subprocess.PIPE,
                                                    stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err.decode()
    result = json.loads(out.decode().strip().splitlines()[-1])
    assert result == {"got": [{"type": "hello", "payload": {"ns": "secure"}},
                              {"type": "echo", "payload": {"text": "héllo"}}], "code": 1000, "ns": NS}
