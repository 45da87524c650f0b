"""A worker of a cluster: `mega start` run by the primary with its control channel and listening
socket inherited (MEGA_CLUSTER_CONTROL_FD, MEGA_CLUSTER_LISTEN_FD).

It boots the project, serves the shared socket, answers the primary's requests for its metrics, and
drains when the channel closes (the primary is gone: no orphan keeps serving).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import signal
import socket
import sys
from pathlib import Path
from types import FrameType
from typing import Any

from mega.cluster._wire import read_message, write_message
from mega.server._serve import _Server, uvicorn_config

__all__ = ["CONTROL_FD_VAR", "LISTEN_FD_VAR", "REUSEPORT_VAR", "is_worker", "run_worker"]

CONTROL_FD_VAR = "MEGA_CLUSTER_CONTROL_FD"
LISTEN_FD_VAR = "MEGA_CLUSTER_LISTEN_FD"
REUSEPORT_VAR = "MEGA_CLUSTER_REUSEPORT"
log = logging.getLogger("mega.cluster")


def is_worker() -> bool:
    """Whether this process was started by a cluster primary."""
    return CONTROL_FD_VAR in os.environ


class WorkerServer(_Server):
    """mega's server with a drain delay: on the first signal readiness answers 503 at once, but the
    socket keeps accepting (and answering) for `drain_delay` seconds before the drain starts, so a
    balancer sees the 503 before any connection is refused. A second signal exits at once."""

    drain_delay = 0.5
    draining = False

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.draining:  # a second signal: mega's server then exits at once
            self.should_exit = True
        if self.draining or self.drain_delay <= 0:
            super().handle_exit(sig, frame)
            return
        self.draining = True
        if self.runtime.health is not None:
            self.runtime.health.mark_draining()
        log.info("%s received: readiness is now 503; draining in %gs", signal.Signals(sig).name,
                 self.drain_delay)
        loop = asyncio.get_event_loop()
        loop.call_soon_threadsafe(loop.call_later, self.drain_delay, _Server.handle_exit, self, sig, frame)


class Control:
    """The worker's end of the control channel."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.registry: Any = None  # the metrics registry, once booted
        self.closed = False
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[bytes]] = {}

    def send(self, message: dict[str, Any]) -> None:
        if not self.closed:
            write_message(self.writer, message)

    async def listen(self, on_close: Any) -> None:
        """Answer the primary until it closes the channel, then call `on_close()`."""
        from mega.cluster._metrics import families_of

        while (message := await read_message(self.reader)) is not None:
            op = message.get("op")
            if op == "collect":
                families = families_of(self.registry) if self.registry is not None else []
                self.send({"op": "families", "id": message["id"], "families": families})
            elif op == "scraped":
                future = self._pending.pop(message["id"], None)
                if future is not None and not future.done():
                    future.set_result(message["text"].encode())
        self.closed = True
        for future in self._pending.values():
            if not future.done():
                future.set_exception(ConnectionError("the cluster primary is gone"))
        on_close()

    async def scrape(self) -> bytes:
        """The cluster's metrics text, as the primary sums it; this worker's own when the primary
        does not answer (it is gone, or stopping)."""
        if not self.closed:
            ident = next(self._ids)
            future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
            self._pending[ident] = future
            self.send({"op": "scrape", "id": ident})
            try:
                return await asyncio.wait_for(future, 5.0)
            except (ConnectionError, TimeoutError) as exc:
                log.warning("cluster /metrics: no answer from the primary (%r): this worker only", exc)
            finally:
                self._pending.pop(ident, None)
        from prometheus_client.exposition import generate_latest

        return generate_latest(self.registry) if self.registry is not None else b""


def _listening_socket(host: str, port: int) -> socket.socket:
    fd = os.environ.get(LISTEN_FD_VAR)
    if fd is not None:
        sock = socket.socket(fileno=int(fd))
    else:  # SO_REUSEPORT: a socket of this worker's own in the port's group
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        sock.listen(2048)
    sock.setblocking(False)
    return sock


async def serve_worker(root: Path, host: str | None, port: int | None) -> int:
    """Boot, tell the primary, serve the shared socket until a signal or the primary's end."""
    from mega.boot.stages import BootError, boot

    slot = os.environ.get("MEGA_WORKER_ID", "?")
    channel = socket.socket(fileno=int(os.environ[CONTROL_FD_VAR]))
    reader, writer = await asyncio.open_unix_connection(sock=channel)
    control = Control(reader, writer)
    overrides: dict[str, Any] = {}
    if host is not None:
        overrides["server.host"] = host
    if port is not None:
        overrides["server.port"] = port
    try:
        rt = await boot(root, overrides=overrides)
    except BootError as exc:
        control.send({"op": "boot_failed", "stage": exc.stage, "message": str(exc)})
        await writer.drain()
        raise
    server = rt.server_config
    sock = _listening_socket(server["host"], int(server["port"]))
    settings = rt.config.settings.get("cluster")
    uv = WorkerServer(uvicorn_config(rt, server), rt)
    uv.drain_delay = settings.drain_delay if settings is not None else 0.5
    if rt.metrics is not None:
        control.registry = rt.metrics.registry
        rt.metrics.aggregate = control.scrape

    def primary_gone() -> None:
        if not uv.should_exit and not uv.draining:
            log.warning("worker %s: the cluster primary is gone: draining", slot)
            uv.handle_exit(signal.SIGTERM, None)

    listener = asyncio.get_running_loop().create_task(control.listen(primary_gone))
    log.info("worker %s (pid %d) serving %s on http://%s:%s", slot, os.getpid(), ", ".join(rt.apps),
             server["host"], server["port"])
    control.send({"op": "ready", "pid": os.getpid()})
    try:
        await uv.serve(sockets=[sock])
    finally:
        outcomes = await rt.close()
        failed = [name for name, outcome in outcomes if outcome != "ok"]
        log.info("worker %s: shutdown complete%s", slot,
                 f" ({len(failed)} hook(s) failed: {', '.join(failed)})" if failed else "")
        listener.cancel()
        writer.close()
    return 0


def run_worker(root: Path, host: str | None, port: int | None) -> int:
    """Synchronous entry (uvloop when available)."""
    try:
        import uvloop

        runner: Any = uvloop.run
    except ImportError:  # pragma: no cover - uvloop is a dependency on POSIX
        runner = asyncio.run
    code: int = runner(serve_worker(root, host, port))
    sys.stdout.flush()
    return code
