"""The SQL store: model CRUD as SQLAlchemy Core statements, compiled once per shape.

A shape is what changes the SQL text: the operation, the columns written or read, each filter's
column and operator (and list length for IN outside PostgreSQL, which binds one array), the
ordering and whether limit/offset/keyset are used. Values never change the SQL, so the second
call with the same shape is a dict lookup, a list of arguments and one driver call (asyncpg then
reuses its prepared statement).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql, sqlite

from mega.adapters.sql._compiler import Plan, compile_plan
from mega.data._query import Cond, Order
from mega.data.records import record_class
from mega.data.sqltypes import table_for
from mega.data.store import ModelStore

if TYPE_CHECKING:
    from mega.adapters.sql._connection import DriverConnection
    from mega.adapters.sql.adapter import SqlAdapter
    from mega.data._spec import ModelSpec
    from mega.data.records import Record

_MAX_PLANS = 2048


def _escape_like(value: str) -> str:
    return value.replace("/", "//").replace("%", "/%").replace("_", "/_")


_PATTERN = {
    "contains": lambda v: f"%{_escape_like(v)}%",
    "icontains": lambda v: f"%{_escape_like(v)}%",
    "startswith": lambda v: f"{_escape_like(v)}%",
    "endswith": lambda v: f"%{_escape_like(v)}",
}


class _Binds:
    """Hands out bind parameters p0, p1, ... in the order the caller appends values."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def __call__(self, type_: Any) -> sa.BindParameter[Any]:
        name = f"p{len(self.names)}"
        self.names.append(name)
        return sa.bindparam(name, type_=type_)


