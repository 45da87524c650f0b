"""A hypothesis state machine over three instances of one app sharing a bus (in-process or NATS):
join, leave, disconnect, duplicate session, update_metadata, broadcast, direct, instance crash,
time passing (heartbeats and the sweep, on a fake clock). After every step: the three local indexes
match the model, every live instance's `list()` shows exactly the live members plus the crashed
instances' not yet swept, and every open socket received exactly the messages it should, once."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from mega.ws._socket import Socket
from mega.ws.presence import Presence
from mega.ws.presence._cluster import NatsCluster, Wire
from tests.unit.ws._presence_helpers import Client

NS = "/ws/chat"
USERS = ["u0", "u1", "u2", "u3"]
TTL = 15.0


@dataclass
class Sock:
    sock: Socket
    client: Client
    instance: int
    session: str | None = None  # the session it is joined under
    user: str | None = None
    in_ns: bool = True  # False once detached by a duplicate session
    dead: bool = False  # its instance crashed
    meta: Any = None
    expected: list[Any] = field(default_factory=list)


@dataclass
class Node:
    presence: Presence
    cluster: NatsCluster
    alive: bool = True


def now(coro: Any) -> Any:
    """The result of a coroutine that never suspends (`list()` without a Redis roster)."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value
    coro.close()
    raise AssertionError("list() suspended")


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class PresenceMachine(RuleBasedStateMachine):
    """Subclasses give `make_wire` or `open_wire` (a new wire per instance)."""
    eventual: bool = False  # NATS: poll until the expected state shows (then check it exactly)

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.clock = Clock()
        self.ids = itertools.count()
        self.socks: list[Sock] = []
        self.nodes: list[Node] = []
        self.ghosts: dict[str, tuple[str, Any]] = {}  # crashed instances' members not yet swept
        self.run(self.setup_nodes())

    def run(self, coro: Awaitable[Any]) -> Any:
        return self.loop.run_until_complete(coro)

    async def setup_nodes(self) -> None:
        for slot in range(3):
            self.nodes.append(await self.new_node(slot))

    async def new_node(self, slot: int) -> Node:
        presence = Presence("main", instance_id=f"n{slot}-{next(self.ids)}")
        cluster = NatsCluster(await self.open_wire(), "main", ttl=TTL, clock=self.clock, timers=False,
                              subject_prefix=self.subject_prefix())
        presence.use_transport(cluster)
        await presence.start()
        return Node(presence, cluster)

    def subject_prefix(self) -> str:
        return "mega.ws"

    async def open_wire(self) -> Wire:
        return self.make_wire()

    def teardown(self) -> None:
        async def close() -> None:
            for node in self.nodes:
                await node.presence.close()
            for s in self.socks:
                await s.sock.finish()
            await self.close_wires()

        try:
            self.run(close())
        finally:
            self.loop.close()

    def make_wire(self) -> Wire:
        raise NotImplementedError

    async def close_wires(self) -> None:
        pass

    # -- helpers -----------------------------------------------------------------------------

    def live(self) -> list[int]:
        return [i for i, n in enumerate(self.nodes) if n.alive]

    def open_socks(self) -> list[Sock]:
        return [s for s in self.socks if not s.dead and not s.sock.closed]

    def joined(self) -> list[Sock]:
        return [s for s in self.open_socks() if s.session is not None]

    async def flush(self) -> None:
        for _ in range(2):
            for n in self.nodes:
                if n.alive:
                    await n.cluster.flush()
            for _ in range(4):
                await asyncio.sleep(0)

    def new_socket(self, node: Node) -> tuple[Socket, Client]:
        async def make() -> tuple[Socket, Client]:  # the writer task belongs to this machine's loop
            client = Client()
            sock = Socket(client, limit=1 << 20, path=NS)
            node.presence.connected(sock)
            return sock, client

        result: tuple[Socket, Client] = self.run(make())
        return result

    # -- rules -------------------------------------------------------------------------------

    @rule(instance=st.integers(0, 2), user=st.sampled_from(USERS), meta=st.none() | st.integers(0, 3))
    def join(self, instance: int, user: str, meta: int | None) -> None:
        node = self.nodes[instance]
        if not node.alive:
            return
        sock, client = self.new_socket(node)
        session = f"s{next(self.ids)}"
        metadata = None if meta is None else {"m": meta}
        self.run(node.presence.join(sock, user_id=user, session_id=session, channels=["lobby"],
                                    metadata=metadata))
        self.socks.append(Sock(sock, client, instance, session, user, meta=metadata))
        self.run(self.flush())

    @precondition(lambda self: bool(self.joined()))
    @rule(data=st.data())
    def duplicate_session(self, data: st.DataObject) -> None:
        prior = data.draw(st.sampled_from(self.joined()))
        node = self.nodes[prior.instance]
        sock, client = self.new_socket(node)
        user = data.draw(st.sampled_from(USERS))
        self.run(node.presence.join(sock, user_id=user, session_id=prior.session, channels=["lobby"]))
        self.socks.append(Sock(sock, client, prior.instance, prior.session, user))
        prior.session = prior.user = prior.meta = None
        prior.in_ns = False
        self.run(self.flush())

    @precondition(lambda self: bool(self.joined()))
    @rule(data=st.data())
    def leave(self, data: st.DataObject) -> None:
        s = data.draw(st.sampled_from(self.joined()))
        self.run(self.nodes[s.instance].presence.leave(s.sock))
        s.session = s.user = s.meta = None
        self.run(self.flush())

    @precondition(lambda self: bool(self.open_socks()))
    @rule(data=st.data())
    def disconnect(self, data: st.DataObject) -> None:
        s = data.draw(st.sampled_from(self.open_socks()))

        async def close() -> None:
            await s.sock.finish()
            self.nodes[s.instance].presence.disconnected(s.sock)

        self.run(close())
        s.session = s.user = s.meta = None
        self.run(self.flush())

    @precondition(lambda self: bool(self.socks))
    @rule(data=st.data(), instance=st.integers(0, 2), value=st.integers(0, 9))
    def update_metadata(self, data: st.DataObject, instance: int, value: int) -> None:
        if not self.nodes[instance].alive:
            return
        sessions = [s.session for s in self.socks if s.session] + ["nobody"]
        session = data.draw(st.sampled_from(sessions))
        self.run(self.nodes[instance].presence.update_metadata(session, {"m": value}))
        for s in self.joined():
            if s.instance == instance and s.session == session:
                s.meta = {"m": value}  # a session of another instance: a no-op here
        self.run(self.flush())

    @rule(instance=st.integers(0, 2), data=st.data())
    def broadcast(self, instance: int, data: st.DataObject) -> None:
        if not self.nodes[instance].alive:
            return
        known = [s.session for s in self.socks if s.session] + ["ghost"]
        excepted = data.draw(st.lists(st.sampled_from(known), max_size=3, unique=True))
        tag = next(self.ids)
        message = {"type": "b", "payload": tag}
        self.run(self.nodes[instance].presence.broadcast(ns=NS, channel="lobby", message=message,
                                                         except_session_ids=excepted))
        for s in self.open_socks():
            if s.in_ns and not (s.session is not None and s.session in excepted):
                s.expected.append({"type": "b", "ns": NS, "payload": tag})
        self.run(self.flush())

    @rule(instance=st.integers(0, 2), user=st.sampled_from([*USERS, "nobody"]))
    def direct(self, instance: int, user: str) -> None:
        if not self.nodes[instance].alive:
            return
        tag = next(self.ids)
        self.run(self.nodes[instance].presence.direct_to_user(user, {"type": "d", "payload": tag}))
        for s in self.open_socks():
            if s.user == user:
                s.expected.append({"type": "d", "payload": tag})
        self.run(self.flush())

    @precondition(lambda self: len(self.live()) > 1)
    @rule(data=st.data())
    def crash(self, data: st.DataObject) -> None:
        instance = data.draw(st.sampled_from(self.live()))
        node = self.nodes[instance]
        self.crash_wire(node.cluster.wire)
        node.alive = False
        for s in self.socks:
            if s.instance == instance and not s.dead:
                s.dead = True
                if s.session is not None and not s.sock.closed:
                    self.ghosts[s.session] = (s.user, s.meta)

    def crash_wire(self, wire: Wire) -> None:
        wire.down = True  # type: ignore[attr-defined]

    @rule()
    def time_passes(self) -> None:
        """Four heartbeats (ttl / 3 apart): every crashed instance is swept; crashed slots restart."""
        for _ in range(4):
            self.clock.now += TTL / 3 + 0.01
            for n in self.nodes:
                if n.alive:
                    n.cluster.tick()
            self.run(self.flush())
        self.ghosts.clear()
        for slot, n in enumerate(self.nodes):
            if not n.alive:
                self.run(n.cluster.stop())
                self.nodes[slot] = self.run(self.new_node(slot))
        self.run(self.flush())

    # -- invariants --------------------------------------------------------------------------

    @invariant()
    def indexes_match_the_model(self) -> None:
        for i in self.live():
            ns, users, sessions = self.nodes[i].presence.indexes()
            mine = [s for s in self.socks if s.instance == i and not s.dead and not s.sock.closed]
            assert sessions == {s.session: s.sock for s in mine if s.session is not None}
            want_users: dict[str, set[Socket]] = {}
            for s in mine:
                if s.user is not None:
                    want_users.setdefault(s.user, set()).add(s.sock)
            assert users == want_users
            in_ns = {s.sock for s in mine if s.in_ns}
            assert ns == ({NS: in_ns} if in_ns else {})

    def expected_members(self) -> set[tuple[str, str, str]]:
        out = set()
        for s in self.joined():
            out.add((str(s.session), str(s.user), json.dumps(s.meta, sort_keys=True)))
        for session, (user, meta) in self.ghosts.items():
            out.add((session, user, json.dumps(meta, sort_keys=True)))
        return out

    def check(self, fn: Callable[[], None], grace: float = 0.0) -> None:
        """`fn` now; on a real bus, retried until it holds (5 s at most), then once more `grace` later."""
        if not self.eventual:
            fn()
            return

        async def until() -> None:
            deadline = asyncio.get_running_loop().time() + 5
            while True:
                try:
                    fn()
                    break
                except AssertionError:
                    if asyncio.get_running_loop().time() > deadline:
                        raise
                    await asyncio.sleep(0.01)
            if grace:
                await asyncio.sleep(grace)  # a duplicate would show now
                fn()

        self.run(until())

    @invariant()
    def every_instance_lists_the_cluster(self) -> None:
        want = self.expected_members()

        def lists() -> None:
            for i in self.live():
                members = now(self.nodes[i].presence.list(ns=NS))
                assert len(members) == len({m["session_id"] for m in members})
                assert {(m["session_id"], m["user_id"], json.dumps(m["metadata"], sort_keys=True))
                        for m in members} == want

        self.check(lists)

    @invariant()
    def each_socket_got_exactly_its_messages_once_in_order(self) -> None:
        def frames() -> None:
            for s in self.open_socks():
                assert s.client.frames == s.expected

        self.check(frames, grace=0.01)
