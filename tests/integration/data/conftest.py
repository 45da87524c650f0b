"""Real databases for the model suite: one adapter per dialect per module, tables made from the
models with `table_for` + `metadata.create_all`, table names unique to this test process."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest
import pytest_asyncio
import sqlalchemy as sa

from mega.adapters.sql import MariaAdapter, PostgresAdapter, SqlAdapter, SqliteAdapter
from mega.data.sqltypes import table_for
from tests import services

PG_URL = services.url("postgres")
MARIA_URL = services.url("maria")
DIALECTS = ["sqlite", "postgres", "maria"]
RUN = f"mt{os.getpid()}"  # table prefix: parallel test runs on one server never share tables


def make_adapter(kind: str, tmp: Path, alias: str = "main", **options: object) -> SqlAdapter:
    """An adapter of `kind`; skips the test (fails it under CI) when its server is down."""
    if kind == "sqlite":
        return SqliteAdapter(alias, {"path": str(tmp / "models.sqlite3"), **options})
    url = services.require(kind)
    cls = PostgresAdapter if kind == "postgres" else MariaAdapter
    return cls(alias, {"url": url, **options})


async def create_tables(db: SqlAdapter, models: Sequence[type]) -> sa.MetaData:
    metadata = sa.MetaData()
    for model in models:
        table_for(model.spec().to_dict(), metadata)  # type: ignore[attr-defined]
    async with db.native.begin() as conn:
        await conn.run_sync(metadata.drop_all)
        await conn.run_sync(metadata.create_all)
    return metadata


async def drop_tables(db: SqlAdapter, metadata: sa.MetaData) -> None:
    async with db.native.begin() as conn:
        await conn.run_sync(metadata.drop_all)


@pytest_asyncio.fixture(scope="module", loop_scope="module", params=DIALECTS)
async def sql_db(request: pytest.FixtureRequest,
                 tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[SqlAdapter]:
    """A connected adapter per dialect (module scope; tables are the test module's business)."""
    db = make_adapter(request.param, tmp_path_factory.mktemp(request.param))
    await db.connect()
    try:
        yield db
    finally:
        await db.disconnect()