class SqlStore(ModelStore):
    def __init__(self, db: SqlAdapter, spec: ModelSpec) -> None:
        self.db = db
        self.spec = spec
        self.table = table_for(spec.to_dict(), sa.MetaData())
        self.dialect = db.sa_dialect
        self.name = spec.table
        self.pg = self.dialect.name == "postgresql"
        self.returning = bool(self.dialect.insert_returning and self.dialect.update_returning)
        self.record = record_class(spec.name)
        pks = spec.primary_key
        self.pk = pks[0] if len(pks) == 1 else None
        self.nullable = frozenset(c.name for c in spec.columns if c.nullable and not c.primary_key)
        self._plans: dict[tuple[Any, ...], Plan] = {}

    # -- plans -----------------------------------------------------------------------------

    def _plan(self, key: tuple[Any, ...], build: Any) -> Plan:
        plan = self._plans.get(key)
        if plan is None:
            binds = _Binds()
            stmt = build(binds)
            plan = compile_plan(stmt, self.dialect, binds.names)
            if len(self._plans) >= _MAX_PLANS:
                self._plans.clear()
            self._plans[key] = plan
        return plan

    def _shape(self, conds: list[Cond]) -> tuple[Any, ...]:
        parts: list[tuple[Any, ...]] = []
        for c in conds:
            if c.op in ("in", "not_in"):
                parts.append((c.column, c.op, 0 if not c.value else (-1 if self.pg else len(c.value))))
            elif c.op == "isnull":
                parts.append((c.column, "isnull", c.value))
            else:
                parts.append((c.column, c.op))
        return tuple(parts)

    def _values(self, conds: list[Cond], out: list[Any]) -> list[Any]:
        """Filter values in the order `_clauses` binds them (same skips, same expansion)."""
        for c in conds:
            op = c.op
            if op == "isnull":
                continue
            if op in ("in", "not_in"):
                if c.value:
                    if self.pg:
                        out.append(c.value)
                    else:
                        out.extend(c.value)
                continue
            pattern = _PATTERN.get(op)
            out.append(pattern(c.value) if pattern is not None else c.value)
        return out

    def _clauses(self, shape: tuple[Any, ...], bind: _Binds) -> list[Any]:
        out: list[Any] = []
        for part in shape:
            col = self.table.c[part[0]]
            op = part[1]
            if op == "isnull":
                out.append(col.is_(None) if part[2] else col.is_not(None))
            elif op in ("in", "not_in"):
                clause = self._membership(col, op, part[2], bind)
                if clause is not None:
                    out.append(clause)
            elif op == "eq":
                out.append(col == bind(col.type))
            elif op == "ne":  # like Python's != : rows where the column is NULL match too
                out.append(col.is_distinct_from(bind(col.type)))
            elif op in ("gt", "gte", "lt", "lte"):
                value = bind(col.type)
                compare = {"gt": col.__gt__, "gte": col.__ge__, "lt": col.__lt__, "lte": col.__le__}[op]
                out.append(compare(value))
            elif op == "like":
                out.append(col.like(bind(sa.String())))
            elif op == "ilike":
                out.append(col.ilike(bind(sa.String())))
            elif op == "icontains":
                out.append(col.ilike(bind(sa.String()), escape="/"))
            else:  # contains, startswith, endswith
                out.append(col.like(bind(sa.String()), escape="/"))
        return out

    def _membership(self, col: Any, op: str, size: int, bind: _Binds) -> Any:
        if size == 0:
            return sa.false() if op == "in" else None
        if size == -1:  # postgres: one array parameter, one plan whatever the list length
            array = bind(postgresql.ARRAY(col.type))
            clause = col == sa.any_(array) if op == "in" else col != sa.all_(array)
        else:
            items = [bind(col.type) for _ in range(size)]
            clause = col.in_(items) if op == "in" else col.not_in(items)
        if op == "not_in" and col.name in self.nullable:
            clause = sa.or_(clause, col.is_(None))
        return clause

    def _order(self, order: list[Order]) -> list[Any]:
        return [self.table.c[o.column].desc() if o.desc else self.table.c[o.column].asc() for o in order]

    def _after(self, order: list[Order], bind: _Binds) -> Any:
        """Keyset condition: rows strictly after the given values in this order."""
        cols = [self.table.c[o.column] for o in order]
        values = [bind(c.type) for c in cols]
        branches = []
        for i, o in enumerate(order):
            step = cols[i] < values[i] if o.desc else cols[i] > values[i]
            branches.append(sa.and_(*(cols[j] == values[j] for j in range(i)), step))
        return branches[0] if len(branches) == 1 else sa.or_(*branches)

    def _select_plan(self, conds: list[Cond], order: list[Order], limit: bool, offset: bool,
                     columns: Sequence[str] | None, after: bool) -> Plan:
        shape = self._shape(conds)
        cols = tuple(columns) if columns else None
        key = ("select", cols, shape, tuple(order), limit, offset, after)

        def build(bind: _Binds) -> Any:
            picked = [self.table.c[n] for n in cols] if cols else list(self.table.c)
            stmt = sa.select(*picked).where(*self._clauses(shape, bind))
            if after:
                stmt = stmt.where(self._after(order, bind))
            if order:
                stmt = stmt.order_by(*self._order(order))
            if limit:
                stmt = stmt.limit(bind(sa.Integer()))
            if offset:
                stmt = stmt.offset(bind(sa.Integer()))
            return stmt

        return self._plan(key, build)

    def _count_plan(self, conds: list[Cond]) -> Plan:
        shape = self._shape(conds)
        return self._plan(("count", shape), lambda bind: sa.select(sa.func.count()).select_from(self.table)
                          .where(*self._clauses(shape, bind)))

    def _get_plan(self) -> Plan:
        assert self.pk is not None  # callers check (crud._pk)
        pk = self.table.c[self.pk]
        return self._plan(("get",), lambda bind: sa.select(*self.table.c).where(pk == bind(pk.type)))

    def _records(self, plan: Plan, rows: Sequence[Sequence[Any]]) -> list[Record]:
        cols = plan.columns or []
        rec = self.record
        if plan.convert:
            return [rec(zip(cols, plan.row(r), strict=True)) for r in rows]
        return [rec(zip(cols, r, strict=True)) for r in rows]

    async def _fetch(self, op: str, plan: Plan, values: list[Any]) -> list[Record]:
        sql, args = plan.sql, plan.args(values)

        async def work(conn: DriverConnection) -> list[Any]:
            return await conn.fetch(sql, args)

        return self._records(plan, await self.db.run(op, work, self.name))

    # -- reads -----------------------------------------------------------------------------

    async def select(self, conds: list[Cond], *, order: list[Order], limit: int | None = None,
                     offset: int | None = None, columns: Sequence[str] | None = None,
                     after: Sequence[Any] | None = None) -> list[Record]:
        plan = self._select_plan(conds, order, limit is not None, offset is not None, columns,
                                 after is not None)
        values = self._values(conds, [])
        if after is not None:
            values.extend(after)
        if limit is not None:
            values.append(limit)
        if offset is not None:
            values.append(offset)
        return await self._fetch("find", plan, values)

    async def get(self, pk: Any) -> Record | None:
        rows = await self._fetch("get", self._get_plan(), [pk])
        return rows[0] if rows else None

    async def count(self, conds: list[Cond]) -> int:
        plan = self._count_plan(conds)
        sql, args = plan.sql, plan.args(self._values(conds, []))

        async def work(conn: DriverConnection) -> int:
            rows = await conn.fetch(sql, args)
            return int(rows[0][0])

        result: int = await self.db.run("count", work, self.name)
        return result

    async def exists(self, conds: list[Cond]) -> bool:
        shape = self._shape(conds)
        plan = self._plan(("exists", shape), lambda bind: sa.select(sa.literal_column("1"))
                          .select_from(self.table).where(*self._clauses(shape, bind)).limit(1))
        sql, args = plan.sql, plan.args(self._values(conds, []))

        async def work(conn: DriverConnection) -> bool:
            return bool(await conn.fetch(sql, args))

        found: bool = await self.db.run("exists", work, self.name)
        return found

    async def page(self, conds: list[Cond], *, order: list[Order], limit: int,
                   offset: int) -> tuple[list[Record], int]:
        select = self._select_plan(conds, order, True, True, None, False)
        count = self._count_plan(conds)
        filters = self._values(conds, [])
        select_sql, select_args = select.sql, select.args([*filters, limit, offset])
        count_sql, count_args = count.sql, count.args(filters)

        async def work(conn: DriverConnection) -> tuple[list[Any], int]:
            rows = await conn.fetch(select_sql, select_args)
            total = await conn.fetch(count_sql, count_args)
            return rows, int(total[0][0])

        rows, total = await self.db.run("paginate", work, self.name)
        return self._records(select, rows), total

    # -- writes ----------------------------------------------------------------------------

    def _insert_plan(self, names: tuple[str, ...], returning: bool) -> Plan:
        def build(bind: _Binds) -> Any:
            stmt = sa.insert(self.table).values({n: bind(self.table.c[n].type) for n in names})
            return stmt.returning(*self.table.c) if returning else stmt

        return self._plan(("insert", names, returning), build)

    async def insert(self, values: dict[str, Any]) -> Record:
        names = tuple(values)
        plan = self._insert_plan(names, self.returning)
        if self.returning:
            return (await self._fetch("create", plan, list(values.values())))[0]
        sql, args = plan.sql, plan.args(list(values.values()))
        get = self._get_plan() if self.pk is not None else None
        pk = self.pk

        async def work(conn: DriverConnection) -> list[Any]:
            new_id = await conn.insert(sql, args)
            if get is None:
                return []
            key = values.get(pk, new_id)  # type: ignore[arg-type]
            return await conn.fetch(get.sql, get.args([key]))

        rows = await self.db.run("create", work, self.name)
        if get is None:
            return self.record(values)
        return self._records(get, rows)[0]

    async def insert_many(self, rows: list[dict[str, Any]]) -> int:
        groups: dict[tuple[str, ...], list[list[Any]]] = {}
        for row in rows:
            groups.setdefault(tuple(row), []).append(list(row.values()))
        batches = []
        for names, group in groups.items():
            plan = self._insert_plan(names, False)
            batches.append((plan.sql, [plan.args(v) for v in group]))

        async def work(conn: DriverConnection) -> int:
            for sql, args in batches:
                await conn.execute_many(sql, args)
            return len(rows)

        if self.db.in_transaction():
            count: int = await self.db.run("create_many", work, self.name)
            return count
        async with self.db.transaction():  # all rows or none
            count = await self.db.run("create_many", work, self.name)
        return count

    async def update_one(self, pk: Any, values: dict[str, Any]) -> Record | None:
        assert self.pk is not None
        names = tuple(values)
        key_col = self.table.c[self.pk]
        returning = self.returning

        def build(bind: _Binds) -> Any:
            sets = {n: bind(self.table.c[n].type) for n in names}
            stmt = sa.update(self.table).values(sets).where(key_col == bind(key_col.type))
            return stmt.returning(*self.table.c) if returning else stmt

        plan = self._plan(("update_one", names, returning), build)
        args = plan.args([*values.values(), pk])
        if returning:
            rows = await self._fetch("update", plan, [*values.values(), pk])
            return rows[0] if rows else None
        get = self._get_plan()
        new_pk = values.get(self.pk, pk)

        async def work(conn: DriverConnection) -> list[Any]:
            if await conn.execute(plan.sql, args) == 0:
                return []
            return await conn.fetch(get.sql, get.args([new_pk]))

        found = await self.db.run("update", work, self.name)
        return self._records(get, found)[0] if found else None

    async def update_where(self, conds: list[Cond], values: dict[str, Any]) -> int:
        names = tuple(values)
        shape = self._shape(conds)

        def build(bind: _Binds) -> Any:
            sets = {n: bind(self.table.c[n].type) for n in names}
            return sa.update(self.table).values(sets).where(*self._clauses(shape, bind))

        plan = self._plan(("update_where", names, shape), build)
        return await self._execute("update", plan, self._values(conds, list(values.values())))

    async def delete_where(self, conds: list[Cond]) -> int:
        shape = self._shape(conds)
        plan = self._plan(("delete", shape),
                          lambda bind: sa.delete(self.table).where(*self._clauses(shape, bind)))
        return await self._execute("delete", plan, self._values(conds, []))

    async def _execute(self, op: str, plan: Plan, values: list[Any]) -> int:
        sql, args = plan.sql, plan.args(values)

        async def work(conn: DriverConnection) -> int:
            return await conn.execute(sql, args)

        count: int = await self.db.run(op, work, self.name)
        return count

    async def upsert(self, values: dict[str, Any], conflict: list[str], update: list[str]) -> Record:
        names = tuple(values)
        key = ("upsert", names, tuple(conflict), tuple(update))
        name = self.dialect.name
        returning = self.returning

        def build(bind: _Binds) -> Any:
            row = {n: bind(self.table.c[n].type) for n in names}
            if name == "mysql":
                ins = mysql.insert(self.table).values(row)
                sets = {c: ins.inserted[c] for c in (update or conflict[:1])}
                return ins.on_duplicate_key_update(sets)
            dialect_insert = postgresql.insert if name == "postgresql" else sqlite.insert
            stmt = dialect_insert(self.table).values(row)
            if update:
                stmt = stmt.on_conflict_do_update(index_elements=conflict,
                                                  set_={c: stmt.excluded[c] for c in update})
            else:
                stmt = stmt.on_conflict_do_nothing(index_elements=conflict)
            return stmt.returning(*self.table.c) if returning else stmt

        plan = self._plan(key, build)
        args = plan.args(list(values.values()))
        by_conflict = [Cond(c, "eq", values[c]) for c in conflict]
        find = self._select_plan(by_conflict, [], False, False, None, False)
        find_args = find.args(self._values(by_conflict, []))

        async def work(conn: DriverConnection) -> tuple[Plan, list[Any]]:
            if returning:
                rows = await conn.fetch(plan.sql, args)
                if rows:
                    return plan, rows
            else:
                await conn.execute(plan.sql, args)
            return find, await conn.fetch(find.sql, find_args)

        used, rows = await self.db.run("upsert", work, self.name)
        return self._records(used, rows)[0]
