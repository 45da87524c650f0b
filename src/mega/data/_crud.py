"""Model CRUD: what `User.find(...)`, `User.create(...)` ... do before and after the database.

Everything here is database-neutral: which database (explicit `db=`, `Model.using(db)`,
`Model.bind(db)`, else `Meta.database` / the app's default through `get_app`), filter and
value checks, Python defaults and timestamps, pagination arithmetic and keyset cursors. The
database work is one call to the adapter's store (`mega.data.store.ModelStore`).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import decimal
import math
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, overload

import orjson

from mega._digits import ascii_digits
from mega.app.registry import get_app
from mega.data._query import Cond, Order, check_columns, parse_filters, parse_order
from mega.data.records import Record
from mega.errors import BadRequestError, MegaError, NotFoundError

if TYPE_CHECKING:
    from mega.data._spec import ModelSpec
    from mega.data.store import ModelStore

OrderBy = str | Sequence[str] | None

_INT_RANGES = {"integer": (-(2**31), 2**31 - 1), "bigint": (-(2**63), 2**63 - 1)}

# Method names a field may not take: the field would hide the class method.
API = frozenset({
    "find", "find_one", "get", "count", "exists", "paginate", "cursor", "create", "create_many",
    "update", "delete", "upsert", "using", "bind", "spec",
})


def resolve_db(model: type[Any]) -> Any:
    """The adapter a model uses when none is given: bound one, else `Meta.database` of its app."""
    bound = getattr(model, "__db__", None)
    if bound is not None:
        return bound
    spec = model.__spec__
    try:
        app = get_app(spec.app)
    except MegaError as exc:
        raise MegaError("db.unbound", f"model {spec.name} has no database: {exc.message}",
                        details={"model": spec.name, "app": spec.app, "database": spec.database},
                        hint=f"use it after boot, or give one: {spec.name}.using(db), "
                        f"{spec.name}.bind(db) or db=...", cause=exc) from exc
    return app.db(spec.database)


def _store(model: type[Any], db: Any) -> ModelStore:
    adapter = db if db is not None else resolve_db(model)
    store: ModelStore = adapter.store(model)
    return store


class _Meta:
    """What CRUD derives once per model: defaults, timestamps, primary key."""

    __slots__ = ("auto_now", "auto_now_add", "defaults", "floats", "ints", "lengths", "nonnull", "pk",
                 "pk_range", "unique_sets")

    def __init__(self, spec: ModelSpec) -> None:
        self.defaults = [c for c in spec.columns if c.has_default]
        self.auto_now_add = [c.name for c in spec.columns if c.auto_now_add]
        self.auto_now = [c.name for c in spec.columns if c.auto_now]
        pks = spec.primary_key
        self.pk = pks[0] if len(pks) == 1 else None
        self.nonnull = frozenset(c.name for c in spec.columns if not c.nullable or c.primary_key)
        # Checked here because SQLite does not enforce VARCHAR lengths.
        self.lengths = {c.name: c.length for c in spec.columns if c.kind == "string" and c.length}
        # Likewise for integers (SQLite keeps any value in an INTEGER column, MariaDB coerces '12')
        # and floats (MariaDB cannot store inf/nan, SQLite turns nan into NULL): the same value gets
        # the same answer on every database.
        self.ints = {c.name: _INT_RANGES[c.kind] for c in spec.columns if c.kind in _INT_RANGES}
        self.floats = frozenset(c.name for c in spec.columns if c.kind == "float")
        self.pk_range = self.ints.get(self.pk) if self.pk is not None else None
        sets = [frozenset(pks)] if pks else []
        sets += [frozenset([c.name]) for c in spec.columns if c.unique]
        sets += [frozenset(i.columns) for i in spec.indexes if i.unique]
        self.unique_sets = sets


def _meta(spec: ModelSpec) -> _Meta:
    meta = spec.cache.get("crud")
    if meta is None:
        meta = spec.cache["crud"] = _Meta(spec)
    return meta


def _pk(spec: ModelSpec) -> str:
    pk = _meta(spec).pk
    if pk is None:
        raise MegaError("db.invalid_argument", f"{spec.name} has no single-column primary key",
                        hint="pass filters instead of an id: update({'col': value}, ...)", status=500)
    return pk


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _check_values(spec: ModelSpec, values: Mapping[str, Any]) -> None:
    check_columns(spec, values, "values")
    meta = _meta(spec)
    lengths, ints, floats = meta.lengths, meta.ints, meta.floats
    for name, value in values.items():
        limit = lengths.get(name)
        if limit is not None and isinstance(value, str) and len(value) > limit:
            raise BadRequestError("db.invalid_value", f"column '{name}' of {spec.name} takes at most {limit} "
                                  f"characters, got {len(value)}",
                                  details={"model": spec.name, "column": name, "max_length": limit})
        bounds = ints.get(name)
        if bounds is not None and value is not None and not (isinstance(value, int)
                                                             and bounds[0] <= value <= bounds[1]):
            raise BadRequestError("db.invalid_value", f"column '{name}' of {spec.name} takes an integer from "
                                  f"{bounds[0]} to {bounds[1]}, got {_shown(value)}",
                                  details={"model": spec.name, "column": name, "min": bounds[0],
                                           "max": bounds[1]})
        if name in floats and isinstance(value, float) and not math.isfinite(value):
            raise BadRequestError("db.invalid_value", f"column '{name}' of {spec.name} takes a finite "
                                  f"number, got {value!r}", details={"model": spec.name, "column": name})


def _id(spec: ModelSpec, value: Any) -> Any:
    """An id for get/update/delete: on an integer key, an int in range or a string of digits (ids
    come from URLs); anything else is db.invalid_value on every database (PostgreSQL would refuse
    it, MariaDB and SQLite would find nothing)."""
    bounds = _meta(spec).pk_range
    if bounds is None or (isinstance(value, int) and bounds[0] <= value <= bounds[1]):
        return value
    if isinstance(value, str) and len(value) <= 20 and \
            (ascii_digits(value) or (value[:1] == "-" and ascii_digits(value[1:]))):
        number = int(value)
        if bounds[0] <= number <= bounds[1]:
            return number
    raise BadRequestError("db.invalid_value", f"the id of {spec.name} is an integer from {bounds[0]} to "
                          f"{bounds[1]}, got {_shown(value)}",
                          details={"model": spec.name, "column": _meta(spec).pk, "min": bounds[0],
                                   "max": bounds[1]})


def _shown(value: Any) -> str:
    """A short description of a refused value (str() of a 5,000-digit int raises ValueError)."""
    if isinstance(value, int) and value.bit_length() > 128:
        return f"an integer of {value.bit_length()} bits"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _with_defaults(spec: ModelSpec, values: Mapping[str, Any], now: dt.datetime) -> dict[str, Any]:
    _check_values(spec, values)
    row = dict(values)
    meta = _meta(spec)
    for name in meta.auto_now_add:
        row.setdefault(name, now)
    for name in meta.auto_now:
        row.setdefault(name, now)
    for col in meta.defaults:
        if col.name not in row:
            row[col.name] = col.default_value()
    return row


def _int_arg(name: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise BadRequestError("db.invalid_argument", f"{name} must be an integer >= {low}, got {value!r}",
                              details={"argument": name, "value": repr(value)})
    return value


class ModelOps:
    """The CRUD surface of one model on one database; `Model.using(db)` returns one."""

    __slots__ = ("db", "model", "spec")

    def __init__(self, model: type[Any], db: Any = None) -> None:
        self.model = model
        self.spec = model.__spec__
        self.db = db

    def _conds(self, filters: Mapping[str, Any], where: Mapping[str, Any] | None) -> list[Cond]:
        if where:
            filters = {**where, **filters}
        return parse_filters(self.spec, filters)

    # -- reads ---------------------------------------------------------------------------

    async def find(self, *, order_by: OrderBy = None, limit: int | None = None, offset: int | None = None,
                   columns: Sequence[str] | None = None, where: Mapping[str, Any] | None = None,
                   **filters: Any) -> list[Record]:
        if limit is not None:
            _int_arg("limit", limit, 0)
        if offset is not None:
            _int_arg("offset", offset, 0)
        if columns is not None:
            check_columns(self.spec, columns, "columns")
        return await _store(self.model, self.db).select(
            self._conds(filters, where), order=parse_order(self.spec, order_by), limit=limit, offset=offset,
            columns=columns)

    async def find_one(self, *, order_by: OrderBy = None, columns: Sequence[str] | None = None,
                       where: Mapping[str, Any] | None = None, **filters: Any) -> Record | None:
        rows = await self.find(order_by=order_by, limit=1, columns=columns, where=where, **filters)
        return rows[0] if rows else None

    async def get(self, id: Any) -> Record:
        _pk(self.spec)
        id = _id(self.spec, id)
        row = await _store(self.model, self.db).get(id)
        if row is None:
            raise NotFoundError("db.not_found", f"{self.spec.name} {id} not found",
                                details={"model": self.spec.name, "id": _jsonable(id)})
        return row

    async def count(self, *, where: Mapping[str, Any] | None = None, **filters: Any) -> int:
        return await _store(self.model, self.db).count(self._conds(filters, where))

    async def exists(self, *, where: Mapping[str, Any] | None = None, **filters: Any) -> bool:
        return await _store(self.model, self.db).exists(self._conds(filters, where))

    async def paginate(self, page: int = 1, per_page: int = 20, *, order_by: OrderBy = None,
                       where: Mapping[str, Any] | None = None, **filters: Any) -> dict[str, Any]:
        """`{"items", "total", "page", "per_page", "pages"}`; ordered by the key unless told."""
        page = _int_arg("page", page, 1)
        per_page = _int_arg("per_page", per_page, 1)
        order = self._stable_order(order_by)
        items, total = await _store(self.model, self.db).page(
            self._conds(filters, where), order=order, limit=per_page, offset=(page - 1) * per_page)
        return {"items": items, "total": total, "page": page, "per_page": per_page,
                "pages": math.ceil(total / per_page) if total else 0}

    async def cursor(self, after: str | None = None, *, limit: int = 20, order_by: OrderBy = None,
                     where: Mapping[str, Any] | None = None, **filters: Any) -> dict[str, Any]:
        """Keyset pagination: `{"items", "next"}`; pass `next` back as `after` (None: no more rows)."""
        limit = _int_arg("limit", limit, 1)
        order = self._stable_order(order_by)
        nullable = [o.column for o in order if o.column not in _meta(self.spec).nonnull]
        if nullable:
            raise BadRequestError("db.invalid_argument", f"cursor order columns must be NOT NULL: "
                                  f"{', '.join(nullable)} of {self.spec.name} may be null",
                                  details={"model": self.spec.name, "columns": nullable})
        start = _decode_cursor(self.spec, order, after) if after else None
        rows = await _store(self.model, self.db).select(
            self._conds(filters, where), order=order, limit=limit + 1, after=start)
        more = len(rows) > limit
        items = rows[:limit]
        return {"items": items, "next": _encode_cursor(order, items[-1]) if more else None}

    def _stable_order(self, order_by: OrderBy) -> list[Order]:
        order = parse_order(self.spec, order_by)
        pk = _meta(self.spec).pk
        if pk is not None and all(o.column != pk for o in order):
            order.append(Order(pk, order[-1].desc if order else False))
        return order

    # -- writes --------------------------------------------------------------------------

    async def create(self, **values: Any) -> Record:
        return await _store(self.model, self.db).insert(_with_defaults(self.spec, values, _now()))

    async def create_many(self, rows: Iterable[Mapping[str, Any]]) -> int:
        """Insert many rows at once; returns how many (use `create` to get records back)."""
        now = _now()
        prepared = [_with_defaults(self.spec, row, now) for row in rows]
        if not prepared:
            return 0
        return await _store(self.model, self.db).insert_many(prepared)

    @overload
    async def update(self, target: Mapping[str, Any], **values: Any) -> int: ...

    @overload
    async def update(self, target: int | str | uuid.UUID, **values: Any) -> Record: ...

    async def update(self, target: Any, **values: Any) -> Record | int:
        """By id: the updated record (404 when missing). By filters (a dict): rows updated."""
        if not values:
            raise BadRequestError("db.invalid_argument", f"nothing to update on {self.spec.name}",
                                  details={"model": self.spec.name})
        _check_values(self.spec, values)
        row = dict(values)
        if _meta(self.spec).auto_now:
            now = _now()
            for name in _meta(self.spec).auto_now:
                row.setdefault(name, now)
        store = _store(self.model, self.db)
        if isinstance(target, Mapping):
            return await store.update_where(parse_filters(self.spec, target), row)
        _pk(self.spec)
        target = _id(self.spec, target)
        updated = await store.update_one(target, row)
        if updated is None:
            raise NotFoundError("db.not_found", f"{self.spec.name} {target} not found",
                                details={"model": self.spec.name, "id": _jsonable(target)})
        return updated

    async def delete(self, target: Any) -> int:
        """By id: 1 (404 when missing). By filters (a dict): rows deleted; `{}` deletes every row."""
        store = _store(self.model, self.db)
        if isinstance(target, Mapping):
            return await store.delete_where(parse_filters(self.spec, target))
        pk = _pk(self.spec)
        target = _id(self.spec, target)
        count = await store.delete_where([Cond(pk, "eq", target)])
        if count == 0:
            raise NotFoundError("db.not_found", f"{self.spec.name} {target} not found",
                                details={"model": self.spec.name, "id": _jsonable(target)})
        return count

    async def upsert(self, values: Mapping[str, Any], *, conflict: Sequence[str],
                     update: Sequence[str] | None = None) -> Record:
        """Insert, or update the row that has the same `conflict` columns; returns the row."""
        conflict = [conflict] if isinstance(conflict, str) else list(conflict)
        check_columns(self.spec, conflict, "conflict")
        meta = _meta(self.spec)
        if frozenset(conflict) not in meta.unique_sets:
            raise MegaError("db.invalid_upsert", f"upsert conflict columns {conflict} of {self.spec.name} "
                            "are not a primary key, unique column or unique index",
                            details={"model": self.spec.name, "conflict": conflict},
                            hint="declare them unique (unique=True or Meta.unique_together)")
        row = _with_defaults(self.spec, values, _now())
        missing = [c for c in conflict if c not in row]
        if missing:
            raise BadRequestError("db.invalid_argument", f"upsert needs a value for {', '.join(missing)}",
                                  details={"model": self.spec.name, "missing": missing})
        if update is None:  # what the caller gave (not the Python defaults), and auto_now columns
            skip = {*conflict, *meta.auto_now_add, *(self.spec.primary_key)}
            cols = [c for c in values if c not in skip]
            cols += [c for c in meta.auto_now if c not in cols and c not in skip]
        else:
            cols = [update] if isinstance(update, str) else list(update)
            check_columns(self.spec, cols, "update")
            cols += [c for c in meta.auto_now if c in row and c not in cols]
        return await _store(self.model, self.db).upsert(row, conflict, cols)


# -- keyset cursors -------------------------------------------------------------------------

def _jsonable(value: Any) -> Any:
    return value if isinstance(value, int | str | float | bool | None) else str(value)


def _encode_cursor(order: list[Order], row: Mapping[str, Any]) -> str:
    payload = [",".join(map(str, order)), *(_cursor_value(row[o.column]) for o in order)]
    return base64.urlsafe_b64encode(orjson.dumps(payload)).rstrip(b"=").decode()


def _cursor_value(value: Any) -> Any:
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return value


def _decode_cursor(spec: ModelSpec, order: list[Order], token: str) -> list[Any]:
    expected = ",".join(map(str, order))
    try:
        payload = orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        if not isinstance(payload, list) or payload[0] != expected or len(payload) != len(order) + 1:
            raise ValueError("cursor for another query")
        return [_from_cursor(spec, o.column, v) for o, v in zip(order, payload[1:], strict=True)]
    except (ValueError, TypeError, IndexError, binascii.Error, orjson.JSONDecodeError) as exc:
        raise BadRequestError("db.invalid_cursor", f"invalid cursor for {spec.name} ordered by {expected}",
                              details={"model": spec.name, "order_by": expected},
                              hint="pass back the `next` value of the previous page unchanged") from exc


def _from_cursor(spec: ModelSpec, column: str, value: Any) -> Any:
    field = spec.column(column)
    kind = field.kind if field is not None else ""
    if value is None:
        return None
    if kind == "datetime":
        return dt.datetime.fromisoformat(value)
    if kind == "date":
        return dt.date.fromisoformat(value)
    if kind == "uuid":
        return uuid.UUID(value)
    if kind == "decimal":
        return decimal.Decimal(value)
    return value


class CrudMethods:
    """The class methods every `Model` has; each accepts `db=` to pick the database explicitly."""

    __spec__: ClassVar[ModelSpec]

    @classmethod
    def using(cls, db: Any) -> ModelOps:
        """This model on the adapter `db`: `User.using(ctx.db("replica")).find(...)`."""
        return ModelOps(cls, db)

    @classmethod
    def bind(cls, db: Any) -> None:
        """Use `db` for this model (and its subclasses) from now on; `None` unbinds."""
        if db is None:
            if "__db__" in cls.__dict__:
                delattr(cls, "__db__")
        else:
            cls.__db__ = db  # type: ignore[attr-defined]

    @classmethod
    async def find(cls, *, db: Any = None, order_by: OrderBy = None, limit: int | None = None,
                   offset: int | None = None, columns: Sequence[str] | None = None,
                   where: Mapping[str, Any] | None = None, **filters: Any) -> list[Record]:
        return await ModelOps(cls, db).find(order_by=order_by, limit=limit, offset=offset, columns=columns,
                                            where=where, **filters)

    @classmethod
    async def find_one(cls, *, db: Any = None, order_by: OrderBy = None, columns: Sequence[str] | None = None,
                       where: Mapping[str, Any] | None = None, **filters: Any) -> Record | None:
        return await ModelOps(cls, db).find_one(order_by=order_by, columns=columns, where=where, **filters)

    @classmethod
    async def get(cls, id: Any, *, db: Any = None) -> Record:
        return await ModelOps(cls, db).get(id)

    @classmethod
    async def count(cls, *, db: Any = None, where: Mapping[str, Any] | None = None, **filters: Any) -> int:
        return await ModelOps(cls, db).count(where=where, **filters)

    @classmethod
    async def exists(cls, *, db: Any = None, where: Mapping[str, Any] | None = None, **filters: Any) -> bool:
        return await ModelOps(cls, db).exists(where=where, **filters)

    @classmethod
    async def paginate(cls, page: int = 1, per_page: int = 20, *, db: Any = None, order_by: OrderBy = None,
                       where: Mapping[str, Any] | None = None, **filters: Any) -> dict[str, Any]:
        return await ModelOps(cls, db).paginate(page, per_page, order_by=order_by, where=where, **filters)

    @classmethod
    async def cursor(cls, after: str | None = None, *, db: Any = None, limit: int = 20,
                     order_by: OrderBy = None, where: Mapping[str, Any] | None = None,
                     **filters: Any) -> dict[str, Any]:
        return await ModelOps(cls, db).cursor(after, limit=limit, order_by=order_by, where=where, **filters)

    @classmethod
    async def create(cls, *, db: Any = None, **values: Any) -> Record:
        return await ModelOps(cls, db).create(**values)

    @classmethod
    async def create_many(cls, rows: Iterable[Mapping[str, Any]], *, db: Any = None) -> int:
        return await ModelOps(cls, db).create_many(rows)

    @overload
    @classmethod
    async def update(cls, target: Mapping[str, Any], *, db: Any = None, **values: Any) -> int: ...

    @overload
    @classmethod
    async def update(cls, target: int | str | uuid.UUID, *, db: Any = None, **values: Any) -> Record: ...

    @classmethod
    async def update(cls, target: Any, *, db: Any = None, **values: Any) -> Record | int:
        result: Record | int = await ModelOps(cls, db).update(target, **values)
        return result

    @classmethod
    async def delete(cls, target: Any, *, db: Any = None) -> int:
        return await ModelOps(cls, db).delete(target)

    @classmethod
    async def upsert(cls, values: Mapping[str, Any], *, conflict: Sequence[str],
                     update: Sequence[str] | None = None, db: Any = None) -> Record:
        return await ModelOps(cls, db).upsert(values, conflict=conflict, update=update)
