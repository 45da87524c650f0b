"""Driver exceptions to mega errors: the one place asyncpg, aiomysql and sqlite3 errors are read.

| what | code | status |
| unique / primary key violation | db.conflict | 409 |
| foreign key violation | db.constraint | 409 |
| not null, check, value too long / out of range / malformed, an int beyond 64 bits, a value a
  bind processor refuses (mega.adapters.sql._compiler) | db.invalid_value | 400 |
| connection refused, lost, pool exhausted, database locked | db.unavailable | 503 |
| anything else | db.error | 500 |

Messages never carry parameter values nor SQL (a 500 body is shown to clients); the driver
exception stays chained as `__cause__` for the log.
"""

from __future__ import annotations

import re
import sqlite3
from typing import Any

from mega.adapters.base import AdapterError
from mega.errors import BadRequestError, ConflictError, MegaError

_PG_KEY = re.compile(r"Key \(([^)]*)\)")
_MY_KEY = re.compile(r"for key '([^']*)'")
_MY_COLUMN = re.compile(r"[Cc]olumn '([^']*)'")
_MY_CONSTRAINT = re.compile(r"CONSTRAINT `([^`]*)`")
_SQLITE_COLS = re.compile(r"(?:UNIQUE|NOT NULL) constraint failed: (.*)$")
_SQLITE_CHECK = re.compile(r"CHECK constraint failed: (.*)$")
_MY_NOT_FINITE = re.compile(r"^-?(inf|nan) can not be used with MySQL")

# MySQL/MariaDB server error numbers
_MY_DUP = {1062, 1586}
_MY_FK = {1216, 1217, 1451, 1452}
_MY_VALUE = {1048, 1364, 1406, 1264, 1265, 1366, 1292, 1411, 3819, 4025, 1690, 3140}
_MY_DOWN = {1040, 1045, 1049, 1053, 1205, 1213, 2002, 2003, 2005, 2006, 2013, 2055}


def map_error(exc: BaseException, *, dialect: str, table: str | None = None,
              connecting: bool = False) -> MegaError:
    """The MegaError for a driver exception (`raise map_error(...) from exc`)."""
    if isinstance(exc, MegaError):
        return exc
    if connecting:  # whatever stops a new connection makes the database unavailable
        return _unavailable(exc, table)
    if isinstance(exc, OverflowError):  # sqlite3 and mega's MariaDB check: an int beyond 64 bits
        return _invalid(exc, table, None, None, "an integer is out of the 64-bit range")
    if dialect == "postgresql":
        found = _postgres(exc, table)
    elif dialect == "mysql":
        found = _mysql(exc, table)
    else:
        found = _sqlite(exc, table)
    if found is not None:
        return found
    if isinstance(exc, ConnectionError | OSError | TimeoutError):
        return _unavailable(exc, table)
    where = f" on {table}" if table else ""
    return MegaError("db.error", f"database error{where}: {type(exc).__name__}",
                     details=_details(table=table), cause=exc)


def refused_value(exc: BaseException, table: str | None = None) -> MegaError:
    """A value the dialect's bind processor refused before the driver saw it (a str for a date)."""
    if isinstance(exc, OverflowError):
        return _invalid(exc, table, None, None, "an integer is out of the 64-bit range")
    return _invalid(exc, table, None, None, "a value has the wrong type for its column")


def _details(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v not in (None, [], "")}


def _conflict(exc: BaseException, table: str | None, constraint: str | None,
              columns: list[str] | None) -> MegaError:
    what = f" ({', '.join(columns)})" if columns else (f" ({constraint})" if constraint else "")
    return ConflictError("db.conflict", f"a {table or 'row'} row with the same unique value{what} "
                         "already exists", details=_details(table=table, constraint=constraint,
                                                            columns=columns), cause=exc)


def _fk(exc: BaseException, table: str | None, constraint: str | None) -> MegaError:
    return ConflictError("db.constraint", f"foreign key violation on {table or 'a table'}: the referenced "
                         "row does not exist, or other rows still reference this one",
                         details=_details(table=table, constraint=constraint), cause=exc)


def _invalid(exc: BaseException, table: str | None, column: str | None, constraint: str | None,
             reason: str) -> MegaError:
    target = f"column '{column}'" if column else (f"constraint '{constraint}'" if constraint else "a column")
    return BadRequestError("db.invalid_value", f"{target} of {table or 'the table'} rejected the value: "
                           f"{reason}", details=_details(table=table, column=column, constraint=constraint,
                                                         reason=reason), cause=exc)


