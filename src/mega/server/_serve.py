"""`mega start`: boot, bind (stage 'listen'), serve (uvicorn with mega's protocol, or granian), shut down."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import Any

import uvicorn

from mega.boot.stages import BootError, Runtime, boot
from mega.errors import MegaError
from mega.http._wire import header_block
from mega.server._listen import bind_socket

log = logging.getLogger("mega.server")


class _Server(uvicorn.Server):
    """uvicorn's server with mega's signal policy: first signal drains, a second exits at once."""

    def __init__(self, config: uvicorn.Config, runtime: Runtime) -> None:
        super().__init__(config)
        self.runtime = runtime

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.should_exit:
            log.warning("second %s: exiting at once", signal.Signals(sig).name)
            logging.shutdown()
            os._exit(1)
        log.info("%s received: draining (readiness is now 503)", signal.Signals(sig).name)
        if self.runtime.health is not None:
            self.runtime.health.mark_draining()
        # Responses still to be written go out with "Connection: close"; uvicorn's shutdown (at its
        # next tick, <= 0.1 s) then stops accepting, closes idle connections and waits for these.
        for connection in list(self.server_state.connections):
            cycle = getattr(connection, "cycle", None)
            if cycle is not None and not cycle.response_complete:
                cycle.keep_alive = False
        self.should_exit = True


def uvicorn_config(rt: Runtime, server: dict[str, Any]) -> uvicorn.Config:
    from mega.server._uvicorn_protocol import make_protocol_class
    from mega.server._uvicorn_ws import WebSocketProtocol

    assert rt.host is not None
    protocol = make_protocol_class(
        secure_headers=header_block(rt.host.secure_headers),
        header_timeout=float(server["header_timeout"]),
        max_header_bytes=int(server["max_header_bytes"]),
        max_headers=int(server["max_headers"]),
        body_timeout=float(server["body_timeout"]),
    )
    return uvicorn.Config(
        rt.host.asgi,
        http=protocol,
        loop="none",
        lifespan="off",
        access_log=False,
        server_header=False,
        proxy_headers=False,  # server.trusted_proxies decides (mega.security._client_ip)
        log_config=None,
        timeout_keep_alive=int(server["keep_alive_timeout"]),
        timeout_graceful_shutdown=int(server["shutdown_timeout"]),
        # WebSockets (mega.ws): uvicorn's sans-I/O implementation answers the ASGI denial extension (refused
        # upgrades carry the error envelope) and pings every 20 s, closing after a 20 s pong timeout; mega's
        # subclass negotiates permessage-deflate per app (ws.compression), never server-wide.
        ws=WebSocketProtocol,
        ws_per_message_deflate=False,
        ws_ping_interval=20.0,
        ws_ping_timeout=20.0,
    )


SERVERS = ("uvicorn", "granian")
DEFAULT_SERVER = "uvicorn"  # ADR 0033: granian cannot keep every promise of `mega start`


def check_server(name: str) -> str:
    if name not in SERVERS:
        raise MegaError("server.unknown", f"unknown server {name!r}",
                        hint=f"use one of: {', '.join(SERVERS)}", details={"server": name})
    if name == "granian":
        try:
            import granian  # noqa: F401
        except ImportError as exc:
            raise MegaError("server.not_installed", "granian is not installed",
                            hint="pip install granian (or the mega[granian] extra), or use --server uvicorn",
                            details={"server": name}) from exc
    return name


async def serve(root: Path, *, host: str | None = None, port: int | None = None,
                server_name: str = DEFAULT_SERVER) -> int:
    """Boot the project under `root` and serve it until a signal; returns the exit code."""
    check_server(server_name)
    overrides: dict[str, Any] = {}
    if host is not None:
        overrides["server.host"] = host
    if port is not None:
        overrides["server.port"] = port
    rt = await boot(root, overrides=overrides)
    server = rt.server_config
    if server_name == "granian":
        from mega.server._granian import refuse_unsupported

        try:
            refuse_unsupported(rt)
        except MegaError as exc:
            await rt.close()
            raise BootError("server", exc) from exc
    try:
        sock = bind_socket(server["host"], int(server["port"]))
    except MegaError as exc:
        await rt.close()
        raise BootError("listen", exc) from exc
    names = ", ".join(rt.apps)
    log.info("mega serving %s on http://%s:%s with %s (env %s, pid %d)", names, server["host"],
             server["port"], server_name, rt.env, os.getpid())
    try:
        if server_name == "granian":
            from mega.server._granian import serve_granian

            sock.close()  # granian binds its own listener (in Rust); the check above named a busy port
            await serve_granian(rt, server)
        else:
            await _Server(uvicorn_config(rt, server), rt).serve(sockets=[sock])
    finally:
        # The registry (mega.shutdown): hooks by order, each time-boxed, then the resources, adapters last.
        outcomes = await rt.close()
        failed = [name for name, outcome in outcomes if outcome != "ok"]
        log.info("shutdown complete%s", f" ({len(failed)} hook(s) failed: {', '.join(failed)})"
                 if failed else "")
    return 0


def run(root: Path, *, host: str | None = None, port: int | None = None,
        server_name: str = DEFAULT_SERVER) -> int:
    """Synchronous entry: uvloop when available."""
    try:
        import uvloop

        runner: Any = uvloop.run
    except ImportError:  # pragma: no cover - uvloop is a dependency on POSIX
        runner = asyncio.run
    code: int = runner(serve(root, host=host, port=port, server_name=server_name))
    sys.stdout.flush()
    return code
