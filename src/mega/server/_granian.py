"""`mega start --server granian`: the booted project served by granian's embedded server (HTTP parsed in
Rust by hyper), in this process and on this event loop. What it keeps of `mega start`'s promises and
what it cannot is in ADR 0033 and docs/reference/server.md.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from typing import Any

import orjson

from mega.boot.stages import Runtime
from mega.errors import MegaError
from mega.security import rejections
from mega.server._uvicorn_protocol import _GOOD_HOSTS, _good_host

log = logging.getLogger("mega.server")

# hyper refuses a head larger than its read buffer (431), and the buffer has a floor.
MIN_BUFFER = 8192
DRAIN_NOTICE = 0.1  # seconds between SIGTERM (readiness 503) and the listener's close


def _refusal(code: str, message: str, details: dict[str, Any]) -> tuple[list[tuple[bytes, bytes]], bytes]:
    body = orjson.dumps({"ok": False, "error": {"code": code, "message": message, "details": details}})
    return [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body)),
            (b"connection", b"close")], body


_BAD_HOST_HEAD, _BAD_HOST = _refusal(
    "host.invalid", "bad request: two Host header fields, or a Host that is not name[:port]", {})


async def _bad_host(scope: dict[str, Any], send: Any) -> None:
    """RFC 9112 3.2, as mega's protocol answers it: two Host fields or one that is not name[:port]."""
    if rejections.LISTENERS:  # refused before any app: the hook hears it from here
        err = MegaError("host.invalid", "bad request: two Host header fields, or a Host that is not "
                        "name[:port]", status=400)
        rejections.report(err, scope, b"")
    await send({"type": "http.response.start", "status": 400, "headers": _BAD_HOST_HEAD})
    await send({"type": "http.response.body", "body": _BAD_HOST})


def enforce_limits(app: Any, *, max_headers: int, body_timeout: float) -> Any:
    """What hyper does not enforce and mega can, in front of the app: `server.max_headers` (431, the
    same envelope as mega's protocol), one well-formed Host field (400 `host.invalid`), and
    `server.body_timeout` (each body read waits at most that long for bytes: 408 `http.body_timeout`,
    through the pipeline's error boundary)."""
    head, body = _refusal("http.too_many_headers", "The request has too many header fields.",
                          {"limit": max_headers})
    start = {"type": "http.response.start", "status": 431, "headers": head}
    end = {"type": "http.response.body", "body": body}

    async def guarded(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        headers = scope["headers"]
        if len(headers) > max_headers:
            await send(start)
            await send(end)
            return
        host = None
        for name, value in headers:
            if name == b"host":
                if host is not None or (value not in _GOOD_HOSTS and not _good_host(value)):
                    await _bad_host(scope, send)
                    return
                host = value

        body_done = False

        async def timed_receive() -> Any:
            # Only while the body arrives: a stream waiting for the client's disconnect is not timed.
            nonlocal body_done
            if body_done:
                return await receive()
            try:
                async with asyncio.timeout(body_timeout):
                    message = await receive()
            except TimeoutError:
                err = MegaError("http.body_timeout", "The request body stopped arriving.",
                                details={"timeout": body_timeout}, status=408)
                err.headers = [(b"connection", b"close")]
                raise err from None
            if not message.get("more_body", False):
                body_done = True
            return message

        await app(scope, timed_receive, send)

    return guarded


def refuse_unsupported(rt: Runtime) -> None:
    """granian's WebSocket layer never negotiates permessage-deflate: an app with channels that turns
    `ws.compression` on is refused rather than served uncompressed without a word."""
    for name, app in rt.apps.items():
        if app.ws_routes and app.ws_settings.compression.enabled:
            raise MegaError(
                "server.unsupported_feature",
                f"granian cannot compress WebSocket messages, and app '{name}' turns ws.compression on",
                hint=f"serve with uvicorn (mega start without --server granian), or set ws.compression "
                     f"to False in apps/{name}/app_config.py",
                details={"server": "granian", "app": name, "key": "ws.compression"})


def granian_server(rt: Runtime, server: dict[str, Any]) -> Any:
    """granian's embedded server for the booted project (ASGI without lifespan: mega booted already)."""
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
    app = enforce_limits(rt.host.asgi, max_headers=int(server["max_headers"]),
                         body_timeout=float(server["body_timeout"]))
    return Server(
        app,
        address=server["host"],
        port=int(server["port"]),
        interface=Interfaces.ASGINL,
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
