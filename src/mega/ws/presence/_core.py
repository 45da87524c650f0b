"""Presence: who is connected to an app's channels, and delivery to them.

One `Presence` per app (`app.presence`, `get_app(name).presence`); `ctx.presence` on a socket is a
`SocketPresence` bound to that connection. Three indexes: namespace -> connections, user id ->
connections, session id -> exactly one connection. Every open socket of a channel is in its namespace
(the route path); `join` maps it to a user and a session. Local delivery only enqueues on each
socket's bounded send queue; a transport (`_seam.PresenceTransport`) carries the rest.
"""

from __future__ import annotations

import asyncio
import builtins
import logging
import os
import secrets
import socket as _socket
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from mega import shutdown
from mega.errors import MegaError
from mega.http.envelope import dumps
from mega.ws.presence._keywords import keyword_only
from mega.ws.presence._seam import ChannelRoster, Member, PresenceTransport, Session

if TYPE_CHECKING:
    from mega.ws._socket import Socket

__all__ = ["CLOSE_REQUEUE", "Presence", "SocketPresence", "connected"]

log = logging.getLogger("mega.ws.presence")
CLOSE_REQUEUE = 4503
KICK_REASON = "disconnected by hub"
REQUEUE_REASON = "requeued — reconnect"


def _error(code: str, message: str, hint: str, **details: Any) -> MegaError:
    return MegaError(code, message, status=500, hint=hint, details=details or None)


def _id(value: Any, what: str) -> str:
    if isinstance(value, str) and value:
        return value
    raise _error(f"presence.invalid_{what}", f"{what} must be a non-empty string, got {value!r:.80}",
                 f"pass {what}=... as a string, e.g. ctx.auth.{what}")


def _message(value: Any) -> Mapping[str, Any]:
    if isinstance(value, Mapping) and isinstance(value.get("type"), str) and value["type"]:
        return value
    raise _error("presence.invalid_message", f"a message is a dict with a non-empty string 'type', got "
                 f"{value!r:.80}", "e.g. message={'type': 'chat.message', 'payload': {...}}")


def _metadata(value: Any, *, required: bool) -> dict[str, Any] | None:
    if value is None and not required:
        return None
    if isinstance(value, Mapping):
        return dict(value)
    raise _error("presence.invalid_metadata", f"metadata must be a dict, got {value!r:.80}",
                 "e.g. metadata={'status': 'away'}")


def _channel(value: Any) -> str:
    if isinstance(value, str) and value:
        return value
    raise _error("presence.invalid_channel", f"channel must be a non-empty string, got {value!r:.80}",
                 "e.g. channel='lobby'")


def _strings(value: Any, what: str, code: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, (list, tuple, set, frozenset)) and all(isinstance(v, str) and v for v in value):
        return tuple(dict.fromkeys(value))
    raise _error(code, f"{what} must be a list of non-empty strings, got {value!r:.80}",
                 f"e.g. {what}=['lobby']")


class _Conn:
    """One open socket of a channel, and the identity `join` gave it."""

    __slots__ = ("channels", "metadata", "ns", "session_id", "sock", "user_id")

    def __init__(self, sock: Socket, ns: str) -> None:
        self.sock = sock
        self.ns = ns
        self.user_id: str | None = None
        self.session_id: str | None = None
        self.channels: tuple[str, ...] = ()
        self.metadata: dict[str, Any] | None = None

    def session(self) -> Session:
        assert self.user_id is not None and self.session_id is not None
        return Session(self.ns, self.session_id, self.user_id, self.channels, self.metadata)


def _discard(index: dict[str, set[_Conn]], key: str | None, conn: _Conn) -> None:
    if key is None:
        return
    found = index.get(key)
    if found is not None:
        found.discard(conn)
        if not found:
            del index[key]


