"""`bridge_hub` as a presence transport: the app's presence publishes through the hub link, and the
hub's BROADCAST, DIRECT and DISCONNECT come back to presence (docs/reference/websockets.md,
"Scale-out transports")."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from mega.ws.hub._bridge_settings import BridgeSettings
from mega.ws.hub._link import HubLink
from mega.ws.hub._protocol import Type
from mega.ws.hub._settings import Compression
from mega.ws.presence._seam import PresenceSink, PresenceTransport, Session

__all__ = ["NS_CHANNEL", "BridgeTransport"]

log = logging.getLogger("mega.ws.hub")
NS_CHANNEL = "ns:"  # a broadcast without a channel travels on the hub channel "ns:<namespace>"


class BridgeTransport(PresenceTransport):
    """Presence over a `mega ws-hub`: one link per app."""

    name = "bridge_hub"

    def __init__(self, settings: BridgeSettings, *, namespaces: Iterable[str] = (),
                 compression: Compression | None = None) -> None:
        self.settings = settings
        self.namespaces = tuple(namespaces)
        self.compression = compression
        self.sink: PresenceSink | None = None
        self.link: HubLink | None = None

    @property
    def registered(self) -> bool:
        return self.link is not None and self.link.registered

    async def start(self, sink: PresenceSink) -> None:
        """Starts the link in the background: boot never waits for the hub."""
        self.sink = sink
        self.link = HubLink(self.settings, self, instance_id=sink.instance_id, compression=self.compression,
                            subscriptions=[NS_CHANNEL + ns for ns in self.namespaces])
        self.link.start()

    async def stop(self) -> None:
        if self.link is not None:
            await self.link.stop()

    def health(self) -> dict[str, Any]:
        """Always ok: the hub is best effort and never fails readiness."""
        link = self.link
        return {"ok": True, "registered": bool(link and link.registered), "open": bool(link and link.open)}

    # -- presence -> hub -----------------------------------------------------------------------

    def _send(self, type_: str, payload: dict[str, Any]) -> None:
        if self.link is not None:
            self.link.send(type_, payload)

    @staticmethod
    def _join(session: Session) -> dict[str, Any]:
        join: dict[str, Any] = {"session_id": session.session_id, "user_id": session.user_id,
                                "channels": list(session.channels), "ns": session.ns}
        if session.metadata is not None:
            join["metadata"] = dict(session.metadata)
        return join

    def publish_join(self, session: Session) -> None:
        self._send(Type.JOIN, self._join(session))

    def publish_leave(self, ns: str, session_id: str) -> None:
        self._send(Type.LEAVE, {"session_id": session_id})

    def publish_metadata(self, ns: str, session_id: str, metadata: Mapping[str, Any]) -> None:
        self._send(Type.METADATA, {"session_id": session_id, "metadata": dict(metadata)})

    def publish_broadcast(self, ns: str, channel: str | None, message: Mapping[str, Any],
                          except_session_ids: Sequence[str]) -> None:
        payload: dict[str, Any] = {"ns": ns, "channel": channel or NS_CHANNEL + ns, "message": dict(message)}
        if except_session_ids:  # an empty list is not sent
            payload["except_session_ids"] = list(except_session_ids)
        self._send(Type.BROADCAST, payload)

    def publish_direct(self, user_id: str, message: Mapping[str, Any]) -> None:
        self._send(Type.DIRECT, {"user_id": user_id, "message": dict(message)})

    def kick(self, session_id: str, *, reason: str | None = None, requeue: bool = False) -> None:
        """Ask the hub to close `session_id` wherever it is (1008, or 4503 with `requeue`)."""
        payload: dict[str, Any] = {"session_id": session_id, "requeue": bool(requeue)}
        if reason is not None:
            payload["reason"] = reason
        self._send(Type.DISCONNECT, payload)

    # -- hub -> presence (the link's handler) ----------------------------------------------------

    def on_broadcast(self, payload: Mapping[str, Any]) -> None:
        ns, channel, message = payload.get("ns"), payload.get("channel"), payload.get("message")
        if self.sink is None or not isinstance(ns, str) or not isinstance(message, dict) \
                or not isinstance(message.get("type"), str):
            return
        if isinstance(channel, str) and channel.startswith(NS_CHANNEL):
            channel = None
        skip = payload.get("except_session_ids") or ()
        self.sink.deliver_broadcast(ns, channel if isinstance(channel, str) else None, message,
                                    [s for s in skip if isinstance(s, str)])

    def on_direct(self, payload: Mapping[str, Any]) -> None:
        user_id, message = payload.get("user_id"), payload.get("message")
        if self.sink is not None and isinstance(user_id, str) and isinstance(message, dict) \
                and isinstance(message.get("type"), str):
            self.sink.deliver_direct(user_id, message)

    def on_disconnect(self, payload: Mapping[str, Any]) -> None:
        session_id, reason = payload.get("session_id"), payload.get("reason")
        if self.sink is not None and isinstance(session_id, str):  # unknown: kick returns False, no-op
            self.sink.kick(session_id, reason=reason if isinstance(reason, str) else None,
                           requeue=bool(payload.get("requeue")))

    def resync_joins(self) -> list[dict[str, Any]]:
        return [self._join(s) for s in self.sink.local_sessions()] if self.sink is not None else []

    def remote_members(self, ns: str | None) -> None:
        return None  # the roster comes from Redis or ws_cluster, not the hub
