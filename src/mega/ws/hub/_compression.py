"""permessage-deflate for hub links, from `ws_hub.compression`: a message under `threshold` bytes
goes out uncompressed (its RSV1 bit clear, which the extension allows per message)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from websockets.extensions.base import ClientExtensionFactory, Extension, ServerExtensionFactory
from websockets.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    ServerPerMessageDeflateFactory,
)
from websockets.frames import CTRL_OPCODES, Frame, Opcode

from mega.ws.hub._settings import Compression

__all__ = ["client_extensions", "server_extensions"]


class _Threshold(Extension):
    """Wraps a negotiated deflate extension: small whole messages skip compression."""

    def __init__(self, inner: Extension, threshold: int) -> None:
        self.inner = inner
        self.name = inner.name
        self.threshold = threshold

    def decode(self, frame: Frame, *, max_size: int | None = None) -> Frame:
        return self.inner.decode(frame, max_size=max_size)

    def encode(self, frame: Frame) -> Frame:
        if (frame.opcode not in CTRL_OPCODES and frame.opcode is not Opcode.CONT and frame.fin
                and len(frame.data) < self.threshold):
            return frame
        return self.inner.encode(frame)


class _ServerFactory(ServerPerMessageDeflateFactory):
    def __init__(self, threshold: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.threshold = threshold

    def process_request_params(self, params: Any, accepted_extensions: Any) -> Any:
        response, extension = super().process_request_params(params, accepted_extensions)
        return response, _Threshold(extension, self.threshold)


class _ClientFactory(ClientPerMessageDeflateFactory):
    def __init__(self, threshold: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.threshold = threshold

    def process_response_params(self, params: Any, accepted_extensions: Any) -> Any:
        extension = super().process_response_params(params, accepted_extensions)
        return _Threshold(extension, self.threshold)


def server_extensions(settings: Compression) -> Sequence[ServerExtensionFactory] | None:
    if not settings.enabled:
        return None
    return [_ServerFactory(settings.threshold, server_max_window_bits=settings.window_bits)]


def client_extensions(settings: Compression) -> Sequence[ClientExtensionFactory] | None:
    if not settings.enabled:
        return None
    return [_ClientFactory(settings.threshold, server_max_window_bits=settings.window_bits,
                           client_max_window_bits=settings.window_bits)]
