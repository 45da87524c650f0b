"""`mega ws-hub` as a real process: tokens, REGISTER and versions, frame errors, presence, routing,
the heartbeat sweep and the SIGTERM drain."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from tests.integration.ws_hub._hub import (
    HubProcess,
    bridge,
    nothing_of,
    open_link,
    recv,
    recv_type,
    roster,
    send,
    start_hub,
)

pytestmark = [pytest.mark.integration]


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubProcess]:
    process = start_hub(tmp_path_factory.mktemp("hub"))
    yield process
    process.stop()


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def closed_with(ws: object, timeout: float = 10) -> tuple[int | None, str | None]:
    try:
        while True:
            await asyncio.wait_for(ws.recv(), timeout)  # type: ignore[attr-defined]
    except ConnectionClosed as exc:
        return (exc.rcvd.code, exc.rcvd.reason) if exc.rcvd else (None, None)


def test_without_tokens_the_hub_exits_2_with_hub_no_tokens(tmp_path: Path) -> None:
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("MEGA_WSHUB")}
    done = subprocess.run([sys.executable, "-m", "mega", "ws-hub"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    assert "code: hub.no_tokens" in done.stderr
    assert "MEGA_WSHUB_TOKENS" in done.stderr


def test_tokens_and_settings_come_from_dotenv_and_the_ms_heartbeat(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("MEGA_WSHUB_TOKENS=from-dotenv\nMEGA_WSHUB_HEARTBEAT_MS=1500\n")
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("MEGA_WSHUB")}
    proc = subprocess.Popen([sys.executable, "-m", "mega", "ws-hub", "--host", "127.0.0.1", "--port", "0"],
                            cwd=tmp_path, env={**env, "PYTHONUNBUFFERED": "1"}, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    process = HubProcess(proc, int(line.split(":")[-1].split()[0]))
    try:
        assert "heartbeat 1.5s" in line

        async def main() -> None:
            ws = await open_link(process.url, token="from-dotenv")
            await send(ws, "REGISTER", {"bridge_id": "dotenv", "protocol_version": 2})
            ok = await recv(ws)
            assert ok["payload"]["heartbeat"] == 1.5
            await ws.close()

        asyncio.run(main())
    finally:
        assert process.stop() == 0


@pytest.mark.parametrize("token", ["wrong", None])
async def test_a_bad_bearer_token_is_closed_with_1008_hub_auth_failed(hub: HubProcess,
                                                                      token: str | None) -> None:
    ws = await open_link(hub.url, token=token)
    assert await closed_with(ws) == (1008, "hub.auth_failed")


async def test_a_frame_before_register_closes_1008_hub_not_registered(hub: HubProcess) -> None:
    ws = await open_link(hub.url)
    await send(ws, "JOIN", {"session_id": "s", "user_id": "u", "channels": ["chat"]})
    assert await closed_with(ws) == (1008, "hub.not_registered")


async def test_register_ok_names_the_version_and_heartbeat_and_v1_still_registers(hub: HubProcess) -> None:
    ws = await open_link(hub.url)
    await send(ws, "REGISTER", {"bridge_id": uid("v2"), "protocol_version": 2, "instance_id": "x"})
    ok = await recv(ws)
    assert ok["type"] == "register_ok"
    assert ok["payload"]["protocol_version"] == 2
    assert ok["payload"]["versions"] == [1, 2]
    assert ok["payload"]["heartbeat"] == 25
    old = await open_link(hub.url)
    await send(old, "REGISTER", {"bridge_id": uid("v1")})  # v1: no protocol_version field
    assert (await recv(old))["payload"]["protocol_version"] == 1
    await ws.close()
    await old.close()


async def test_an_unsupported_version_gets_register_error_with_the_supported_ones(hub: HubProcess) -> None:
    ws = await open_link(hub.url)
    await send(ws, "REGISTER", {"bridge_id": uid("v9"), "protocol_version": 9})
    error = await recv(ws)
    assert error["type"] == "register_error"
    assert error["payload"]["code"] == "hub.unsupported_version"
    assert error["payload"]["supported"] == [1, 2]
    assert (await closed_with(ws))[0] == 4400


async def test_a_bridge_id_held_by_another_instance_is_refused_and_the_same_instance_replaces(
        hub: HubProcess) -> None:
    name = uid("dup")
    first = await bridge(hub.url, name, instance_id="one")
    other = await open_link(hub.url)
    await send(other, "REGISTER", {"bridge_id": name, "protocol_version": 2, "instance_id": "two"})
    refused = await recv(other)
    assert (refused["type"], refused["payload"]["code"]) == ("register_error", "hub.bridge_id_in_use")
    assert (await closed_with(other))[0] == 4409
    again = await bridge(hub.url, name, instance_id="one")
    assert (await closed_with(first))[0] == 4409
    await send(again, "HEARTBEAT")
    assert (await roster(again)) is not None
    await again.close()


async def test_bad_json_and_unknown_types_get_error_frames_and_the_link_stays(hub: HubProcess) -> None:
    ws = await bridge(hub.url, uid("bad"))
    await ws.send("{not json")
    error = await recv_type(ws, "error")
    assert error["payload"]["code"] == "hub.invalid_frame"
    await send(ws, "JOIN", {"session_id": "", "user_id": "u"})
    assert (await recv_type(ws, "error"))["payload"]["code"] == "hub.invalid_frame"
    await send(ws, "SHOUT", {})
    error = await recv_type(ws, "error")
    assert error["payload"]["code"] == "hub.unknown_type"
    assert "SHOUT" in error["payload"]["message"]
    await send(ws, "REGISTER", {"bridge_id": "again"})
    assert "already registered" in (await recv_type(ws, "error"))["payload"]["message"]
    assert isinstance(await roster(ws), list)  # still registered, still answered
    await ws.close()


async def test_a_frame_over_1_mib_closes_with_1009(hub: HubProcess) -> None:
    ws = await bridge(hub.url, uid("big"))
    blob = "a" * (1 << 20)
    await send(ws, "BROADCAST", {"ns": "/ws", "channel": "c", "message": {"type": "x", "blob": blob}})
    assert (await closed_with(ws))[0] == 1009


async def test_join_is_idempotent_and_presence_reaches_the_other_bridges(hub: HubProcess) -> None:
    a, b = await bridge(hub.url, uid("ja")), await bridge(hub.url, uid("jb"))
    session, channel = uid("s"), uid("chat")
    join = {"session_id": session, "user_id": "u1", "channels": [channel], "metadata": {"n": 1}}
    await send(a, "JOIN", join)
    await send(a, "JOIN", join)
    members = await roster(a, channel)
    assert [m["session_id"] for m in members] == [session]
    assert (await recv_type(b, "JOIN"))["payload"]["session_id"] == session
    assert await nothing_of(b, "JOIN")  # the repeated JOIN changed nothing, so nothing was told
    await send(a, "METADATA", {"session_id": session, "metadata": {"n": 2}})
    assert (await recv_type(b, "METADATA"))["payload"]["metadata"] == {"n": 2}
    assert (await roster(b, channel))[0]["metadata"] == {"n": 2}
    await send(b, "LEAVE", {"session_id": session})  # not b's session: ignored
    assert len(await roster(a, channel)) == 1
    await send(a, "LEAVE", {"session_id": session})
    assert (await recv_type(b, "LEAVE"))["payload"]["session_id"] == session
    assert await roster(a, channel) == []
    await a.close()
    await b.close()


async def test_broadcast_and_direct_reach_other_bridges_with_a_member_never_the_sender(
        hub: HubProcess) -> None:
    channel = uid("room")
    a, b, c = [await bridge(hub.url, uid(n)) for n in "abc"]
    await send(a, "JOIN", {"session_id": uid("sa"), "user_id": "ua", "channels": [channel]})
    sb = uid("sb")
    await send(b, "JOIN", {"session_id": sb, "user_id": "ub", "channels": [channel]})
    await send(c, "JOIN", {"session_id": uid("sc"), "user_id": "uc", "channels": [uid("elsewhere")]})
    await roster(a)
    message = {"type": "chat.msg", "payload": {"text": "hi"}}
    await send(a, "BROADCAST", {"ns": "/ws/chat", "channel": channel, "message": message})
    got = await recv_type(b, "BROADCAST")
    assert got["payload"]["message"] == message and got["payload"]["ns"] == "/ws/chat"
    assert await nothing_of(c, "BROADCAST")
    assert await nothing_of(a, "BROADCAST")
    # excepted sessions do not pull their bridge in
    await send(a, "BROADCAST", {"ns": "/ws/chat", "channel": channel, "message": message,
                                "except_session_ids": [sb]})
    assert await nothing_of(b, "BROADCAST")
    await send(a, "DIRECT", {"user_id": "uc", "message": {"type": "dm"}})
    assert (await recv_type(c, "DIRECT"))["payload"]["message"] == {"type": "dm"}
    assert await nothing_of(b, "DIRECT")
    await send(c, "DIRECT", {"user_id": "uc", "message": {"type": "self"}})
    assert await nothing_of(c, "DIRECT")
    for ws in (a, b, c):
        await ws.close()


async def test_disconnect_goes_to_the_bridge_holding_the_session(hub: HubProcess) -> None:
    a, b = await bridge(hub.url, uid("ka")), await bridge(hub.url, uid("kb"))
    session = uid("victim")
    await send(b, "JOIN", {"session_id": session, "user_id": "u", "channels": []})
    await roster(b)
    await send(a, "DISCONNECT", {"session_id": session, "reason": "bye", "requeue": True})
    kick = await recv_type(b, "DISCONNECT")
    assert kick["payload"] == {"session_id": session, "reason": "bye", "requeue": True,
                               "from": kick["payload"]["from"]}
    await send(a, "DISCONNECT", {"session_id": "nobody"})
    assert await nothing_of(b, "DISCONNECT")
    await a.close()
    await b.close()


async def test_a_link_that_drops_gets_its_sessions_bulk_left(hub: HubProcess) -> None:
    a, b = await bridge(hub.url, uid("da")), await bridge(hub.url, uid("db"))
    s1, s2 = uid("s"), uid("s")
    for s in (s1, s2):
        await send(a, "JOIN", {"session_id": s, "user_id": "u", "channels": ["x"]})
    await roster(a)
    a.transport.abort()  # as a process killed with -9: no close frame
    left = await recv_type(b, "BULK_LEAVE")
    assert sorted(left["payload"]["session_ids"]) == sorted([s1, s2])
    assert not {s1, s2} & {m["session_id"] for m in await roster(b)}
    await b.close()


async def test_the_health_endpoint_lists_links(hub: HubProcess) -> None:
    name = uid("h")
    ws = await bridge(hub.url, name)
    async with httpx.AsyncClient() as client:
        body = (await client.get(f"http://127.0.0.1:{hub.port}/health")).json()
    assert body["ok"] is True and name in body["links"]
    await ws.close()


def test_a_silent_link_is_dropped_after_two_heartbeats_with_bulk_leave(tmp_path: Path) -> None:
    process = start_hub(tmp_path, heartbeat=0.4)

    async def main() -> float:
        silent, alive = await bridge(process.url, "silent"), await bridge(process.url, "alive")
        await send(silent, "JOIN", {"session_id": "ghost", "user_id": "u", "channels": ["c"]})
        await roster(silent)
        started = time.monotonic()

        async def keep_alive() -> None:
            while True:
                await send(alive, "HEARTBEAT")
                await asyncio.sleep(0.2)

        beating = asyncio.ensure_future(keep_alive())
        left = await recv_type(alive, "BULK_LEAVE", timeout=5)
        took = time.monotonic() - started
        beating.cancel()
        assert left["payload"]["session_ids"] == ["ghost"]
        assert await roster(alive) == []
        code, _ = await closed_with(silent, 5)
        assert code == 4408
        await alive.close()
        return took

    try:
        took = asyncio.run(main())
        assert 0.8 <= took <= 2.0, took  # dropped between 2 and 3 heartbeats after its last frame
    finally:
        process.stop()


def test_sigterm_closes_links_with_4503_and_exits_0_within_10_seconds(tmp_path: Path) -> None:
    process = start_hub(tmp_path)

    async def main() -> None:
        links = [await bridge(process.url, f"drain-{i}") for i in range(3)]
        started = time.monotonic()
        process.proc.send_signal(signal.SIGTERM)
        codes = await asyncio.gather(*(closed_with(ws) for ws in links))
        assert {c for c, _ in codes} == {4503}
        assert process.proc.wait(10) == 0
        assert time.monotonic() - started < 10
        with pytest.raises(OSError):
            await open_link(process.url)

    asyncio.run(main())
    process.stop()


def test_ws_hub_compression_from_mega_config_is_negotiated(tmp_path: Path) -> None:
    (tmp_path / "mega_config.py").write_text(
        "config = {'ws_hub': {'compression': {'enabled': True, 'threshold': 64, 'window_bits': 10}}}\n")
    process = start_hub(tmp_path)

    async def main() -> None:
        ws = await bridge(process.url, "deflate")
        assert [e.name for e in ws.protocol.extensions] == ["permessage-deflate"]
        await send(ws, "JOIN", {"session_id": "s" * 150, "user_id": "u", "channels": ["c"] * 50})
        assert (await roster(ws))[0]["user_id"] == "u"
        await ws.close()

    try:
        asyncio.run(main())
    finally:
        process.stop()


def test_a_bad_ws_hub_section_stops_the_hub_with_exit_2(tmp_path: Path) -> None:
    (tmp_path / "mega_config.py").write_text("config = {'ws_hub': {'compression': {'window_bits': 20}}}\n")
    done = subprocess.run([sys.executable, "-m", "mega", "ws-hub"], cwd=tmp_path, capture_output=True,
                          text=True, env={**__import__("os").environ, "MEGA_WSHUB_TOKENS": "t"}, timeout=30)
    assert done.returncode == 2
    assert "ws_hub.compression.window_bits must be an integer 9-15, got 20" in done.stderr


@pytest.mark.parametrize(("name", "value"), [("MEGA_WSHUB_PORT", "http"), ("MEGA_WSHUB_HEARTBEAT", "-1"),
                                             ("MEGA_WSHUB_HEARTBEAT_MS", "soon")])
def test_a_bad_environment_value_exits_2_naming_it(tmp_path: Path, name: str, value: str) -> None:
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("MEGA_WSHUB")}
    done = subprocess.run([sys.executable, "-m", "mega", "ws-hub"], cwd=tmp_path, capture_output=True,
                          text=True, env={**env, "MEGA_WSHUB_TOKENS": "t", name: value}, timeout=30)
    assert done.returncode == 2
    assert name in done.stderr and "code: config.invalid_value" in done.stderr
