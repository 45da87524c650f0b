"""Monthly range partitions on postgres, for append-mostly tables such as logs.

    class Log(Model):
        id = fields.id()
        created_at = fields.datetime(primary_key=True)
        class Meta:
            partition = {"column": "created_at", "interval": "month"}

The migration creates the table `PARTITION BY RANGE (created_at)`; `ensure_partitions` then creates
`<table>_pYYYYMM` for the current month and the next `months_ahead` ones (run it from a schedule, and
once after migrating). A row whose month has no partition cannot be inserted, so keep the lead time
longer than the schedule's period. On SQLite and MariaDB the table is a plain table and
`ensure_partitions` does nothing.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from mega.data._spec import ModelSpec
from mega.data.model import Model
from mega.errors import MegaError

INTERVALS = ("month",)
SUFFIX_LEN = len("_pYYYYMM")
_KEYS = frozenset({"column", "interval"})


def partition_problems(spec: ModelSpec) -> list[tuple[str | None, str]]:
    """What is wrong with `Meta.partition`, as (field, reason) pairs."""
    part = spec.partition
    if not part:
        return []
    out: list[tuple[str | None, str]] = []
    unknown = sorted(set(part) - _KEYS)
    if unknown:
        out.append((None, f"Meta.partition has unknown keys {unknown} (keys: column, interval)"))
    interval = part.get("interval", "month")
    if interval not in INTERVALS:
        out.append((None, f"Meta.partition interval {interval!r} is not supported (intervals: "
                          f"{', '.join(INTERVALS)})"))
    if len(spec.table) > 63 - SUFFIX_LEN:
        out.append((None, f"a partitioned table name must be at most {63 - SUFFIX_LEN} characters "
                          "(partitions add _pYYYYMM)"))
    name = part.get("column")
    column = spec.column(name) if isinstance(name, str) else None
    if column is None:
        out.append((name, "Meta.partition column is not a field of the model"))
        return out
    if column.kind not in ("date", "datetime"):
        out.append((name, f"a partition column must be a date or datetime, not {column.kind}"))
    if name not in spec.primary_key:
        out.append((name, "the primary key must include the partition column (postgres requires it): "
                          "declare it with primary_key=True"))
    for col in spec.columns:
        if col.unique and not col.primary_key and col.name != name:
            out.append((col.name, f"unique columns of a partitioned table must include '{name}': use "
                                  "Meta.unique_together with it"))
    for ix in spec.indexes:
        if ix.unique and name not in ix.columns:
            out.append((None, f"unique index '{ix.name}' must include the partition column '{name}'"))
    return out


def partition_name(table: str, month: dt.date) -> str:
    return f"{table}_p{month.year:04d}{month.month:02d}"


def _months(first: dt.date, last: dt.date) -> list[dt.date]:
    out, month = [], first.replace(day=1)
    while month <= last:
        out.append(month)
        month = _next_month(month)
    return out


def _next_month(month: dt.date) -> dt.date:
    return dt.date(month.year + (month.month == 12), month.month % 12 + 1, 1)


def _add_months(month: dt.date, n: int) -> dt.date:
    index = month.year * 12 + month.month - 1 + n
    return dt.date(index // 12, index % 12 + 1, 1)


def _table_of(model_or_table: Any) -> str:
    if isinstance(model_or_table, str):
        return model_or_table
    if isinstance(model_or_table, ModelSpec):
        return model_or_table.table
    if isinstance(model_or_table, type) and issubclass(model_or_table, Model):
        return model_or_table.spec().table
    raise MegaError("partition.failed",
                    f"ensure_partitions needs a model or a table name, got {model_or_table!r}")


async def ensure_partitions(engine: AsyncEngine, model_or_table: Any, months_ahead: int = 2,
                            start: dt.date | None = None) -> list[str]:
    """Create the missing monthly partitions from `start`'s month (default: this month, UTC) to
    `months_ahead` months after this month; returns the names created. Safe to run concurrently."""
    if engine.dialect.name != "postgresql":
        return []
    if months_ahead < 0:
        raise MegaError("partition.failed", f"months_ahead must be 0 or more, got {months_ahead}")
    table = _table_of(model_or_table)
    today = dt.datetime.now(dt.UTC).date()
    months = _months(start or today, _add_months(today.replace(day=1), months_ahead))
    quote = engine.dialect.identifier_preparer.quote
    created: list[str] = []
    try:
        async with engine.begin() as conn:
            # One creator at a time per table: concurrent CREATE ... IF NOT EXISTS can still collide.
            await conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext(:t))"), {"t": f"mega:{table}"})
            existing = set(await _partitions(conn, quote(table)))
            for month in months:
                name = partition_name(table, month)
                if name in existing:
                    continue
                await conn.exec_driver_sql(
                    f"CREATE TABLE {quote(name)} PARTITION OF {quote(table)} FOR VALUES FROM "
                    f"('{month.isoformat()} 00:00:00+00') TO ('{_next_month(month).isoformat()} 00:00:00+00')"
                )
                created.append(name)
    except sa.exc.DBAPIError as exc:
        raise MegaError("partition.failed", f"cannot create partitions of '{table}': {exc.orig}",
                        details={"table": table},
                        hint="is the table partitioned (Meta.partition) and migrated?") from exc
    return created


async def partitions(engine: AsyncEngine, table: str) -> list[str]:
    """The partitions of `table`, by name (empty on other dialects)."""
    if engine.dialect.name != "postgresql":
        return []
    async with engine.connect() as conn:
        return await _partitions(conn, engine.dialect.identifier_preparer.quote(table))


async def _partitions(conn: Any, quoted_table: str) -> list[str]:
    rows = await conn.execute(sa.text(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = to_regclass(:t) ORDER BY c.relname"), {"t": quoted_table})
    return [r[0] for r in rows]
