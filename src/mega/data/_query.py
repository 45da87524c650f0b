"""Filters and orderings, parsed and checked against a model; no SQL here.

`find(email="a@b.c", age__gte=18, status__in=["a", "b"])` becomes a list of `Cond`s any store
(SQL or not) can translate. Unknown columns and operators fail with the valid choices and a
did-you-mean. Parsing depends only on the keyword names, so it is cached per set of names.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from mega._suggest import close_match
from mega.errors import BadRequestError

if TYPE_CHECKING:
    from mega.data._spec import ModelSpec

OPERATORS = ("eq", "ne", "gt", "gte", "lt", "lte", "in", "not_in", "like", "ilike", "isnull",
             "contains", "icontains", "startswith", "endswith")
_OPS = frozenset(OPERATORS)
_TEXT_OPS = frozenset({"like", "ilike", "contains", "icontains", "startswith", "endswith"})
_LIST_OPS = frozenset({"in", "not_in"})


class Cond(NamedTuple):
    column: str
    op: str
    value: Any


class Order(NamedTuple):
    column: str
    desc: bool

    def __str__(self) -> str:
        return f"-{self.column}" if self.desc else self.column


def parse_filters(spec: ModelSpec, filters: Mapping[str, Any]) -> list[Cond]:
    """`{"age__gte": 18}` -> `[Cond("age", "gte", 18)]`; `x=None` means `x IS NULL`."""
    if not filters:
        return []
    cache = spec.cache
    key = ("filters", *filters)
    shape = cache.get(key)
    if shape is None:
        shape = [_parse_key(spec, name) for name in filters]
        if len(cache) > 1024:
            cache.clear()
        cache[key] = shape
    out = []
    for name, column, op in shape:
        value = filters[name]
        if op in ("eq", "ne") and value is None:
            out.append(Cond(column, "isnull", op == "eq"))
            continue
        if op in _LIST_OPS:
            if isinstance(value, str | bytes) or not isinstance(value, Sequence | set | frozenset):
                raise _bad_value(spec, name, "a list, tuple or set")
            value = list(value)
        elif op in _TEXT_OPS and not isinstance(value, str):
            raise _bad_value(spec, name, "a string")
        elif op == "isnull" and not isinstance(value, bool):
            raise _bad_value(spec, name, "True or False")
        out.append(Cond(column, op, value))
    return out


def _parse_key(spec: ModelSpec, name: str) -> tuple[str, str, str]:
    columns = spec.column_names
    if name in columns:
        return name, name, "eq"
    column, sep, op = name.rpartition("__")
    if sep and column in columns:
        if op in _OPS:
            return name, column, op
        close = close_match(op, OPERATORS)
        raise BadRequestError(
            "db.invalid_filter", f"unknown filter operator '{op}' in '{name}' for {spec.name}"
            + (f" (did you mean '{column}__{close}'?)" if close else ""),
            details={"model": spec.name, "filter": name, "operators": list(OPERATORS)},
            hint=f"operators: {', '.join(OPERATORS)}")
    raise _unknown_column(spec, column if sep and column else name, "filter")


def parse_order(spec: ModelSpec, order_by: str | Sequence[str] | None) -> list[Order]:
    """`"-created_at"` or `["status", "-id"]` -> orderings; a leading '-' means descending."""
    if order_by is None:
        return []
    items = [order_by] if isinstance(order_by, str) else list(order_by)
    out = []
    for item in items:
        if not isinstance(item, str) or not item.lstrip("-+"):
            raise BadRequestError("db.invalid_filter", f"order_by entries are column names, got {item!r}",
                                  details={"model": spec.name, "order_by": item})
        desc = item.startswith("-")
        column = item.lstrip("-+")
        if column not in spec.column_names:
            raise _unknown_column(spec, column, "order_by")
        out.append(Order(column, desc))
    return out


def check_columns(spec: ModelSpec, names: Sequence[str] | Mapping[str, Any], what: str) -> None:
    """Every name is a column of the model (values to write, columns to read)."""
    columns = spec.column_names
    for name in names:
        if name not in columns:
            raise _unknown_column(spec, name, what)


def _unknown_column(spec: ModelSpec, name: str, what: str) -> BadRequestError:
    columns = [c.name for c in spec.columns]
    close = close_match(name, columns)
    code = "db.invalid_filter" if what in ("filter", "order_by") else "db.unknown_column"
    message = f"{spec.name} has no column '{name}' ({what})"
    if close:
        message += f"; did you mean '{close}'?"
    if code == "db.invalid_filter":
        return BadRequestError("db.invalid_filter", message, details={"model": spec.name, "column": name,
                               "columns": columns}, hint=f"columns: {', '.join(columns)}")
    return BadRequestError("db.unknown_column", message, details={"model": spec.name, "column": name,
                           "columns": columns}, hint=f"columns: {', '.join(columns)}")


def _bad_value(spec: ModelSpec, name: str, expected: str) -> BadRequestError:
    return BadRequestError("db.invalid_filter", f"filter '{name}' on {spec.name} needs {expected}",
                           details={"model": spec.name, "filter": name})