class Presence:
    """An app's presence: local indexes, local delivery, and the transport/roster it is wired to."""

    def __init__(self, app_name: str, *, instance_id: str | None = None) -> None:
        self.app_name = app_name
        self.instance_id = instance_id or f"{_socket.gethostname()}-{os.getpid()}-{secrets.token_hex(4)}"
        self.transport: PresenceTransport | None = None
        self.roster: ChannelRoster | None = None
        self._ns: dict[str, set[_Conn]] = {}
        self._users: dict[str, set[_Conn]] = {}
        self._sessions: dict[str, _Conn] = {}
        self._socks: dict[Socket, _Conn] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False
        self.hook_names: list[str] = []  # shutdown hooks the wiring registered (unregistered by close)
        # (ns, "local" | "remote") per broadcast: set by metrics at boot when they are on, else None
        self.observe_broadcast: Callable[[str, str], None] | None = None

    # -- wiring -------------------------------------------------------------------------------

    def use_transport(self, transport: PresenceTransport | None) -> None:
        self.transport = transport

    def use_roster(self, roster: ChannelRoster | None) -> None:
        self.roster = roster

    async def start(self) -> None:
        """Start the transport and the roster (the boot's presence stage calls it)."""
        if self.transport is not None:
            await self.transport.start(self)
        if self.roster is not None:
            await self.roster.start(self)

    async def close(self) -> None:
        """Transport, then roster (before the indexes are cleared, so it removes its own members), then
        the indexes; the sockets still open are then closed with 1001."""
        if self._closed:
            return
        self._closed = True
        if self.transport is not None:
            try:
                await self.transport.stop()
            except Exception as exc:
                log.warning("app %s: %s stop failed: %s", self.app_name, self.transport.name, exc)
            self.transport = None
        if self.roster is not None:
            try:
                await self.roster.stop()
            except Exception as exc:
                log.warning("app %s: roster stop failed: %s", self.app_name, exc)
            self.roster = None
        for name in self.hook_names:
            shutdown.unregister(name)
        socks = list(self._socks)
        self._ns.clear()
        self._users.clear()
        self._sessions.clear()
        self._socks.clear()
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        for sock in socks:
            sock.close(1001, "server shutting down")

    # -- connections (the channel endpoint calls these) ------------------------------------------

    def connected(self, sock: Socket) -> _Conn:
        conn = _Conn(sock, sock.path)
        self._socks[sock] = conn
        self._ns.setdefault(conn.ns, set()).add(conn)
        return conn

    def disconnected(self, sock: Socket) -> None:
        conn = self._socks.pop(sock, None)
        if conn is None:
            return
        _discard(self._ns, conn.ns, conn)
        self._forget(conn)

    def _forget(self, conn: _Conn) -> None:
        """Unmap `conn`: user index, session index (only if it still points here), LEAVE, roster."""
        if conn.session_id is None:
            return
        session_id, channels = conn.session_id, conn.channels
        _discard(self._users, conn.user_id, conn)
        if self._sessions.get(session_id) is conn:
            del self._sessions[session_id]
        conn.user_id = conn.session_id = None
        conn.channels = ()
        conn.metadata = None
        self._publish("leave", lambda t: t.publish_leave(conn.ns, session_id))
        roster = self.roster
        if roster is not None:
            for channel in channels:
                self._background(roster.remove(channel, session_id), f"roster remove {channel}")

    # -- the API ------------------------------------------------------------------------------

    @keyword_only("app.presence")
    async def join(self, sock: Socket, *, user_id: Any, session_id: Any, channels: Any = None,
                   metadata: Any = None) -> None:
        conn = self._socks.get(sock)
        if conn is None or sock.closed:
            raise _error("presence.connection_closed", "join() on a socket that is closed",
                         "join in on_connect or a handler, while the socket is open")
        user_id = _id(user_id, "user_id")
        session_id = _id(session_id, "session_id")
        chans = _strings(channels, "channels", "presence.invalid_channel")
        meta = _metadata(metadata, required=False)
        if conn.session_id is not None and conn.session_id != session_id:
            self._forget(conn)  # the same socket under another session: the old one leaves
        prior = self._sessions.get(session_id)
        if prior is not None and prior is not conn:
            log.warning("app %s: session %s joined again from another socket; the prior socket is "
                        "detached (not closed)", self.app_name, session_id,
                        extra={"session_id": session_id, "prior_user_id": prior.user_id, "user_id": user_id})
            _discard(self._users, prior.user_id, prior)
            _discard(self._ns, prior.ns, prior)
            prior.user_id = prior.session_id = None
            prior.channels = ()
            prior.metadata = None
        dropped = [c for c in conn.channels if c not in chans] if conn.session_id == session_id else []
        if conn.user_id is not None and conn.user_id != user_id:
            _discard(self._users, conn.user_id, conn)
        conn.user_id, conn.session_id, conn.channels, conn.metadata = user_id, session_id, chans, meta
        self._users.setdefault(user_id, set()).add(conn)
        self._sessions[session_id] = conn
        self._ns.setdefault(conn.ns, set()).add(conn)
        session = conn.session()
        self._publish("join", lambda t: t.publish_join(session))
        roster = self.roster
        if roster is not None:
            for channel in dropped:
                self._background(roster.remove(channel, session_id), f"roster remove {channel}")
            if chans:
                member = session.member()
                results = await asyncio.gather(*(roster.add(c, member) for c in chans),
                                               return_exceptions=True)
                for channel, result in zip(chans, results, strict=True):
                    if isinstance(result, BaseException):
                        log.warning("app %s: roster add to %s failed: %s", self.app_name, channel, result)

    async def leave(self, sock: Socket) -> None:
        conn = self._socks.get(sock)
        if conn is not None:
            self._forget(conn)

    @keyword_only("app.presence")
    async def broadcast(self, *, ns: Any, channel: Any = None, message: Any,
                        except_session_ids: Any = None) -> int:
        """Deliver `message` as `{type, ns, payload}` to every open socket of `ns` (but those joined
        under one of `except_session_ids`), then publish it to the other instances. Returns the local
        sockets reached."""
        message = _message(message)
        ns = _ns(ns)
        if channel is not None:
            _channel(channel)
        excepted = _strings(except_session_ids, "except_session_ids", "presence.invalid_session_id")
        if self.observe_broadcast is not None:
            self.observe_broadcast(ns, "local")
        count = self._deliver_broadcast(ns, channel, message, excepted)
        self._publish("broadcast", lambda t: t.publish_broadcast(ns, channel, message, excepted))
        return count

    async def direct_to_user(self, user_id: Any, message: Any) -> int:
        """Deliver `message` as `{type, payload}` to the sockets joined as `user_id` (none: nothing),
        then publish it to the other instances."""
        user_id = _id(user_id, "user_id")
        message = _message(message)
        count = self.deliver_direct(user_id, message)
        self._publish("direct", lambda t: t.publish_direct(user_id, message))
        return count

    async def update_metadata(self, session_id: Any, metadata: Any) -> bool:
        """Store new metadata for a local session and publish it; an unknown session is a no-op."""
        session_id = _id(session_id, "session_id")
        meta = _metadata(metadata, required=True)
        assert meta is not None
        conn = self._sessions.get(session_id)
        if conn is None:
            log.debug("app %s: update_metadata of unknown session %s: nothing to do", self.app_name,
                      session_id)
            return False
        conn.metadata = meta
        ns = conn.ns
        self._publish("metadata", lambda t: t.publish_metadata(ns, session_id, meta))
        roster = self.roster
        if roster is not None and conn.channels:
            member = conn.session().member()
            for channel in conn.channels:
                self._background(roster.add(channel, member), f"roster update {channel}")
        return True

    @keyword_only("app.presence")
    async def list(self, *, ns: Any = None, channel: Any = None) -> list[dict[str, Any]]:
        """Members `{session_id, user_id, metadata}`: of `channel` when given (local, then the roster,
        then the cluster's), else of namespace `ns` (local, then the cluster's). Local entries win."""
        out: dict[str, Member] = {}
        if channel is None:
            ns = _ns(ns)
            for conn in self._ns.get(ns, ()):
                if conn.session_id is not None and not conn.sock.closed:
                    out[conn.session_id] = conn.session().member()
            remote = self.transport.remote_members(ns) if self.transport is not None else None
            for member in remote or ():
                out.setdefault(member.session_id, member)
            return [m.as_dict() for m in out.values()]
        _channel(channel)
        for session_id, conn in self._sessions.items():
            if channel in conn.channels and not conn.sock.closed:
                out[session_id] = conn.session().member()
        if self.roster is not None:
            for member in await self.roster.members(channel):
                out.setdefault(member.session_id, member)
        remote = self.transport.remote_members(None) if self.transport is not None else None
        for member in remote or ():
            if channel in member.channels:
                out.setdefault(member.session_id, member)
        return [m.as_dict() for m in out.values()]

    # -- the sink (transports call these) -------------------------------------------------------

    def deliver_broadcast(self, ns: str, channel: str | None, message: Mapping[str, Any],
                          except_session_ids: Sequence[str] = ()) -> int:
        """A broadcast another instance sent (the cluster, the hub bridge): local delivery only."""
        if self.observe_broadcast is not None:
            self.observe_broadcast(ns, "remote")
        return self._deliver_broadcast(ns, channel, message, except_session_ids)

    def _deliver_broadcast(self, ns: str, channel: str | None, message: Mapping[str, Any],
                           except_session_ids: Sequence[str] = ()) -> int:
        conns = self._ns.get(ns)
        if not conns:
            return 0
        text = dumps({"type": message["type"], "ns": ns, "payload": message.get("payload")}).decode("utf-8")
        size = len(text) if text.isascii() else len(text.encode("utf-8"))
        skip = frozenset(except_session_ids) if except_session_ids else None
        count = 0
        for conn in list(conns):
            sock = conn.sock
            if sock.closed or (skip is not None and conn.session_id is not None and conn.session_id in skip):
                continue
            sock.send_text(text, size)
            count += 1
        return count

    def deliver_direct(self, user_id: str, message: Mapping[str, Any]) -> int:
        conns = self._users.get(user_id)
        if not conns:
            return 0
        text = dumps({"type": message["type"], "payload": message.get("payload")}).decode("utf-8")
        size = len(text) if text.isascii() else len(text.encode("utf-8"))
        count = 0
        for conn in list(conns):
            if not conn.sock.closed:
                conn.sock.send_text(text, size)
                count += 1
        return count

    def kick(self, session_id: str, *, reason: str | None = None, requeue: bool = False) -> bool:
        conn = self._sessions.get(session_id) if isinstance(session_id, str) else None
        if conn is None:
            return False
        if not conn.sock.closed:
            if requeue:
                conn.sock.close(CLOSE_REQUEUE, reason if isinstance(reason, str) else REQUEUE_REASON)
            else:
                conn.sock.close(1008, reason if isinstance(reason, str) else KICK_REASON)
        return True

    def local_sessions(self) -> builtins.list[Session]:
        return [conn.session() for conn in self._sessions.values() if not conn.sock.closed]

    # -- introspection (tests, health) ----------------------------------------------------------

    def indexes(self) -> tuple[dict[str, set[Any]], dict[str, set[Any]], dict[str, Any]]:
        """(namespace -> sockets, user id -> sockets, session id -> socket): a copy."""
        return ({k: {c.sock for c in v} for k, v in self._ns.items()},
                {k: {c.sock for c in v} for k, v in self._users.items()},
                {k: c.sock for k, c in self._sessions.items()})

    def identity(self, sock: Socket) -> Session | None:
        conn = self._socks.get(sock)
        return conn.session() if conn is not None and conn.session_id is not None else None

    # -- helpers --------------------------------------------------------------------------------

    def _publish(self, what: str, call: Any) -> None:
        transport = self.transport
        if transport is None or not transport.registered:
            return
        try:
            call(transport)
        except Exception as exc:  # local delivery already happened: at most once
            log.warning("app %s: %s publish of %s failed (delivered locally): %s", self.app_name,
                        transport.name, what, exc)

    def _background(self, coro: Any, what: str) -> None:
        async def run() -> None:
            try:
                await coro
            except Exception as exc:
                log.warning("app %s: %s failed: %s", self.app_name, what, exc)

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _ns(value: Any) -> str:
    if isinstance(value, str) and value.startswith("/"):
        return value
    raise _error("presence.invalid_ns", f"ns must be a channel path such as '/ws/chat', got {value!r:.80}",
                 "pass ns= the path the channel is mounted on (router.ws)")


