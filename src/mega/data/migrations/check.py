"""Is a database where the project's migrations and models say it is? Pending migrations and drift.

    state = await check_schema(adapter, root, apps=apps, models=models, default_alias="primary")
    state.pending   # ("main/20260612092543_create_users", ...): not applied, in the order they run
    state.drift     # (Drift("Todo", "todos", "priority"), ...): what models declare and the database lacks
    state.migrate_command   # "mega db:migrate" or "mega db:migrate --alias analytics"

The boot stage `migrations` runs it for every SQL adapter; a test database set up for `mega test` uses
it too, so both agree on what "up to date" means. Pending migrations are exactly `db:status`'s
`pending` rows. Drift is looked for only when nothing is pending (a pending migration may be what
creates the missing table): a model's table, or a field's column, that the database does not have
although every migration ran, so no migration creates it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from mega.data.migrations.runner import Runner

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from mega.adapters.sql.adapter import SqlAdapter
    from mega.data.model import Model

__all__ = ["Drift", "SchemaState", "check_schema"]


@dataclass(frozen=True)
class Drift:
    """A model's table (`column` None) or field that the database lacks."""

    model: str
    table: str
    column: str | None = None

    def describe(self) -> str:
        if self.column is None:
            return f"model {self.model}: table {self.table}"
        return f"model {self.model}: field {self.column} ({self.table}.{self.column})"


@dataclass(frozen=True)
class SchemaState:
    alias: str
    default: bool  # the default database: `mega db:migrate` needs no --alias for it
    pending: tuple[str, ...] = ()
    drift: tuple[Drift, ...] = ()

    @property
    def migrate_command(self) -> str:
        return "mega db:migrate" if self.default else f"mega db:migrate --alias {self.alias}"

    @property
    def ok(self) -> bool:
        return not self.pending and not self.drift


async def check_schema(adapter: SqlAdapter, root: Path, *, apps: Mapping[str, Path] | None = None,
                       models: Iterable[type[Model]] = (), default_alias: str | None = None) -> SchemaState:
    """The pending migrations and the drift of the connected database `adapter`.

    `apps` (name -> folder; default: every folder under apps/) holds the migrations; `models` are the
    project's models (the boot's `runtime.models`), of which those whose `Meta.database` (else the
    default database) is this adapter's alias are compared with its tables. `default_alias` is the
    project's default database (`runtime.adapters.default_alias("db")`), where migrations and models
    without a `database` go; None means this adapter is it. Reads only.
    """
    alias: str = adapter.alias
    default = default_alias or alias
    engine: AsyncEngine = adapter.native
    rows = await Runner(engine, Path(root), apps=apps, alias=alias, default_alias=default).status()
    pending = tuple(f"{row.app}/{row.name}" for row in rows if row.state == "pending")
    state = SchemaState(alias, alias == default, pending)
    mine = [m for m in models if (m.spec().database or default) == alias]
    if pending or not mine:
        return state
    return SchemaState(alias, state.default, pending, await _drift(engine, mine))


async def _drift(engine: AsyncEngine, models: list[type[Model]]) -> tuple[Drift, ...]:
    tables = [m.spec().table for m in models]
    async with engine.connect() as conn:
        found: dict[str, set[str]] = await conn.run_sync(_columns, tables)
    out: list[Drift] = []
    for model in models:
        spec = model.spec()
        columns = found.get(spec.table)
        if columns is None:
            out.append(Drift(spec.name, spec.table))
        else:
            out += [Drift(spec.name, spec.table, c.name) for c in spec.columns if c.name not in columns]
    return tuple(out)


def _columns(conn: sa.Connection, tables: list[str]) -> dict[str, set[str]]:
    """Column names of those of `tables` that exist (one query per dialect where it can)."""
    inspector = sa.inspect(conn)
    existing = set(inspector.get_table_names())
    present = [t for t in tables if t in existing]
    if not present:
        return {}
    multi: dict[Any, list[Any]] = dict(inspector.get_multi_columns(filter_names=present))
    return {table: {c["name"] for c in columns} for (_schema, table), columns in multi.items()}
