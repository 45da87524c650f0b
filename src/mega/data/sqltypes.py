"""Field specs (the JSON-able dicts of `Field.spec()`) to SQLAlchemy columns and tables.

Both CRUD (compiled statements) and migrations (DDL rendered per dialect) build their tables
here, from the same description, so they never disagree about a type.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql

from mega.errors import MegaError


class UTCDateTime(sa.types.TypeDecorator[Any]):
    """Timezone-aware datetimes on every dialect: stored as UTC, returned aware (UTC)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: sa.Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == "mysql":
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(sa.DateTime(timezone=True))

    def process_bind_param(self, value: Any, dialect: sa.Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, dt.datetime):
            raise MegaError("db.invalid_value", f"expected a datetime, got {type(value).__name__}",
                            status=400)
        if value.tzinfo is None or value.utcoffset() is None:
            raise MegaError("db.invalid_value", f"naive datetime {value.isoformat()}: pass a timezone-aware "
                            "datetime", hint="datetime.now(datetime.UTC), or dt.replace(tzinfo=...)",
                            status=400)
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name in ("mysql", "sqlite") else value

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> Any:
        if value is None:
            return None
        if isinstance(value, str):  # sqlite may hand back text
            value = dt.datetime.fromisoformat(value)
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value if value.tzinfo is dt.UTC else value.astimezone(dt.UTC)


class UUIDType(sa.types.TypeDecorator[Any]):
    """UUIDs in and out as `uuid.UUID`; strings are accepted on the way in (ids from URLs)."""

    impl = sa.Uuid(as_uuid=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: sa.Dialect) -> Any:
        if value is None or type(value) is uuid.UUID:
            return value
        if isinstance(value, str):
            try:
                return uuid.UUID(value)
            except ValueError:
                raise MegaError("db.invalid_value", f"not a UUID: {value[:40]!r}", status=400) from None
        if isinstance(value, uuid.UUID):
            return uuid.UUID(bytes=value.bytes)
        raise MegaError("db.invalid_value", f"expected a UUID, got {type(value).__name__}", status=400)

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> Any:
        # asyncpg returns its own UUID subclass, which orjson does not encode.
        if value is None or type(value) is uuid.UUID:
            return value
        return uuid.UUID(str(value))


class ChoiceString(sa.types.TypeDecorator[Any]):
    """An enum column: a string checked by a CHECK constraint; Enum members bind as their value."""

    impl = sa.String
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: sa.Dialect) -> Any:
        return value.value if isinstance(value, enum.Enum) else value


_FIXED: dict[str, Callable[[], sa.types.TypeEngine[Any]]] = {
    "text": sa.Text,
    "integer": sa.Integer,
    # SQLite only auto-increments INTEGER PRIMARY KEY.
    "bigint": lambda: sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
    "boolean": sa.Boolean,
    # mysql.DOUBLE defaults to asdecimal=True: floats would come back as Decimal.
    "float": lambda: sa.Float().with_variant(mysql.DOUBLE(asdecimal=False), "mysql"),
    "date": sa.Date,
    "datetime": UTCDateTime,
    # none_as_null: Python None is SQL NULL (found by `x=None`), not the JSON literal null.
    "json": lambda: sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True),
                                                           "postgresql"),
    "uuid": UUIDType,
    "binary": lambda: sa.LargeBinary().with_variant(mysql.LONGBLOB(), "mysql"),
}


def sa_type(spec: dict[str, Any]) -> sa.types.TypeEngine[Any]:
    kind = spec["kind"]
    fixed = _FIXED.get(kind)
    if fixed is not None:
        return fixed()
    if kind == "string":
        return sa.String(int(spec.get("length") or 255))
    if kind == "decimal":
        return sa.Numeric(int(spec.get("precision") or 12), int(spec.get("scale") or 2), asdecimal=True)
    if kind == "enum":
        # A checked string rather than a native enum: changing choices is then a cheap migration.
        return ChoiceString(int(spec.get("length") or 32))
    raise MegaError("model.invalid_field", f"unknown column kind {kind!r} for '{spec.get('name')}'")


def server_default(spec: dict[str, Any]) -> Any:
    value = spec.get("server_default")
    if value is None:
        return None
    if isinstance(value, bool):
        return sa.true() if value else sa.false()
    if isinstance(value, int | float):
        return sa.text(str(value))
    if isinstance(value, str) and value.lower() in ("now()", "current_timestamp"):
        return sa.func.current_timestamp()
    return sa.text(repr(str(value)).replace('"', "'")) if isinstance(value, str) else value


def column_for(spec: dict[str, Any]) -> sa.Column[Any]:
    args: list[Any] = [spec["name"], sa_type(spec)]
    ref = spec.get("references")
    if ref:
        args.append(sa.ForeignKey(ref, ondelete=_action(spec.get("on_delete")),
                                  onupdate=_action(spec.get("on_update"))))
    kwargs: dict[str, Any] = {
        "nullable": bool(spec.get("nullable", False)) and not spec.get("primary_key"),
        "primary_key": bool(spec.get("primary_key")),
        "unique": bool(spec.get("unique")) or None,
    }
    if spec.get("primary_key"):
        kwargs["autoincrement"] = bool(spec.get("autoincrement"))
    default = server_default(spec)
    if default is not None:
        kwargs["server_default"] = default
    if spec.get("comment"):
        kwargs["comment"] = spec["comment"]
    if spec.get("kind") == "enum" and spec.get("choices"):
        choices = ", ".join("'" + str(c).replace("'", "''") + "'" for c in spec["choices"])
        args.append(sa.CheckConstraint(f"{spec['name']} IN ({choices})", name=None))
    return sa.Column(*args, **kwargs)


def _action(value: str | None) -> str | None:
    return value.upper() if value else None


def table_for(model: dict[str, Any], metadata: sa.MetaData) -> sa.Table:
    """A Table from a model description (`ModelSpec.to_dict()` or a snapshot entry)."""
    columns = [column_for(c) for c in model["columns"]]
    indexes = [sa.Index(i["name"], *i["columns"], unique=bool(i.get("unique")))
               for i in model.get("indexes", [])]
    return sa.Table(model["table"], metadata, *columns, *indexes)
