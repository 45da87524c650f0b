"""One test's isolation on a booted runtime (mega's pytest plugin runs it around each test).

- Each SQL database runs the test inside one transaction, rolled back when the runtime closes
  (`SqlAdapter.begin_test_transaction`); a test marked `no_rollback` commits for real instead, and
  the tables it wrote are emptied after it.
- The Redis keys under the run's prefix (caches, locks, sessions) are deleted after the test, and so
  are the run's file caches and session files.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from mega.adapters.sql._pinned import ANY_TABLE
from mega.adapters.sql.adapter import SqlAdapter

if TYPE_CHECKING:
    from mega.boot._test_env import TestRun
    from mega.boot.runtime import Runtime

_SCAN_BATCH = 500
_KEEP = frozenset({"mega_migrations"})


class Isolation:
    """`await Isolation.start(rt, run, commit=...)` after boot, `await finish()` before closing."""

    def __init__(self, rt: Runtime, run: TestRun | None, written: dict[SqlAdapter, set[str]]) -> None:
        self.rt = rt
        self.run = run
        self.written = written

    @classmethod
    async def start(cls, rt: Runtime, run: TestRun | None, *, commit: bool) -> Isolation:
        written: dict[SqlAdapter, set[str]] = {}
        for db in sql_adapters(rt):
            if commit:
                written[db] = db.record_writes()
            else:
                await db.begin_test_transaction()
        return cls(rt, run, written)

    async def finish(self) -> None:
        """Empty what a committing test wrote and delete the run's keys (the runtime still open)."""
        for db, tables in self.written.items():
            await truncate(db, tables)
        if self.run is not None:
            await delete_keys(self.rt, self.run.prefix)

    def remove_files(self) -> None:
        """The run's file caches and session files (after the runtime closed them)."""
        if self.run is not None:
            for name in ("caches", "sessions"):
                shutil.rmtree(Path(self.run.directory, name), ignore_errors=True)


def sql_adapters(rt: Runtime) -> list[SqlAdapter]:
    adapters = rt.adapters
    if adapters is None:
        return []
    return [a for a in adapters.all() if isinstance(a, SqlAdapter) and a.connected]


async def truncate(db: SqlAdapter, written: set[str]) -> None:
    """Empty the tables of `written` (every table for ANY_TABLE), identities restarted."""
    if not written:
        return
    existing = await _table_names(db)
    by_name = {name.lower(): name for name in existing - _KEEP}  # `Users` in raw SQL is users
    tables = sorted(by_name.values() if ANY_TABLE in written
                    else {by_name[w.lower()] for w in written if w.lower() in by_name})
    if not tables:
        return
    quote = db.sa_dialect.identifier_preparer.quote_identifier
    names = [quote(t) for t in tables]

    async def work(conn: Any) -> None:
        if db.dialect == "postgresql":
            await conn.execute(f"TRUNCATE {', '.join(names)} RESTART IDENTITY CASCADE", ())
            return
        off, on = (("SET FOREIGN_KEY_CHECKS = 0", "SET FOREIGN_KEY_CHECKS = 1") if db.dialect == "mysql"
                   else ("PRAGMA foreign_keys = OFF", "PRAGMA foreign_keys = ON"))
        await conn.execute(off, ())
        empty = "TRUNCATE TABLE" if db.dialect == "mysql" else "DELETE FROM"
        try:
            for name in names:
                await conn.execute(f"{empty} {name}", ())
            if db.dialect == "sqlite" and "sqlite_sequence" in existing:
                marks = ", ".join("?" for _ in tables)
                await conn.execute(f"DELETE FROM sqlite_sequence WHERE name IN ({marks})", tables)
        finally:
            await conn.execute(on, ())

    await db.run("truncate", work)


async def _table_names(db: SqlAdapter) -> set[str]:
    async with db.native.connect() as conn:
        names: list[str] = await conn.run_sync(lambda sync: sa.inspect(sync).get_table_names())
    return set(names)


async def delete_keys(rt: Runtime, prefix: str) -> None:
    """Delete every key under `prefix` on each Redis connection of the runtime."""
    adapters = rt.adapters
    if adapters is None or not prefix:
        return
    for alias in adapters.aliases("redis"):
        client = adapters.redis(alias)
        batch: list[Any] = []
        async for key in client.scan_iter(match=_glob_escape(prefix) + "*", count=1000):
            batch.append(key)
            if len(batch) >= _SCAN_BATCH:
                await client.unlink(*batch)
                batch.clear()
        if batch:
            await client.unlink(*batch)


def _glob_escape(text: str) -> str:
    return "".join("\\" + ch if ch in "*?[]\\" else ch for ch in text)
