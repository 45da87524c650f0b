"""mega's HTTP server: uvicorn with mega's own protocol class (head limits, slow-head timeout, raw headers).

`run` / `serve` boot a project and serve it (what `mega start` does). `make_protocol_class` gives the
protocol class to pass as ``uvicorn.Config(http=...)`` when you run uvicorn yourself, `WebSocketProtocol`
the one for ``ws=...`` (permessage-deflate per app, `ws.compression`). Names are imported
on first use, so importing this package does not import uvicorn.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mega._lazy import lazy_getattr

_LAZY: dict[str, str] = {
    "RAW_HEADERS_EXTENSION": "mega.server._uvicorn_cycle",
    "UVICORN_TESTED": "mega.server._uvicorn_protocol",
    "WebSocketProtocol": "mega.server._uvicorn_ws",
    "HardenedHttpProtocol": "mega.server._uvicorn_protocol",
    "bind_socket": "mega.server._listen",
    "make_protocol_class": "mega.server._uvicorn_protocol",
    "run": "mega.server._serve",
    "serve": "mega.server._serve",
}

__all__ = sorted(_LAZY)


__getattr__ = lazy_getattr(__name__, _LAZY)


if TYPE_CHECKING:
    from mega.server._listen import bind_socket as bind_socket
    from mega.server._serve import run as run
    from mega.server._serve import serve as serve
    from mega.server._uvicorn_cycle import RAW_HEADERS_EXTENSION as RAW_HEADERS_EXTENSION
    from mega.server._uvicorn_protocol import UVICORN_TESTED as UVICORN_TESTED
    from mega.server._uvicorn_protocol import HardenedHttpProtocol as HardenedHttpProtocol
    from mega.server._uvicorn_protocol import make_protocol_class as make_protocol_class
    from mega.server._uvicorn_ws import WebSocketProtocol as WebSocketProtocol
