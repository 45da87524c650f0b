"""Presence over an app's channels: `ctx.presence` on a socket, `get_app(name).presence` elsewhere.
Scale-out transports implement `PresenceTransport` (see docs/reference/websockets.md)."""

from __future__ import annotations

from mega.ws.presence._core import Presence, SocketPresence
from mega.ws.presence._seam import ChannelRoster, Member, PresenceSink, PresenceTransport, Session

__all__ = ["ChannelRoster", "Member", "Presence", "PresenceSink", "PresenceTransport", "Session",
           "SocketPresence"]
