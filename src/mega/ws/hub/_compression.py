"""permessage-deflate for hub links, from `ws_hub.compression` (the extension: mega.ws._deflate)."""

from __future__ import annotations

from collections.abc import Sequence

from websockets.extensions.base import ClientExtensionFactory, ServerExtensionFactory

from mega.ws._deflate import ClientDeflate, ServerDeflate
from mega.ws.hub._settings import Compression

__all__ = ["client_extensions", "server_extensions"]


def server_extensions(settings: Compression) -> Sequence[ServerExtensionFactory] | None:
    if not settings.enabled:
        return None
    return [ServerDeflate(settings.threshold, server_max_window_bits=settings.window_bits)]


def client_extensions(settings: Compression) -> Sequence[ClientExtensionFactory] | None:
    if not settings.enabled:
        return None
    return [ClientDeflate(settings.threshold, server_max_window_bits=settings.window_bits,
                          client_max_window_bits=settings.window_bits)]
