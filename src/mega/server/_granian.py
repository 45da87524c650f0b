"""`mega start --server granian`: the booted project served by granian's embedded server (HTTP parsed in
Rust by hyper) over its RSGI interface (mega.server._rsgi), in this process and on this event loop. What
it keeps of `mega start`'s promises and what it cannot is in ADRs 0033, 0035 and docs/reference/server.md.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from typing import Any

from mega.boot.stages import Runtime
from mega.errors import MegaError
from mega.server._rsgi import RsgiApp

log = logging.getLogger("mega.server")

# hyper refuses a head larger than its read buffer (431), and the buffer has a floor.
MIN_BUFFER = 8192
DRAIN_NOTICE = 0.1  # seconds between SIGTERM (readiness 503) and the listener's close


def refuse_unsupported(rt: Runtime) -> None:
    """granian's WebSocket layer never negotiates permessage-deflate: an app with channels that turns
    `ws.compression` on is refused rather than served uncompressed without a word; close codes, which
    granian loses, are warned about."""
    for name, app in rt.apps.items():
        if app.ws_routes and app.ws_settings.compression.enabled:
            raise MegaError(
                "server.unsupported_feature",
                f"granian cannot compress WebSocket messages, and app '{name}' turns ws.compression on",
                hint=f"serve with uvicorn (mega start without --server granian), or set ws.compression "
                     f"to False in apps/{name}/app_config.py",
                details={"server": "granian", "app": name, "key": "ws.compression"})
    # Served, but not as on uvicorn: said once at boot rather than found out from a client's 1005.
    with_channels = sorted(name for name, app in rt.apps.items() if app.ws_routes)
    if with_channels:
        log.warning("granian loses WebSocket close codes and reasons both ways (clients see 1005, "
                    "on_disconnect gets 1005) for app(s) %s; serve with uvicorn (mega start without "
                    "--server granian) when clients act on close codes (docs/reference/server.md)",
                    ", ".join(with_channels), extra={"code": "server.ws_close_codes_lost"})


def granian_server(rt: Runtime, server: dict[str, Any]) -> Any:
    """granian's embedded server for the booted project, over RSGI (mega booted already: no lifespan)."""
    from granian.constants import HTTPModes, Interfaces
    from granian.http import HTTP1Settings
    from granian.log import LogLevels
    from granian.server.embed import Server

    assert rt.host is not None
    http1 = HTTP1Settings(
        header_read_timeout=max(1, int(float(server["header_timeout"]) * 1000)),
        keep_alive=True,
        max_buffer_size=max(MIN_BUFFER, int(server["max_header_bytes"])),
    )
    app = RsgiApp(rt.host.asgi, max_headers=int(server["max_headers"]),
                  body_timeout=float(server["body_timeout"]))
    return Server(
        app,
        address=server["host"],
        port=int(server["port"]),
        interface=Interfaces.RSGI,
        http=HTTPModes.http1,
        http1_settings=http1,
        websockets=True,
        backlog=2048,
        log_level=LogLevels.error,  # its own lines go through mega's handlers, errors only
        log_dictconfig={"loggers": {"_granian": {"propagate": True}}},
        log_access=False,
    )


async def serve_granian(rt: Runtime, server: dict[str, Any]) -> None:
    """Serve until SIGINT/SIGTERM: the first drains (readiness 503, granian stops accepting and lets
    in-flight requests finish), a second exits at once."""
    granian = granian_server(rt, server)
    granian.workers_kill_timeout = int(server["shutdown_timeout"]) or None
    loop = asyncio.get_running_loop()
    stopping = False

    def on_signal(sig: signal.Signals) -> None:
        nonlocal stopping
        if stopping:
            log.warning("second %s: exiting at once", sig.name)
            logging.shutdown()
            os._exit(1)
        stopping = True
        log.info("%s received: draining (readiness is now 503)", sig.name)
        if rt.health is not None:
            rt.health.mark_draining()
        # granian closes its listener at once; uvicorn does at its next tick (<= 0.1 s). The same short
        # window lets a readiness probe in flight see the 503 before connections are refused.
        loop.call_later(DRAIN_NOTICE, granian.stop)

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal, sig)
    try:
        await granian.serve()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
