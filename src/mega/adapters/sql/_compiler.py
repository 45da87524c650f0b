"""SQLAlchemy compiles, the driver executes: a statement becomes a `Plan` once per shape.

A plan holds the SQL string in the driver's parameter style, how to order and convert the
arguments (SQLAlchemy's own bind processors for the dialect) and how to convert the result
columns (its result processors). Running a plan is then a list comprehension and a driver call.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.compiler import SQLCompiler

from mega.adapters.sql._errors import refused_value
from mega.errors import MegaError

Processor = Callable[[Any], Any]

# What a driver's cursor would report as the column type, for the processors that need it.
_PG_FLOAT, _PG_NUMERIC = 701, 1700


class Plan:
    """A compiled statement. `names` are the caller's parameter names, in any order."""

    __slots__ = ("columns", "convert", "identity", "order", "processors", "sql")

    def __init__(self, sql: str, order: list[tuple[int, Any]], processors: list[Processor | None],
                 columns: list[str] | None, convert: list[tuple[int, Processor]]) -> None:
        self.sql = sql
        self.order = order  # per positional slot: (index into caller's values, or -1 with a constant)
        self.processors = processors
        self.columns = columns  # result column names when the statement declares them
        self.convert = convert  # (column index, result processor)
        self.identity = all(i == n for n, (i, _) in enumerate(order)) and not any(processors)

    def args(self, values: Sequence[Any]) -> list[Any]:
        """Positional driver arguments from the caller's values (in `names` order)."""
        if self.identity:
            return list(values)
        out = []
        try:
            for (index, const), proc in zip(self.order, self.processors, strict=True):
                value = values[index] if index >= 0 else const
                out.append(proc(value) if proc is not None and value is not None else value)
        except (TypeError, ValueError, OverflowError) as exc:  # a processor refused the value
            raise refused_value(exc) from exc
        return out

    def row(self, row: Sequence[Any]) -> list[Any]:
        values = list(row)
        for i, proc in self.convert:
            values[i] = proc(values[i])
        return values


def compile_plan(stmt: sa.ClauseElement, dialect: sa.Dialect, names: Sequence[str]) -> Plan:
    """Compile `stmt` whose bind parameters are called `names` (values given at run time)."""
    compiled = stmt.compile(dialect=dialect)
    if not isinstance(compiled, SQLCompiler):  # DDL and the like: no parameters, no results
        return Plan(compiled.string, [], [], None, [])
    index = {name: i for i, name in enumerate(names)}
    positions = compiled.positiontup or []
    order: list[tuple[int, Any]] = []
    processors: list[Processor | None] = []
    bind_procs = compiled._bind_processors
    for name in positions:
        bind = compiled.binds.get(name)
        key = bind.key if bind is not None else name
        if key in index:
            order.append((index[key], None))
        elif bind is not None and (bind.value is not None or bind.callable is not None):
            order.append((-1, bind.effective_value))
        else:
            raise MegaError("db.invalid_query", f"no value for the SQL parameter :{key}",
                            details={"parameter": key, "given": list(names)},
                            hint="pass it in params: db.query(sql, {'name': value})")
        proc = bind_procs.get(name)
        processors.append(proc if callable(proc) else None)
    columns, convert = _result_columns(compiled, dialect)
    return Plan(compiled.string, order, processors, columns, convert)


def _result_columns(compiled: SQLCompiler, dialect: sa.Dialect) -> tuple[list[str] | None,
                                                                          list[tuple[int, Processor]]]:
    entries = compiled._result_columns
    if not entries:
        return None, []
    names: list[str] = []
    convert: list[tuple[int, Processor]] = []
    for i, entry in enumerate(entries):
        names.append(str(entry.keyname))  # a plain str: orjson refuses subclasses (quoted_name) as keys
        proc = result_processor(entry.type, dialect)
        if proc is not None:
            convert.append((i, proc))
    return names, convert


def result_processor(type_: sa.types.TypeEngine[Any], dialect: sa.Dialect) -> Processor | None:
    coltype: int | None = None
    if dialect.name == "postgresql":  # (in SQLAlchemy 2.1 Float is no longer a Numeric)
        if isinstance(type_, sa.Float):
            coltype = _PG_FLOAT
        elif isinstance(type_, sa.Numeric):
            coltype = _PG_NUMERIC
    return type_._cached_result_processor(dialect, coltype)


def text_plan(sql: str, params: Mapping[str, Any], dialect: sa.Dialect) -> tuple[Plan, list[str]]:
    """A plan for raw SQL with `:name` parameters; returns the plan and the names it expects."""
    clause = sa.text(sql)
    names = list(clause._bindparams)
    missing = [n for n in names if n not in params]
    extra = [n for n in params if n not in clause._bindparams]
    if missing or extra:
        raise MegaError("db.invalid_query", "SQL parameters and params do not match"
                        + (f"; missing: {', '.join(missing)}" if missing else "")
                        + (f"; not in the SQL: {', '.join(extra)}" if extra else ""),
                        details={"missing": missing, "unused": extra},
                        hint="write :name in the SQL for each key of params")
    return compile_plan(clause, dialect, names), names


def statement_args(stmt: sa.ClauseElement, params: Mapping[str, Any] | None,
                   dialect: sa.Dialect) -> tuple[str, list[Any], Plan]:
    """SQL and positional arguments for a one-off SQLAlchemy statement (values inside it)."""
    compiled = stmt.compile(dialect=dialect)
    if not isinstance(compiled, SQLCompiler):
        return compiled.string, [], Plan(compiled.string, [], [], None, [])
    try:
        state = compiled.construct_expanded_state(dict(params or {}))
    except sa.exc.InvalidRequestError as exc:
        raise MegaError("db.invalid_query", f"cannot bind the statement's parameters: {exc}",
                        hint="give every bindparam() a value, in the statement or in params") from exc
    procs = state.processors
    args = []
    try:
        for name in state.positiontup or []:
            value = state.parameters[name]
            proc = procs.get(name)
            args.append(proc(value) if proc is not None and value is not None else value)
    except (TypeError, ValueError, OverflowError) as exc:  # a processor refused the value
        raise refused_value(exc) from exc
    columns, convert = _result_columns(compiled, dialect)
    return state.statement, args, Plan(state.statement, [], [], columns, convert)
