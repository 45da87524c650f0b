"""The schema validator: bad model definitions fail before any SQL runs (at db:generate and at boot).

Every problem names its model, its field and the reason; all of them are raised together as one
`model.invalid` error.
"""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from mega.data._spec import ModelSpec
from mega.data.fields import KINDS, Field
from mega.data.migrations._ddl import NAME_MAX
from mega.data.migrations.partition import partition_problems
from mega.data.model import Model
from mega.errors import MegaError

# Kinds a foreign key may join: the same family stores the same values.
_FAMILY = {"integer": "int", "bigint": "int", "string": "str", "text": "str", "enum": "str"}


@dataclass(frozen=True)
class Problem:
    model: str
    field: str | None
    reason: str

    def line(self) -> str:
        where = f"{self.model}.{self.field}" if self.field else self.model
        return f"{where}: {self.reason}"


def validate_models(models: Iterable[type[Model]]) -> None:
    """Raise `model.invalid` listing every problem of these models (together: FKs are checked across)."""
    problems = find_problems([m.spec() for m in models])
    if problems:
        raise MegaError(
            "model.invalid",
            f"{len(problems)} problem{'s' if len(problems) > 1 else ''} in the models:\n  "
            + "\n  ".join(p.line() for p in problems),
            details={"problems": [vars(p) for p in problems]},
            hint="fix the model declarations (apps/<app>/models/) and run the command again",
        )


def find_problems(specs: list[ModelSpec]) -> list[Problem]:
    problems: list[Problem] = []
    tables: dict[str, ModelSpec] = {}
    index_owner: dict[str, str] = {}
    for spec in specs:
        other = tables.setdefault(spec.table, spec)
        if other is not spec:
            problems.append(Problem(spec.name, None, f"table '{spec.table}' is also the table of model "
                                    f"{other.name} ({other.module})"))
    for spec in specs:
        problems += _model_problems(spec, tables)
        for ix in spec.indexes:
            owner = index_owner.setdefault(ix.name, spec.name)
            if owner != spec.name or sum(i.name == ix.name for i in spec.indexes) > 1:
                problems.append(Problem(spec.name, None, f"index name '{ix.name}' is used twice "
                                        f"(index names are unique per database)"))
    return list(dict.fromkeys(problems))


def _model_problems(spec: ModelSpec, tables: dict[str, ModelSpec]) -> list[Problem]:
    out: list[Problem] = []

    def add(field: str | None, reason: str) -> None:
        out.append(Problem(spec.name, field, reason))

    if len(spec.table) > NAME_MAX:
        add(None, f"table name '{spec.table}' is longer than {NAME_MAX} characters")
    if not spec.columns:
        add(None, "no fields")
    elif not spec.primary_key:
        add(None, "no primary key: declare one, e.g. id = fields.id()")
    for column in spec.columns:
        for reason in _column_problems(column, tables):
            add(column.name, reason)
    for field, reason in [*_index_problems(spec), *partition_problems(spec)]:
        add(field, reason)
    return out


def _index_problems(spec: ModelSpec) -> list[tuple[str | None, str]]:
    out: list[tuple[str | None, str]] = []
    names = {c.name for c in spec.columns}
    for ix in spec.indexes:
        if not ix.columns:
            out.append((None, f"index '{ix.name}' has no columns"))
        for col in ix.columns:
            if col not in names:
                out.append((col, f"index '{ix.name}' names column '{col}', which the model does not have"))
        if len(ix.name) > NAME_MAX:
            out.append((None, f"index name '{ix.name}' is longer than {NAME_MAX} characters"))
    return out


