"""The bridge link against a real hub: version fallback, resync after each register_ok, stop ends a
backoff, inbound messages reach the handler."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from mega.ws.hub._bridge_settings import BridgeSettings, RetrySettings
from mega.ws.hub._link import HubLink
from tests.e2e.cli.conftest import free_port
from tests.integration.ws_hub._hub import TOKEN, HubProcess, bridge, recv_type, send, start_hub

pytestmark = [pytest.mark.integration]


class Handler:
    def __init__(self) -> None:
        self.got: list[tuple[str, Mapping[str, Any]]] = []
        self.sessions: list[dict[str, Any]] = []

    def on_broadcast(self, payload: Mapping[str, Any]) -> None:
        self.got.append(("broadcast", payload))

    def on_direct(self, payload: Mapping[str, Any]) -> None:
        self.got.append(("direct", payload))

    def on_disconnect(self, payload: Mapping[str, Any]) -> None:
        self.got.append(("disconnect", payload))

    def resync_joins(self) -> list[dict[str, Any]]:
        return list(self.sessions)


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubProcess]:
    process = start_hub(tmp_path_factory.mktemp("hub"))
    yield process
    process.stop()


def settings(url: str, bridge_id: str, **kw: Any) -> BridgeSettings:
    return BridgeSettings(url, kw.pop("token", TOKEN), bridge_id, ("chat",),
                          RetrySettings(5, 0.2, 0.5), 5.0, **kw)


async def test_an_unsupported_version_falls_back_once_to_the_highest_common(hub: HubProcess) -> None:
    link = HubLink(settings(hub.url, "fallback"), Handler(), instance_id="i", versions=(2, 3))
    link.start()
    try:
        assert await link.wait_registered(5)
        assert (link.version, link.attempts) == (2, 2)
    finally:
        await link.stop()
    none = HubLink(settings(hub.url, "nocommon"), Handler(), instance_id="i", versions=(7,))
    gave_up: list[bool] = []
    none.on_gave_up.append(lambda: gave_up.append(True))
    none.start()
    await asyncio.sleep(1.5)
    assert gave_up == [True]
    assert none.refused is not None and "no common protocol version" in none.refused
    assert none.attempts == 1
    await none.stop()


async def test_resync_sends_channel_subscriptions_then_sessions_and_messages_come_back(
        hub: HubProcess) -> None:
    handler = Handler()
    handler.sessions = [{"session_id": "r1", "user_id": "ru", "channels": ["chat"], "ns": "/ws/chat"}]
    link = HubLink(settings(hub.url, "resync"), handler, instance_id="i", subscriptions=["ns:/ws/chat"])
    registered: list[int] = []
    link.on_registered.append(lambda: registered.append(link.registrations))
    link.start()
    other = await bridge(hub.url, "resync-peer")
    try:
        assert await link.wait_registered(5)
        assert registered == [1]
        members = await link.roster()
        mine = {m["session_id"] for m in members if m["bridge_id"] == "resync"}
        assert mine == {"bridge:resync#chat", "bridge:resync#ns:/ws/chat", "r1"}
        await send(other, "BROADCAST", {"ns": "/ws/chat", "channel": "chat", "message": {"type": "m"}})
        await send(other, "DIRECT", {"user_id": "ru", "message": {"type": "d"}})
        await send(other, "DISCONNECT", {"session_id": "r1", "requeue": True})
        deadline = time.monotonic() + 5
        while len(handler.got) < 3 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert [kind for kind, _ in handler.got] == ["broadcast", "direct", "disconnect"]
        assert handler.got[2][1]["requeue"] is True
        # messages the link publishes reach the others; nothing is sent while not registered
        assert link.send("BROADCAST", {"ns": "/ws/chat", "channel": "chat", "message": {"type": "x"}})
        await send(other, "JOIN", {"session_id": "p1", "user_id": "pu", "channels": ["chat"]})
        assert (await recv_type(other, "BROADCAST"))["payload"]["message"] == {"type": "x"}
    finally:
        await other.close()
        await link.stop()
    assert link.send("HEARTBEAT", {}) is False


async def test_stop_ends_a_pending_backoff_at_once(tmp_path: Path) -> None:
    gone = BridgeSettings(f"ws://127.0.0.1:{free_port()}", "t", "gone", (), RetrySettings(30, 5, 10), 1.0)
    link = HubLink(gone, Handler(), instance_id="i")
    link.start()
    await asyncio.sleep(0.5)  # the first attempt failed; the link waits in its backoff
    started = time.monotonic()
    await link.stop()
    assert time.monotonic() - started < 0.5
    assert link.registered is False


async def test_the_link_negotiates_ws_hub_compression(tmp_path: Path) -> None:
    from mega.ws.hub._settings import Compression

    (tmp_path / "mega_config.py").write_text(
        "config = {'ws_hub': {'compression': {'enabled': True, 'threshold': 64, 'window_bits': 11}}}\n")
    process = start_hub(tmp_path)
    link = HubLink(settings(process.url, "deflating"), Handler(), instance_id="i",
                   compression=Compression(True, 64, 11))
    link.start()
    try:
        assert await link.wait_registered(5)
        assert link._ws is not None
        assert [e.name for e in link._ws.protocol.extensions] == ["permessage-deflate"]
        assert len(await link.roster()) == 1  # its own channel subscription, over the compressed link
    finally:
        await link.stop()
        process.stop()
