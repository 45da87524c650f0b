"""A small connection pool over raw driver connections (asyncpg, aiomysql, aiosqlite).

Why our own (ADR 0006): a checkout through SQLAlchemy's pool costs two greenlet switches and
asyncpg's pool resets every connection with a round trip on release; here a checkout is a list
pop. Semantics follow SQLAlchemy's options: `pool_size` kept open, `max_overflow` extra ones
closed when returned, `pool_timeout` seconds to wait for a free one, `pool_recycle` seconds of
life before a connection is replaced.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Generic, Protocol, TypeVar

from mega.adapters.base import AdapterError


class PooledConnection(Protocol):
    created: float

    def broken(self) -> bool: ...

    async def close(self) -> None: ...


C = TypeVar("C", bound=PooledConnection)


class Pool(Generic[C]):
    def __init__(self, connect: Callable[[], Awaitable[C]], *, size: int = 5, max_overflow: int = 10,
                 timeout: float = 30.0, recycle: float | None = None, label: str = "db") -> None:
        self._connect = connect
        self.size = max(1, size)
        self.limit = self.size + max(0, max_overflow)
        self.timeout = timeout
        self.recycle = recycle if recycle and recycle > 0 else None
        self.label = label
        self._idle: list[C] = []
        self._open = 0  # connections open or being opened (idle + in use)
        self._waiters: deque[asyncio.Future[C | None]] = deque()
        self._closed = False

    async def acquire(self) -> C:
        idle = self._idle
        while idle:
            conn = idle.pop()
            if self.recycle is None or time.monotonic() - conn.created < self.recycle:
                return conn
            await self._discard(conn)
        if self._closed:
            raise AdapterError("db.unavailable", f"{self.label}: the pool is closed",
                               hint="the adapter was disconnected (shutdown)")
        if self._open < self.limit:
            return await self._open_one()
        return await self._wait()

    async def release(self, conn: C) -> None:
        """Return a connection; broken ones and overflow ones are closed."""
        if conn.broken() or self._closed:
            await self._discard(conn)
            return
        while self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_result(conn)
                return
        if self._open > self.size:
            await self._discard(conn)
            return
        self._idle.append(conn)

    async def discard(self, conn: C) -> None:
        """Close a connection whose state is unknown (cancelled mid-query, failed rollback)."""
        await self._discard(conn)

    async def close(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, []
        for conn in idle:
            await self._discard(conn)
        while self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_exception(AdapterError("db.unavailable", f"{self.label}: the pool closed while "
                                               "waiting for a connection"))

    def wrap(self, wrapper: Callable[[C], C]) -> None:
        """Pass every connection through `wrapper`: the idle ones now, new ones as they open (tests
        record statements this way; connections in use at the time are left as they are)."""
        self._idle = [wrapper(conn) for conn in self._idle]
        connect = self._connect

        async def wrapped() -> C:
            return wrapper(await connect())

        self._connect = wrapped

    def stats(self) -> dict[str, int]:
        return {"open": self._open, "idle": len(self._idle), "in_use": self._open - len(self._idle),
                "waiting": len(self._waiters), "size": self.size, "limit": self.limit}

    async def _open_one(self) -> C:
        self._open += 1
        try:
            return await self._connect()
        except BaseException:
            self._open -= 1
            self._wake_for_slot()
            raise

    async def _discard(self, conn: C) -> None:
        self._open -= 1
        try:
            await conn.close()
        finally:
            self._wake_for_slot()

    def _wake_for_slot(self) -> None:
        # A slot freed up: the first waiter opens a connection of its own (result None).
        while self._waiters and self._open < self.limit:
            fut = self._waiters.popleft()
            if not fut.done():
                self._open += 1
                fut.set_result(None)
                return

    async def _wait(self) -> C:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[C | None] = loop.create_future()
        self._waiters.append(fut)
        timer = loop.call_later(self.timeout, _expire, fut, self)
        try:
            conn = await fut
        except BaseException:
            if fut.done() and not fut.cancelled() and fut.exception() is None:
                got = fut.result()  # handed over just as we were cancelled: give it back
                if got is None:
                    self._open -= 1
                    self._wake_for_slot()
                else:
                    await self.release(got)
            raise
        finally:
            timer.cancel()
        if conn is None:  # a slot, not a connection (see _wake_for_slot)
            self._open -= 1
            return await self._open_one()
        return conn


def _expire(fut: asyncio.Future[C | None], pool: Pool[C]) -> None:
    if not fut.done():
        fut.set_exception(AdapterError(
            "db.unavailable", f"{pool.label}: no free connection after {pool.timeout:g} s "
            f"({pool.limit} in use)", details={"pool": pool.stats()},
            hint="raise pool_size/max_overflow, shorten transactions, or raise pool_timeout"))
