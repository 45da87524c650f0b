"""SQLite through aiosqlite: WAL, foreign keys on, a busy timeout; `:memory:` is shared.

Transactions take the write lock up front (`BEGIN IMMEDIATE`): with several connections, a
deferred transaction that later writes could fail with "database is locked" instead of waiting.
"""

from __future__ import annotations

import asyncio
import itertools
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from mega.adapters.sql._connection import DriverConnection, Row
from mega.adapters.sql.adapter import SqlAdapter
from mega.adapters.sql.postgres import engine_pool_options
from mega.errors import MegaError

_memory_ids = itertools.count(1)
_WAL = "PRAGMA journal_mode = WAL"
_SCHEMES = ("sqlite", "sqlite+aiosqlite")


class SqliteConnection(DriverConnection):
    __slots__ = ("closed",)

    def __init__(self, raw: Any) -> None:
        super().__init__(raw)
        self.closed = False

    async def fetch(self, sql: str, args: Sequence[Any]) -> list[Row]:
        rows = await self.raw.execute_fetchall(sql, args)  # one hop to the connection's thread
        return list(rows)

    async def fetch_named(self, sql: str, args: Sequence[Any]) -> tuple[list[str], list[Row]]:
        cur = await self.raw.execute(sql, args)
        try:
            rows = await cur.fetchall()
            return [d[0] for d in cur.description or ()], list(rows)
        finally:
            await cur.close()

    async def execute(self, sql: str, args: Sequence[Any]) -> int:
        cur = await self.raw.execute(sql, args)
        return max(int(cur.rowcount), 0)

    async def insert(self, sql: str, args: Sequence[Any]) -> Any:
        cur = await self.raw.execute(sql, args)
        return cur.lastrowid

    async def execute_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        await self.raw.executemany(sql, rows)

    async def begin(self) -> None:
        await self.raw.execute("BEGIN IMMEDIATE")

    def broken(self) -> bool:
        return self.closed

    async def close(self) -> None:
        self.closed = True
        await self.raw.close()


class SqliteAdapter(SqlAdapter):
    """`{"driver": "sqlite", "path": "var/app.db"}` (parent folders are created) or `url`."""

    driver = "sqlite"
    dialect_name = "sqlite"
    options_allowed = frozenset({"driver", "path", "url", "pool_size", "max_overflow", "pool_timeout",
                                 "pool_recycle", "connect_args", "busy_timeout"})
    pool_defaults = {"pool_size": 5, "max_overflow": 0, "pool_timeout": 30.0, "pool_recycle": None}

    def __init__(self, alias: str, options: dict[str, Any]) -> None:
        super().__init__(alias, options)
        self.path, self.memory = self._location()
        if self.memory:  # one connection keeps the shared in-memory database alive
            self.options = {**self.options, "pool_size": 1, "max_overflow": 0}

    def _location(self) -> tuple[str, bool]:
        path = self.options.get("path")
        url = self.options.get("url")
        if path is None and url is not None:
            try:
                parsed = sa.engine.make_url(str(url))
            except Exception as exc:
                raise _bad(self, f"cannot parse url {url!r}") from exc
            if parsed.drivername not in _SCHEMES:
                raise _bad(self, f"url scheme '{parsed.drivername}' does not fit driver 'sqlite'; use sqlite:///path")
            path = parsed.database or ":memory:"
        if path is None:
            raise _bad(self, "give `path` (a file, e.g. 'var/app.db') or `url` ('sqlite:///var/app.db')")
        path = str(path)
        if path in (":memory:", ""):
            return f"file:mega-{self.alias}-{next(_memory_ids)}?mode=memory&cache=shared", True
        return path, False

    def _default_target(self) -> str:
        return ":memory:" if self.memory else self.path

    def target(self) -> str:
        return self._default_target()

    def file(self) -> str:
        """The database file, relative paths taken from the project root."""
        return str(self.resolve_path(self.path))

    def _sa_url(self) -> sa.engine.URL:
        if self.memory:
            name = self.path.partition("?")[0]
            return sa.engine.URL.create("sqlite+aiosqlite", database=name,
                                        query={"mode": "memory", "cache": "shared", "uri": "true"})
        return sa.engine.URL.create("sqlite+aiosqlite", database=self.file())

    def _engine_options(self) -> dict[str, Any]:
        if self.memory:
            return {"poolclass": sa.pool.StaticPool}
        options = engine_pool_options(self)
        options.pop("connect_args")
        return options

    def _prepare_engine(self, engine: AsyncEngine) -> None:
        pragmas = self._pragmas()

        def on_connect(dbapi_conn: Any, _record: Any) -> None:
            cursor = dbapi_conn.cursor()
            for pragma in pragmas:
                cursor.execute(pragma)
            cursor.close()

        sa.event.listen(engine.sync_engine, "connect", on_connect)

    def _pragmas(self) -> list[str]:
        out = ["PRAGMA foreign_keys = ON", f"PRAGMA busy_timeout = {self._busy_ms()}"]
        if not self.memory:
            out += [_WAL, "PRAGMA synchronous = NORMAL"]
        return out

    def _busy_ms(self) -> int:
        return int(self.options.get("busy_timeout", 5000))

    async def _open(self) -> DriverConnection:
        import aiosqlite

        location = self.path if self.memory else self.file()
        if not self.memory:
            Path(location).parent.mkdir(parents=True, exist_ok=True)
        kwargs = {"isolation_level": None, **(self.options.get("connect_args") or {})}
        raw = await aiosqlite.connect(location, uri=self.memory, **kwargs)
        try:
            for pragma in self._pragmas():
                if pragma == _WAL:
                    await _switch_to_wal(raw, self._busy_ms() / 1000)
                else:
                    await raw.execute(pragma)
        except BaseException:
            await raw.close()
            raise
        return SqliteConnection(raw)


async def _switch_to_wal(raw: Any, budget: float) -> None:
    """WAL on a file that several connections open at once (two adapters on one file, cluster workers):
    two switches that meet can deadlock on the lock upgrade, and SQLite then answers "database is
    locked" at once, without its busy handler. Try again until the busy timeout has passed."""
    deadline = time.monotonic() + budget
    delay = 0.005
    while True:
        try:
            await raw.execute(_WAL)
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() + delay > deadline:
                raise
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.1)


def _bad(adapter: SqliteAdapter, message: str) -> MegaError:
    return MegaError("db.invalid_option", f"db '{adapter.alias}': {message}",
                     details={"alias": adapter.alias, "driver": "sqlite"})
