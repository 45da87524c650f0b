"""Column specs to DDL through Alembic's `Operations`, on a sync connection (`conn.run_sync`).

Types come from `mega.data.sqltypes.column_for` (the one mapping of kinds to SQLAlchemy types); this
module adds what migrations need on top: deterministic constraint names, SQLite's batch mode (copy and
move) where SQLite has no ALTER, and reflection to find what a hand-written migration did not say.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa

from mega.data.sqltypes import column_for, sa_type

NAME_MAX = 63  # postgres' identifier limit (MariaDB allows 64): names fit both

# Keys of a column spec that change the database; the rest (Python defaults, auto_now) are CRUD's.
DDL_KEYS = ("name", "kind", "nullable", "length", "precision", "scale", "choices", "server_default",
            "comment", "primary_key", "autoincrement", "unique", "references", "on_delete", "on_update")
_FLAGS = frozenset({"primary_key", "autoincrement", "unique"})
_CONSTRAINT_KEYS = frozenset({"references", "on_delete", "on_update", "unique", "choices"})


def ddl_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """The DDL-relevant part of a column spec, without unset keys (what diffs compare)."""
    out: dict[str, Any] = {}
    for key in DDL_KEYS:
        value = spec.get(key)
        if key == "nullable":
            out[key] = bool(value) and not spec.get("primary_key")
        elif key in _FLAGS:
            if value:
                out[key] = True
        elif value is not None:  # server_default may be False or 0
            out[key] = value
    if out.get("kind") != "enum":
        out.pop("choices", None)
    if not out.get("references"):
        out.pop("on_delete", None)
        out.pop("on_update", None)
    return out


def constraint_name(prefix: str, table: str, *parts: str) -> str:
    """`<prefix>_<table>_<parts>`, shortened with a hash when it would pass the identifier limit."""
    name = "_".join([prefix, table, *parts])
    if len(name) <= NAME_MAX:
        return name
    digest = hashlib.sha1(name.encode()).hexdigest()[:8]
    return f"{name[: NAME_MAX - 9]}_{digest}"


def fk_name(table: str, column: str, references: str) -> str:
    return constraint_name("fk", table, column, references.split(".", 1)[0])


def uq_name(table: str, columns: list[str]) -> str:
    return constraint_name("uq", table, *columns)


def ck_name(table: str, column: str) -> str:
    return constraint_name("ck", table, column)


def split_ref(references: str) -> tuple[str, str]:
    table, _, column = references.rpartition(".")
    return table, column


def _action(value: str | None) -> str | None:
    return value.upper() if value else None


def fk_constraint(table: str, spec: dict[str, Any]) -> sa.ForeignKeyConstraint:
    ref = spec["references"]
    return sa.ForeignKeyConstraint([spec["name"]], [ref], name=fk_name(table, spec["name"], ref),
                                   ondelete=_action(spec.get("on_delete")),
                                   onupdate=_action(spec.get("on_update")))


def check_constraint(table: str, spec: dict[str, Any]) -> sa.CheckConstraint:
    return sa.CheckConstraint(sa.column(spec["name"]).in_(list(spec["choices"])),
                              name=ck_name(table, spec["name"]))


def bare_column(spec: dict[str, Any]) -> sa.Column[Any]:
    """The column alone: its constraints are built by `column_constraints` with their names."""
    return column_for({k: v for k, v in spec.items() if k not in _CONSTRAINT_KEYS})


def column_constraints(table: str, spec: dict[str, Any], *, with_fk: bool = True) -> list[Any]:
    out: list[Any] = []
    if with_fk and spec.get("references"):
        out.append(fk_constraint(table, spec))
    if spec.get("unique") and not spec.get("primary_key"):
        out.append(sa.UniqueConstraint(spec["name"], name=uq_name(table, [spec["name"]])))
    if spec.get("kind") == "enum" and spec.get("choices"):
        out.append(check_constraint(table, spec))
    return out


class DDL:
    """Alembic operations on one sync connection, plus the reflection the operations need."""

    def __init__(self, conn: sa.Connection) -> None:
        from alembic.operations import Operations  # here: the model scan at boot imports this module
        from alembic.runtime.migration import MigrationContext

        self.conn = conn
        self.dialect: str = conn.dialect.name
        self.ops = Operations(MigrationContext.configure(conn))

    def inspector(self) -> sa.Inspector:
        return sa.inspect(self.conn)  # a fresh one: earlier steps changed the schema

    @contextmanager
    def batch(self, table: str) -> Iterator[Any]:
        """ALTERs for `table`: direct on postgres and mariadb, copy-and-move on SQLite when needed."""
        with self.ops.batch_alter_table(table, recreate="auto") as batch:
            yield batch

    def compiled_type(self, spec: dict[str, Any]) -> str:
        return str(sa_type(spec).compile(dialect=self.conn.dialect))

    def quote(self, name: str) -> str:
        return str(self.conn.dialect.identifier_preparer.quote(name))

    # -- reflection ----------------------------------------------------------------------

    def fk_of(self, table: str, column: str) -> str | None:
        for fk in self.inspector().get_foreign_keys(table):
            if fk.get("constrained_columns") == [column]:
                return fk.get("name")
        return None

    def unique_of(self, table: str, columns: list[str]) -> str | None:
        for uq in self.inspector().get_unique_constraints(table):
            if list(uq.get("column_names") or []) == columns:
                return uq.get("name")
        return None

    def check_of(self, table: str, column: str) -> str | None:
        expected = ck_name(table, column)  # mega names every check it makes
        names = {ck.get("name") for ck in self.inspector().get_check_constraints(table)}
        return expected if expected in names else None

    def indexes_with(self, table: str, column: str) -> list[str]:
        return [str(ix["name"]) for ix in self.inspector().get_indexes(table)
                if ix.get("name") and column in (ix.get("column_names") or [])]

    def index_exists(self, table: str, name: str) -> bool:
        return any(ix.get("name") == name for ix in self.inspector().get_indexes(table))

    def reflected(self, table: str, column: str) -> dict[str, Any]:
        """What the database says of a column: `existing_*` arguments for an ALTER."""
        for col in self.inspector().get_columns(table):
            if col["name"] == column:
                default = col.get("default")  # reflected defaults are SQL text: keep them raw
                return {"existing_type": col["type"], "existing_nullable": col.get("nullable", True),
                        "existing_server_default": sa.text(str(default)) if default is not None else False,
                        "existing_comment": col.get("comment")}
        return {}
