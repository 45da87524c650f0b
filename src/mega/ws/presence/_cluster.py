"""`ws_cluster`: presence across the instances of a project over one NATS connection.

Every instance of an app publishes on, and subscribes to, one subject, `<subject_prefix>.<app>`
(default `mega.ws.<app>`); each message names its sender (`i`, the instance id) and receivers skip
their own. One ordered publish queue per app keeps each sender's order. docs/reference/ws-cluster.md
describes the messages.

The wire is a small interface (`Wire`) so that the same transport runs over NATS (`NatsWire`) and, in
tests, over an in-process hub (`MemoryWire`) with a fake clock.
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from mega.http.envelope import dumps
from mega.ws.presence._seam import Member, PresenceSink, PresenceTransport, Session

if TYPE_CHECKING:
    from mega.adapters.nats import NatsAdapter

__all__ = ["MemoryHub", "MemoryWire", "NatsCluster", "NatsWire", "Wire"]

log = logging.getLogger("mega.ws.cluster")
VERSION = 1
SNAPSHOT_CHUNK = 200  # members per snapshot message (keeps each well under NATS's 1 MB max_payload)
Receive = Callable[[bytes], None]


class Wire(ABC):
    """What the cluster needs from a message bus."""

    @abstractmethod
    async def publish(self, subject: str, data: bytes) -> None: ...

    @abstractmethod
    async def subscribe(self, subject: str, receive: Receive) -> Any: ...

    @abstractmethod
    async def unsubscribe(self, handle: Any) -> None: ...

    async def flush(self) -> None:  # noqa: B027  (optional: nothing to wait for by default)
        """Wait until what was published reached the server."""

    def on_reconnect(self, callback: Callable[[], Awaitable[None]]) -> Callable[[], None]:
        """Call `callback` after each reconnect; returns the function that removes it."""
        return lambda: None


class NatsWire(Wire):
    """Core NATS over a `services.buses` connection (at most once, per-publisher order)."""

    def __init__(self, adapter: NatsAdapter) -> None:
        self.adapter = adapter

    async def publish(self, subject: str, data: bytes) -> None:
        await self.adapter.publish(subject, data)

    async def subscribe(self, subject: str, receive: Receive) -> Any:
        async def on_message(msg: Any) -> None:
            receive(msg.data)

        return await self.adapter.subscribe(subject, on_message)

    async def unsubscribe(self, handle: Any) -> None:
        await self.adapter.unsubscribe(handle)

    async def flush(self) -> None:
        await self.adapter.flush()

    def on_reconnect(self, callback: Callable[[], Awaitable[None]]) -> Callable[[], None]:
        listeners = self.adapter.on_reconnected
        listeners.append(callback)
        return lambda: listeners.remove(callback) if callback in listeners else None


class MemoryHub:
    """An in-process bus for tests: publishing delivers to every subscriber of the subject at once."""

    def __init__(self) -> None:
        self.subscribers: dict[str, list[Receive]] = collections.defaultdict(list)
        self.published = 0

    def wire(self) -> MemoryWire:
        return MemoryWire(self)


class MemoryWire(Wire):
    def __init__(self, hub: MemoryHub) -> None:
        self.hub = hub
        self.down = False  # a crashed instance: publishes nothing, receives nothing

    async def publish(self, subject: str, data: bytes) -> None:
        if self.down:
            return
        self.hub.published += 1
        for receive in list(self.hub.subscribers.get(subject, ())):
            receive(data)

    async def subscribe(self, subject: str, receive: Receive) -> Any:
        def guarded(data: bytes) -> None:
            if not self.down:
                receive(data)

        self.hub.subscribers[subject].append(guarded)
        return (subject, guarded)

    async def unsubscribe(self, handle: Any) -> None:
        subject, receive = handle
        found = self.hub.subscribers.get(subject, [])
        if receive in found:
            found.remove(receive)


def _member(item: Sequence[Any]) -> Member:
    ns, session_id, user_id, channels, metadata = item
    return Member(session_id, user_id, metadata, tuple(channels or ()), ns)


def _row(session: Session) -> list[Any]:
    return [session.ns, session.session_id, session.user_id, list(session.channels),
            dict(session.metadata) if session.metadata is not None else None]


class NatsCluster(PresenceTransport):
    """The `ws_cluster` transport of one app. `roster=False` (driver `none`): broadcasts and direct
    messages only, `list()` stays local. Timers run every `ttl / 3` unless `timers=False` (tests then
    call `tick()` with a fake clock)."""

    name = "ws_cluster"

    def __init__(self, wire: Wire, app_name: str, *, roster: bool = True, ttl: float = 15.0,
                 subject_prefix: str = "mega.ws", clock: Callable[[], float] = time.monotonic,
                 timers: bool = True) -> None:
        self.wire = wire
        self.app_name = app_name
        self.subject = f"{subject_prefix}.{app_name}"
        self.keeps_roster = roster
        self.ttl = float(ttl)
        self.clock = clock
        self.timers = timers
        self.instance_id = ""
        self._sink: PresenceSink | None = None
        self._queue: collections.deque[bytes] = collections.deque()
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._writer: asyncio.Task[None] | None = None
        self._timer: asyncio.Task[None] | None = None
        self._handle: Any = None
        self._unlisten: Callable[[], None] = lambda: None
        self._started = False
        self._seq = 0
        self._remote: dict[str, dict[str, Member]] = {}  # instance id -> session id -> member
        self._seen: dict[str, float] = {}  # instance id -> when it was last heard of
        self._partial: dict[str, tuple[int, dict[str, Member]]] = {}  # snapshot being received
        self.failures = 0
        self.received = 0

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def registered(self) -> bool:
        return self._started

    async def start(self, sink: PresenceSink) -> None:
        if self._started:
            return
        self._sink = sink
        self.instance_id = sink.instance_id
        self._handle = await self.wire.subscribe(self.subject, self._receive)
        self._writer = asyncio.get_running_loop().create_task(self._write())
        self._started = True
        self._unlisten = self.wire.on_reconnect(self._reconnected)
        if self.keeps_roster:
            self._send({"k": "q"})  # ask the others for their rosters
            self._send_snapshot()
            if self.timers:
                self._timer = asyncio.get_running_loop().create_task(self._beat())

    async def stop(self) -> None:
        if not self._started:
            return
        if self.keeps_roster:
            self._send({"k": "x"})  # "I am leaving": the others drop this instance's members now
        self._started = False
        self._unlisten()
        if self._timer is not None:
            self._timer.cancel()
        try:
            await asyncio.wait_for(self.flush(), 2.0)
        except Exception as exc:
            log.warning("app %s: ws_cluster could not flush at stop: %s", self.app_name, exc)
        if self._writer is not None:
            self._writer.cancel()
            await asyncio.gather(self._writer, return_exceptions=True)
        if self._timer is not None:
            await asyncio.gather(self._timer, return_exceptions=True)
        try:
            await self.wire.unsubscribe(self._handle)
        except Exception as exc:
            log.debug("app %s: ws_cluster unsubscribe failed: %s", self.app_name, exc)
        self._remote.clear()
        self._seen.clear()

    async def flush(self) -> None:
        """Wait until every queued message was handed to the wire, and the wire flushed."""
        while self._queue:
            self._idle.clear()
            await self._idle.wait()
        await self.wire.flush()

    async def _reconnected(self) -> None:
        if self._started and self.keeps_roster:
            self._send({"k": "q"})
            self._send_snapshot()

    async def _beat(self) -> None:
        interval = self.ttl / 3
        while True:
            await asyncio.sleep(interval)
            self.tick()

    def tick(self) -> None:
        """One heartbeat: publish this instance's snapshot, sweep instances silent for `ttl`."""
        if not self._started or not self.keeps_roster:
            return
        self._send_snapshot()
        self.sweep()

    def sweep(self) -> list[str]:
        now = self.clock()
        gone = [i for i, seen in self._seen.items() if now - seen > self.ttl]
        for instance in gone:
            self._forget(instance)
            log.info("app %s: ws_cluster instance %s silent for %.0f s: its members were removed",
                     self.app_name, instance, self.ttl)
        return gone

    def _forget(self, instance: str) -> None:
        self._remote.pop(instance, None)
        self._seen.pop(instance, None)
        self._partial.pop(instance, None)

    # -- outbound ----------------------------------------------------------------------------

    def publish_join(self, session: Session) -> None:
        if self.keeps_roster:
            self._send({"k": "j", "m": _row(session)})

    def publish_leave(self, ns: str, session_id: str) -> None:
        if self.keeps_roster:
            self._send({"k": "l", "s": session_id})

    def publish_metadata(self, ns: str, session_id: str, metadata: Mapping[str, Any]) -> None:
        if self.keeps_roster:
            self._send({"k": "m", "s": session_id, "d": dict(metadata)})

    def publish_broadcast(self, ns: str, channel: str | None, message: Mapping[str, Any],
                          except_session_ids: Sequence[str]) -> None:
        body: dict[str, Any] = {"k": "b", "n": ns, "c": channel, "t": message["type"],
                                "p": message.get("payload")}
        if except_session_ids:
            body["x"] = list(except_session_ids)
        self._send(body)

    def publish_direct(self, user_id: str, message: Mapping[str, Any]) -> None:
        self._send({"k": "d", "u": user_id, "t": message["type"], "p": message.get("payload")})

    def _send_snapshot(self) -> None:
        assert self._sink is not None
        rows = [_row(s) for s in self._sink.local_sessions()]
        self._seq += 1
        parts = max(1, -(-len(rows) // SNAPSHOT_CHUNK))
        for part in range(parts):
            chunk = rows[part * SNAPSHOT_CHUNK:(part + 1) * SNAPSHOT_CHUNK]
            self._send({"k": "s", "q": self._seq, "o": part, "t": parts, "m": chunk})

    def _send(self, body: dict[str, Any]) -> None:
        body["v"] = VERSION
        body["i"] = self.instance_id
        self._queue.append(dumps(body))
        self._wake.set()

    async def _write(self) -> None:
        queue, publish, subject = self._queue, self.wire.publish, self.subject
        while True:
            while not queue:
                self._idle.set()
                self._wake.clear()
                await self._wake.wait()
            data = queue[0]
            try:
                await publish(subject, data)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # delivered locally already: at most once
                self.failures += 1
                if self.failures == 1 or self.failures % 1000 == 0:
                    log.warning("app %s: ws_cluster publish failed (%d so far): %s", self.app_name,
                                self.failures, exc)
            queue.popleft()

    # -- inbound -----------------------------------------------------------------------------

    def _receive(self, data: bytes) -> None:
        try:
            body = json.loads(data)
            sender = body["i"]
            kind = body["k"]
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("app %s: ws_cluster dropped a malformed message: %s", self.app_name, exc)
            return
        if sender == self.instance_id or not self._started:
            return  # our own echo
        self.received += 1
        sink = self._sink
        assert sink is not None
        try:
            if kind == "b":
                message = {"type": body["t"], "payload": body.get("p")}
                sink.deliver_broadcast(body["n"], body.get("c"), message, body.get("x") or ())
            elif kind == "d":
                sink.deliver_direct(body["u"], {"type": body["t"], "payload": body.get("p")})
            elif self.keeps_roster:
                self._roster_message(sender, kind, body)
        except (KeyError, TypeError, ValueError) as exc:
            log.warning("app %s: ws_cluster dropped a malformed %r message: %s", self.app_name, kind, exc)

    def _roster_message(self, sender: str, kind: str, body: dict[str, Any]) -> None:
        if kind == "x":
            self._forget(sender)
            return
        self._seen[sender] = self.clock()
        members = self._remote.setdefault(sender, {})
        if kind == "j":
            member = _member(body["m"])
            members[member.session_id] = member
        elif kind == "l":
            members.pop(body["s"], None)
        elif kind == "m":
            found = members.get(body["s"])
            if found is not None:
                members[found.session_id] = Member(found.session_id, found.user_id, body["d"], found.channels,
                                                   found.ns)
        elif kind == "s":
            self._snapshot_part(sender, body)
        elif kind == "q":
            self._send_snapshot()

    def _snapshot_part(self, sender: str, body: dict[str, Any]) -> None:
        seq, part, parts = int(body["q"]), int(body["o"]), int(body["t"])
        if part == 0:
            self._partial[sender] = (seq, {})
        pending = self._partial.get(sender)
        if pending is None or pending[0] != seq:
            return  # joined mid-snapshot: the next one is complete
        for item in body["m"]:
            member = _member(item)
            pending[1][member.session_id] = member
        if part == parts - 1:
            self._remote[sender] = pending[1]
            del self._partial[sender]

    # -- roster ------------------------------------------------------------------------------

    def remote_members(self, ns: str | None) -> Iterable[Member] | None:
        if not self.keeps_roster:
            return None
        return [m for members in self._remote.values() for m in members.values() if ns is None or m.ns == ns]

    def instances(self) -> dict[str, int]:
        """The other instances heard of, and how many members each reported."""
        return {i: len(self._remote.get(i, {})) for i in self._seen}
