"""Postgres range partitioning: the table is PARTITION BY RANGE, ensure_partitions makes <table>_pYYYYMM."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import pytest
import sqlalchemy as sa

from mega.data.migrations.generate import generate
from mega.data.migrations.partition import ensure_partitions, partition_name, partitions
from mega.data.migrations.runner import Runner
from mega.errors import MegaError

from .conftest import Database, write_models

LOG = """
class Log(Model):
    id = fields.id()
    created_at = fields.datetime(primary_key=True)
    level = fields.string(10, index=True)
    message = fields.text()

    class Meta:
        partition = {"column": "created_at", "interval": "month"}
"""


def _month(offset: int) -> dt.date:
    today = dt.datetime.now(dt.UTC).date()
    index = today.year * 12 + today.month - 1 + offset
    return dt.date(index // 12, index % 12 + 1, 1)


async def test_partitioned_table_and_partitions(project: Path, database: Database) -> None:
    write_models(project, LOG)
    generate(project, "create logs")
    assert "partition={\"column\": \"created_at\", \"interval\": \"month\"}" in next(
        (project / "apps/main/migrations").glob("*.py")).read_text()
    await Runner(database.engine(), project).migrate()
    engine = database.engine()
    from apps.main.models.models import Log

    if database.kind != "postgres":
        # Elsewhere a plain table, and ensure_partitions has nothing to do.
        assert await ensure_partitions(engine, Log) == []
        assert "logs" in await database.tables()
        return

    async with engine.connect() as conn:
        strategy = (await conn.execute(sa.text(
            "SELECT partstrat::text FROM pg_partitioned_table WHERE partrelid = 'logs'::regclass"))).scalar()
    assert strategy == "r"

    expected = [partition_name("logs", _month(n)) for n in range(3)]
    assert await ensure_partitions(engine, Log, months_ahead=2) == expected
    assert await ensure_partitions(engine, "logs", months_ahead=2) == []  # idempotent
    assert await partitions(engine, "logs") == expected
    assert expected[0] == f"logs_p{_month(0):%Y%m}"

    # Back-fill from an earlier month; only the missing ones are created.
    assert await ensure_partitions(engine, Log, months_ahead=1, start=_month(-2)) == [
        partition_name("logs", _month(-2)), partition_name("logs", _month(-1))]

    now = dt.datetime.now(dt.UTC)
    async with engine.begin() as conn:
        await conn.execute(sa.text("INSERT INTO logs (created_at, level, message) VALUES (:t, 'info', 'hi')"),
                           {"t": now})
        where = (await conn.execute(sa.text("SELECT tableoid::regclass::text FROM logs"))).scalar()
    assert where == partition_name("logs", _month(0))
    with pytest.raises(sa.exc.DBAPIError):  # no partition three years ahead: postgres refuses the row
        async with engine.begin() as conn:
            await conn.execute(sa.text("INSERT INTO logs (created_at, level, message) VALUES (:t, 'x', 'y')"),
                               {"t": now + dt.timedelta(days=3 * 365)})

    # Two callers at once: each partition is created once, neither fails.
    first, second = await asyncio.gather(ensure_partitions(engine, Log, months_ahead=4),
                                         ensure_partitions(database.engine(), Log, months_ahead=4))
    assert sorted(first + second) == [partition_name("logs", _month(3)), partition_name("logs", _month(4))]

    await Runner(database.engine(), project).rollback()
    assert await partitions(engine, "logs") == []


async def test_ensure_partitions_on_a_plain_table_fails_clearly(database: Database) -> None:
    if database.kind != "postgres":
        pytest.skip("postgres only")
    engine = database.engine()
    async with engine.begin() as conn:
        await conn.exec_driver_sql("CREATE TABLE plain (id int)")
    with pytest.raises(MegaError) as info:
        await ensure_partitions(engine, "plain")
    assert info.value.code == "partition.failed"
    assert "cannot create partitions of 'plain'" in info.value.message
