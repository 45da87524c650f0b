"""MariaDB / MySQL through aiomysql.

Sessions run in UTC (`DATETIME` columns hold UTC), strict mode (a too-long or invalid value is
an error, not a silent truncation) and report matched rows, so an update that changes nothing
still counts the row it found.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from mega.adapters.sql._connection import DriverConnection, Row
from mega.adapters.sql._urls import parse_url
from mega.adapters.sql.adapter import SqlAdapter
from mega.adapters.sql.postgres import engine_pool_options

INIT_COMMAND = (
    "SET time_zone = '+00:00', sql_mode = IF(FIND_IN_SET('STRICT_TRANS_TABLES', @@sql_mode) "
    "OR FIND_IN_SET('STRICT_ALL_TABLES', @@sql_mode), @@sql_mode, "
    "CONCAT_WS(',', NULLIF(@@sql_mode, ''), 'STRICT_ALL_TABLES'))"
)
_FOUND_ROWS = 2  # pymysql.constants.CLIENT.FOUND_ROWS
_INT_MIN, _INT_MAX = -(2**63), 2**63 - 1


def _args(args: Sequence[Any]) -> tuple[Any, ...]:
    """The arguments as the tuple aiomysql wants. An int beyond 64 bits is refused as sqlite3
    refuses it (OverflowError, mapped to db.invalid_value): MariaDB would compare it without a
    word, so a lookup by a too-large id would find nothing instead of failing as elsewhere."""
    for value in args:
        if type(value) is int and not _INT_MIN <= value <= _INT_MAX:
            raise OverflowError(f"an integer of {value.bit_length()} bits is beyond the 64-bit range")
    return tuple(args)


class MariaConnection(DriverConnection):
    __slots__ = ()

    async def fetch(self, sql: str, args: Sequence[Any]) -> list[Row]:
        async with self.raw.cursor() as cur:
            await cur.execute(sql, _args(args))  # always a tuple: '%%' is unescaped only with args
            rows: list[Row] = await cur.fetchall()
            return rows

    async def fetch_named(self, sql: str, args: Sequence[Any]) -> tuple[list[str], list[Row]]:
        async with self.raw.cursor() as cur:
            await cur.execute(sql, _args(args))
            rows = await cur.fetchall()
            return [d[0] for d in cur.description or ()], list(rows)

    async def execute(self, sql: str, args: Sequence[Any]) -> int:
        async with self.raw.cursor() as cur:
            await cur.execute(sql, _args(args))
            return max(int(cur.rowcount), 0)

    async def insert(self, sql: str, args: Sequence[Any]) -> Any:
        async with self.raw.cursor() as cur:
            await cur.execute(sql, _args(args))
            return cur.lastrowid

    async def execute_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        async with self.raw.cursor() as cur:
            await cur.executemany(sql, [_args(r) for r in rows])

    async def begin(self) -> None:
        await self.raw.begin()

    async def commit(self) -> None:
        await self.raw.commit()

    async def rollback(self) -> None:
        await self.raw.rollback()

    def broken(self) -> bool:
        return bool(self.raw.closed)

    async def close(self) -> None:
        try:
            await self.raw.ensure_closed()
        except Exception:
            self.raw.close()


class MariaAdapter(SqlAdapter):
    """`{"driver": "maria", "url": "mysql://root@127.0.0.1/test"}` (mariadb:// works too)."""

    driver = "maria"
    dialect_name = "mysql"

    def __init__(self, alias: str, options: dict[str, Any]) -> None:
        super().__init__(alias, options)
        self.url = self._url()  # bad URLs fail at construction (boot), not at connect

    def _url(self) -> sa.engine.URL:
        return parse_url(self, "mysql+aiomysql", ("mysql", "mariadb", "mysql+aiomysql", "mariadb+aiomysql"),
                         default_port=3306)

    def _sa_url(self) -> sa.engine.URL:
        return self.url.update_query_dict({"charset": "utf8mb4"})

    def _connect_kwargs(self) -> dict[str, Any]:
        url = self.url
        kwargs: dict[str, Any] = {"host": url.host or "localhost", "port": url.port or 3306,
                                  "user": url.username, "password": url.password or "", "db": url.database,
                                  "charset": "utf8mb4", "init_command": INIT_COMMAND}
        kwargs.update(url.query)
        kwargs.update(self.options.get("connect_args") or {})
        kwargs["client_flag"] = int(kwargs.get("client_flag", 0)) | _FOUND_ROWS
        return kwargs

    def _engine_options(self) -> dict[str, Any]:
        options = engine_pool_options(self)
        options["connect_args"] = {"init_command": INIT_COMMAND, **options["connect_args"]}
        return options

    async def _open(self) -> DriverConnection:
        import aiomysql

        raw = await aiomysql.connect(autocommit=True, **self._connect_kwargs())
        return MariaConnection(raw)
