"""`async with db.transaction() as tx:` — one connection for the block, savepoints when nested.

The adapter keeps the current transaction in a ContextVar, so every query, execute and model
call inside the block (however deep in the call stack) runs on the block's connection. A task
started inside the block inherits the ContextVar but must not share the connection: using it
from another task fails with `db.transaction_task` instead of interleaving two conversations
on one socket.
"""

from __future__ import annotations

import asyncio
import contextvars
from types import TracebackType
from typing import TYPE_CHECKING, Any

from mega.errors import MegaError

if TYPE_CHECKING:
    from mega.adapters.sql._connection import DriverConnection
    from mega.adapters.sql.adapter import SqlAdapter
    from mega.data.records import Record


class Transaction:
    __slots__ = ("_conn", "_task", "_token", "adapter", "depth", "parent", "savepoint")

    def __init__(self, adapter: SqlAdapter) -> None:
        self.adapter = adapter
        self.parent: Transaction | None = None
        self.depth = 0
        self.savepoint: str | None = None
        self._conn: DriverConnection | None = None
        self._task: asyncio.Task[Any] | None = None
        self._token: contextvars.Token[Transaction | None] | None = None

    def connection(self) -> DriverConnection:
        """The block's connection; only for the task that opened the block."""
        if self._conn is None:
            raise MegaError("db.transaction_closed", f"transaction on '{self.adapter.alias}' is not open",
                            hint="use it inside its `async with db.transaction()` block")
        if asyncio.current_task() is not self._task:
            raise MegaError("db.transaction_task", f"a transaction on '{self.adapter.alias}' was used from "
                            "another task than the one that opened it",
                            hint="await database calls in the task of the `async with` block, or open "
                            "a transaction in the new task")
        return self._conn

    def block_connection(self) -> DriverConnection:
        """The connection a block nested in this one opens its savepoint on."""
        return self.connection()

    async def __aenter__(self) -> Transaction:
        adapter = self.adapter
        parent = adapter.current_transaction()
        self._task = asyncio.current_task()
        if parent is None:
            self._conn = await adapter.begin_connection()
        else:
            conn = parent.block_connection()
            self.parent, self.depth = parent, parent.depth + 1
            self.savepoint = f"mega_sp_{self.depth}"
            await adapter.on_connection("savepoint", conn, conn.savepoint(self.savepoint))
            self._conn = conn
        self._token = adapter.set_transaction(self)
        return self

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        tb: TracebackType | None) -> None:
        adapter = self.adapter
        conn, self._conn = self._conn, None
        if self._token is not None:
            adapter.reset_transaction(self._token)
            self._token = None
        if conn is None:
            return
        if self.savepoint is not None:
            if kind is None:
                await adapter.on_connection("release savepoint", conn, conn.release_savepoint(self.savepoint))
            else:
                await adapter.on_connection("rollback to savepoint", conn,
                                            _rollback_to(conn, self.savepoint), quiet=True)
            return
        await adapter.end_connection(conn, commit=kind is None)

    # Conveniences: the same as db.query/... inside the block.
    async def query(self, sql: Any, params: dict[str, Any] | None = None) -> list[Record]:
        return await self.adapter.query(sql, params)

    async def query_one(self, sql: Any, params: dict[str, Any] | None = None) -> Record | None:
        return await self.adapter.query_one(sql, params)

    async def execute(self, sql: Any, params: dict[str, Any] | None = None) -> int:
        return await self.adapter.execute(sql, params)

    def __repr__(self) -> str:
        kind = f"savepoint {self.savepoint}" if self.savepoint else "transaction"
        return f"<{kind} on db:{self.adapter.alias}>"


async def _rollback_to(conn: DriverConnection, name: str) -> None:
    await conn.rollback_to_savepoint(name)
    await conn.release_savepoint(name)
