"""WebSocket channels: `class ChatChannel(WebSocketController)` with `@on("type", schema=...)`
handlers, mounted by `router.ws("/ws/chat", ChatChannel, before=[...])`.
See docs/reference/websockets.md."""

from __future__ import annotations

from mega.ws._channel import WebSocketController, on
from mega.ws._socket import Socket

__all__ = ["Socket", "WebSocketController", "on"]
