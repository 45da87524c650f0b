"""The migration lock: two processes never migrate one database at once.

- postgres: a session advisory lock (`pg_try_advisory_lock`, polled until the timeout);
- MariaDB: `GET_LOCK('mega_migrations:<database>', timeout)`;
- SQLite: no session lock exists; each migration starts with `BEGIN IMMEDIATE` (the write lock),
  waits up to the busy timeout, and checks again that it is still pending (`begin_migration`).
  Foreign keys are not enforced while migrating (table copies), and checked before each commit.

All are held by the connection: a process that dies releases them. A waiter that times out fails
with `migration.locked`.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from mega.errors import MegaError

LOCK_NAME = "mega_migrations"
# postgres advisory locks take a bigint; a fixed one derived from the name.
PG_KEY = int.from_bytes(hashlib.sha256(LOCK_NAME.encode()).digest()[:8], "big", signed=True)
POLL = 0.1


def locked_error(dialect: str, timeout: float) -> MegaError:
    return MegaError("migration.locked", f"another process is migrating this database ({dialect}); gave up "
                     f"after {timeout:g}s", details={"dialect": dialect, "timeout": timeout},
                     hint="wait for it to finish and run the command again, or raise --lock-timeout")


@asynccontextmanager
async def migration_lock(conn: AsyncConnection, timeout: float = 60.0) -> AsyncIterator[None]:
    """Hold the migration lock on `conn` (outside any transaction) for the body."""
    dialect = conn.dialect.name
    params: dict[str, object]
    if dialect == "postgresql":
        await _pg_acquire(conn, timeout)
        release, params = "SELECT pg_advisory_unlock(:k)", {"k": PG_KEY}
    elif dialect == "mysql":
        # GET_LOCK names are server-wide: the database's name keeps two projects apart.
        name = (await conn.execute(sa.text(f"SELECT LEFT(CONCAT('{LOCK_NAME}:', DATABASE()), 64)"))).scalar()
        result = await conn.execute(sa.text("SELECT GET_LOCK(:n, :t)"), {"n": name, "t": timeout})
        got = result.scalar()
        await conn.commit()
        if got != 1:
            raise locked_error(dialect, timeout)
        release, params = "SELECT RELEASE_LOCK(:n)", {"n": name}
    else:
        previous = (await conn.exec_driver_sql("PRAGMA busy_timeout")).scalar()
        foreign_keys = (await conn.exec_driver_sql("PRAGMA foreign_keys")).scalar()
        await conn.exec_driver_sql(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
        # Batch mode copies and drops tables: with foreign keys enforced, dropping a referenced table
        # would fail or cascade. The runner checks the keys itself before each commit.
        await conn.exec_driver_sql("PRAGMA foreign_keys = OFF")
        await conn.commit()
        conn.info["mega_check_foreign_keys"] = bool(foreign_keys)
        fk_on = int(bool(foreign_keys))
        release = f"PRAGMA busy_timeout = {int(previous or 0)}; PRAGMA foreign_keys = {fk_on}"
        params = {}
    try:
        yield
    finally:
        if conn.in_transaction():
            await conn.rollback()
        for statement in release.split("; "):
            await conn.execute(sa.text(statement), params)
        await conn.commit()
        conn.info.pop("mega_check_foreign_keys", None)


async def _pg_acquire(conn: AsyncConnection, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        got = (await conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": PG_KEY})).scalar()
        await conn.commit()
        if got:
            return
        if time.monotonic() >= deadline:
            raise locked_error("postgresql", timeout)
        await asyncio.sleep(POLL)


async def begin_migration(conn: AsyncConnection, timeout: float) -> None:
    """Open the transaction of one migration; on SQLite take the write lock at once."""
    if conn.dialect.name != "sqlite":
        await conn.begin()
        return
    try:
        await conn.exec_driver_sql("BEGIN IMMEDIATE")
    except sa.exc.OperationalError as exc:
        await conn.rollback()
        if "locked" in str(exc.orig) or "busy" in str(exc.orig):
            raise locked_error("sqlite", timeout) from exc
        raise
