"""Snapshot tables vs model tables -> the ordered operations that turn one into the other.

Order: renames, dropped keys and indexes, new tables (each after the tables it references; a cycle
is closed by a foreign key added later), new columns, altered columns, new keys and indexes, then the
drops of columns and tables. A rename is never guessed: a dropped-and-added pair of compatible kinds
is asked about (questioner) or given (`--rename`); without an answer it stays a drop and an add, with
a warning that names both.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from mega.data.migrations._ddl import ddl_spec, split_ref
from mega.data.migrations._operations import (
    ALTERABLE,
    AddColumn,
    AddForeignKey,
    AlterColumn,
    CreateIndex,
    CreateTable,
    DropColumn,
    DropForeignKey,
    DropIndex,
    DropTable,
    Operation,
    RenameColumn,
    RenameTable,
)
from mega.data.migrations._questioner import Questioner
from mega.data.migrations._snapshot import Tables
from mega.errors import MegaError

_FAMILY = {"integer": "int", "bigint": "int", "string": "str", "text": "str", "enum": "str",
           "float": "num", "decimal": "num"}
_FK_KEYS = ("references", "on_delete", "on_update")
_FIXED = ("primary_key", "autoincrement")
_PHASES = ("rename_table", "rename_column", "drop_fk", "drop_index", "create_table", "add_column",
           "alter_column", "add_fk", "create_index", "drop_column", "drop_table")


@dataclass
class Renames:
    """Renames given in advance: tables old -> new, columns (table, old) -> new."""

    tables: dict[str, str] = field(default_factory=dict)
    columns: dict[tuple[str, str], str] = field(default_factory=dict)

    @classmethod
    def parse(cls, items: Iterable[str]) -> Renames:
        """`old:new` renames a table, `table.old:new` (or `table.old:table.new`) a column."""
        out = cls()
        for item in items:
            old, sep, new = item.partition(":")
            if not sep or not old or not new:
                raise _bad_rename(item, "expected old:new or table.old:new")
            if "." in old:
                table, _, column = old.partition(".")
                new_table, dot, new_column = new.rpartition(".")
                if not table or not column or (dot and new_table != table) or not new_column:
                    raise _bad_rename(item, "a column rename is table.old:new, within one table")
                out.columns[(table, column)] = new_column
            elif "." in new:
                raise _bad_rename(item, "a table rename is old:new (no dots)")
            else:
                out.tables[old] = new
        return out


def _bad_rename(item: str, why: str) -> MegaError:
    return MegaError("migration.invalid_rename", f"--rename {item!r}: {why}",
                     hint="--rename users:members renames a table, --rename users.name:full_name a column")


@dataclass
class Plan:
    operations: list[Operation]
    warnings: list[str]


def compatible(a: str, b: str) -> bool:
    return a == b or _FAMILY.get(a, a) == _FAMILY.get(b, b)


class Differ:
    def __init__(self, old: Tables, new: Tables, questioner: Questioner | None = None,
                 renames: Renames | None = None) -> None:
        self.old = old
        self.new = new
        self.questioner = questioner or Questioner()
        self.renames = renames or Renames()
        self.warnings: list[str] = []
        self.phases: dict[str, list[Operation]] = {p: [] for p in _PHASES}

    def diff(self) -> Plan:
        dropped = sorted(set(self.old) - set(self.new))
        added = sorted(set(self.new) - set(self.old))
        table_renames = self._match("table", dropped, added, self.renames.tables, self._table_like)
        for old_name, new_name in table_renames.items():
            self.phases["rename_table"].append(RenameTable(old_name, new_name))
        kept = {name: name for name in self.new if name in self.old}
        kept.update({new: old for old, new in table_renames.items()})
        self._check_column_renames(kept)
        for new_name in sorted(kept):
            self._diff_table(new_name, self.old[kept[new_name]])
        self._create_tables([t for t in added if t not in table_renames.values()])
        self._drop_tables([t for t in dropped if t not in table_renames])
        return Plan([op for phase in _PHASES for op in self.phases[phase]], self.warnings)

    # -- renames ---------------------------------------------------------------------------

    def _match(self, what: str, dropped: list[str], added: list[str], given: dict[str, str],
               alike: Any) -> dict[str, str]:
        """old -> new renames among dropped/added names: the given ones, then the confirmed ones."""
        out: dict[str, str] = {}
        for old, new in given.items():
            if old not in dropped or new not in added:
                missing = f"no {what} '{old}' was dropped" if old not in dropped else \
                    f"no {what} '{new}' was added"
                raise _bad_rename(f"{old}:{new}", f"{missing} (dropped: {', '.join(dropped) or 'none'}; "
                                  f"added: {', '.join(added) or 'none'})")
            out[old] = new
        for old in dropped:
            if old in out:
                continue
            for new in added:
                if new in out.values() or not alike(old, new):
                    continue
                answer = self.questioner.ask_rename(what, old, new)
                if answer:
                    out[old] = new
                    break
                if answer is None:
                    flag = f"{old}:{new.rpartition('.')[2]}"
                    self.warnings.append(f"{what} {old} was dropped and {what} {new} added: if it is a "
                                         f"rename, run again with --rename {flag}")
        return out

    def _table_like(self, old: str, new: str) -> bool:
        a, b = self.old[old], self.new[new]
        return bool(a.get("model") == b.get("model") or _names(a) == _names(b))

    def _check_column_renames(self, kept: dict[str, str]) -> None:
        by_old_name = {old: new for new, old in kept.items()}
        for (table, _old), _new in list(self.renames.columns.items()):
            if table not in kept and table not in by_old_name:
                raise _bad_rename(f"{table}.{_old}:{_new}",
                                  f"no table '{table}' in both the snapshot and the models")
            if table not in kept:  # named by its old name
                self.renames.columns[(by_old_name[table], _old)] = self.renames.columns.pop((table, _old))

    # -- one kept table --------------------------------------------------------------------

    def _diff_table(self, table: str, old_table: dict[str, Any]) -> None:
        new_table = self.new[table]
        old_cols = {c["name"]: ddl_spec(c) for c in old_table["columns"]}
        new_cols = {c["name"]: ddl_spec(c) for c in new_table["columns"]}
        given = {old: new for (t, old), new in self.renames.columns.items() if t == table}
        dropped = [c for c in old_cols if c not in new_cols]
        added = [c for c in new_cols if c not in old_cols]
        renames = self._match("column", [f"{table}.{c}" for c in dropped], [f"{table}.{c}" for c in added],
                              {f"{table}.{o}": f"{table}.{n}" for o, n in given.items()},
                              lambda o, n: compatible(old_cols[o.split(".", 1)[1]]["kind"],
                                                      new_cols[n.split(".", 1)[1]]["kind"]))
        renamed = {o.split(".", 1)[1]: n.split(".", 1)[1] for o, n in renames.items()}
        for old, new in renamed.items():
            self.phases["rename_column"].append(RenameColumn(table, old, new))
        if old_table.get("partition") != new_table.get("partition"):
            raise _unsupported(table, None, "Meta.partition")
        for name, spec in new_cols.items():
            before = next((o for o, n in renamed.items() if n == name), name)
            if before in old_cols:
                self._diff_column(table, {**old_cols[before], "name": name}, spec)
            else:
                self.phases["add_column"].append(AddColumn(table, spec))
                if not spec.get("nullable") and "server_default" not in spec and not spec.get("primary_key"):
                    self.warnings.append(f"{table}.{name} is added NOT NULL without a server_default: "
                                         "migrating fails if the table has rows")
        for name in dropped:
            if name not in renamed:
                self.phases["drop_column"].append(DropColumn(table, name, was=old_cols[name]))
        self._diff_indexes(table, old_table, new_table, renamed)

    def _diff_column(self, table: str, old: dict[str, Any], new: dict[str, Any]) -> None:
        name = new["name"]
        for key in _FIXED:
            if bool(old.get(key)) != bool(new.get(key)):
                raise _unsupported(table, name, key)
        if any(old.get(k) != new.get(k) for k in _FK_KEYS):
            if old.get("references"):
                self.phases["drop_fk"].append(DropForeignKey(table, name, was=_fk(old)))
            if new.get("references"):
                self.phases["add_fk"].append(AddForeignKey(table, name, *_fk(new).values()))
        changes = {k: new.get(k) for k in sorted(ALTERABLE) if old.get(k) != new.get(k)}
        if changes:
            was = {k: v for k, v in old.items() if k not in _FK_KEYS}
            self.phases["alter_column"].append(AlterColumn(table, name, changes, was=was))

    def _diff_indexes(self, table: str, old_table: dict[str, Any], new_table: dict[str, Any],
                      renamed: dict[str, str]) -> None:
        # Old indexes follow their columns' renames: that is what the database did.
        old_ix = {i["name"]: {**i, "columns": [renamed.get(c, c) for c in i["columns"]]}
                  for i in old_table.get("indexes", [])}
        new_ix = {i["name"]: i for i in new_table.get("indexes", [])}
        for name, ix in old_ix.items():
            if _index_key(ix) != _index_key(new_ix.get(name)):
                self.phases["drop_index"].append(DropIndex(table, name, list(ix["columns"]),
                                                           bool(ix.get("unique"))))
        for name, ix in new_ix.items():
            if _index_key(ix) != _index_key(old_ix.get(name)):
                self.phases["create_index"].append(CreateIndex(table, name, list(ix["columns"]),
                                                               bool(ix.get("unique"))))

    # -- new and dropped tables ------------------------------------------------------------

    def _create_tables(self, names: list[str]) -> None:
        order, deferred = _dependency_order(self.new, names)
        for name in order:
            table = self.new[name]
            columns = []
            for spec in map(ddl_spec, table["columns"]):
                if (name, spec["name"]) in deferred:
                    self.phases["add_fk"].append(AddForeignKey(name, spec["name"], *_fk(spec).values()))
                    spec = {k: v for k, v in spec.items() if k not in _FK_KEYS}
                columns.append(spec)
            self.phases["create_table"].append(CreateTable(name, columns, _indexes(table),
                                                           table.get("partition")))

    def _drop_tables(self, names: list[str]) -> None:
        order, deferred = _dependency_order(self.old, names)
        for name, column in sorted(deferred):
            spec = next(c for c in self.old[name]["columns"] if c["name"] == column)
            self.phases["drop_fk"].append(DropForeignKey(name, column, was=_fk(ddl_spec(spec))))
        for name in reversed(order):
            table = self.old[name]
            columns = [{k: v for k, v in ddl_spec(c).items() if (name, c["name"]) not in deferred
                        or k not in _FK_KEYS} for c in table["columns"]]
            was = {"columns": columns, "indexes": _indexes(table), "partition": table.get("partition")}
            self.phases["drop_table"].append(DropTable(name, was=was))


def _names(table: dict[str, Any]) -> set[str]:
    return {c["name"] for c in table["columns"]}


def _fk(spec: dict[str, Any]) -> dict[str, Any]:
    return {"references": spec["references"], "on_delete": spec.get("on_delete"),
            "on_update": spec.get("on_update")}


def _indexes(table: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"name": i["name"], "columns": list(i["columns"]), "unique": bool(i.get("unique"))}
            for i in table.get("indexes", [])]


def _index_key(ix: dict[str, Any] | None) -> tuple[Any, ...] | None:
    return None if ix is None else (tuple(ix["columns"]), bool(ix.get("unique")))


def _unsupported(table: str, column: str | None, key: str) -> MegaError:
    where = f"{table}.{column}" if column else table
    return MegaError("migration.unsupported_change",
                     f"{where}: changing {key} is not supported by db:generate",
                     details={"table": table, "column": column, "key": key},
                     hint="write the change by hand (mega g migration NAME, with schema.execute) and keep "
                     "the model as it was, or drop and recreate the table")


def _dependency_order(tables: Tables, names: list[str]) -> tuple[list[str], set[tuple[str, str]]]:
    """`names` with every table after the tables it references; (table, column) keys that close a
    cycle are returned apart (they are added, or dropped, on their own)."""
    wanted = set(names)
    order: list[str] = []
    state: dict[str, str] = {}
    deferred: set[tuple[str, str]] = set()

    def visit(name: str) -> None:
        state[name] = "visiting"
        refs = sorted((c["name"], split_ref(c["references"])[0]) for c in tables[name]["columns"]
                      if c.get("references"))
        for column, target in refs:
            if target == name or target not in wanted:
                continue
            if state.get(target) == "visiting":
                deferred.add((name, column))
            elif target not in state:
                visit(target)
        state[name] = "done"
        order.append(name)

    for name in sorted(names):
        if name not in state:
            visit(name)
    return order, deferred
