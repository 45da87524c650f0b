"""permessage-deflate with a per-message threshold, for app sockets (`ws.compression`, negotiated by
mega's uvicorn WebSocket protocol) and hub links (`ws_hub.compression`).

A whole message under `threshold` bytes goes out uncompressed (its RSV1 bit clear, which the extension
allows per message); `max_inflate` caps what one incoming frame may inflate to.
"""

from __future__ import annotations

from typing import Any, Final

from websockets.extensions.base import Extension
from websockets.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    ServerPerMessageDeflateFactory,
)
from websockets.frames import CTRL_OPCODES, Frame, Opcode

__all__ = ["ACCEPT_KEY", "ClientDeflate", "ServerDeflate", "Threshold", "app_extensions"]

# The key of a `websocket.accept` message that lists the extension factories the app wants negotiated
# (read by mega.server's uvicorn WebSocket protocol; other servers ignore it).
ACCEPT_KEY: Final = "mega.extensions"
# zlib's memLevel for app sockets: 16 KiB of compressor state instead of 128 KiB (ADR 0036).
APP_MEM_LEVEL: Final = 5


class Threshold(Extension):
    """Wraps a negotiated deflate extension: small whole messages skip compression."""

    def __init__(self, inner: Extension, threshold: int, max_inflate: int | None = None) -> None:
        self.inner = inner
        self.name = inner.name
        self.threshold = threshold
        self.max_inflate = max_inflate

    def decode(self, frame: Frame, *, max_size: int | None = None) -> Frame:
        cap = self.max_inflate
        if cap is not None and (max_size is None or cap < max_size):
            max_size = cap
        return self.inner.decode(frame, max_size=max_size)

    def encode(self, frame: Frame) -> Frame:
        if (frame.opcode not in CTRL_OPCODES and frame.opcode is not Opcode.CONT and frame.fin
                and len(frame.data) < self.threshold):
            return frame
        return self.inner.encode(frame)


class ServerDeflate(ServerPerMessageDeflateFactory):
    """The server side's factory; one is built at boot and shared by every connection it serves."""

    def __init__(self, threshold: int, max_inflate: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.threshold = threshold
        self.max_inflate = max_inflate

    def process_request_params(self, params: Any, accepted_extensions: Any) -> Any:
        response, extension = super().process_request_params(params, accepted_extensions)
        return response, Threshold(extension, self.threshold, self.max_inflate)


class ClientDeflate(ClientPerMessageDeflateFactory):
    """The client side's factory (hub links)."""

    def __init__(self, threshold: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.threshold = threshold

    def process_response_params(self, params: Any, accepted_extensions: Any) -> Any:
        extension = super().process_response_params(params, accepted_extensions)
        return Threshold(extension, self.threshold)


def app_extensions(threshold: int, window_bits: int, max_message_bytes: int) -> list[ServerDeflate]:
    """The factories of an app's `ws.compression`: the window caps both directions when the client lets
    the server choose its window; a frame may inflate to twice `ws.max_message_bytes` plus 1 KiB (room
    for ASP's base64) before the socket is closed with 1009."""
    return [ServerDeflate(threshold, 2 * max_message_bytes + 1024, server_max_window_bits=window_bits,
                          client_max_window_bits=window_bits,
                          compress_settings={"memLevel": APP_MEM_LEVEL})]
