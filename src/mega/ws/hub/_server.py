"""The `mega ws-hub` server: bridges register with a token, the hub keeps who is where and routes
BROADCAST, DIRECT and DISCONNECT between them. See docs/reference/hub-protocol.md."""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

import orjson
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from mega.ws.hub._compression import server_extensions
from mega.ws.hub._protocol import (
    CLOSE_AUTH,
    CLOSE_DRAIN,
    CLOSE_REPLACED,
    CLOSE_SILENT,
    MAX_FRAME_BYTES,
    VERSIONS,
    FrameError,
    Type,
    decode,
    encode,
)
from mega.ws.hub._settings import Compression

__all__ = ["Hub", "run_hub"]

log = logging.getLogger("mega.ws.hub")
_TASKS: set[asyncio.Task[Any]] = set()  # closes in flight, kept referenced until done
_OUTBOX = 10_000  # frames queued for one link before it counts as stuck and is closed (1013)
_MAX_ID = 200


class _Refused(Exception):
    """REGISTER refused: `code` goes in register_error, then the link closes with `close`."""

    def __init__(self, code: str, message: str, close: int, **extra: Any) -> None:
        super().__init__(message)
        self.code = code
        self.close = close
        self.extra = extra


@dataclass(eq=False)
class _Link:
    ws: ServerConnection
    bridge_id: str
    instance_id: str | None
    version: int
    last_seen: float
    sessions: set[str] = field(default_factory=set)
    outbox: asyncio.Queue[str | None] = field(default_factory=lambda: asyncio.Queue(_OUTBOX))
    dropped: bool = False

    def send(self, text: str) -> None:
        """Queue a frame; the link's writer sends it, so one slow bridge never stalls the others."""
        if self.dropped:
            return
        try:
            self.outbox.put_nowait(text)
        except asyncio.QueueFull:
            log.warning("hub link %s is not reading: closing it", self.bridge_id)
            self.dropped = True
            _spawn(self.ws.close(1013, "not reading"))

    async def writer(self) -> None:
        while True:
            text = await self.outbox.get()
            if text is None:
                return
            try:
                await self.ws.send(text)
            except ConnectionClosed:
                return


@dataclass
class _Member:
    bridge_id: str
    user_id: str
    channels: tuple[str, ...]
    metadata: dict[str, Any] | None

    def view(self, session_id: str) -> dict[str, Any]:
        return {"session_id": session_id, "user_id": self.user_id, "bridge_id": self.bridge_id,
                "channels": list(self.channels), "metadata": self.metadata}


def _text(payload: dict[str, Any], key: str) -> str:
    value = payload.get(key)
    if not isinstance(value, str) or not value or len(value) > _MAX_ID:
        raise FrameError(f"{key} must be a non-empty string of at most {_MAX_ID} characters")
    return value


def _strings(payload: dict[str, Any], key: str) -> list[str]:
    value = payload.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise FrameError(f"{key} must be a list of non-empty strings")
    return value


def _metadata(payload: dict[str, Any]) -> dict[str, Any] | None:
    value = payload.get("metadata")
    if value is not None and not isinstance(value, dict):
        raise FrameError("metadata must be an object")
    return value


