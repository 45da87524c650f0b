"""A database under mega's pytest plugin: one rolled-back transaction for a test, on all dialects.

The app's code runs as in production (plain statements, `transaction()` blocks, several tasks) and
everything it wrote is gone when the test transaction ends; a committing test records the tables
it wrote.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
import sqlalchemy as sa

from mega.adapters.sql import SqlAdapter
from mega.errors import MegaError
from tests.integration.data.conftest import DIALECTS, RUN, make_adapter

TABLE = f"{RUN}_pinned"
OTHER = f"{RUN}_pinned_other"


@pytest_asyncio.fixture(params=DIALECTS)
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SqlAdapter]:
    adapter = make_adapter(request.param, tmp_path)
    await adapter.connect()
    metadata = sa.MetaData()
    for name in (TABLE, OTHER):
        sa.Table(name, metadata, sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
                 sa.Column("label", sa.String(50), unique=True))
    try:
        async with adapter.native.begin() as conn:
            await conn.run_sync(metadata.drop_all)
            await conn.run_sync(metadata.create_all)
        yield adapter
    finally:
        try:
            await adapter.end_test_transaction()
            async with adapter.native.begin() as conn:
                await conn.run_sync(metadata.drop_all)
        finally:
            await adapter.disconnect()


async def _count(db: SqlAdapter, table: str = TABLE) -> int:
    row = await db.query_one(f"SELECT COUNT(*) AS n FROM {table}")
    assert row is not None
    return int(row["n"])


async def test_what_a_test_writes_is_rolled_back_at_its_end(db: SqlAdapter) -> None:
    await db.execute(f"INSERT INTO {TABLE} (id, label) VALUES (1, 'kept')")
    await db.begin_test_transaction()
    await db.execute(f"INSERT INTO {TABLE} (id, label) VALUES (2, 'two')")
    await db.execute(sa.text(f"UPDATE {TABLE} SET label = 'changed' WHERE id = 1"))
    assert await _count(db) == 2
    await db.end_test_transaction()
    assert await db.query(f"SELECT id, label FROM {TABLE}") == [{"id": 1, "label": "kept"}]


async def test_other_tasks_share_the_test_transaction(db: SqlAdapter) -> None:
    await db.begin_test_transaction()

    async def insert(n: int) -> int:
        return await db.execute(f"INSERT INTO {TABLE} (id, label) VALUES (:id, :label)",
                                {"id": n, "label": f"row {n}"})

    # Handlers run in tasks of their own (the ASGI server's); here twenty at once, in turns.
    assert await asyncio.gather(*(asyncio.create_task(insert(n)) for n in range(20))) == [1] * 20
    assert await _count(db) == 20
    await db.end_test_transaction()
    assert await _count(db) == 0


async def test_transaction_blocks_are_savepoints_inside_it(db: SqlAdapter) -> None:
    await db.begin_test_transaction()
    async with db.transaction():
        await db.execute(f"INSERT INTO {TABLE} (id, label) VALUES (1, 'committed block')")
    with pytest.raises(RuntimeError):
        async with db.transaction():
            await db.execute(f"INSERT INTO {TABLE} (id, label) VALUES (2, 'failed block')")
            async with db.transaction():
                await db.execute(f"INSERT INTO {TABLE} (id, label) VALUES (3, 'nested')")
            raise RuntimeError("boom")
    assert [r["id"] for r in await db.query(f"SELECT id FROM {TABLE}")] == [1]
    await db.end_test_transaction()
    assert await _count(db) == 0


async def test_a_failed_statement_does_not_break_the_rest_of_the_test(db: SqlAdapter) -> None:
    await db.begin_test_transaction()
    await db.execute(f"INSERT INTO {TABLE} (id, label) VALUES (1, 'a')")
    with pytest.raises(MegaError) as info:
        await db.execute(f"INSERT INTO {TABLE} (id, label) VALUES (2, 'a')")
    assert info.value.code == "db.conflict"
    # PostgreSQL would answer "current transaction is aborted" to everything after the failure.
    await db.execute(f"INSERT INTO {TABLE} (id, label) VALUES (3, 'b')")
    assert [r["id"] for r in await db.query(f"SELECT id FROM {TABLE} ORDER BY id")] == [1, 3]


async def test_disconnecting_rolls_the_test_transaction_back(db: SqlAdapter, tmp_path: Path) -> None:
    other = make_adapter({"postgresql": "postgres", "mysql": "maria"}.get(db.dialect, "sqlite"), tmp_path)
    await other.connect()
    await other.begin_test_transaction()
    await other.execute(f"INSERT INTO {TABLE} (id, label) VALUES (1, 'x')")
    await other.disconnect()
    assert await _count(db) == 0


async def test_one_test_transaction_at_a_time(db: SqlAdapter) -> None:
    await db.begin_test_transaction()
    with pytest.raises(MegaError) as info:
        await db.begin_test_transaction()
    assert info.value.code == "db.transaction_open"


async def test_recorded_writes_name_the_tables(db: SqlAdapter) -> None:
    written = db.record_writes()
    await db.execute(f"INSERT INTO {TABLE} (id, label) VALUES (1, 'a')")
    await db.query(f"SELECT * FROM {OTHER}")
    assert written == {TABLE}
    async with db.transaction():
        await db.execute(sa.update(sa.table(OTHER, sa.column("label"))).values(label="x"))
    assert written == {TABLE, OTHER}
    await db.execute(f"INSERT INTO {OTHER} (id, label) SELECT id + 10, label FROM {TABLE}")
    assert written == {TABLE, OTHER}
    assert await _count(db, OTHER) == 1  # the writes themselves went through
