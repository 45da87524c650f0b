"""Field specs (the JSON-able dicts of `Field.spec()`) to SQLAlchemy columns and tables.

Both CRUD (compiled statements) and migrations (DDL rendered per dialect) build their tables
here, from the same description, so they never disagree about a type.
"""

from __future__ import annotations

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
        import datetime as dt

        if value is None:
            return None
        if not isinstance(value, dt.datetime):
            raise MegaError("db.invalid_value", f"expected a datetime, got {type(value).__name__}")
        if value.tzinfo is None:
            raise MegaError("db.invalid_value", "naive datetime: pass a timezone-aware datetime",
                            hint="datetime.now(datetime.UTC)")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name in ("mysql", "sqlite") else value

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> Any:
        import datetime as dt

        if value is None:
            return None
        if isinstance(value, str):  # sqlite may hand back text
            value = dt.datetime.fromisoformat(value)
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def sa_type(spec: dict[str, Any]) -> sa.types.TypeEngine[Any]:
    kind = spec["kind"]
    if kind == "string":
        return sa.String(int(spec.get("length") or 255))
    if kind == "text":
        return sa.Text()
    if kind == "integer":
        return sa.Integer()
    if kind == "bigint":
        # SQLite only auto-increments INTEGER PRIMARY KEY.
        return sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    if kind == "boolean":
        return sa.Boolean()
    if kind == "float":
        return sa.Float().with_variant(mysql.DOUBLE(), "mysql")
    if kind == "decimal":
        return sa.Numeric(int(spec.get("precision") or 12), int(spec.get("scale") or 2), asdecimal=True)
    if kind == "date":
        return sa.Date()
    if kind == "datetime":
        return UTCDateTime()
    if kind == "json":
        return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
    if kind == "uuid":
        return sa.Uuid(as_uuid=True)
    if kind == "enum":
        # A checked string rather than a native enum: changing choices is then a cheap migration.
        return sa.String(int(spec.get("length") or 32))
    if kind == "binary":
        return sa.LargeBinary().with_variant(mysql.LONGBLOB(), "mysql")
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
    indexes = [sa.Index(i["name"], *i["columns"], unique=bool(i.get("unique"))) for i in model.get("indexes", [])]
    return sa.Table(model["table"], metadata, *columns, *indexes)
