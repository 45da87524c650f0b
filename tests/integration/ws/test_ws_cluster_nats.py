"""`ws_cluster` over the real NATS: two instances, each on its own connection, exchange broadcasts,
direct messages and rosters; after a NATS restart both ask for and republish snapshots."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from mega import shutdown
from mega.adapters.nats import NatsAdapter
from mega.testing import running, write_project
from mega.ws.presence import Presence
from mega.ws.presence._cluster import NatsCluster, NatsWire
from tests.integration.bus.nats_control import URL, PrivateNats
from tests.unit.ws._presence_helpers import close_socket, open_socket

pytestmark = [pytest.mark.integration, pytest.mark.service("nats")]


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


async def node(url: str, prefix: str, n: int, ttl: float = 15) -> tuple[Presence, NatsCluster, NatsAdapter]:
    adapter = NatsAdapter(f"ws{n}", {"url": url})
    await adapter.connect()
    presence = Presence("main", instance_id=f"node{n}-{secrets.token_hex(3)}")
    cluster = NatsCluster(NatsWire(adapter), "main", ttl=ttl, subject_prefix=prefix)
    presence.use_transport(cluster)
    await presence.start()
    return presence, cluster, adapter


async def test_two_instances_over_nats() -> None:
    prefix = f"t{secrets.token_hex(4)}.ws"
    (p0, _c0, a0), (p1, _c1, a1) = [await node(URL, prefix, n) for n in range(2)]
    try:
        s0, k0 = open_socket(p0)
        s1, k1 = open_socket(p1)
        await p0.join(s0, user_id="ann", session_id="sa", channels=["lobby"])
        await p1.join(s1, user_id="bob", session_id="sb", channels=["lobby"], metadata={"x": 1})

        async def both_listed() -> bool:
            lists = [sorted(m["user_id"] for m in await p.list(ns="/ws/chat")) for p in (p0, p1)]
            return lists == [["ann", "bob"], ["ann", "bob"]]

        await eventually(both_listed)
        assert sorted(m["user_id"] for m in await p0.list(channel="lobby")) == ["ann", "bob"]
        for k in range(50):
            await p0.broadcast(ns="/ws/chat", message={"type": "m", "payload": k})
        await p1.direct_to_user("ann", {"type": "dm", "payload": "hi"})

        async def delivered() -> bool:
            return len(k1.frames) >= 50 and any(f["type"] == "dm" for f in k0.frames)

        await eventually(delivered)
        await asyncio.sleep(0.1)
        assert [f["payload"] for f in k1.take()] == list(range(50))  # once each, in order
        assert [f["payload"] for f in k0.take() if f["type"] == "m"] == list(range(50))  # local, no echo
        await close_socket(p1, s1)

        async def bob_gone() -> bool:
            return [m["user_id"] for m in await p0.list(ns="/ws/chat")] == ["ann"]

        await eventually(bob_gone)
    finally:
        for p, a in ((p0, a0), (p1, a1)):
            await p.close()
            await a.disconnect()


async def test_snapshots_after_a_nats_restart() -> None:
    server = PrivateNats()
    server.start()
    prefix = f"t{secrets.token_hex(4)}.ws"
    try:
        (p0, _c0, a0), (p1, c1, a1) = [await node(server.url, prefix, n, ttl=300) for n in range(2)]
        try:
            s0, _ = open_socket(p0)
            await p0.join(s0, user_id="ann", session_id="sa")

            async def p1_sees_ann() -> bool:
                return [m["user_id"] for m in await p1.list(ns="/ws/chat")] == ["ann"]

            await eventually(p1_sees_ann)
            server.stop()
            c1._remote.clear()  # as if p1 had restarted meanwhile: only a snapshot brings ann back
            await asyncio.sleep(0.2)
            server.start()
            await eventually(p1_sees_ann, timeout=20)  # the reconnect asks for and republishes snapshots
        finally:
            for p, a in ((p0, a0), (p1, a1)):
                await p.close()
                await a.disconnect()
    finally:
        server.stop()


async def test_boot_wires_the_cluster_for_apps_with_channels_only(tmp_path: Path) -> None:
    prefix = f"t{secrets.token_hex(4)}.ws"
    root = write_project(tmp_path, {
        "mega_config.py": f"""config = {{"logger": {{"level": "warning"}},
            "services": {{"buses": {{"events": {{"driver": "nats", "url": "{URL}"}}}}}},
            "ws_cluster": {{"bus": "events", "roster": {{"ttl": 6}}, "subject_prefix": "{prefix}"}}}}
        """,
        "apps/web/routes/main.py": """
            from mega.ws import WebSocketController

            def routes(router):
                router.ws("/ws/chat", WebSocketController)
        """,
        "apps/api/app_config.py": "config = {'hosts': ['api.local']}\n",
        "apps/api/routes/main.py": """
            def routes(router):
                router.get("/x", lambda req, reply, ctx: {})
        """,
    })
    async with running(root) as rt:
        cluster = rt.apps["web"].presence.transport
        assert isinstance(cluster, NatsCluster) and cluster.registered
        assert cluster.subject == f"{prefix}.web" and cluster.ttl == 6 and cluster.keeps_roster
        assert rt.apps["api"]._presence is None  # no channels: no presence built, nothing wired
        assert "mega-ws-cluster:web" in shutdown.names()
    assert not cluster.registered and "mega-ws-cluster:web" not in shutdown.names()
