"""`ClusterHost`: the primary's side of the cluster lock and bus, an asyncio Unix-socket server.

Each worker connects (its `ClusterClient`, `mega.cluster.ipc.client`) and sends operations; the host
holds the one lock table and routes the bus for every connected worker. Everything runs on the host's
event loop, so nothing here needs a lock of its own.

Locks: a key has at most one holder (a connection and a fencing token) and a FIFO queue of waiters
(in the order their requests reached the host: per connection, the order they were sent). A release,
an expiry on the host or the holder's connection closing hands the key straight to the first waiter.
Tokens come from one `TokenClock` (`max(last + 1, now_ms << 10)`), so they rise per key, across keys,
and across a restart of the host. Deadlines travel as `time.monotonic()` values: host and workers
run on one machine, whose monotonic clock they share.

Bus: subscriptions of every connection (exact subjects, NATS wildcards, queue groups taking turns);
`req` gets a reply subject the host recognises, so the first answer goes back to the requester, and a
request that matches no subscription is answered `no_responders` at once, as NATS does.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import math
import os
import socket
import stat
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

from mega.bus._subjects import is_pattern, matches, one_per_queue
from mega.cluster.ipc._wire import ProtocolError, Reader, frame
from mega.lock._fence import TokenClock

__all__ = ["ClusterHost"]

log = logging.getLogger("mega.cluster")

WRITE_LIMIT = 64 * 1024 * 1024
"""Bytes queued for a worker that does not read; past it, bus messages to it are dropped (counted)."""

INBOX = "_INBOX.cluster."


class _Waiter:
    __slots__ = ("conn", "id", "timer", "ttl")

    def __init__(self, conn: _Conn, rid: int, ttl: float) -> None:
        self.conn = conn
        self.id = rid
        self.ttl = ttl
        self.timer: asyncio.TimerHandle | None = None


class _Key:
    __slots__ = ("conn", "timer", "token", "waiters")

    def __init__(self) -> None:
        self.conn: _Conn | None = None  # the holder's connection (None: a claim)
        self.token = 0
        self.timer: asyncio.TimerHandle | None = None
        self.waiters: deque[_Waiter] = deque()


class _Sub:
    __slots__ = ("conn", "pattern", "queue", "sid", "subject")

    def __init__(self, conn: _Conn, sid: int, subject: str, queue: str | None) -> None:
        self.conn = conn
        self.sid = sid
        self.subject = subject
        self.queue = queue
        self.pattern = tuple(subject.split(".")) if is_pattern(subject) else None


class _Conn(asyncio.Protocol):
    """One worker's connection."""

    def __init__(self, host: ClusterHost) -> None:
        self.host = host
        self.id = next(host._conn_ids)
        self.transport: asyncio.Transport | None = None
        self.reader = Reader(self._dispatch)
        self.held: set[str] = set()  # keys this connection holds
        self.waiting: dict[int, tuple[str, _Waiter]] = {}  # request id -> (key, waiter)
        self.subs: dict[int, _Sub] = {}
        self.requests: set[str] = set()  # reply subjects of this connection's pending requests
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not an asyncio.Transport subclass
        self.host._conns.add(self)

    def data_received(self, data: bytes) -> None:
        try:
            self.reader.feed(data)
        except (ProtocolError, ValueError, TypeError, IndexError, KeyError) as exc:
            log.warning("cluster host: dropping a worker connection: bad frame (%s: %s)",
                        type(exc).__name__, exc)
            if self.transport is not None:
                self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.host._forget(self)

    def send(self, head: list[Any], data: bytes = b"") -> None:
        if not self.closed and self.transport is not None:
            self.transport.write(frame(head, data))

    def _dispatch(self, head: list[Any], data: bytes) -> None:
        handler = _OPS.get(head[0])
        if handler is None:
            raise ProtocolError(f"unknown operation {head[0]!r}")
        handler(self.host, self, head, data)


