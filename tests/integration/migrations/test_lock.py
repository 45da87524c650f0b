"""Two runners migrating at once run each migration exactly once; a waiter gives up (migration.locked)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import sqlalchemy as sa

from mega.data.migrations._lock import migration_lock
from mega.data.migrations.runner import Runner
from mega.errors import MegaError

from .conftest import Database, write

# Each migration counts its runs in a table of its own (created by the first): a second run would show.
FIRST = """
import time

from mega.data.migrations import column


def up(schema):
    schema.create_table("runs", column("id", "integer", primary_key=True),
                        column("name", "string", length=40))
    schema.execute("INSERT INTO runs (id, name) VALUES (1, 'first')")
    time.sleep(0.2)  # hold the lock a while: the other runner must wait


def down(schema):
    schema.drop_table("runs")
"""
NEXT = """
def up(schema):
    schema.execute("INSERT INTO runs (id, name) VALUES ({n}, 'm{n}')")


def down(schema):
    schema.execute("DELETE FROM runs WHERE id = {n}")
"""


def _project(project: Path) -> None:
    write(project, "apps/main/migrations/20260101000001_first.py", FIRST)
    for n in (2, 3, 4):
        write(project, f"apps/main/migrations/2026010100000{n}_m{n}.py", NEXT.format(n=n))


async def test_two_runners_at_once_apply_each_migration_once(project: Path, database: Database) -> None:
    _project(project)
    a = Runner(database.engine(), project, lock_timeout=30)
    b = Runner(database.engine(), project, lock_timeout=30)
    done_a, done_b = await asyncio.gather(a.migrate(), b.migrate())
    names = sorted(m.name for m in [*done_a, *done_b])
    assert names == ["20260101000001_first", "20260101000002_m2", "20260101000003_m3", "20260101000004_m4"]
    assert await database.rows("SELECT id FROM runs ORDER BY id") == [(1,), (2,), (3,), (4,)]
    assert await database.rows("SELECT COUNT(*) FROM mega_migrations") == [(4,)]


async def test_a_waiter_gives_up_after_the_timeout(project: Path, database: Database) -> None:
    _project(project)
    holder = database.engine()
    async with holder.connect() as conn:
        if database.kind == "sqlite":
            await conn.exec_driver_sql("BEGIN IMMEDIATE")  # another writer holds the database
            held = None
        else:
            held = migration_lock(conn, timeout=5)
            await held.__aenter__()
        with pytest.raises(MegaError) as info:
            await Runner(database.engine(), project, lock_timeout=0.3).migrate()
        if held is not None:
            await held.__aexit__(None, None, None)
        else:
            await conn.rollback()
    assert info.value.code == "migration.locked"
    assert "another process is migrating this database" in info.value.message
    assert "runs" not in await database.tables()
    # Once the holder is gone, migrating works.
    assert len(await Runner(database.engine(), project, lock_timeout=5).migrate()) == 4


async def test_the_lock_is_released_after_a_failure(project: Path, database: Database) -> None:
    path = "apps/main/migrations/20260101000001_bad.py"
    write(project, path, "def up(schema):\n    schema.execute('SELEC 1')\n")
    engine = database.engine()
    with pytest.raises(MegaError):
        await Runner(engine, project, lock_timeout=1).migrate()
    write(project, path, "def up(schema):\n    schema.execute('SELECT 1')\n")
    other = Runner(database.engine(), project, lock_timeout=1)
    assert len(await other.migrate()) == 1
    if database.kind == "postgres":
        async with engine.connect() as conn:
            query = sa.text("SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory'")
            held = (await conn.execute(query)).scalar()
        assert held == 0
