"""The transport seam: what a scale-out transport (the NATS cluster, the hub bridge) implements, and what
presence offers it back.

Presence (`mega.ws.presence._core.Presence`, one per app) owns the local indexes and local delivery. A
`PresenceTransport` carries presence changes and messages to the other instances and brings theirs back:

- outbound, presence calls `publish_*` only while `registered` is true (a hub link between two
  connections, a cluster before `start`, publish nothing: the transport's resync catches up). These
  calls must not block: a transport queues and sends in the background, keeping the caller's order.
  An exception is logged as a warning; local delivery already happened (at most once).
- inbound, the transport calls the `PresenceSink` (the app's presence): `deliver_broadcast`,
  `deliver_direct` (local delivery only, never republished), `kick`, and reads `local_sessions()`
  to publish a snapshot or resync after a (re)connect.
- `remote_members(ns)`: the members other instances reported for namespace `ns` (None: all), merged
  into `presence.list()` after the local ones; None when the transport keeps no roster.

A `ChannelRoster` (the Redis roster) is a store of members per channel, shared by the instances;
presence awaits `add` on join and schedules `remove` on leave and disconnect.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = ["ChannelRoster", "Member", "PresenceSink", "PresenceTransport", "Session"]


@dataclass(frozen=True)
class Member:
    """One roster entry as `presence.list()` returns it (`as_dict()`)."""

    session_id: str
    user_id: str
    metadata: Mapping[str, Any] | None = None
    channels: tuple[str, ...] = ()
    ns: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"session_id": self.session_id, "user_id": self.user_id,
                "metadata": dict(self.metadata) if self.metadata is not None else None}


@dataclass(frozen=True)
class Session:
    """A joined local connection: what a snapshot or a resync publishes."""

    ns: str
    session_id: str
    user_id: str
    channels: tuple[str, ...] = ()
    metadata: Mapping[str, Any] | None = field(default=None)

    def member(self) -> Member:
        return Member(self.session_id, self.user_id, self.metadata, self.channels, self.ns)


class PresenceSink(Protocol):
    """What presence offers a transport (implemented by `Presence`)."""

    app_name: str
    instance_id: str

    def deliver_broadcast(self, ns: str, channel: str | None, message: Mapping[str, Any],
                          except_session_ids: Sequence[str] = ()) -> int:
        """Local delivery of a remote broadcast as `{type, ns, payload}`; returns the sockets reached."""

    def deliver_direct(self, user_id: str, message: Mapping[str, Any]) -> int:
        """Local delivery of a remote direct message as `{type, payload}` to `user_id`'s sockets."""

    def kick(self, session_id: str, *, reason: str | None = None, requeue: bool = False) -> bool:
        """Close the socket of `session_id` with 1008 (or 4503 with `requeue`); False if unknown."""

    def local_sessions(self) -> list[Session]:
        """Every open joined local session (for snapshots and resyncs)."""


class PresenceTransport(ABC):
    """A scale-out transport. Every `publish_*` is called only while `registered`, never blocks, and
    keeps the order of the calls."""

    name: str = "transport"

    @property
    def registered(self) -> bool:
        """True while messages may be published (connected, handshake done)."""
        return True

    @abstractmethod
    async def start(self, sink: PresenceSink) -> None:
        """Begin: subscribe, and from now on deliver remote messages to `sink`."""

    @abstractmethod
    async def stop(self) -> None:
        """End (idempotent): flush what is queued if possible, unsubscribe, stop timers."""

    @abstractmethod
    def publish_join(self, session: Session) -> None:
        """A local session joined (or re-joined with other channels/metadata)."""

    @abstractmethod
    def publish_leave(self, ns: str, session_id: str) -> None:
        """A local session left or its socket closed."""

    @abstractmethod
    def publish_metadata(self, ns: str, session_id: str, metadata: Mapping[str, Any]) -> None:
        """A local session's metadata changed."""

    @abstractmethod
    def publish_broadcast(self, ns: str, channel: str | None, message: Mapping[str, Any],
                          except_session_ids: Sequence[str]) -> None:
        """A broadcast was delivered locally; other instances deliver it to theirs.
        `except_session_ids` is empty when the caller gave none."""

    @abstractmethod
    def publish_direct(self, user_id: str, message: Mapping[str, Any]) -> None:
        """A direct message was delivered locally; other instances deliver it to `user_id`'s sockets."""

    def remote_members(self, ns: str | None) -> Iterable[Member] | None:
        """Members in namespace `ns` (None: every namespace) on other instances, or None when this
        transport keeps no roster."""
        return None


class ChannelRoster(ABC):
    """Members per channel, shared by every instance (the Redis roster)."""

    @abstractmethod
    async def start(self, sink: PresenceSink) -> None:
        """Begin refreshing the local members (read from `sink.local_sessions()`)."""

    @abstractmethod
    async def stop(self) -> None:
        """Stop refreshing and remove the local members (best effort; they expire anyway)."""

    @abstractmethod
    async def add(self, channel: str, member: Member) -> None:
        """Add or refresh one member of `channel`."""

    @abstractmethod
    async def remove(self, channel: str, session_id: str) -> None:
        """Remove one member of `channel`."""

    @abstractmethod
    async def members(self, channel: str) -> list[Member]:
        """The live members of `channel`, every instance's."""