class ClusterHost:
    """The lock table and bus router of one node, served on a Unix socket at `socket_path`."""

    def __init__(self, socket_path: str | os.PathLike[str], *,
                 clock: Callable[[], float] = time.time) -> None:
        self.path = Path(socket_path)
        self._server: asyncio.AbstractServer | None = None
        self._conns: set[_Conn] = set()
        self._conn_ids = itertools.count(1)
        self._keys: dict[str, _Key] = {}
        self._tokens = TokenClock(clock)
        self._exact: dict[str, list[_Sub]] = {}
        self._patterns: list[_Sub] = []
        self._turns: dict[str, int] = {}
        self._inboxes: dict[str, tuple[_Conn, int]] = {}
        self.messages = 0
        self.dropped = 0

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        """Listen on the socket (a stale socket file left by a dead host is replaced)."""
        if self._server is not None:
            return
        self._clear_stale()
        loop = asyncio.get_running_loop()
        self._server = await loop.create_unix_server(lambda: _Conn(self), str(self.path))
        with contextlib.suppress(OSError):
            os.chmod(self.path, 0o600)  # the workers run as the primary's user
        log.debug("cluster host listening on %s", self.path)

    async def close(self) -> None:
        """Stop listening, drop every connection (their locks and subscriptions with them)."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for conn in list(self._conns):
            if conn.transport is not None:
                conn.transport.abort()
            self._forget(conn)
        if server is not None:
            with contextlib.suppress(Exception):
                await server.wait_closed()
        with contextlib.suppress(FileNotFoundError):
            if self.path.is_socket():
                self.path.unlink()

    @property
    def serving(self) -> bool:
        return self._server is not None

    def stats(self) -> dict[str, Any]:
        return {"socket": str(self.path), "connections": len(self._conns), "keys": len(self._keys),
                "held": sum(1 for k in self._keys.values() if k.token),
                "waiting": sum(len(k.waiters) for k in self._keys.values()), "subscriptions":
                sum(len(c.subs) for c in self._conns), "messages": self.messages, "dropped": self.dropped}

    def _clear_stale(self) -> None:
        try:
            mode = self.path.stat().st_mode
        except FileNotFoundError:
            return
        if not stat.S_ISSOCK(mode):
            raise FileExistsError(f"{self.path} exists and is not a socket")
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(str(self.path))
        except (ConnectionRefusedError, FileNotFoundError):
            self.path.unlink(missing_ok=True)  # nobody listens: a dead host's leftover
            return
        finally:
            probe.close()
        raise OSError(f"another cluster host already listens on {self.path}")

    def _forget(self, conn: _Conn) -> None:
        """A connection closed: free its keys (waiters move on), drop its waiters and subscriptions."""
        if conn not in self._conns:
            return
        self._conns.discard(conn)
        conn.closed = True
        for key, waiter in list(conn.waiting.values()):
            self._drop_waiter(key, waiter)
        conn.waiting.clear()
        for key in list(conn.held):
            state = self._keys.get(key)
            if state is not None and state.conn is conn:
                self._hand_on(key, state)
        conn.held.clear()
        for sub in list(conn.subs.values()):
            self._remove_sub(sub)
        conn.subs.clear()
        for inbox in conn.requests:
            self._inboxes.pop(inbox, None)
        conn.requests.clear()

    # -- locks -----------------------------------------------------------------------------------

    def _acquire(self, conn: _Conn, head: list[Any], _: bytes) -> None:
        _, rid, key, ttl, wait = head  # wait: None = forever
        state = self._keys.get(key)
        if state is None:
            state = self._keys[key] = _Key()
            self._grant(key, state, conn, rid, float(ttl))
            return
        if wait is not None and wait <= 0:
            conn.send(["ok", rid, 0])
            return
        waiter = _Waiter(conn, rid, float(ttl))
        state.waiters.append(waiter)
        conn.waiting[rid] = (key, waiter)
        if wait is not None and math.isfinite(wait):
            waiter.timer = asyncio.get_running_loop().call_later(wait, self._wait_ran_out, key, waiter)

    def _wait_ran_out(self, key: str, waiter: _Waiter) -> None:
        waiter.timer = None
        if waiter.conn.waiting.pop(waiter.id, None) is not None:
            self._drop_waiter(key, waiter)
            waiter.conn.send(["ok", waiter.id, 0])

    def _cancel_acquire(self, conn: _Conn, head: list[Any], _: bytes) -> None:
        entry = conn.waiting.pop(head[1], None)
        if entry is not None:  # still queued: withdrawn (else its answer is already on its way)
            self._drop_waiter(*entry)
            conn.send(["ok", head[1], 0])

    def _drop_waiter(self, key: str, waiter: _Waiter) -> None:
        if waiter.timer is not None:
            waiter.timer.cancel()
            waiter.timer = None
        state = self._keys.get(key)
        if state is not None:
            with contextlib.suppress(ValueError):
                state.waiters.remove(waiter)

    def _grant(self, key: str, state: _Key, conn: _Conn | None, rid: int, ttl: float) -> None:
        state.conn = conn
        state.token = token = self._tokens.next()
        deadline = time.monotonic() + ttl
        state.timer = asyncio.get_running_loop().call_later(ttl, self._expired, key, state, token)
        if conn is not None:
            conn.held.add(key)
            conn.send(["ok", rid, [token, deadline]])

    def _expired(self, key: str, state: _Key, token: int) -> None:
        if state.token == token:
            state.timer = None
            self._hand_on(key, state)

    def _hand_on(self, key: str, state: _Key) -> None:
        """Free `key` from its holder and give it to the first waiter whose connection is open."""
        if state.timer is not None:
            state.timer.cancel()
            state.timer = None
        if state.conn is not None:
            state.conn.held.discard(key)
        state.conn, state.token = None, 0
        while state.waiters:
            waiter = state.waiters.popleft()
            if waiter.timer is not None:
                waiter.timer.cancel()
                waiter.timer = None
            if waiter.conn.waiting.pop(waiter.id, None) is None or waiter.conn.closed:
                continue
            self._grant(key, state, waiter.conn, waiter.id, waiter.ttl)
            return
        del self._keys[key]

    def _release(self, conn: _Conn, head: list[Any], _: bytes) -> None:
        _, rid, key, token = head
        state = self._keys.get(key)
        ok = state is not None and state.conn is conn and state.token == token
        if ok:
            assert state is not None
            self._hand_on(key, state)
        conn.send(["ok", rid, ok])

    def _extend(self, conn: _Conn, head: list[Any], _: bytes) -> None:
        _, rid, key, token, ttl = head
        state = self._keys.get(key)
        if state is None or state.conn is not conn or state.token != token:
            conn.send(["ok", rid, False])
            return
        if state.timer is not None:
            state.timer.cancel()
        state.timer = asyncio.get_running_loop().call_later(ttl, self._expired, key, state, token)
        conn.send(["ok", rid, True])

    def _claim(self, conn: _Conn, head: list[Any], _: bytes) -> None:
        _, rid, key, ttl = head
        if key in self._keys:
            conn.send(["ok", rid, False])
            return
        state = self._keys[key] = _Key()
        self._grant(key, state, None, rid, float(ttl))  # held by nobody: only its ttl ends it
        conn.send(["ok", rid, True])

    # -- bus -------------------------------------------------------------------------------------

    def _subscribe(self, conn: _Conn, head: list[Any], _: bytes) -> None:
        _, rid, sid, subject, queue = head
        sub = conn.subs[sid] = _Sub(conn, sid, subject, queue)
        if sub.pattern is not None:
            self._patterns.append(sub)
        else:
            self._exact.setdefault(subject, []).append(sub)
        conn.send(["ok", rid, True])

    def _unsubscribe(self, conn: _Conn, head: list[Any], _: bytes) -> None:
        sub = conn.subs.pop(head[1], None)
        if sub is not None:
            self._remove_sub(sub)

    def _remove_sub(self, sub: _Sub) -> None:
        if sub.pattern is not None:
            with contextlib.suppress(ValueError):
                self._patterns.remove(sub)
            return
        subs = self._exact.get(sub.subject)
        if subs is not None:
            with contextlib.suppress(ValueError):
                subs.remove(sub)
            if not subs:
                del self._exact[sub.subject]

    def _targets(self, subject: str) -> list[_Sub]:
        subs = self._exact.get(subject, [])
        if self._patterns:
            tokens = subject.split(".")
            subs = subs + [s for s in self._patterns if matches(s.pattern or (), tokens)]
        return one_per_queue(subs, self._turns)

    def _route(self, subject: str, reply: str | None, headers: Any, data: bytes) -> int:
        self.messages += 1
        targets = self._targets(subject)
        if not targets:
            return 0
        by_conn: dict[_Conn, list[int]] = {}
        for sub in targets:
            by_conn.setdefault(sub.conn, []).append(sub.sid)
        for conn, sids in by_conn.items():
            transport = conn.transport
            if transport is not None and transport.get_write_buffer_size() > WRITE_LIMIT:
                self.dropped += len(sids)
                continue
            conn.send(["msg", sids, subject, reply, headers], data)
        return len(targets)

    def _publish(self, conn: _Conn, head: list[Any], data: bytes) -> None:
        _, subject, reply, headers = head
        if subject.startswith(INBOX):
            requester = self._inboxes.pop(subject, None)
            if requester is not None:  # the first answer to a pending request
                rconn, rid = requester
                rconn.requests.discard(subject)
                rconn.send(["rep", rid, headers], data)
            return
        self._route(subject, reply, headers, data)

    def _request(self, conn: _Conn, head: list[Any], data: bytes) -> None:
        _, rid, subject, headers = head
        inbox = f"{INBOX}{conn.id}.{rid}"
        self._inboxes[inbox] = (conn, rid)
        conn.requests.add(inbox)
        if self._route(subject, inbox, headers, data) == 0:
            del self._inboxes[inbox]
            conn.requests.discard(inbox)
            conn.send(["nor", rid])

    def _forget_request(self, conn: _Conn, head: list[Any], _: bytes) -> None:
        inbox = f"{INBOX}{conn.id}.{head[1]}"
        if self._inboxes.pop(inbox, None) is not None:
            conn.requests.discard(inbox)

    def _ping(self, conn: _Conn, head: list[Any], _: bytes) -> None:
        conn.send(["ok", head[1], True])


_OPS: dict[str, Callable[[ClusterHost, _Conn, list[Any], bytes], None]] = {
    "acq": ClusterHost._acquire,
    "xacq": ClusterHost._cancel_acquire,
    "rel": ClusterHost._release,
    "ext": ClusterHost._extend,
    "clm": ClusterHost._claim,
    "sub": ClusterHost._subscribe,
    "uns": ClusterHost._unsubscribe,
    "pub": ClusterHost._publish,
    "req": ClusterHost._request,
    "xreq": ClusterHost._forget_request,
    "ping": ClusterHost._ping,
}
