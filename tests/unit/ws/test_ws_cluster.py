"""The `ws_cluster` transport over an in-process wire with a fake clock: fan-out to the other instances
(never back to the sender), each sender's order, the roster (joins, leaves, metadata, snapshots on
request, chunked), the sweep of a silent instance, a graceful stop, and malformed messages."""

from __future__ import annotations

import logging

import pytest

from mega.ws.presence import Presence
from mega.ws.presence._cluster import SNAPSHOT_CHUNK, MemoryHub, NatsCluster
from tests.unit.ws._presence_helpers import close_socket, open_socket, settle


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def instances(n: int, hub: MemoryHub, clock: Clock, *, roster: bool = True,
                    ttl: float = 15, first: int = 0) -> list[tuple[Presence, NatsCluster]]:
    out = []
    for i in range(first, first + n):
        presence = Presence("main", instance_id=f"i{i}")
        cluster = NatsCluster(hub.wire(), "main", roster=roster, ttl=ttl, clock=clock, timers=False)
        presence.use_transport(cluster)
        await presence.start()
        out.append((presence, cluster))
    return out


async def flush(nodes: list[tuple[Presence, NatsCluster]]) -> None:
    for _ in range(3):
        for _, cluster in nodes:
            await cluster.flush()
    await settle()


async def test_broadcast_and_direct_reach_other_instances_once_in_order() -> None:
    hub, clock = MemoryHub(), Clock()
    nodes = await instances(3, hub, clock)
    socks = []
    for n, (presence, _) in enumerate(nodes):
        sock, client = open_socket(presence)
        await presence.join(sock, user_id=f"u{n}", session_id=f"s{n}")
        socks.append(client)
    p0 = nodes[0][0]
    for k in range(20):
        await p0.broadcast(ns="/ws/chat", channel="lobby", message={"type": "m", "payload": k},
                           except_session_ids=["s2"])
    await p0.direct_to_user("u1", {"type": "dm", "payload": "x"})
    await p0.direct_to_user("u0", {"type": "dm", "payload": "self"})
    await flush(nodes)
    got = [[f["payload"] for f in c.take() if f["type"] == "m"] for c in socks]
    assert got == [list(range(20)), list(range(20)), []]  # once each, in order, s2 excepted remotely too
    await p0.direct_to_user("u1", {"type": "dm", "payload": "y"})
    await flush(nodes)
    assert [f["payload"] for f in socks[1].take()] == ["y"]
    assert socks[0].take() == []  # u0's own direct was delivered locally once, never echoed back


async def test_roster_join_leave_metadata_and_late_joiner_snapshot() -> None:
    hub, clock = MemoryHub(), Clock()
    nodes = await instances(2, hub, clock)
    (p0, _), (p1, _) = nodes
    a, _ = open_socket(p0)
    b, _ = open_socket(p1)
    await p0.join(a, user_id="ann", session_id="sa", channels=["lobby"], metadata={"n": 1})
    await p1.join(b, user_id="bob", session_id="sb", channels=["ops"])
    await flush(nodes)
    assert sorted(m["user_id"] for m in await p1.list(ns="/ws/chat")) == ["ann", "bob"]
    assert [m["user_id"] for m in await p1.list(channel="lobby")] == ["ann"]
    await p0.update_metadata("sa", {"n": 2})
    await flush(nodes)
    assert {m["user_id"]: m["metadata"] for m in await p1.list(ns="/ws/chat")}["ann"] == {"n": 2}
    # a third instance starting later asks for snapshots and learns both at once
    [(p2, c2)] = await instances(1, hub, clock, first=2)
    nodes.append((p2, c2))
    await flush(nodes)
    assert sorted(m["user_id"] for m in await p2.list(ns="/ws/chat")) == ["ann", "bob"]
    assert sorted(c2.instances().values()) == [1, 1]
    await close_socket(p0, a)
    await flush(nodes)
    assert [m["user_id"] for m in await p2.list(ns="/ws/chat")] == ["bob"]


async def test_a_silent_instance_is_swept_after_ttl_and_a_stopped_one_at_once() -> None:
    hub, clock = MemoryHub(), Clock()
    nodes = await instances(3, hub, clock, ttl=15)
    for n, (presence, _) in enumerate(nodes):
        sock, _ = open_socket(presence)
        await presence.join(sock, user_id=f"u{n}", session_id=f"s{n}")
    await flush(nodes)
    nodes[1][1].wire.down = True  # type: ignore[attr-defined]  # kill -9: silent from now on
    for _ in range(3):  # heartbeats every ttl / 3 from the live ones
        clock.now += 5.1
        for _p, c in (nodes[0], nodes[2]):
            c.tick()
        await flush(nodes)
    for presence in (nodes[0][0], nodes[2][0]):
        assert sorted(m["user_id"] for m in await presence.list(ns="/ws/chat")) == ["u0", "u2"]
    await nodes[2][1].stop()  # graceful: "x" drops its members at the others without waiting
    await flush(nodes)
    assert [m["user_id"] for m in await nodes[0][0].list(ns="/ws/chat")] == ["u0"]


async def test_snapshots_are_chunked_and_replace_the_roster() -> None:
    hub, clock = MemoryHub(), Clock()
    nodes = await instances(2, hub, clock)
    (p0, c0), (p1, _) = nodes
    count = SNAPSHOT_CHUNK * 2 + 7
    for n in range(count):
        sock, _ = open_socket(p0)
        await p0.join(sock, user_id=f"u{n}", session_id=f"s{n}")
    await flush(nodes)
    nodes[1][1]._remote.clear()  # forget the joins: only the snapshot can bring them back
    published = hub.published
    c0.tick()
    await flush(nodes)
    assert hub.published - published == 3  # three parts
    assert len(await p1.list(ns="/ws/chat")) == count


async def test_roster_none_sends_no_roster_traffic_and_lists_local_only() -> None:
    hub, clock = MemoryHub(), Clock()
    nodes = await instances(2, hub, clock, roster=False)
    (p0, c0), (p1, _) = nodes
    a, _ = open_socket(p0)
    _b, cb = open_socket(p1)
    await p0.join(a, user_id="ann", session_id="sa")
    c0.tick()
    await flush(nodes)
    assert hub.published == 0 and await p1.list(ns="/ws/chat") == []
    await p0.broadcast(ns="/ws/chat", message={"type": "hi"})
    await flush(nodes)
    assert cb.take() == [{"type": "hi", "ns": "/ws/chat", "payload": None}]


async def test_malformed_messages_are_dropped_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    hub, clock = MemoryHub(), Clock()
    nodes = await instances(1, hub, clock)
    wire = hub.wire()
    with caplog.at_level(logging.WARNING, "mega.ws.cluster"):
        await wire.publish("mega.ws.main", b"{nope")
        await wire.publish("mega.ws.main", b'{"i": "other", "k": "b"}')
    assert "malformed message" in caplog.text and "malformed 'b' message" in caplog.text
    assert nodes[0][1].received == 1
