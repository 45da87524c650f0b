"""What mega's pytest plugin does to a database for one test (`SqlAdapter.begin_test_transaction`,
`SqlAdapter.record_writes`).

- Pinned: every statement, from any task, runs on one connection inside one transaction that is
  rolled back at the end. Statements take turns on the connection (a lock), `db.transaction()`
  blocks become savepoints, and on PostgreSQL a statement outside a block runs in a savepoint of its
  own, so a failed one (a unique violation answered 409) does not abort the rest of the test.
- Recorded: connections note the tables that INSERT, UPDATE, DELETE, REPLACE and TRUNCATE name, so a
  test that really commits can have them emptied afterwards.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from mega.adapters.sql._connection import DriverConnection, Row
from mega.adapters.sql._transaction import Transaction

if TYPE_CHECKING:
    from mega.adapters.sql.adapter import SqlAdapter

T = TypeVar("T")

ANY_TABLE = "*"
"""Recorded for a statement that may write but whose table cannot be read from it."""

_NAME = r"(?:`[^`]+`|\"[^\"]+\"|\[[^\]]+\]|[\w$]+)"
_WRITE = re.compile(rf"\s*(?:INSERT\s+(?:IGNORE\s+)?INTO|REPLACE\s+INTO|UPDATE(?:\s+IGNORE)?|DELETE\s+FROM"
                    rf"|TRUNCATE(?:\s+TABLE)?)\s+({_NAME}(?:\s*\.\s*{_NAME})?)\s*(?:[\s(,;]|$)", re.I)
_READ = re.compile(r"\s*(?:SELECT|SHOW|EXPLAIN|DESCRIBE|VALUES|PRAGMA|SET|BEGIN|START|COMMIT|ROLLBACK"
                   r"|SAVEPOINT|RELEASE|LOCK|UNLOCK|ANALYZE)\b", re.I)
_WRITES_ANYWHERE = re.compile(r"\b(?:INSERT|UPDATE|DELETE|REPLACE|TRUNCATE|MERGE|CREATE|DROP|ALTER)\b", re.I)


def written_table(sql: str) -> str | None:
    """The table a statement writes; None for a read; ANY_TABLE when it cannot be told."""
    body = sql.strip().rstrip(";")
    if ";" in body:  # several statements (or a ';' in a literal): the safe side
        return ANY_TABLE
    match = _WRITE.match(body)
    if match is not None:
        return match.group(1).rpartition(".")[2].strip().strip('`"[]')
    if _READ.match(body):  # SELECT ... FOR UPDATE writes nothing
        return None
    if body[:4].upper() == "WITH" and not _WRITES_ANYWHERE.search(body):
        return None
    return ANY_TABLE


class _Delegating(DriverConnection):
    """A connection that hands every call to `inner` through `_call` (subclasses add to it)."""

    __slots__ = ("inner",)

    def __init__(self, inner: DriverConnection) -> None:
        super().__init__(inner.raw)
        self.inner = inner
        self.created = inner.created

    async def _call(self, sql: str | None, call: Callable[[], Awaitable[T]]) -> T:
        return await call()

    async def fetch(self, sql: str, args: Sequence[Any]) -> list[Row]:
        return await self._call(sql, lambda: self.inner.fetch(sql, args))

    async def fetch_named(self, sql: str, args: Sequence[Any]) -> tuple[list[str], list[Row]]:
        return await self._call(sql, lambda: self.inner.fetch_named(sql, args))

    async def execute(self, sql: str, args: Sequence[Any]) -> int:
        return await self._call(sql, lambda: self.inner.execute(sql, args))

    async def insert(self, sql: str, args: Sequence[Any]) -> Any:
        return await self._call(sql, lambda: self.inner.insert(sql, args))

    async def execute_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        await self._call(sql, lambda: self.inner.execute_many(sql, rows))

    async def begin(self) -> None:
        await self._call(None, self.inner.begin)

    async def commit(self) -> None:
        await self._call(None, self.inner.commit)

    async def rollback(self) -> None:
        await self._call(None, self.inner.rollback)

    async def savepoint(self, name: str) -> None:
        await self._call(None, lambda: self.inner.savepoint(name))

    async def release_savepoint(self, name: str) -> None:
        await self._call(None, lambda: self.inner.release_savepoint(name))

    async def rollback_to_savepoint(self, name: str) -> None:
        await self._call(None, lambda: self.inner.rollback_to_savepoint(name))

    def broken(self) -> bool:
        return self.inner.broken()

    async def close(self) -> None:
        await self.inner.close()


class RecordingConnection(_Delegating):
    """Adds the table each statement writes to `written`."""

    __slots__ = ("written",)

    def __init__(self, inner: DriverConnection, written: set[str]) -> None:
        super().__init__(inner)
        self.written = written

    async def _call(self, sql: str | None, call: Callable[[], Awaitable[T]]) -> T:
        if sql is not None:
            table = written_table(sql)
            if table is not None:
                self.written.add(table)
        return await call()


class SharedConnection(_Delegating):
    """One connection used by every task of a test, one call at a time; with `guard`, each statement
    in a savepoint of its own (PostgreSQL aborts the whole transaction on a failed statement)."""

    __slots__ = ("guard", "lock")

    def __init__(self, inner: DriverConnection, lock: asyncio.Lock, *, guard: bool) -> None:
        super().__init__(inner)
        self.lock = lock
        self.guard = guard

    async def _call(self, sql: str | None, call: Callable[[], Awaitable[T]]) -> T:
        async with self.lock:
            if not self.guard or sql is None:
                return await call()
            inner = self.inner
            await inner.savepoint("mega_statement")
            try:
                result = await call()
            except BaseException:
                await inner.rollback_to_savepoint("mega_statement")
                await inner.release_savepoint("mega_statement")
                raise
            await inner.release_savepoint("mega_statement")
            return result


class PinnedTransaction(Transaction):
    """The outer transaction of a test: every task's, never entered with `async with`."""

    __slots__ = ("block", "raw_connection", "top")

    def __init__(self, adapter: SqlAdapter, conn: DriverConnection) -> None:
        super().__init__(adapter)
        lock = asyncio.Lock()
        self.raw_connection = conn
        self.top = SharedConnection(conn, lock, guard=adapter.dialect == "postgresql")
        self.block = SharedConnection(conn, lock, guard=False)

    def connection(self) -> DriverConnection:
        return self.top

    def block_connection(self) -> DriverConnection:
        # A `transaction()` block is a savepoint: inside it a failed statement fails the block, as
        # it would in production, so its statements need no savepoint of their own.
        return self.block

    def __repr__(self) -> str:
        return f"<test transaction on db:{self.adapter.alias}>"
