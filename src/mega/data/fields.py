"""Column declarations for models: `email = fields.string(255, unique=True)`.

A field knows its name (set when the model class is built) and describes itself as a plain,
JSON-able dict (`spec()`): that description is what the migration snapshot stores and diffs.
"""

from __future__ import annotations

import builtins
import enum as _enum  # `enum` is rebound to enum_() at the bottom of this module
import uuid as _uuid
from collections.abc import Callable
from typing import Any

from mega.errors import MegaError

KINDS = frozenset({
    "string", "text", "integer", "bigint", "boolean", "float", "decimal", "date", "datetime",
    "json", "uuid", "enum", "binary",
})
FK_ACTIONS = frozenset({"cascade", "restrict", "set null", "set default", "no action"})


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


class Field:
    """One column. Build it with the functions below (`string(100)`, `integer()`, ...)."""

    def __init__(
        self,
        kind: str,
        *,
        nullable: bool = False,
        default: Any = MISSING,
        server_default: str | int | builtins.float | bool | None = None,  # `float` is float_() here
        primary_key: bool = False,
        autoincrement: bool = False,
        unique: bool = False,
        index: bool = False,
        length: int | None = None,
        precision: int | None = None,
        scale: int | None = None,
        choices: list[str] | None = None,
        references: str | None = None,
        on_delete: str | None = None,
        on_update: str | None = None,
        auto_now_add: bool = False,
        auto_now: bool = False,
        comment: str | None = None,
    ) -> None:
        self.kind = kind
        self.nullable = nullable
        self.default = default
        self.server_default = server_default
        self.primary_key = primary_key
        self.autoincrement = autoincrement
        self.unique = unique
        self.index = index
        self.length = length
        self.precision = precision
        self.scale = scale
        self.choices = list(choices) if choices is not None else None
        self.references = references
        self.on_delete = on_delete
        self.on_update = on_update
        self.auto_now_add = auto_now_add
        self.auto_now = auto_now
        self.comment = comment
        self.name: str = ""  # set by the model class

    @property
    def has_default(self) -> bool:
        return self.default is not MISSING

    def default_value(self) -> Any:
        """The Python-side default for an insert (callables are called)."""
        return self.default() if callable(self.default) else self.default

    def spec(self) -> dict[str, Any]:
        """A JSON-able description; the migration snapshot stores exactly this."""
        out: dict[str, Any] = {"name": self.name, "kind": self.kind, "nullable": self.nullable}
        for key in ("length", "precision", "scale", "choices", "server_default", "comment"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        for key in ("primary_key", "autoincrement", "unique", "index", "auto_now_add", "auto_now"):
            if getattr(self, key):
                out[key] = True
        if self.references is not None:
            out["references"] = self.references
            out["on_delete"] = self.on_delete
            out["on_update"] = self.on_update
        if self.has_default and not callable(self.default):
            out["default"] = self.default.value if isinstance(self.default, _enum.Enum) else self.default
        elif self.has_default:
            out["default"] = f"<callable {getattr(self.default, '__qualname__', 'default')}>"
        return out

    def __repr__(self) -> str:
        return f"Field({self.name or '?'}: {self.kind})"


def _check_fk(on_delete: str | None, on_update: str | None) -> None:
    for label, value in (("on_delete", on_delete), ("on_update", on_update)):
        if value is not None and value.lower() not in FK_ACTIONS:
            raise MegaError("model.invalid_field", f"{label} must be one of {', '.join(sorted(FK_ACTIONS))}, "
                            f"got {value!r}")


def string(length: int = 255, **kw: Any) -> Field:
    return Field("string", length=length, **kw)


def text(**kw: Any) -> Field:
    return Field("text", **kw)


def integer(**kw: Any) -> Field:
    return Field("integer", **kw)


def bigint(**kw: Any) -> Field:
    return Field("bigint", **kw)


def boolean(**kw: Any) -> Field:
    return Field("boolean", **kw)


def float_(**kw: Any) -> Field:
    return Field("float", **kw)


def decimal(precision: int = 12, scale: int = 2, **kw: Any) -> Field:
    return Field("decimal", precision=precision, scale=scale, **kw)


def date(**kw: Any) -> Field:
    return Field("date", **kw)


def datetime(**kw: Any) -> Field:
    """A timezone-aware timestamp (stored as UTC)."""
    return Field("datetime", **kw)


def json(**kw: Any) -> Field:
    return Field("json", **kw)


def uuid(**kw: Any) -> Field:
    return Field("uuid", **kw)


def enum_(values: list[str] | type[_enum.Enum], **kw: Any) -> Field:
    choices = [m.value for m in values] if isinstance(values, type) else list(values)
    return Field("enum", choices=choices, length=max((len(str(c)) for c in choices), default=1), **kw)


def binary(**kw: Any) -> Field:
    return Field("binary", **kw)


def id_(**kw: Any) -> Field:
    """An auto-incrementing bigint primary key."""
    return Field("bigint", primary_key=True, autoincrement=True, **kw)


def uuid_pk(**kw: Any) -> Field:
    """A UUID primary key generated in Python (uuid4)."""
    default: Callable[[], Any] = kw.pop("default", _uuid.uuid4)
    return Field("uuid", primary_key=True, default=default, **kw)


def foreign_key(target: str, *, kind: str = "bigint", on_delete: str | None = None,
                on_update: str | None = None, **kw: Any) -> Field:
    """A column referencing `"table.column"`."""
    _check_fk(on_delete, on_update)
    if "." not in target:
        raise MegaError("model.invalid_field", f"foreign key target must be 'table.column', got {target!r}")
    return Field(kind, references=target, on_delete=on_delete, on_update=on_update, **kw)


# Python-keyword-safe aliases
float = float_
enum = enum_
id = id_