def _column_problems(column: Field, tables: dict[str, ModelSpec]) -> list[str]:
    out: list[str] = []
    kind = column.kind
    if kind not in KINDS:
        return [f"unknown kind '{kind}' (kinds: {', '.join(sorted(KINDS))})"]
    if len(column.name) > NAME_MAX:
        out.append(f"column name longer than {NAME_MAX} characters")
    if kind == "string" and not (isinstance(column.length, int) and column.length > 0):
        out.append(f"a string needs a positive length, got {column.length!r}")
    if kind == "decimal" and (column.precision or 0) < (column.scale or 0):
        out.append(f"scale {column.scale} is larger than precision {column.precision}")
    if kind == "enum" and not column.choices:
        out.append("an enum needs choices")
    if column.primary_key and column.nullable:
        out.append("a primary key cannot be nullable")
    if column.autoincrement and kind not in ("integer", "bigint"):
        out.append(f"autoincrement needs an integer or bigint column, not {kind}")
    if column.has_default and not callable(column.default):
        reason = _default_problem(column, column.default)
        if reason:
            out.append(reason)
    reason = _server_default_problem(column)
    if reason:
        out.append(reason)
    if column.references:
        out += _fk_problems(column, tables)
    return out


def _default_problem(column: Field, value: Any) -> str | None:
    if value is None:
        return None if column.nullable else "default None on a column that is not nullable"
    if isinstance(value, enum.Enum):
        value = value.value
    expected = _expected_default(column, value)
    if expected is None:
        return None
    return f"default {value!r} is not {expected} (kind '{column.kind}')"


def _expected_default(column: Field, value: Any) -> str | None:  # noqa: C901 (one case per kind)
    kind = column.kind
    if kind in ("string", "text"):
        return None if isinstance(value, str) else "a string"
    if kind == "enum":
        return None if value in (column.choices or []) else f"one of {column.choices}"
    if kind in ("integer", "bigint"):
        return None if isinstance(value, int) and not isinstance(value, bool) else "an integer"
    if kind == "boolean":
        return None if isinstance(value, bool) else "a bool"
    if kind in ("float", "decimal"):
        ok = isinstance(value, int | float | decimal.Decimal) and not isinstance(value, bool)
        return None if ok else "a number"
    if kind == "date":
        return None if isinstance(value, dt.date) and not isinstance(value, dt.datetime) else "a date"
    if kind == "datetime":
        if not isinstance(value, dt.datetime):
            return "a datetime"
        return None if value.tzinfo is not None else "a timezone-aware datetime"
    if kind == "uuid":
        return None if isinstance(value, uuid.UUID) or _is_uuid(value) else "a UUID"
    if kind == "binary":
        return None if isinstance(value, bytes) else "bytes"
    if kind == "json":
        try:
            json.dumps(value)
        except (TypeError, ValueError):
            return "JSON-serialisable"
    return None


def _is_uuid(value: Any) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return isinstance(value, str)


def _server_default_problem(column: Field) -> str | None:
    value = column.server_default
    if value is None or isinstance(value, str):
        return None  # SQL text: the database judges it
    if column.kind == "boolean" and not isinstance(value, bool):
        return f"server_default {value!r} is not a bool"
    if column.kind in ("integer", "bigint", "float", "decimal") and isinstance(value, bool):
        return f"server_default {value!r} is not a number"
    if column.kind not in ("boolean", "integer", "bigint", "float", "decimal"):
        return f"server_default {value!r} does not fit kind '{column.kind}' (give SQL text)"
    return None


def _fk_problems(column: Field, tables: dict[str, ModelSpec]) -> list[str]:
    ref = str(column.references)
    table, _, target = ref.rpartition(".")
    model = tables.get(table)
    if model is None:
        return [f"references '{ref}': no model has table '{table}'"]
    target_col = model.column(target)
    if target_col is None:
        return [f"references '{ref}': model {model.name} has no column '{target}'"]
    out: list[str] = []
    unique = (target_col.primary_key and len(model.primary_key) == 1) or target_col.unique
    if not unique:
        out.append(f"references '{ref}', which is neither the primary key nor unique")
    if _FAMILY.get(column.kind, column.kind) != _FAMILY.get(target_col.kind, target_col.kind):
        out.append(f"kind '{column.kind}' cannot reference '{ref}' of kind '{target_col.kind}'")
    if (column.on_delete or "").lower() == "set null" and not column.nullable:
        out.append("on_delete 'set null' needs a nullable column")
    return out