class Hub:
    """The hub's state and message routing; `serve()` binds it to a port."""

    def __init__(self, tokens: Iterable[str], *, heartbeat: float = 25.0,
                 compression: Compression | None = None) -> None:
        self.tokens = tuple(t.encode() for t in tokens if t)
        self.heartbeat = heartbeat
        self.compression = compression or Compression()
        self.links: dict[str, _Link] = {}
        self.sessions: dict[str, _Member] = {}
        self.channels: dict[str, set[str]] = {}
        self.users: dict[str, set[str]] = {}
        self.draining = False
        self._handlers = {
            Type.JOIN: self._join, Type.LEAVE: self._leave, Type.BULK_LEAVE: self._bulk_leave,
            Type.METADATA: self._metadata, Type.BROADCAST: self._broadcast, Type.DIRECT: self._direct,
            Type.DISCONNECT: self._disconnect, Type.HEARTBEAT: self._heartbeat, Type.ROSTER: self._roster,
            Type.REGISTER: self._register_again,
        }

    # -- connections ---------------------------------------------------------------------------

    def _authorized(self, ws: ServerConnection) -> bool:
        header = ws.request.headers.get("Authorization", "") if ws.request is not None else ""
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return False
        given = token.strip().encode()
        return any(hmac.compare_digest(given, t) for t in self.tokens)

    async def handle(self, ws: ServerConnection) -> None:
        if not self._authorized(ws):
            await ws.close(CLOSE_AUTH, "hub.auth_failed")
            return
        link = await self._register(ws)
        if link is None:
            return
        writer = asyncio.ensure_future(link.writer())
        try:
            async for data in ws:
                link.last_seen = time.monotonic()
                self._receive(link, data)
        except ConnectionClosed:
            pass
        finally:
            self._drop(link)
            if link.outbox.full():
                writer.cancel()
            else:
                link.outbox.put_nowait(None)
            await asyncio.gather(writer, return_exceptions=True)

    async def _register(self, ws: ServerConnection) -> _Link | None:
        while True:
            try:
                data = await asyncio.wait_for(ws.recv(), timeout=max(2 * self.heartbeat, 5))
            except (TimeoutError, ConnectionClosed):
                await ws.close(CLOSE_AUTH, "hub.not_registered")
                return None
            try:
                type_, payload = decode(data)
            except FrameError as exc:
                await ws.send(encode(Type.ERROR, {"code": exc.code, "message": str(exc)}))
                continue
            if type_ != Type.REGISTER:
                await ws.close(CLOSE_AUTH, "hub.not_registered")
                return None
            try:
                link = self._accept(ws, payload)
            except _Refused as refused:
                await ws.send(encode(Type.REGISTER_ERROR, {"code": refused.code, "message": str(refused),
                                                           **refused.extra}))
                await ws.close(refused.close, refused.code)
                return None
            await ws.send(encode(Type.REGISTER_OK, {
                "bridge_id": link.bridge_id, "protocol_version": link.version, "heartbeat": self.heartbeat,
                "versions": list(VERSIONS)}))
            log.info("bridge %s registered (protocol v%d)", link.bridge_id, link.version)
            return link

    def _accept(self, ws: ServerConnection, payload: dict[str, Any]) -> _Link:
        version = payload.get("protocol_version", 1)
        if version not in VERSIONS or isinstance(version, bool):
            raise _Refused("hub.unsupported_version", f"protocol version {version!r} is not supported",
                           4400, supported=list(VERSIONS))
        try:
            bridge_id = _text(payload, "bridge_id")
        except FrameError as exc:
            raise _Refused("hub.invalid_frame", str(exc), 4400) from exc
        instance = payload.get("instance_id") if version >= 2 else None
        instance_id = instance if isinstance(instance, str) and instance else None
        old = self.links.get(bridge_id)
        if old is not None and not old.dropped:
            if instance_id is None or old.instance_id != instance_id:
                raise _Refused("hub.bridge_id_in_use", f"bridge id {bridge_id!r} is held by a live link of "
                               "another instance", 4409)
            self._drop(old)  # the same instance came back: its new link replaces the old one
            _spawn(old.ws.close(CLOSE_REPLACED, "replaced by a new link"))
        link = _Link(ws, bridge_id, instance_id, int(version), time.monotonic())
        self.links[bridge_id] = link
        return link

    def _drop(self, link: _Link) -> None:
        """Forget a link and its sessions (BULK_LEAVE to the others). Idempotent."""
        if self.links.get(link.bridge_id) is link:
            del self.links[link.bridge_id]
        link.dropped = True
        gone = [s for s in link.sessions if self._forget(s, link)]
        link.sessions.clear()
        if gone:
            self._tell_others(link, Type.BULK_LEAVE, {"bridge_id": link.bridge_id, "session_ids": gone})

    def _receive(self, link: _Link, data: str | bytes) -> None:
        try:
            type_, payload = decode(data)
            handler = self._handlers.get(type_)
            if handler is None:
                link.send(encode(Type.ERROR, {"code": "hub.unknown_type",
                                              "message": f"unknown message type {type_[:50]!r}"}))
                return
            handler(link, payload)
        except FrameError as exc:
            link.send(encode(Type.ERROR, {"code": exc.code, "message": str(exc)}))

    # -- presence ------------------------------------------------------------------------------

    def _forget(self, session_id: str, link: _Link) -> bool:
        member = self.sessions.get(session_id)
        if member is None or member.bridge_id != link.bridge_id:
            return False
        self._remove(session_id, member)
        return True

    def _remove(self, session_id: str, member: _Member) -> None:
        del self.sessions[session_id]
        for channel in member.channels:
            _discard(self.channels, channel, session_id)
        _discard(self.users, member.user_id, session_id)

    def _tell_others(self, link: _Link, type_: str, payload: dict[str, Any]) -> None:
        text = encode(type_, payload)
        for other in self.links.values():
            if other is not link:
                other.send(text)

    def _join(self, link: _Link, payload: dict[str, Any]) -> None:
        session_id = _text(payload, "session_id")
        user_id = _text(payload, "user_id")
        channels = tuple(dict.fromkeys(_strings(payload, "channels")))
        metadata = _metadata(payload)
        old = self.sessions.get(session_id)
        if old is not None and (old.bridge_id, old.user_id, old.channels, old.metadata) == (
                link.bridge_id, user_id, channels, metadata):
            return  # idempotent: the resync repeats JOINs
        if old is not None:  # a changed JOIN, or the session moved to this bridge
            holder = self.links.get(old.bridge_id)
            if holder is not None:
                holder.sessions.discard(session_id)
            self._remove(session_id, old)
        self.sessions[session_id] = _Member(link.bridge_id, user_id, channels, metadata)
        link.sessions.add(session_id)
        for channel in channels:
            self.channels.setdefault(channel, set()).add(session_id)
        self.users.setdefault(user_id, set()).add(session_id)
        self._tell_others(link, Type.JOIN, {**payload, "bridge_id": link.bridge_id})

    def _leave(self, link: _Link, payload: dict[str, Any]) -> None:
        session_id = _text(payload, "session_id")
        if self._forget(session_id, link):
            link.sessions.discard(session_id)
            self._tell_others(link, Type.LEAVE, {"session_id": session_id, "bridge_id": link.bridge_id})

    def _bulk_leave(self, link: _Link, payload: dict[str, Any]) -> None:
        gone = [s for s in _strings(payload, "session_ids") if self._forget(s, link)]
        link.sessions.difference_update(gone)
        if gone:
            self._tell_others(link, Type.BULK_LEAVE, {"session_ids": gone, "bridge_id": link.bridge_id})

    def _metadata(self, link: _Link, payload: dict[str, Any]) -> None:
        session_id = _text(payload, "session_id")
        metadata = _metadata(payload)
        member = self.sessions.get(session_id)
        if member is None or member.bridge_id != link.bridge_id:
            return
        member.metadata = metadata
        self._tell_others(link, Type.METADATA, {"session_id": session_id, "metadata": metadata,
                                                "bridge_id": link.bridge_id})

    # -- routing -------------------------------------------------------------------------------

    def _send_to(self, bridges: Iterable[str], type_: str, payload: dict[str, Any]) -> None:
        text = encode(type_, payload)
        for bridge_id in bridges:
            target = self.links.get(bridge_id)
            if target is not None:
                target.send(text)

    def _broadcast(self, link: _Link, payload: dict[str, Any]) -> None:
        channel = _text(payload, "channel")
        if not isinstance(payload.get("message"), dict):
            raise FrameError("message must be an object")
        skip = set(_strings(payload, "except_session_ids"))
        bridges = {self.sessions[s].bridge_id for s in self.channels.get(channel, ()) if s not in skip}
        bridges.discard(link.bridge_id)
        self._send_to(bridges, Type.BROADCAST, {**payload, "from": link.bridge_id})

    def _direct(self, link: _Link, payload: dict[str, Any]) -> None:
        user_id = _text(payload, "user_id")
        if not isinstance(payload.get("message"), dict):
            raise FrameError("message must be an object")
        bridges = {self.sessions[s].bridge_id for s in self.users.get(user_id, ())}
        bridges.discard(link.bridge_id)
        self._send_to(bridges, Type.DIRECT, {**payload, "from": link.bridge_id})

    def _disconnect(self, link: _Link, payload: dict[str, Any]) -> None:
        session_id = _text(payload, "session_id")
        reason = payload.get("reason")
        if reason is not None and not isinstance(reason, str):
            raise FrameError("reason must be a string")
        member = self.sessions.get(session_id)
        if member is not None:  # an unknown session is a no-op
            requeue = bool(payload.get("requeue"))
            self._send_to((member.bridge_id,), Type.DISCONNECT, {
                "session_id": session_id, "reason": reason, "requeue": requeue, "from": link.bridge_id})

    def _heartbeat(self, link: _Link, payload: dict[str, Any]) -> None:
        return None

    def _register_again(self, link: _Link, payload: dict[str, Any]) -> None:
        raise FrameError(f"this link is already registered as {link.bridge_id!r}")

    def _roster(self, link: _Link, payload: dict[str, Any]) -> None:
        channel = payload.get("channel")
        ids = self.channels.get(channel, set()) if isinstance(channel, str) else self.sessions.keys()
        link.send(encode(Type.ROSTER_OK, {"channel": channel,
                                          "sessions": [self.sessions[s].view(s) for s in sorted(ids)]}))

    # -- lifecycle -----------------------------------------------------------------------------

    async def beat(self) -> None:
        """Every heartbeat: a HEARTBEAT to each link; a link silent for two heartbeats is dropped."""
        text = encode(Type.HEARTBEAT, {})
        while True:
            await asyncio.sleep(self.heartbeat)
            now = time.monotonic()
            for link in list(self.links.values()):
                if now - link.last_seen > 2 * self.heartbeat:
                    log.warning("bridge %s silent for two heartbeats: dropping it", link.bridge_id)
                    self._drop(link)
                    _spawn(link.ws.close(CLOSE_SILENT, "heartbeat timeout"))
                else:
                    link.send(text)

    async def drain(self, timeout: float = 8.0) -> None:
        """Close every link with 4503 (reconnect elsewhere or later)."""
        self.draining = True
        closing = [asyncio.ensure_future(link.ws.close(CLOSE_DRAIN, "hub draining"))
                   for link in list(self.links.values())]
        if closing:
            await asyncio.wait(closing, timeout=timeout)

    def health(self, connection: ServerConnection, request: Request) -> Response | None:
        if request.path.split("?", 1)[0] != "/health":
            return None
        body = orjson.dumps({"ok": not self.draining, "links": sorted(self.links),
                             "sessions": len(self.sessions)})
        status = HTTPStatus.OK if not self.draining else HTTPStatus.SERVICE_UNAVAILABLE
        headers = Headers([("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return Response(status.value, status.phrase, headers, body)

    async def serve(self, host: str, port: int) -> Server:
        return await serve(self.handle, host, port, max_size=MAX_FRAME_BYTES, ping_interval=None,
                           compression=None, extensions=server_extensions(self.compression),
                           process_request=self.health, server_header=None)


def _spawn(coro: Any) -> None:
    task = asyncio.ensure_future(coro)
    _TASKS.add(task)
    task.add_done_callback(_TASKS.discard)


def _discard(index: dict[str, set[str]], key: str, value: str) -> None:
    members = index.get(key)
    if members is not None:
        members.discard(value)
        if not members:
            del index[key]


async def run_hub(hub: Hub, host: str, port: int, stop: asyncio.Event, *,
                  on_listening: Any = None) -> None:
    """Serve until `stop` is set, then stop accepting, drain the links with 4503 and return."""
    server = await hub.serve(host, port)
    if on_listening is not None:
        sockets = list(server.sockets)
        on_listening(sockets[0].getsockname()[1] if sockets else port)
    beat = asyncio.ensure_future(hub.beat())
    try:
        await stop.wait()
    finally:
        beat.cancel()
        server.close(close_connections=False)  # stop accepting; the links get 4503 below
        await hub.drain()
        server.close()
        try:
            await asyncio.wait_for(server.wait_closed(), timeout=1.5)
        except TimeoutError:
            log.warning("some hub links did not close in time")
