"""The operations a migration is made of: each applies itself, knows its reverse where it can, and
describes itself as a dict (the journal) and as Python (the generated migration file)."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import sqlalchemy as sa

from mega.data.migrations._ddl import (
    DDL,
    bare_column,
    check_constraint,
    column_constraints,
    fk_name,
    split_ref,
    uq_name,
)
from mega.data.sqltypes import sa_type, server_default
from mega.errors import MegaError

_TYPE_KEYS = ("kind", "length", "precision", "scale")


def py(value: Any) -> str:
    """A Python literal for a JSON-able value (double-quoted strings, like ruff's formatter)."""
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(py(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{py(k)}: {py(v)}" for k, v in value.items()) + "}"
    return repr(value)


def render_column(spec: dict[str, Any]) -> str:
    rest = "".join(f", {k}={py(v)}" for k, v in spec.items()
                   if k not in ("name", "kind") and not (k == "nullable" and not v))
    return f"column({py(spec['name'])}, {py(spec['kind'])}{rest})"


def render_index(ix: dict[str, Any]) -> str:
    unique = ", unique=True" if ix.get("unique") else ""
    return f"index({py(ix['name'])}, {py(list(ix['columns']))}{unique})"


def _call(method: str, *args: str) -> str:
    one_line = f"schema.{method}({', '.join(args)})"
    if len(one_line) <= 100:
        return one_line
    return f"schema.{method}(\n" + "".join(f"    {a},\n" for a in args) + ")"


class Operation(ABC):
    op: ClassVar[str]
    table: str

    @abstractmethod
    def apply(self, ddl: DDL) -> Any: ...

    def reverse(self) -> Operation | None:
        """The operation that undoes this one, or None when it cannot be known."""
        return None

    @abstractmethod
    def describe(self) -> str: ...

    @abstractmethod
    def render(self) -> str: ...

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"op": self.op}
        out.update({k: v for k, v in vars(self).items() if v is not None and v != ""})
        return out


@dataclass
class CreateTable(Operation):
    op: ClassVar[str] = "create_table"
    table: str
    columns: list[dict[str, Any]]
    indexes: list[dict[str, Any]] = field(default_factory=list)
    partition: dict[str, Any] | None = None

    def apply(self, ddl: DDL) -> None:
        columns = self.columns
        if self.partition and ddl.dialect == "sqlite" and any(c.get("autoincrement") for c in columns):
            # SQLite cannot auto-increment a composite key: there the id alone is the key.
            columns = [c if c.get("autoincrement") else {**c, "primary_key": False} for c in columns]
        items: list[Any] = [bare_column(c) for c in columns]
        for spec in columns:
            items.extend(column_constraints(self.table, spec))
        kw: dict[str, Any] = {}
        if self.partition and ddl.dialect == "postgresql":
            kw["postgresql_partition_by"] = f"RANGE ({ddl.quote(self.partition['column'])})"
        ddl.ops.create_table(self.table, *items, **kw)
        for ix in self.indexes:
            ddl.ops.create_index(ix["name"], self.table, list(ix["columns"]), unique=bool(ix.get("unique")))

    def reverse(self) -> Operation:
        return DropTable(self.table, was={"columns": self.columns, "indexes": self.indexes,
                                          "partition": self.partition})

    def describe(self) -> str:
        return f"create_table {self.table}"

    def render(self) -> str:
        args = [py(self.table), *(render_column(c) for c in self.columns)]
        if self.indexes:
            args.append("indexes=[" + ", ".join(render_index(i) for i in self.indexes) + "]")
        if self.partition:
            args.append(f"partition={py(self.partition)}")
        return "schema.create_table(\n" + "".join(f"    {a},\n" for a in args) + ")"


@dataclass
class DropTable(Operation):
    op: ClassVar[str] = "drop_table"
    table: str
    was: dict[str, Any] | None = None  # the table's description, for the reverse

    def apply(self, ddl: DDL) -> None:
        ddl.ops.drop_table(self.table)

    def reverse(self) -> Operation | None:
        if not self.was:
            return None
        return CreateTable(self.table, list(self.was["columns"]), list(self.was.get("indexes") or []),
                           self.was.get("partition"))

    def describe(self) -> str:
        return f"drop_table {self.table}"

    def render(self) -> str:
        return _call("drop_table", py(self.table))


@dataclass
class RenameTable(Operation):
    op: ClassVar[str] = "rename_table"
    table: str
    new: str

    def apply(self, ddl: DDL) -> None:
        ddl.ops.rename_table(self.table, self.new)

    def reverse(self) -> Operation:
        return RenameTable(self.new, self.table)

    def describe(self) -> str:
        return f"rename_table {self.table} -> {self.new}"

    def render(self) -> str:
        return _call("rename_table", py(self.table), py(self.new))


def _add_constraints(batch: Any, table: str, spec: dict[str, Any], *, fk: bool = True) -> None:
    for constraint in column_constraints(table, spec, with_fk=fk):
        if isinstance(constraint, sa.ForeignKeyConstraint):
            _add_fk(batch, table, spec["name"], spec["references"], spec.get("on_delete"),
                    spec.get("on_update"))
        elif isinstance(constraint, sa.UniqueConstraint):
            batch.create_unique_constraint(constraint.name, [spec["name"]])
        else:
            batch.create_check_constraint(constraint.name, constraint.sqltext)


def _add_fk(batch: Any, table: str, column: str, references: str, on_delete: str | None,
            on_update: str | None, name: str | None = None) -> None:
    ref_table, ref_column = split_ref(references)
    batch.create_foreign_key(name or fk_name(table, column, references), ref_table, [column], [ref_column],
                             ondelete=on_delete.upper() if on_delete else None,
                             onupdate=on_update.upper() if on_update else None)


@dataclass
class AddColumn(Operation):
    op: ClassVar[str] = "add_column"
    table: str
    column: dict[str, Any]

    def apply(self, ddl: DDL) -> None:
        if not column_constraints(self.table, self.column):
            ddl.ops.add_column(self.table, bare_column(self.column))
            return
        with ddl.batch(self.table) as batch:
            batch.add_column(bare_column(self.column))
            _add_constraints(batch, self.table, self.column)

    def reverse(self) -> Operation:
        return DropColumn(self.table, self.column["name"], was=self.column)

    def describe(self) -> str:
        return f"add_column {self.table}.{self.column['name']}"

    def render(self) -> str:
        return _call("add_column", py(self.table), render_column(self.column))


@dataclass
class DropColumn(Operation):
    op: ClassVar[str] = "drop_column"
    table: str
    name: str
    was: dict[str, Any] | None = None

    def apply(self, ddl: DDL) -> None:
        # Constraints and indexes on the column go first: MariaDB and SQLite refuse to drop it otherwise.
        fk = ddl.fk_of(self.table, self.name)
        uq = ddl.unique_of(self.table, [self.name])
        ck = ddl.check_of(self.table, self.name) if ddl.dialect != "postgresql" else None
        if fk or uq or ck:
            with ddl.batch(self.table) as batch:
                for name, kind in ((fk, "foreignkey"), (uq, "unique"), (ck, "check")):
                    if name:
                        batch.drop_constraint(name, type_=kind)
        for ix in ddl.indexes_with(self.table, self.name):
            ddl.ops.drop_index(ix, table_name=self.table)
        with ddl.batch(self.table) as batch:
            batch.drop_column(self.name)

    def reverse(self) -> Operation | None:
        return AddColumn(self.table, self.was) if self.was else None

    def describe(self) -> str:
        return f"drop_column {self.table}.{self.name}"

    def render(self) -> str:
        return _call("drop_column", py(self.table), py(self.name))


@dataclass
class RenameColumn(Operation):
    op: ClassVar[str] = "rename_column"
    table: str
    name: str
    new: str

    def apply(self, ddl: DDL) -> None:
        existing = ddl.reflected(self.table, self.name) if ddl.dialect == "mysql" else {}
        with ddl.batch(self.table) as batch:
            batch.alter_column(self.name, new_column_name=self.new, **existing)

    def reverse(self) -> Operation:
        return RenameColumn(self.table, self.new, self.name)

    def describe(self) -> str:
        return f"rename_column {self.table}.{self.name} -> {self.new}"

    def render(self) -> str:
        return _call("rename_column", py(self.table), py(self.name), py(self.new))


ALTERABLE = frozenset({"kind", "length", "precision", "scale", "nullable", "server_default", "comment",
                       "choices", "unique"})


@dataclass
class AlterColumn(Operation):
    """Type, nullability, server default, comment, enum choices and uniqueness of one column."""

    op: ClassVar[str] = "alter_column"
    table: str
    name: str
    changes: dict[str, Any]
    was: dict[str, Any] | None = None  # the column before; without it the database is asked

    def __post_init__(self) -> None:
        unknown = sorted(set(self.changes) - ALTERABLE)
        if unknown:
            raise MegaError("migration.unsupported_change",
                            f"alter_column {self.table}.{self.name} cannot change {', '.join(unknown)}",
                            hint=f"alter_column changes: {', '.join(sorted(ALTERABLE))}; for others write "
                            "the SQL with schema.execute()")

    @property
    def new(self) -> dict[str, Any]:
        merged = {"name": self.name, **(self.was or {}), **self.changes}
        return {k: v for k, v in merged.items() if v is not None}

    def apply(self, ddl: DDL) -> None:
        old, new = dict(self.was or {}), self.new
        type_changed = any(k in self.changes for k in _TYPE_KEYS)
        if type_changed and "kind" not in new:
            raise MegaError("migration.unsupported_change",
                            f"alter_column {self.table}.{self.name}: give kind= with a type change")
        kw: dict[str, Any] = self._existing(ddl, old)
        if type_changed:
            kw["type_"] = sa_type(new)
            if ddl.dialect == "postgresql" and old.get("kind") != new["kind"]:
                kw["postgresql_using"] = f"{ddl.quote(self.name)}::{ddl.compiled_type(new)}"
        if "nullable" in self.changes:
            kw["nullable"] = bool(new.get("nullable"))
        if "server_default" in self.changes:
            kw["server_default"] = server_default(new)  # None drops it
        if "comment" in self.changes:
            kw["comment"] = new.get("comment")
        check_changed = "choices" in self.changes or "kind" in self.changes
        old_check = ddl.check_of(self.table, self.name) if check_changed else None
        old_unique = ddl.unique_of(self.table, [self.name]) if "unique" in self.changes else None
        with ddl.batch(self.table) as batch:
            if old_check:
                batch.drop_constraint(old_check, type_="check")
            if old_unique and not new.get("unique"):
                batch.drop_constraint(old_unique, type_="unique")
            if set(kw) - {k for k in kw if k.startswith("existing_")}:
                batch.alter_column(self.name, **kw)
            if "unique" in self.changes and new.get("unique") and not old_unique:
                batch.create_unique_constraint(uq_name(self.table, [self.name]), [self.name])
            if check_changed and new.get("kind") == "enum" and new.get("choices"):
                ck = check_constraint(self.table, new)
                batch.create_check_constraint(ck.name, ck.sqltext)

    def _existing(self, ddl: DDL, old: dict[str, Any]) -> dict[str, Any]:
        if not old.get("kind"):
            return ddl.reflected(self.table, self.name)
        # A clause has no truth value: `server_default(old) or False` raised on any default.
        default = server_default(old)
        return {"existing_type": sa_type(old), "existing_nullable": bool(old.get("nullable")),
                "existing_server_default": False if default is None else default,
                "existing_comment": old.get("comment")}

    def reverse(self) -> Operation | None:
        if self.was is None:
            return None
        return AlterColumn(self.table, self.name, {k: self.was.get(k) for k in self.changes}, was=self.new)

    def describe(self) -> str:
        return f"alter_column {self.table}.{self.name} ({', '.join(sorted(self.changes))})"

    def render(self) -> str:
        args = [py(self.table), py(self.name), *(f"{k}={py(v)}" for k, v in self.changes.items())]
        if self.was:
            args.append(f"was={render_column(self.was)}")
        return _call("alter_column", *args)


@dataclass
class CreateIndex(Operation):
    op: ClassVar[str] = "create_index"
    table: str
    name: str
    columns: list[str]
    unique: bool = False

    def apply(self, ddl: DDL) -> None:
        ddl.ops.create_index(self.name, self.table, list(self.columns), unique=self.unique)

    def reverse(self) -> Operation:
        return DropIndex(self.table, self.name, list(self.columns), self.unique)

    def describe(self) -> str:
        return f"create_index {self.name} on {self.table}"

    def render(self) -> str:
        unique = ["unique=True"] if self.unique else []
        return _call("create_index", py(self.table), py(self.name), py(list(self.columns)), *unique)


@dataclass
class DropIndex(Operation):
    op: ClassVar[str] = "drop_index"
    table: str
    name: str
    columns: list[str] | None = None  # for the reverse
    unique: bool = False

    def apply(self, ddl: DDL) -> None:
        ddl.ops.drop_index(self.name, table_name=self.table)

    def reverse(self) -> Operation | None:
        return CreateIndex(self.table, self.name, list(self.columns), self.unique) if self.columns else None

    def describe(self) -> str:
        return f"drop_index {self.name} on {self.table}"

    def render(self) -> str:
        return _call("drop_index", py(self.table), py(self.name))


@dataclass
class AddForeignKey(Operation):
    op: ClassVar[str] = "add_foreign_key"
    table: str
    column: str
    references: str
    on_delete: str | None = None
    on_update: str | None = None
    name: str | None = None

    def apply(self, ddl: DDL) -> None:
        with ddl.batch(self.table) as batch:
            _add_fk(batch, self.table, self.column, self.references, self.on_delete, self.on_update,
                    self.name)

    def reverse(self) -> Operation:
        return DropForeignKey(self.table, self.column, name=self.name,
                              was={"references": self.references, "on_delete": self.on_delete,
                                   "on_update": self.on_update})

    def describe(self) -> str:
        return f"add_foreign_key {self.table}.{self.column} -> {self.references}"

    def render(self) -> str:
        args = [py(self.table), py(self.column), py(self.references)]
        args += [f"{k}={py(getattr(self, k))}" for k in ("on_delete", "on_update", "name")
                 if getattr(self, k)]
        return _call("add_foreign_key", *args)


@dataclass
class DropForeignKey(Operation):
    op: ClassVar[str] = "drop_foreign_key"
    table: str
    column: str
    name: str | None = None
    was: dict[str, Any] | None = None  # references / on_delete / on_update, for the reverse

    def apply(self, ddl: DDL) -> None:
        name = self.name or ddl.fk_of(self.table, self.column)
        if not name:
            raise MegaError("migration.failed", f"no foreign key on {self.table}.{self.column}")
        with ddl.batch(self.table) as batch:
            batch.drop_constraint(name, type_="foreignkey")
        if ddl.dialect == "mysql" and ddl.index_exists(self.table, name):
            ddl.ops.drop_index(name, table_name=self.table)  # the index MariaDB made for the key

    def reverse(self) -> Operation | None:
        if not self.was:
            return None
        return AddForeignKey(self.table, self.column, self.was["references"], self.was.get("on_delete"),
                             self.was.get("on_update"), self.name)

    def describe(self) -> str:
        return f"drop_foreign_key {self.table}.{self.column}"

    def render(self) -> str:
        return _call("drop_foreign_key", py(self.table), py(self.column))


@dataclass
class Execute(Operation):
    op: ClassVar[str] = "execute"
    sql: str
    params: dict[str, Any] | None = None
    reverse_sql: str | None = None
    table: str = ""

    def apply(self, ddl: DDL) -> Any:
        return ddl.conn.execute(sa.text(self.sql), self.params or {})

    def reverse(self) -> Operation | None:
        return Execute(self.reverse_sql) if self.reverse_sql else None

    def describe(self) -> str:
        sql = " ".join(self.sql.split())
        return f"execute {sql[:60]}{'...' if len(sql) > 60 else ''}"

    def render(self) -> str:
        args = [py(self.sql)]
        if self.params:
            args.append(py(self.params))
        if self.reverse_sql:
            args.append(f"reverse={py(self.reverse_sql)}")
        return _call("execute", *args)
