"""ASP: application-level payload encryption of listed HTTP paths and WebSocket namespaces
(docs/reference/asp.md).

The server side is configured (`asp` in app_config.py); `Client` is the Python client. Imported
lazily, so a project without ASP never loads `cryptography`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mega._lazy import lazy_getattr

if TYPE_CHECKING:
    from mega.asp._ws import ws_decrypt as ws_decrypt
    from mega.asp._ws import ws_encrypt as ws_encrypt
    from mega.asp.client import Client as Client
    from mega.asp.client import Sealed as Sealed

_EXPORTS = {"Client": "mega.asp.client", "Sealed": "mega.asp.client", "ws_decrypt": "mega.asp._ws",
            "ws_encrypt": "mega.asp._ws"}

__all__ = sorted(_EXPORTS)


__getattr__ = lazy_getattr(__name__, _EXPORTS)
