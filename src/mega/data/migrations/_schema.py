"""The schema builder a migration's `up(schema)` and `down(schema)` receive.

    from mega.data.migrations import column, index

    def up(schema):
        schema.create_table(
            "posts",
            column("id", "bigint", primary_key=True, autoincrement=True),
            column("title", "string", length=200),
            indexes=[index("ix_posts_title", ["title"])],
        )

Each call runs at once (so `schema.execute()` can return rows to the next step) and is counted as a
step: a failure names its step and operation.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from mega.data.fields import KINDS
from mega.data.migrations._ddl import DDL, ddl_spec
from mega.data.migrations._operations import (
    AddColumn,
    AddForeignKey,
    AlterColumn,
    CreateIndex,
    CreateTable,
    DropColumn,
    DropForeignKey,
    DropIndex,
    DropTable,
    Execute,
    Operation,
    RenameColumn,
    RenameTable,
)
from mega.errors import MegaError


def column(name: str, kind: str, **attrs: Any) -> dict[str, Any]:
    """A column description, the same dict a model field gives (`Field.spec()`)."""
    if kind not in KINDS:
        raise MegaError("model.invalid_field", f"unknown column kind {kind!r} for '{name}'",
                        hint=f"kinds: {', '.join(sorted(KINDS))}")
    if kind == "enum" and "length" not in attrs and attrs.get("choices"):
        attrs["length"] = max(len(str(c)) for c in attrs["choices"])
    return ddl_spec({"name": name, "kind": kind, **attrs})


def index(name: str, columns: Iterable[str], *, unique: bool = False) -> dict[str, Any]:
    return {"name": name, "columns": list(columns), "unique": unique}


class StepFailed(Exception):
    """Step `step` of a migration raised (`operation` is None when the migration's own code did, between
    steps); `done` lists the steps that ran. The runner words it as `migration.failed`."""

    def __init__(self, step: int, operation: Operation | None, cause: BaseException,
                 done: list[Operation]) -> None:
        what = operation.describe() if operation else "the migration's code"
        super().__init__(f"step {step} ({what}): {type(cause).__name__}: {cause}")
        self.step = step
        self.operation = operation
        self.cause = cause
        self.done = done


class Schema:
    """Runs schema operations on one connection, one step at a time."""

    def __init__(self, conn: sa.Connection) -> None:
        self._ddl = DDL(conn)
        self.done: list[Operation] = []

    @property
    def dialect(self) -> str:
        """"sqlite", "postgresql" or "mysql" (MariaDB): for the rare dialect-specific step."""
        return self._ddl.dialect

    @property
    def connection(self) -> sa.Connection:
        return self._ddl.conn

    def run(self, operation: Operation) -> Any:
        try:
            result = operation.apply(self._ddl)
        except Exception as exc:
            raise StepFailed(len(self.done) + 1, operation, exc, list(self.done)) from exc
        self.done.append(operation)
        return result

    # -- tables ----------------------------------------------------------------------------

    def create_table(self, name: str, *columns: dict[str, Any], indexes: Iterable[dict[str, Any]] = (),
                     partition: dict[str, Any] | None = None) -> None:
        self.run(CreateTable(name, [dict(c) for c in columns], [dict(i) for i in indexes], partition))

    def drop_table(self, name: str) -> None:
        self.run(DropTable(name))

    def rename_table(self, old: str, new: str) -> None:
        self.run(RenameTable(old, new))

    # -- columns ---------------------------------------------------------------------------

    def add_column(self, table: str, spec: dict[str, Any]) -> None:
        self.run(AddColumn(table, dict(spec)))

    def drop_column(self, table: str, name: str) -> None:
        self.run(DropColumn(table, name))

    def rename_column(self, table: str, old: str, new: str) -> None:
        self.run(RenameColumn(table, old, new))

    def alter_column(self, table: str, name: str, *, was: dict[str, Any] | None = None,
                     **changes: Any) -> None:
        """Change type (kind/length/precision/scale), nullable, server_default, comment, choices or
        unique. `was` (the column before) spares a look at the database and makes it reversible."""
        self.run(AlterColumn(table, name, changes, was=dict(was) if was else None))

    # -- indexes and keys ------------------------------------------------------------------

    def create_index(self, table: str, name: str, columns: Iterable[str], *, unique: bool = False) -> None:
        self.run(CreateIndex(table, name, list(columns), unique))

    def drop_index(self, table: str, name: str) -> None:
        self.run(DropIndex(table, name))

    def add_foreign_key(self, table: str, column: str, references: str, *, on_delete: str | None = None,
                        on_update: str | None = None, name: str | None = None) -> None:
        self.run(AddForeignKey(table, column, references, on_delete, on_update, name))

    def drop_foreign_key(self, table: str, column: str, *, name: str | None = None) -> None:
        self.run(DropForeignKey(table, column, name=name))

    # -- raw SQL ---------------------------------------------------------------------------

    def execute(self, sql: str, params: dict[str, Any] | None = None, *, reverse: str | None = None) -> Any:
        """Run SQL with `:name` parameters; returns SQLAlchemy's result (rows for a SELECT)."""
        return self.run(Execute(sql, dict(params) if params else None, reverse))
