"""PostgreSQL through asyncpg: prepared statements cached per connection by asyncpg itself."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from typing import Any

import orjson
import sqlalchemy as sa

from mega.adapters.sql._connection import DriverConnection, Row
from mega.adapters.sql._urls import parse_url
from mega.adapters.sql.adapter import SqlAdapter


class PostgresConnection(DriverConnection):
    __slots__ = ()

    async def fetch(self, sql: str, args: Sequence[Any]) -> list[Row]:
        try:
            rows: list[Row] = await self.raw.fetch(sql, *args)
        except Exception as exc:
            await self._sync_after(exc)
            raise
        return rows

    async def fetch_named(self, sql: str, args: Sequence[Any]) -> tuple[list[str], list[Row]]:
        rows: Any = await self.fetch(sql, args)  # asyncpg Records
        return (list(rows[0].keys()) if rows else []), rows

    async def execute(self, sql: str, args: Sequence[Any]) -> int:
        try:
            status: str = await self.raw.execute(sql, *args)
        except Exception as exc:
            await self._sync_after(exc)
            raise
        tail = status.rpartition(" ")[2]  # "UPDATE 3", "INSERT 0 1", "CREATE TABLE"
        return int(tail) if tail.isdigit() else 0

    async def execute_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        try:
            await self.raw.executemany(sql, rows)
        except Exception as exc:
            await self._sync_after(exc)
            raise

    async def _sync_after(self, exc: Exception) -> None:
        """asyncpg refuses an argument it cannot encode after sending Parse and before Sync: the
        server then waits mid-statement holding the statement's table locks (a DROP or a migration
        waits for them) until the connection's next query. Send that query now."""
        import asyncpg  # loaded already: this connection is asyncpg's

        if type(exc) is not asyncpg.DataError:  # the server's own data errors are subclasses, synced
            return
        try:
            await self.raw.execute("SELECT 1")
        except Exception:
            self.raw.terminate()  # broken(): the pool discards it

    def broken(self) -> bool:
        return bool(self.raw.is_closed())

    async def close(self) -> None:
        try:
            await asyncio.wait_for(self.raw.close(), 2)
        except Exception:
            self.raw.terminate()


def _uuid_out(data: bytes) -> uuid.UUID:
    return uuid.UUID(bytes=data)


def _uuid_in(value: Any) -> bytes:
    return (value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))).bytes


def _json_in(value: Any) -> bytes:
    # SQLAlchemy's JSON bind processor hands us text already; raw queries may pass objects.
    return value.encode() if isinstance(value, str) else orjson.dumps(value)


def _jsonb_in(value: Any) -> bytes:
    return b"\x01" + _json_in(value)


def _jsonb_out(data: bytes) -> Any:
    return orjson.loads(data[1:])


async def _setup_codecs(conn: Any) -> None:
    """JSON via orjson; UUIDs as the stdlib `uuid.UUID` (asyncpg's own class is not JSON-able)."""
    await conn.set_type_codec("json", encoder=_json_in, decoder=orjson.loads, schema="pg_catalog",
                              format="binary")
    await conn.set_type_codec("jsonb", encoder=_jsonb_in, decoder=_jsonb_out, schema="pg_catalog",
                              format="binary")
    await conn.set_type_codec("uuid", encoder=_uuid_in, decoder=_uuid_out, schema="pg_catalog",
                              format="binary")


class PostgresAdapter(SqlAdapter):
    """`services.dbs.<alias> = {"driver": "postgres", "url": "postgresql://user@host/db"}` or
    host/port/user/password/database; pool options as SQLAlchemy's."""

    driver = "postgres"
    dialect_name = "postgresql"

    def __init__(self, alias: str, options: dict[str, Any]) -> None:
        super().__init__(alias, options)
        self.url = self._url()  # bad URLs fail at construction (boot), not at connect

    def _url(self) -> sa.engine.URL:
        return parse_url(self, "postgresql+asyncpg", ("postgres", "postgresql", "postgresql+asyncpg"),
                         default_port=5432)

    def _sa_url(self) -> sa.engine.URL:
        return self.url

    def _connect_kwargs(self) -> dict[str, Any]:
        url = self.url
        kwargs: dict[str, Any] = {"host": url.host or "localhost", "port": url.port or 5432,
                                  "user": url.username, "password": url.password, "database": url.database}
        kwargs.update(url.query)
        kwargs.update(self.options.get("connect_args") or {})
        return kwargs

    def _engine_options(self) -> dict[str, Any]:
        return engine_pool_options(self)

    async def _open(self) -> DriverConnection:
        import asyncpg

        raw = await asyncpg.connect(**self._connect_kwargs())
        try:
            await _setup_codecs(raw)
        except BaseException:
            raw.terminate()
            raise
        return PostgresConnection(raw)


def engine_pool_options(adapter: SqlAdapter) -> dict[str, Any]:
    """The native engine's pool: the same options as ours (SQLAlchemy spells 'no recycle' -1)."""
    recycle = adapter.pool_option("pool_recycle")
    return {"pool_size": adapter.pool_option("pool_size"),
            "max_overflow": adapter.pool_option("max_overflow"),
            "pool_timeout": adapter.pool_option("pool_timeout"),
            "pool_recycle": -1 if recycle is None else recycle,
            "connect_args": dict(adapter.options.get("connect_args") or {})}
