"""`ClusterClient`: a worker's connection to the primary's `ClusterHost` (used by the cluster drivers).

Calls (`call`) get a future answered by the host; bus messages for this connection's subscriptions
are handed to their feeds. When the connection drops, every pending call fails with `IpcDown` (the
drivers turn it into `lock.backend_unavailable` / `bus.backend_unavailable`), and the client
reconnects in the background (every 50 ms, doubling to 1 s), re-subscribing what is still
subscribed. Locks held over a dropped connection are gone: the host freed them, so their next
extension is refused and the holder learns it lost them.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import time
from collections.abc import Callable
from typing import Any, cast

from mega.cluster.ipc._wire import SOCKET_ENV, ProtocolError, Reader, frame

__all__ = ["ClusterClient", "IpcDown", "socket_path"]

log = logging.getLogger("mega.cluster")

CONNECT_TIMEOUT = 2.0
ANSWER_WITHIN = 5.0
"""Seconds the host has to answer a call (past an acquire's own wait): a hung primary is an outage."""


class IpcDown(ConnectionError):
    """The cluster host cannot be reached (not listening, or the connection dropped)."""


def socket_path(environ: Any = None) -> str | None:
    """The host's socket from `MEGA_CLUSTER_SOCKET` (None: not in cluster mode)."""
    value = (os.environ if environ is None else environ).get(SOCKET_ENV)
    return value or None


class _Protocol(asyncio.Protocol):
    def __init__(self, client: ClusterClient) -> None:
        self.client = client
        self.transport: asyncio.Transport | None = None
        self.reader = Reader(client._dispatch)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not an asyncio.Transport subclass

    def data_received(self, data: bytes) -> None:
        try:
            self.reader.feed(data)
        except (ProtocolError, ValueError, TypeError, IndexError) as exc:
            log.error("cluster client: bad frame from the host (%s: %s); reconnecting",
                      type(exc).__name__, exc)
            if self.transport is not None:
                self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self.client._lost(self, exc)


Feed = Callable[[str, str | None, bytes, Any], None]
"""Called with (subject, reply, data, headers) for each message of a subscription."""


class ClusterClient:
    """One connection to the cluster host (a worker has one per lock manager and per bus manager)."""

    def __init__(self, path: str | os.PathLike[str], *, answer_within: float = ANSWER_WITHIN) -> None:
        self.path = os.fspath(path)
        self.answer_within = answer_within
        self._proto: _Protocol | None = None
        self._ids = itertools.count(1)
        self._calls: dict[int, asyncio.Future[Any]] = {}
        self._requests: dict[int, asyncio.Future[tuple[bytes, Any] | None]] = {}
        self._feeds: dict[int, tuple[str, str | None, Feed]] = {}  # sid -> (subject, queue, feed)
        self._acquires: dict[int, str] = {}  # acquire ids not answered yet -> key (a late grant is released)
        self._connecting: asyncio.Lock | None = None
        self._reconnector: asyncio.Task[None] | None = None
        self._closed = False
        self.on_disconnect: list[Callable[[], Any]] = []
        self.reconnects = 0
        self.disconnects = 0

    @property
    def connected(self) -> bool:
        return self._proto is not None

    @property
    def closed(self) -> bool:
        return self._closed

    # -- connection ------------------------------------------------------------------------------

    async def connect(self) -> None:
        """Connect if not connected; `IpcDown` when the host does not answer."""
        if self._proto is not None:
            return
        if self._closed:
            raise IpcDown("the cluster client is closed")
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:
            if self._proto is not None:
                return
            loop = asyncio.get_running_loop()
            try:
                async with asyncio.timeout(CONNECT_TIMEOUT):
                    _, proto = await loop.create_unix_connection(lambda: _Protocol(self), self.path)
            except (OSError, TimeoutError) as exc:
                raise IpcDown(f"cannot reach the cluster host at {self.path} ({type(exc).__name__}: "
                              f"{exc})") from exc
            if self._closed:
                if proto.transport is not None:
                    proto.transport.abort()
                raise IpcDown("the cluster client is closed")
            self._proto = proto
            for sid, (subject, queue, _) in self._feeds.items():  # after a reconnect: resubscribe
                self._send(["sub", 0, sid, subject, queue])

    async def close(self) -> None:
        self._closed = True
        if self._reconnector is not None:
            self._reconnector.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reconnector
            self._reconnector = None
        proto, self._proto = self._proto, None
        if proto is not None and proto.transport is not None:
            proto.transport.close()
        self._fail_pending(IpcDown("the cluster client is closed"))

    def _lost(self, proto: _Protocol, exc: Exception | None) -> None:
        if self._proto is not proto:
            return
        self._proto = None
        self.disconnects += 1
        self._fail_pending(IpcDown(f"the connection to the cluster host at {self.path} closed"
                                   + (f" ({exc})" if exc else "")))
        for callback in list(self.on_disconnect):
            try:
                callback()
            except Exception:
                log.exception("cluster client: a disconnect callback failed")
        if not self._closed:
            log.warning("cluster client: lost the cluster host at %s; reconnecting", self.path)
            self._reconnector = asyncio.get_running_loop().create_task(self._reconnect())

    async def _reconnect(self) -> None:
        delay = 0.05
        while not self._closed and self._proto is None:
            await asyncio.sleep(delay)
            try:
                await self.connect()
            except IpcDown:
                delay = min(delay * 2, 1.0)
                continue
            self.reconnects += 1
            log.info("cluster client: reconnected to the cluster host at %s", self.path)

    def _fail_pending(self, error: IpcDown) -> None:
        calls, self._calls = self._calls, {}
        requests, self._requests = self._requests, {}
        self._acquires.clear()
        for future in (*calls.values(), *requests.values()):
            if not future.done():
                future.set_exception(error)

    # -- sending ---------------------------------------------------------------------------------

    def _send(self, head: list[Any], data: bytes = b"") -> None:
        proto = self._proto
        if proto is None or proto.transport is None or proto.transport.is_closing():
            raise IpcDown(f"not connected to the cluster host at {self.path}")
        proto.transport.write(frame(head, data))

    async def send(self, head: list[Any], data: bytes = b"") -> None:
        """Send one frame (connecting first if needed)."""
        if self._proto is None:
            await self.connect()
        self._send(head, data)

    def next_id(self) -> int:
        return next(self._ids)

    async def call(self, op: str, *args: Any) -> Any:
        """Send `[op, id, *args]` and return the host's answer."""
        if self._proto is None:
            await self.connect()
        rid = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._send([op, rid, *args])
        self._calls[rid] = future
        try:
            async with asyncio.timeout(self.answer_within):
                return await future
        except TimeoutError as exc:
            raise self._silent(op) from exc
        finally:
            self._calls.pop(rid, None)

    def _silent(self, op: str) -> IpcDown:
        return IpcDown(f"the cluster host at {self.path} did not answer {op!r} "
                       f"within {self.answer_within:g} s")

    async def acquire(self, key: str, ttl: float, wait: float | None) -> tuple[int, float] | None:
        """(token, deadline as this process's `time.monotonic()`) or None when the wait ran out.

        Cancelled while waiting, it withdraws from the queue; a grant already on its way is released.
        """
        if self._proto is None:
            await self.connect()
        rid = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._send(["acq", rid, key, ttl, wait])
        self._calls[rid] = future
        self._acquires[rid] = key
        try:
            async with asyncio.timeout(None if wait is None else wait + self.answer_within):
                answer = await future
        except (asyncio.CancelledError, TimeoutError) as exc:
            if future.done() and not future.cancelled() and future.exception() is None:
                if future.result():  # granted, then cancelled before the caller saw it
                    self._give_back(key, future.result()[0])
            elif rid in self._acquires:  # not answered yet: withdraw (a grant crossing this is released)
                with contextlib.suppress(IpcDown):
                    self._send(["xacq", rid])
            if isinstance(exc, TimeoutError):
                raise self._silent("acq") from exc
            raise
        finally:
            self._calls.pop(rid, None)
        if not answer:
            return None
        token, deadline = answer
        return int(token), float(deadline)

    def _give_back(self, key: str, token: int) -> None:
        with contextlib.suppress(IpcDown):
            self._send(["rel", next(self._ids), key, token])  # the answer is ignored

    # -- bus -------------------------------------------------------------------------------------

    async def subscribe(self, subject: str, queue: str | None, feed: Feed) -> int:
        if self._proto is None:
            await self.connect()
        sid = next(self._ids)
        self._feeds[sid] = (subject, queue, feed)
        try:
            await self.call("sub", sid, subject, queue)
        except BaseException:
            self._feeds.pop(sid, None)
            raise
        return sid

    def unsubscribe(self, sid: int) -> None:
        if self._feeds.pop(sid, None) is not None:
            with contextlib.suppress(IpcDown):
                self._send(["uns", sid])

    async def request(self, subject: str, data: bytes, timeout: float,
                      headers: Any) -> tuple[bytes, Any] | None:
        """The first answer (data, headers); None when nobody subscribes; TimeoutError after `timeout`."""
        if self._proto is None:
            await self.connect()
        rid = next(self._ids)
        future: asyncio.Future[tuple[bytes, Any] | None] = asyncio.get_running_loop().create_future()
        self._send(["req", rid, subject, headers], data)
        self._requests[rid] = future
        try:
            async with asyncio.timeout(timeout):
                return await future
        except (TimeoutError, asyncio.CancelledError):
            if self._requests.pop(rid, None) is not None and self._proto is not None:
                with contextlib.suppress(IpcDown):
                    self._send(["xreq", rid])
            raise
        finally:
            self._requests.pop(rid, None)

    # -- receiving -------------------------------------------------------------------------------

    def _dispatch(self, head: list[Any], data: bytes) -> None:
        op = head[0]
        if op == "msg":
            _, sids, subject, reply, headers = head
            for sid in sids:
                entry = self._feeds.get(sid)
                if entry is not None:
                    entry[2](subject, reply, data, headers)
        elif op == "ok":
            rid = head[1]
            key = self._acquires.pop(rid, None)
            future = self._calls.get(rid)
            if future is not None and not future.done():
                future.set_result(head[2])
            elif key is not None and head[2]:  # granted after the acquire was cancelled
                self._give_back(key, head[2][0])
        elif op == "rep":
            request = self._requests.get(head[1])
            if request is not None and not request.done():
                request.set_result((data, head[2]))
        elif op == "nor":
            request = self._requests.get(head[1])
            if request is not None and not request.done():
                request.set_result(None)
        else:
            raise ProtocolError(f"unknown operation {op!r} from the host")


def monotonic_to_loop(deadline: float) -> float:
    """A `time.monotonic()` deadline as this event loop's time (`loop.time()`)."""
    return deadline - time.monotonic() + asyncio.get_running_loop().time()