class SocketPresence:
    """`ctx.presence` on a socket: the app's presence bound to this connection and its namespace."""

    __slots__ = ("_presence", "_sock")

    def __init__(self, presence: Presence, sock: Socket) -> None:
        self._presence = presence
        self._sock = sock

    @property
    def ns(self) -> str:
        return self._sock.path

    @keyword_only("ctx.presence")
    async def join(self, *, user_id: Any, session_id: Any, channels: Any = None,
                   metadata: Any = None) -> None:
        """Map this socket to `user_id` and `session_id` (unique: a second socket takes it over)."""
        await self._presence.join(self._sock, user_id=user_id, session_id=session_id, channels=channels,
                                  metadata=metadata)

    async def leave(self) -> None:
        """Unmap this socket (it still receives the namespace's broadcasts)."""
        await self._presence.leave(self._sock)

    async def list(self, channel: Any = None) -> list[dict[str, Any]]:
        return await self._presence.list(ns=self._sock.path, channel=channel)

    @keyword_only("ctx.presence")
    async def broadcast(self, *, channel: Any = None, message: Any, except_session_ids: Any = None) -> int:
        return await self._presence.broadcast(ns=self._sock.path, channel=channel, message=message,
                                              except_session_ids=except_session_ids)

    async def direct_to_user(self, user_id: Any, message: Any) -> int:
        return await self._presence.direct_to_user(user_id, message)

    async def update_metadata(self, session_id: Any, metadata: Any) -> bool:
        return await self._presence.update_metadata(session_id, metadata)


def connected(presence: Presence, sock: Socket, ctx: Any) -> None:
    """A channel's socket was accepted: track it in its namespace; `ctx.presence` is bound to it."""
    presence.connected(sock)
    ctx.__dict__["_presence"] = SocketPresence(presence, sock)
