"""Apply and roll back migrations on one database, under the migration lock.

Each migration runs in its own transaction where the dialect has transactional DDL (postgres,
SQLite): a failure leaves nothing of it. MariaDB commits each DDL statement at once, so there a failed
migration's completed steps are undone by their reverse operations when all have one; otherwise the
error lists the steps that stay applied. Either way `mega_migrations` is exact: a migration is recorded
in the step that completes it, never when it failed. One progress line per migration.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from mega.data.migrations import _recorder as recorder
from mega.data.migrations._ddl import DDL
from mega.data.migrations._loader import MigrationFile, load_migrations
from mega.data.migrations._lock import begin_migration, migration_lock
from mega.data.migrations._operations import Execute, Operation
from mega.data.migrations._schema import Schema, StepFailed
from mega.errors import MegaError

log = logging.getLogger("mega.migrations")


@dataclass(frozen=True)
class StatusRow:
    app: str
    name: str
    state: str  # "applied", "pending", "changed" (applied, file edited since), "missing" (no file)
    applied_at: Any = None


class Runner:
    """Migrations of a project's apps against one database.

    A migration runs here when its `database` (default: `default_alias`) is `alias` (default: the
    default database).
    """

    def __init__(self, engine: AsyncEngine, root: Path, *, apps: Mapping[str, Path] | None = None,
                 alias: str | None = None, default_alias: str = "primary", lock_timeout: float = 60.0,
                 progress: Callable[[str], None] | None = None) -> None:
        self.engine = engine
        self.root = Path(root)
        self.apps = apps
        self.alias = alias or default_alias  # the database these migrations are for
        self.default_alias = default_alias  # where a migration without `database = ...` goes
        self.lock_timeout = lock_timeout
        self.progress = progress or log.info
        self.dialect = engine.dialect.name

    def files(self) -> list[MigrationFile]:
        """This database's migrations, in order."""
        out = []
        for migration in load_migrations(self.root, self.apps):
            database = migration.database or self.default_alias
            if database == self.alias:
                out.append(migration)
        return out

    async def migrate(self) -> list[MigrationFile]:
        """Apply every pending migration; returns the ones this call applied."""
        files = self.files()
        done: list[MigrationFile] = []
        async with self.engine.connect() as conn, migration_lock(conn, self.lock_timeout):
            await self._ensure_table(conn)
            applied = {a.key for a in await recorder.applied(conn)}
            await conn.commit()
            for migration in files:
                if migration.key not in applied and await self._run(conn, migration, up=True):
                    done.append(migration)
        if not done:
            self.progress("nothing to migrate")
        return done

    async def rollback(self, step: int = 1) -> list[MigrationFile]:
        """Undo the last `step` applied migrations, newest first; returns them."""
        if step < 1:
            raise MegaError("migration.invalid_step", f"step must be 1 or more, got {step}")
        by_key = {m.key: m for m in load_migrations(self.root, self.apps)}
        done: list[MigrationFile] = []
        async with self.engine.connect() as conn, migration_lock(conn, self.lock_timeout):
            await self._ensure_table(conn)
            applied = await recorder.applied(conn)
            await conn.commit()
            for row in list(reversed(applied))[:step]:
                migration = by_key.get(row.key)
                if migration is None:
                    raise MegaError("migration.missing_file",
                                    f"migration {row.app}/{row.name} is applied but its file is gone",
                                    details={"app": row.app, "migration": row.name},
                                    hint=f"restore apps/{row.app}/migrations/{row.name}.py to roll it back")
                if await self._run(conn, migration, up=False):
                    done.append(migration)
        if not done:
            self.progress("nothing to roll back")
        return done

    async def status(self) -> list[StatusRow]:
        """Every migration of this database with its state (reads only)."""
        async with self.engine.connect() as conn:
            rows = await recorder.applied(conn) if await recorder.exists(conn) else []
        applied = {r.key: r for r in rows}
        out: list[StatusRow] = []
        files = self.files()
        for migration in files:
            row = applied.get(migration.key)
            if row is None:
                out.append(StatusRow(migration.app, migration.name, "pending"))
            else:
                changed = row.checksum and row.checksum != migration.checksum()
                out.append(StatusRow(migration.app, migration.name, "changed" if changed else "applied",
                                     row.applied_at))
        known = {m.key for m in files} | {m.key for m in load_migrations(self.root, self.apps)}
        out += [StatusRow(r.app, r.name, "missing", r.applied_at) for r in rows if r.key not in known]
        return out

    # -- internals -------------------------------------------------------------------------

    async def _ensure_table(self, conn: AsyncConnection) -> None:
        await begin_migration(conn, self.lock_timeout)  # on SQLite two first runs must not race
        await recorder.ensure(conn)
        await conn.commit()

    async def _run(self, conn: AsyncConnection, migration: MigrationFile, *, up: bool) -> bool:
        """Run one migration in its transaction and record it; False when another process did it."""
        fn = migration.up if up else migration.down
        if fn is None:
            raise MegaError("migration.irreversible", f"migration {migration.label} has no down(schema)",
                            details={"app": migration.app, "migration": migration.name},
                            hint="write its down(schema), or undo it by hand and delete its "
                            "mega_migrations row")
        started = time.monotonic()
        await begin_migration(conn, self.lock_timeout)
        if self.dialect == "sqlite":  # the lock was taken just now: is it still to do?
            still = migration.key not in {a.key for a in await recorder.applied(conn)}
            if still != up:
                await conn.rollback()
                return False
        try:
            steps = await conn.run_sync(_call, fn)
            if conn.info.get("mega_check_foreign_keys"):
                await _check_foreign_keys(conn)
            if up:
                await recorder.record(conn, migration.app, migration.name, migration.checksum())
            else:
                await recorder.forget(conn, migration.app, migration.name)
            await conn.commit()
        except StepFailed as failed:
            await conn.rollback()
            raise await self._failed(conn, migration, up, failed) from failed.cause
        except Exception as exc:
            await conn.rollback()
            raise await self._failed(conn, migration, up, StepFailed(0, None, exc, [])) from exc
        plural = "s" if steps != 1 else ""
        self.progress(f"{'up  ' if up else 'down'} {migration.label} ({steps} step{plural}, "
                      f"{time.monotonic() - started:.2f}s)")
        return True

    async def _failed(self, conn: AsyncConnection, migration: MigrationFile, up: bool,
                      failed: StepFailed) -> MegaError:
        cause = failed.cause
        if isinstance(cause, MegaError) and cause.code == "migration.irreversible":
            return cause
        reason = f"{type(cause).__name__}: {getattr(cause, 'orig', None) or cause}"
        where = (f"at step {failed.step} ({failed.operation.describe()})" if failed.operation
                 else f"in {'up' if up else 'down'}()" if failed.step <= 1
                 else f"after step {failed.step - 1} (in the migration's code)")
        details: dict[str, Any] = {"app": migration.app, "migration": migration.name, "step": failed.step,
                                   "operation": failed.operation.describe() if failed.operation else None,
                                   "error": reason}
        if self.dialect == "mysql" and failed.done:
            undone = await _compensate(conn, failed.done)
            applied = [op.describe() for op in failed.done]
            details.update(applied_steps=applied, undone=undone)
            hint = ("MariaDB commits each DDL step: the steps before it were undone by their reverse; fix "
                    "the migration and run again") if undone else (
                f"MariaDB commits each DDL step and these stay applied: {'; '.join(applied)}. Undo them by "
                "hand (or make the migration skip them), then run again")
        else:
            hint = "the migration was rolled back, nothing of it is applied: fix it and run again"
        return MegaError("migration.failed", f"migration {migration.label} failed {where}: {reason}",
                         details=details, hint=hint)


