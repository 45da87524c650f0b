"""mega's uvicorn WebSocket protocol: uvicorn's sans-I/O one, with permessage-deflate decided per app.

uvicorn negotiates extensions for the whole server (`ws_per_message_deflate`, on by default) when the
upgrade request arrives, before any app has seen it. Here the server offers none by itself; the app's
`websocket.accept` message names the extension factories it wants under `ACCEPT_KEY` (an app's
`ws.compression`, built once at boot), and they are negotiated against the client's offer at that
moment, when the handshake response has not been sent yet. Several apps behind one port (chosen by
Host) can so differ. Why: docs/adr/0036-websocket-compression-per-app.md.

It also puts a synchronous text write in the scope's extensions (`WRITE_KEY`): a broadcast then writes
each idle socket's frame to its transport at once instead of waking one writer task per socket (mega.ws
falls back to its queue whenever this says no); without extensions a text is framed once for every
socket it goes to. Why: docs/adr/0029-websocket-presence-and-cluster.md.
"""

from __future__ import annotations

import logging
from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.exceptions import InvalidHandshake, InvalidState, ProtocolError
from websockets.frames import Frame, Opcode
from websockets.protocol import State

from mega.ws._deflate import ACCEPT_KEY
from mega.ws._socket import WRITE_KEY

__all__ = ["WebSocketProtocol"]

log = logging.getLogger("mega.ws")


_last: tuple[str | None, bytes] = (None, b"")  # the last text framed and its frame, swapped as one reference


def _frame(text: str) -> bytes:
    """An unmasked, uncompressed, final text frame of `text` (what a server sends without extensions),
    built once per text object: every socket of a broadcast gets the same `str`."""
    global _last
    last = _last
    if last[0] is text:
        return last[1]
    frame = Frame(Opcode.TEXT, text.encode()).serialize(mask=False, extensions=[])
    _last = (text, frame)
    return frame


class WebSocketProtocol(WebSocketsSansIOProtocol):
    """Extensions only when the accepting app asks for them."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Whatever `ws_per_message_deflate` says: the handshake in handle_connect negotiates nothing.
        self.conn.available_extensions = None

    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        scope = getattr(self, "scope", None)  # the upgrade request was read: the app runs next turn
        if scope is not None:
            scope["extensions"][WRITE_KEY] = self.write_now

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        scope = getattr(self, "scope", None)
        if scope is not None:  # scope -> bound method -> self: no cycle left for the collector
            scope["extensions"].pop(WRITE_KEY, None)

    def write_now(self, text: str) -> bool:
        """One text frame to the transport now, as `send({"type": "websocket.send", "text": ...})` would
        write it; False (nothing written) unless the socket is open and the transport not paused."""
        if (not self.writable.is_set() or self.disconnected or self.close_sent or not self.handshake_complete
                or self.initial_response is not None or self.transport.is_closing()):
            return False
        conn = self.conn
        if conn.extensions or conn.expect_continuation_frame or conn.writes or conn.state is not State.OPEN:
            try:  # compressed (per connection), or anything unusual: websockets frames it
                conn.send_text(text.encode())
            except (InvalidState, ProtocolError):
                return False
            self.transport.write(b"".join(conn.data_to_send()))
            return True
        self.transport.write(_frame(text))
        return True

    async def send(self, message: Any) -> None:
        if (message["type"] == "websocket.accept" and not self.handshake_complete
                and self.initial_response is None):
            factories = message.get(ACCEPT_KEY)
            if factories:
                self._negotiate(factories)
        await super().send(message)

    def _negotiate(self, factories: list[Any]) -> None:
        """The app's extensions against the request's offer, into the 101 response not yet sent."""
        conn = self.conn
        conn.available_extensions = factories
        try:
            header, extensions = conn.process_extensions(self.request.headers)
        except InvalidHandshake as exc:  # a malformed offer: the socket opens uncompressed
            log.debug("Sec-WebSocket-Extensions not understood (%s): no compression", exc)
            return
        finally:
            conn.available_extensions = None
        conn.extensions = extensions
        if header is not None:
            self.response.headers["Sec-WebSocket-Extensions"] = header