def _unavailable(exc: BaseException, table: str | None) -> MegaError:
    return AdapterError("db.unavailable", f"the database is unavailable: {type(exc).__name__}",
                        details=_details(table=table), hint="check that the database server runs",
                        cause=exc)


def _postgres(exc: BaseException, table: str | None) -> MegaError | None:
    import asyncpg

    state = getattr(exc, "sqlstate", None)
    table = getattr(exc, "table_name", None) or table
    constraint = getattr(exc, "constraint_name", None)
    if state == "23505":
        match = _PG_KEY.search(getattr(exc, "detail", None) or "")
        columns = [c.strip() for c in match.group(1).split(",")] if match else None
        return _conflict(exc, table, constraint, columns)
    if state == "23503":
        return _fk(exc, table, constraint)
    if state == "23502":
        return _invalid(exc, table, getattr(exc, "column_name", None), None, "null is not allowed")
    if state == "23514":
        return _invalid(exc, table, None, constraint, "check constraint failed")
    if state is not None and state.startswith("22"):
        return _invalid(exc, table, getattr(exc, "column_name", None), None, f"invalid data ({state})")
    if state is not None and state.startswith(("08", "53", "57P")):
        return _unavailable(exc, table)
    if isinstance(exc, asyncpg.DataError):  # client-side encoding of an argument
        return _invalid(exc, table, None, None, "a value has the wrong type for its column")
    if isinstance(exc, asyncpg.InterfaceError | asyncpg.exceptions.ConnectionDoesNotExistError):
        return _unavailable(exc, table)
    return None


def _mysql(exc: BaseException, table: str | None) -> MegaError | None:
    args: tuple[Any, ...] = tuple(getattr(exc, "args", ()))
    code = args[0] if args and isinstance(args[0], int) else None
    message = str(args[1]) if len(args) > 1 else ""
    if code in _MY_DUP:
        match = _MY_KEY.search(message)
        key = match.group(1).rsplit(".", 1)[-1] if match else None
        return _conflict(exc, table, key, None)
    if code in _MY_FK:
        match = _MY_CONSTRAINT.search(message)
        return _fk(exc, table, match.group(1) if match else None)
    if code in _MY_VALUE:
        match = _MY_COLUMN.search(message)
        if code in (3819, 4025):
            check = re.search(r"constraint '?`?([^'`]*)", message)
            return _invalid(exc, table, None, check.group(1) if check else None, "check constraint failed")
        reason = "null is not allowed" if code in (1048, 1364) else f"invalid data ({code})"
        return _invalid(exc, table, match.group(1) if match else None, None, reason)
    if code in _MY_DOWN:
        return _unavailable(exc, table)
    if code is None and _MY_NOT_FINITE.search(str(args[0]) if args else ""):  # pymysql refuses inf/nan
        return _invalid(exc, table, None, None, "a float is not finite (inf or nan)")
    return None


def _sqlite(exc: BaseException, table: str | None) -> MegaError | None:
    if not isinstance(exc, sqlite3.Error):
        return None
    message = str(exc)
    name = getattr(exc, "sqlite_errorname", "")
    if name in ("SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY"):
        match = _SQLITE_COLS.search(message)
        qualified = [c.strip() for c in match.group(1).split(",")] if match else []
        columns = [c.rsplit(".", 1)[-1] for c in qualified] or None
        owner = qualified[0].rsplit(".", 1)[0] if qualified and "." in qualified[0] else table
        return _conflict(exc, owner, None, columns)
    if name == "SQLITE_CONSTRAINT_FOREIGNKEY":
        return _fk(exc, table, None)
    if name == "SQLITE_CONSTRAINT_NOTNULL":
        match = _SQLITE_COLS.search(message)
        column = match.group(1).rsplit(".", 1)[-1] if match else None
        return _invalid(exc, table, column, None, "null is not allowed")
    if name == "SQLITE_CONSTRAINT_CHECK":
        match = _SQLITE_CHECK.search(message)
        return _invalid(exc, table, None, match.group(1) if match else None, "check constraint failed")
    if name in ("SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_CANTOPEN", "SQLITE_IOERR", "SQLITE_FULL") or \
            name.startswith(("SQLITE_BUSY_", "SQLITE_IOERR_", "SQLITE_CANTOPEN_")):
        return _unavailable(exc, table)
    if isinstance(exc, sqlite3.InterfaceError | sqlite3.DataError):
        return _invalid(exc, table, None, None, "a value has the wrong type for its column")
    return None
