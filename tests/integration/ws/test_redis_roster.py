"""The Redis roster on the real Redis: members per channel with expiry, refresh, graceful removal,
merged into `list(channel=...)`; across two instances a `kill -9`'d member vanishes within 2 x ttl."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from mega.ws.presence import Member, Presence
from mega.ws.presence._redis_roster import RedisRoster
from tests import services
from tests.unit.ws._presence_helpers import close_socket, open_socket, settle

pytestmark = [pytest.mark.integration, pytest.mark.service("redis")]

URL = services.url("redis")
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
async def client() -> AsyncIterator[aioredis.Redis]:
    c = aioredis.from_url(URL)
    yield c
    await c.aclose()


async def test_add_list_expire_refresh_remove(client: aioredis.Redis) -> None:
    app = f"rr{secrets.token_hex(4)}"
    now = [1000.0]
    roster = RedisRoster(client, app_name=app, ttl=10, prefix="t:", clock=lambda: now[0], timers=False)
    await roster.add("lobby", Member("s1", "u1", {"n": 1}))
    await roster.add("lobby", Member("s2", "u2"))
    key = roster.key("lobby")
    assert key == f"t:ws:roster:{app}:lobby"
    assert 19_000 < await client.pttl(key) <= 20_000  # 2 x ttl
    stored = json.loads(await client.hget(key, "s1"))
    assert stored == {"user_id": "u1", "expires_at": 1010.0, "metadata": {"n": 1}}
    assert sorted((m.session_id, m.user_id, m.metadata) for m in await roster.members("lobby")) == [
        ("s1", "u1", {"n": 1}), ("s2", "u2", None)]
    now[0] = 1010.5  # both expired for readers
    assert await roster.members("lobby") == []
    await roster.remove("lobby", "s2")
    assert await client.hkeys(key) == [b"s1"]
    await client.delete(key)


async def test_presence_with_the_roster_refreshes_merges_and_cleans_up(client: aioredis.Redis) -> None:
    app = f"rr{secrets.token_hex(4)}"
    here, there = Presence(app, instance_id="here"), Presence(app, instance_id="there")
    r_here = RedisRoster(client, app_name=app, ttl=10, prefix="t:", timers=False)
    r_there = RedisRoster(client, app_name=app, ttl=10, prefix="t:", timers=False)
    here.use_roster(r_here)
    there.use_roster(r_there)
    await here.start()
    await there.start()
    a, _ = open_socket(here)
    b, _ = open_socket(there)
    await here.join(a, user_id="ann", session_id="sa", channels=["lobby", "ops"], metadata={"x": 1})
    await there.join(b, user_id="bob", session_id="sb", channels=["lobby"])
    listed = await here.list(channel="lobby")
    assert sorted(m["user_id"] for m in listed) == ["ann", "bob"]
    assert [m["user_id"] for m in await there.list(channel="ops")] == ["ann"]
    assert [m["user_id"] for m in await there.list(ns="/ws/chat")] == ["bob"]  # by namespace: local only
    await here.update_metadata("sa", {"x": 2})
    await settle(10)
    await asyncio.sleep(0.05)
    assert {m["user_id"]: m["metadata"] for m in await there.list(channel="lobby")}["ann"] == {"x": 2}
    await here.join(a, user_id="ann", session_id="sa", channels=["lobby"])  # ops dropped
    await asyncio.sleep(0.05)
    assert await there.list(channel="ops") == []
    before = json.loads(await client.hget(r_there.key("lobby"), "sb"))["expires_at"]
    await asyncio.sleep(0.01)
    await r_there.refresh()
    assert json.loads(await client.hget(r_there.key("lobby"), "sb"))["expires_at"] > before
    await close_socket(there, b)
    await asyncio.sleep(0.05)
    assert [m["user_id"] for m in await here.list(channel="lobby")] == ["ann"]
    await here.close()  # graceful: its own members removed at once
    assert await client.exists(r_here.key("lobby")) == 0
    await there.close()


async def test_a_failed_graceful_remove_only_warns(caplog: pytest.LogCaptureFixture) -> None:
    app = f"rr{secrets.token_hex(4)}"
    presence = Presence(app)
    broken = aioredis.from_url("redis://127.0.0.1:1/0")
    presence.use_roster(RedisRoster(broken, app_name=app, ttl=10, timers=False))
    await presence.start()
    sock, _ = open_socket(presence)
    with caplog.at_level("WARNING", "mega.ws.presence"):
        await presence.join(sock, user_id="u", session_id="s", channels=["lobby"])  # add fails: a warning
    assert "roster add to lobby failed" in caplog.text
    with caplog.at_level("WARNING", "mega.ws.roster"):
        await presence.close()
    assert "graceful remove failed (stale until TTL)" in caplog.text
    await broken.aclose()


async def test_a_killed_instance_member_vanishes_within_two_ttl(client: aioredis.Redis) -> None:
    app, ttl = f"rr{secrets.token_hex(4)}", 3.0
    observer = Presence(app)
    observer.use_roster(RedisRoster(client, app_name=app, ttl=ttl, prefix="t:"))
    await observer.start()
    proc = subprocess.Popen([sys.executable, "-m", "tests.integration.ws._roster_member", URL, app, "ghost-1",
                             str(ttl)], cwd=ROOT, stdout=subprocess.PIPE, env={**os.environ})
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 30)
        assert line.strip() == b"ready"
        await asyncio.sleep(ttl + 1)  # past one ttl: still listed, since it refreshes every ttl / 3
        assert [m["session_id"] for m in await observer.list(channel="lobby")] == ["ghost-1"]
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        killed = time.monotonic()
        while await observer.list(channel="lobby"):
            assert time.monotonic() - killed < 2 * ttl, "the killed member is still listed after 2 x ttl"
            await asyncio.sleep(0.1)
        gone_after = time.monotonic() - killed
        print(f"killed member gone after {gone_after:.2f} s (ttl {ttl:g} s)")
        assert gone_after < 2 * ttl
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()
        await observer.close()
