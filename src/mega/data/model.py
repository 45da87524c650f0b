"""Model declarations: a class per table, described by a `ModelSpec`.

    class User(Model):
        id = fields.id()
        email = fields.string(255, unique=True)
        org_id = fields.foreign_key("orgs.id", on_delete="cascade", nullable=True)

        class Meta:
            table = "users"            # default: snake_case plural of the class name
            indexes = [("org_id", "email")]
            timestamps = True          # adds created_at / updated_at
            partition = {"column": "created_at", "interval": "month"}   # postgres only
            database = "primary"       # services.dbs alias; default: the app's default db

`Model.spec()` is the JSON-able description the migration journal stores; CRUD lives in
`mega.data._crud` (`User.find(...)`, `User.create(...)`, ...; see docs/reference/models.md).
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from mega.data import fields as f
from mega.data._crud import API, CrudMethods
from mega.data._spec import IndexSpec, ModelSpec
from mega.data.fields import Field
from mega.errors import MegaError

__all__ = ["IndexSpec", "Model", "ModelSpec", "default_table_name"]


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def default_table_name(class_name: str) -> str:
    snake = _snake(class_name)
    if snake.endswith("y") and not snake.endswith(("ay", "ey", "oy", "uy")):
        return snake[:-1] + "ies"
    if snake.endswith(("s", "x", "ch", "sh")):
        return snake + "es"
    return snake + "s"


class Model(CrudMethods):
    """Base class of every model. Subclasses declare `Field`s as class attributes."""

    __spec__: ClassVar[ModelSpec]
    __abstract__: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("__abstract__", False):
            return
        cls.__abstract__ = False
        meta = cls.__dict__.get("Meta")
        columns = _collect_columns(cls)
        if getattr(meta, "timestamps", False):
            for name, kw in (("created_at", {"auto_now_add": True}), ("updated_at", {"auto_now": True})):
                if all(c.name != name for c in columns):
                    stamp = f.datetime(**kw)
                    stamp.name = name
                    columns.append(stamp)
        table = getattr(meta, "table", None) or default_table_name(cls.__name__)
        indexes: list[IndexSpec] = []
        for col in columns:
            if col.index and not col.primary_key:
                indexes.append(IndexSpec(f"ix_{table}_{col.name}", [col.name], unique=False))
        for spec in getattr(meta, "indexes", None) or []:
            indexes.append(_index_spec(table, spec, unique=False))
        for spec in getattr(meta, "unique_together", None) or []:
            indexes.append(_index_spec(table, spec, unique=True))
        cls.__spec__ = ModelSpec(
            name=cls.__name__,
            table=table,
            columns=columns,
            indexes=indexes,
            partition=dict(getattr(meta, "partition", None) or {}) or None,
            database=getattr(meta, "database", None),
            app=_app_of(cls.__module__),
            module=cls.__module__,
        )

    @classmethod
    def spec(cls) -> ModelSpec:
        return cls.__spec__


def _collect_columns(cls: type) -> list[Field]:
    columns: list[Field] = []
    for base in reversed(cls.__mro__[1:]):  # fields of abstract parents first
        for name, value in vars(base).items():
            if isinstance(value, Field) and all(c.name != name for c in columns):
                value.name = name
                columns.append(value)
    for name, value in vars(cls).items():
        if isinstance(value, Field):
            if name in API:
                raise MegaError("model.invalid_field", f"field '{name}' of {cls.__name__} would hide "
                                f"{cls.__name__}.{name}()", hint="give the column another name")
            value.name = name
            columns = [c for c in columns if c.name != name] + [value]
    return columns


def _index_spec(table: str, spec: Any, *, unique: bool) -> IndexSpec:
    if isinstance(spec, dict):
        cols = list(spec["columns"])
        return IndexSpec(spec.get("name") or f"{'ux' if unique else 'ix'}_{table}_{'_'.join(cols)}", cols,
                         bool(spec.get("unique", unique)))
    cols = [spec] if isinstance(spec, str) else list(spec)
    return IndexSpec(f"{'ux' if unique else 'ix'}_{table}_{'_'.join(cols)}", cols, unique)


def _app_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 and parts[0] == "apps" else None
