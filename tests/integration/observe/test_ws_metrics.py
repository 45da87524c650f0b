"""WebSocket metrics: connections open/accepted/closed by code, frames in and out by app and ns,
presence broadcasts by origin, exact after known traffic; and nothing installed when metrics are off."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from mega.observe.metrics import close_label
from mega.testing import make_client, running, write_project
from tests.integration.observe.test_metrics import samples

pytestmark = [pytest.mark.integration]

ROUTES = """
    from mega.ws import WebSocketController, on

    class Room(WebSocketController):
        async def on_connect(self, sock, ctx):
            sock.send({"type": "hello", "payload": None})

        @on("echo")
        async def echo(self, sock, msg, ctx):
            sock.send({"type": "echo", "payload": msg})

        @on("shout")
        async def shout(self, sock, msg, ctx):
            await ctx.presence.broadcast(message={"type": "shout", "payload": msg})

        @on("bye")
        async def bye(self, sock, msg, ctx):
            sock.close(4001, "bye")

    class Quiet(WebSocketController):
        pass

    def routes(router):
        router.ws("/ws/room/{name}", Room)
        router.ws("/ws/quiet", Quiet)
"""


def project(root: Path, metrics: bool) -> Path:
    return write_project(root, {
        "mega_config.py": f'config = {{"logger": {{"level": "critical"}}, "metrics": {metrics}}}\n',
        "apps/web/app_config.py": "config = {}\n",
        "apps/web/routes/main.py": ROUTES,
    })


def ws_endpoint(rt: object, path: str) -> object:
    return rt.apps["web"]._ws._table.match(path)[0]["WS"]  # type: ignore[attr-defined]


async def scrape_until(http: object, name: str, labels: str, want: float) -> str:
    deadline = time.monotonic() + 10
    while True:
        text: str = (await http.get("/metrics")).text  # type: ignore[attr-defined]
        if samples(text, name).get(labels) == want or time.monotonic() > deadline:
            return text
        await asyncio.sleep(0.05)


async def test_ws_series_are_exact_after_known_traffic(tmp_path: Path) -> None:
    room = "/ws/room/{name}"
    async with running(project(tmp_path, True)) as rt, make_client(rt) as http:
        origin = "http://testserver"
        async with http.websocket_connect("/ws/room/a", origin=origin) as a:
            assert json.loads(await a.recv())["type"] == "hello"
            async with http.websocket_connect("/ws/room/b", origin=origin) as b:
                assert json.loads(await b.recv())["type"] == "hello"
                for n in range(3):
                    await a.send(json.dumps({"type": "echo", "payload": n}))
                    assert json.loads(await a.recv()) == {"type": "echo", "payload": n}
                await a.send("not json")
                assert json.loads(await a.recv())["payload"]["code"] == "ws.invalid_json"
                await a.send(json.dumps({"type": "shout", "payload": "hi"}))
                assert json.loads(await a.recv())["type"] == "shout"
                assert json.loads(await b.recv())["type"] == "shout"
                text = (await http.get("/metrics")).text
                assert samples(text, "mega_ws_connections_open") == {
                    f'{{app="web",ns="{room}"}}': 2.0, '{app="web",ns="/ws/quiet"}': 0.0}
            await scrape_until(http, "mega_ws_connections_closed_total",
                               f'{{app="web",code="1000",ns="{room}"}}', 1.0)
            await a.send(json.dumps({"type": "bye"}))
            await a.wait_closed()
            assert a.close_code == 4001
        presence = rt.apps["web"].presence
        presence.deliver_broadcast("/ws/quiet", None, {"type": "x"})  # as another instance would
        presence.deliver_broadcast("/ws/elsewhere", None, {"type": "x"})  # not a channel here
        text = await scrape_until(http, "mega_ws_connections_closed_total",
                                  f'{{app="web",code="4xxx",ns="{room}"}}', 1.0)
    assert samples(text, "mega_ws_connections_total") == {
        f'{{app="web",ns="{room}"}}': 2.0, '{app="web",ns="/ws/quiet"}': 0.0}
    assert samples(text, "mega_ws_connections_open") == {
        f'{{app="web",ns="{room}"}}': 0.0, '{app="web",ns="/ws/quiet"}': 0.0}
    assert samples(text, "mega_ws_connections_closed_total") == {
        f'{{app="web",code="1000",ns="{room}"}}': 1.0, f'{{app="web",code="4xxx",ns="{room}"}}': 1.0}
    # in: 3 echo + 1 bad JSON + 1 shout + 1 bye; out: 2 hello + 3 echo + 1 error + 2 shout
    assert samples(text, "mega_ws_messages_total") == {
        f'{{app="web",direction="in",ns="{room}"}}': 6.0, f'{{app="web",direction="out",ns="{room}"}}': 8.0,
        '{app="web",direction="in",ns="/ws/quiet"}': 0.0, '{app="web",direction="out",ns="/ws/quiet"}': 0.0}
    assert samples(text, "mega_ws_presence_broadcasts_total") == {
        f'{{app="web",ns="{room}",origin="local"}}': 1.0,
        '{app="web",ns="/ws/quiet",origin="remote"}': 1.0,
        '{app="web",ns="__unmatched__",origin="remote"}': 1.0}


async def test_off_installs_no_ws_hook(tmp_path: Path) -> None:
    async with running(project(tmp_path, False)) as rt, make_client(rt) as http:
        assert rt.instruments is None
        assert ws_endpoint(rt, "/ws/room/a").observer is None  # type: ignore[attr-defined]
        assert rt.apps["web"].presence.observe_broadcast is None
        async with http.websocket_connect("/ws/room/a", origin="http://testserver") as ws:
            assert json.loads(await ws.recv())["type"] == "hello"
        assert (await http.get("/metrics")).status_code == 404
    async with running(project(tmp_path / "on", True)) as rt:
        assert ws_endpoint(rt, "/ws/room/a").observer is not None  # type: ignore[attr-defined]
        assert rt.apps["web"].presence.observe_broadcast is not None


def test_close_code_labels_are_bounded() -> None:
    assert [close_label(c) for c in (1000, 1013, 1015, 4503, 4001, 3000, 1016, 999, 5000, 2000)] == [
        "1000", "1013", "1015", "4503", "4xxx", "3xxx", "other", "other", "other", "other"]
    assert len({close_label(c) for c in range(0, 70_000)}) == 20
