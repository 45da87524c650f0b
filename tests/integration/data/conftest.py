"""Real databases for the model suite: one adapter per dialect per module, tables made from the
models with `table_for` + `metadata.create_all`, table names unique to this test process."""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest
import pytest_asyncio
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from mega.adapters.sql import MariaAdapter, PostgresAdapter, SqlAdapter, SqliteAdapter
from mega.data.sqltypes import table_for

PG_URL = os.environ.get("MEGA_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
MARIA_URL = os.environ.get("MEGA_TEST_MARIA_URL", "mysql://root@127.0.0.1:3306/test")
DIALECTS = ["sqlite", "postgres", "maria"]
RUN = f"mt{os.getpid()}"  # table prefix: parallel test runs on one server never share tables


def unreachable(url: str, default_port: int) -> str | None:
    parts = make_url(url)
    host, port = parts.host or "127.0.0.1", parts.port or default_port
    try:
        socket.create_connection((host, port), timeout=1).close()
    except OSError as exc:
        return f"{host}:{port} is not reachable ({exc})"
    return None


def make_adapter(kind: str, tmp: Path, alias: str = "main", **options: object) -> SqlAdapter:
    """An adapter of `kind`, or skip the test with a one-line reason when its server is down."""
    if kind == "sqlite":
        return SqliteAdapter(alias, {"path": str(tmp / "models.sqlite3"), **options})
    url, port = (PG_URL, 5432) if kind == "postgres" else (MARIA_URL, 3306)
    down = unreachable(url, port)
    if down:
        pytest.skip(f"{kind}: {down}")
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