def _call(conn: sa.Connection, fn: Callable[[Schema], Any]) -> int:
    schema = Schema(conn)
    try:
        fn(schema)
    except StepFailed:
        raise
    except NotImplementedError as exc:
        raise StepFailed(len(schema.done) + 1, None, MegaError(
            "migration.irreversible", f"cannot be reversed: {exc}"), list(schema.done)) from exc
    except Exception as exc:
        raise StepFailed(len(schema.done) + 1, None, exc, list(schema.done)) from exc
    return len(schema.done)


async def _check_foreign_keys(conn: AsyncConnection) -> None:
    """SQLite: the migration ran with foreign keys off; refuse to commit rows that break one."""
    rows: list[Any] = list((await conn.exec_driver_sql("PRAGMA foreign_key_check")).fetchall())
    if rows:
        found = "; ".join(f"{r[0]} rowid {r[1]} -> {r[2]}" for r in rows[:5])
        raise MegaError("migration.failed", f"foreign keys broken by the migration: {found}")


def _apply(conn: sa.Connection, operation: Operation | None) -> None:
    if operation is not None:
        operation.apply(DDL(conn))


async def _compensate(conn: AsyncConnection, done: list[Operation]) -> bool:
    """Undo DDL steps by their reverses (MariaDB); only when every step has one and none is raw SQL."""
    reverses = [op.reverse() for op in reversed(done)]
    if any(isinstance(op, Execute) for op in done) or any(r is None for r in reverses):
        return False
    try:
        for reverse in reverses:
            await conn.run_sync(_apply, reverse)
        await conn.commit()
    except Exception:
        log.exception("undoing the steps of a failed migration failed")
        await conn.rollback()
        return False
    return True
