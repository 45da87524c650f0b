"""`SqlAdapter`: the "db" family on SQLAlchemy 2 (statements, types, `native` engine) and the
raw async drivers (execution).

    rows = await db.query("SELECT * FROM users WHERE email = :email", {"email": email})
    n = await db.execute(sa.update(users).where(users.c.id == 1).values(name="x"))
    async with db.transaction():          # nested blocks are savepoints
        await User.create(email=...)      # runs on the block's connection

Raw SQL takes bound parameters only (`:name` placeholders and a dict): there is no string
formatting helper, on purpose. `native` is the SQLAlchemy `AsyncEngine` (DDL, migrations,
anything this class does not wrap); it has its own small pool and opens connections lazily.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from contextvars import ContextVar, Token
from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from mega._suggest import close_match
from mega.adapters.base import STATEMENT, Adapter
from mega.adapters.sql._compiler import Plan, statement_args, text_plan
from mega.adapters.sql._connection import DriverConnection
from mega.adapters.sql._describe import describe, store_kind
from mega.adapters.sql._errors import map_error
from mega.adapters.sql._pinned import PinnedTransaction, RecordingConnection
from mega.adapters.sql._pool import Pool
from mega.adapters.sql._store import SqlStore
from mega.adapters.sql._transaction import Transaction
from mega.data.records import Record
from mega.errors import MegaError

if TYPE_CHECKING:
    from mega.data.store import ModelStore

T = TypeVar("T")
log = logging.getLogger("mega.db")

_COMMON_OPTIONS = frozenset({
    "driver", "url", "host", "port", "user", "password", "database", "pool_size", "max_overflow",
    "pool_timeout", "pool_recycle", "connect_args",
})
_MAX_TEXT_PLANS = 1024


def json_dumps(value: Any) -> str:
    return orjson.dumps(value, default=_json_default).decode()


def _json_default(value: Any) -> Any:
    import decimal

    if isinstance(value, decimal.Decimal):
        return str(value)
    raise TypeError(f"Type is not JSON serializable: {type(value).__name__}")


class SqlAdapter(Adapter):
    family: ClassVar[str] = "db"
    dialect_name: ClassVar[str] = ""  # SQLAlchemy's name: "sqlite" | "postgresql" | "mysql"
    options_allowed: ClassVar[frozenset[str]] = _COMMON_OPTIONS
    pool_defaults: ClassVar[dict[str, Any]] = {"pool_size": 5, "max_overflow": 10, "pool_timeout": 30.0,
                                                "pool_recycle": None}
    connect_on_use = False  # set by the manager on the embedded database: connected by its first use

    def __init__(self, alias: str, options: dict[str, Any]) -> None:
        super().__init__(alias, options)
        self._check_options()
        self._pool: Pool[DriverConnection] | None = None
        self._tx: ContextVar[Transaction | None] = ContextVar(f"mega.db.{alias}.tx", default=None)
        self._pinned: tuple[PinnedTransaction, ContextVar[Transaction | None]] | None = None
        self._stores: dict[type, ModelStore] = {}
        self._text_plans: dict[str, tuple[Plan, list[str]]] = {}
        self._first_use: asyncio.Lock | None = None

    # -- subclass hooks ----------------------------------------------------------------------

    def _sa_url(self) -> sa.engine.URL:
        """The SQLAlchemy URL of the `native` engine."""
        raise NotImplementedError

    def _engine_options(self) -> dict[str, Any]:
        return {}

    async def _open(self) -> DriverConnection:
        """A new raw connection for the pool (session settings applied)."""
        raise NotImplementedError

    def _prepare_engine(self, engine: AsyncEngine) -> None:
        """Hook: set up the native engine (event listeners) before its first connection."""

    # -- options -----------------------------------------------------------------------------

    def _check_options(self) -> None:
        for key in self.options:
            if key not in self.options_allowed:
                close = close_match(key, sorted(self.options_allowed))
                raise MegaError("db.invalid_option", f"unknown option '{key}' for db '{self.alias}' "
                                f"({self.driver})" + (f"; did you mean '{close}'?" if close else ""),
                                details={"alias": self.alias, "option": key,
                                         "options": sorted(self.options_allowed)},
                                hint=f"options: {', '.join(sorted(self.options_allowed))}")
        for key in ("pool_size", "max_overflow"):
            value = self.options.get(key)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
                raise MegaError("db.invalid_option", f"{key} of db '{self.alias}' must be an integer >= 0, "
                                f"got {value!r}", details={"alias": self.alias, "option": key})
        for key in ("pool_timeout", "pool_recycle"):
            value = self.options.get(key)
            if value is not None and (not isinstance(value, int | float) or isinstance(value, bool)):
                raise MegaError("db.invalid_option", f"{key} of db '{self.alias}' must be a number of "
                                f"seconds, got {value!r}", details={"alias": self.alias, "option": key})

    def pool_option(self, key: str) -> Any:
        value = self.options.get(key)
        return self.pool_defaults[key] if value is None else value

    def target(self) -> str:
        return super().target() if "url" in self.options or "host" in self.options else self._default_target()

    def _default_target(self) -> str:
        return super().target()

    # -- lifecycle ---------------------------------------------------------------------------

    async def _connect(self) -> AsyncEngine:
        pool: Pool[DriverConnection] = Pool(
            self._open, size=self.pool_option("pool_size"), max_overflow=self.pool_option("max_overflow"),
            timeout=float(self.pool_option("pool_timeout")), recycle=self.pool_option("pool_recycle"),
            label=f"db '{self.alias}'")
        engine: AsyncEngine | None = None
        try:
            await pool.release(await pool.acquire())  # fail at boot, not on the first request
            engine = create_async_engine(self._sa_url(), json_serializer=json_dumps,
                                         json_deserializer=orjson.loads, **self._engine_options())
            self._prepare_engine(engine)
            async with engine.connect():  # initialises the dialect (server version, features)
                pass
            await engine.dispose()
        except BaseException:
            await pool.close()
            if engine is not None:
                await engine.dispose()
            raise
        self._pool = pool
        return engine

    async def _connect_on_use(self) -> None:
        """Connect a database left unconnected at boot (the embedded default) on its first use."""
        if self._pool is not None or not self.connect_on_use:
            return
        lock = self._first_use
        if lock is None:
            lock = self._first_use = asyncio.Lock()
        async with lock:
            await self.connect()

    async def _disconnect(self, native: Any) -> None:
        await self.end_test_transaction()  # after the app's shutdown hooks: their writes go too
        pool, self._pool = self._pool, None
        self._stores.clear()
        if pool is not None:
            await pool.close()
        await native.dispose()

    @property
    def dialect(self) -> str:
        """"sqlite", "postgresql" or "mysql" (SQLAlchemy's dialect names)."""
        return self.dialect_name

    @property
    def sa_dialect(self) -> sa.Dialect:
        """The SQLAlchemy dialect statements are compiled for."""
        engine: AsyncEngine = self.native
        return engine.dialect

    async def health(self) -> bool:
        await self.query_one("SELECT 1")
        return True

    def stats(self) -> dict[str, Any]:
        out = super().stats()
        out["dialect"] = self.dialect_name
        if self._pool is not None:
            out["pool"] = self._pool.stats()
        return out

    # -- running work on a connection ----------------------------------------------------------

    async def run(self, op: str, work: Callable[[DriverConnection], Awaitable[T]],
                  table: str | None = None, *, sql: str | None = None) -> T:
        """Run `work(conn)` on the transaction's connection or a pooled one, instrumented, with
        driver errors mapped (the single place they are). With an observer attached, the statement's
        kind and table (from `sql`, else `op` on `table`) are in `STATEMENT` during the call."""
        if self._pool is None:
            await self._connect_on_use()
        if self.observe is None:
            result: T = await self.instrumented(op, partial(self._call, work, table))
            return result
        token = STATEMENT.set(describe(sql) if sql is not None else (store_kind(op), table))
        try:
            result = await self.instrumented(op, partial(self._call, work, table))
        finally:
            STATEMENT.reset(token)
        return result

    async def _call(self, work: Callable[[DriverConnection], Awaitable[T]], table: str | None) -> T:
        tx = self._tx.get()
        if tx is not None:
            try:
                return await work(tx.connection())
            except MegaError:
                raise
            except Exception as exc:
                raise map_error(exc, dialect=self.dialect_name, table=table) from exc
        pool = self._live_pool()
        conn = await self._acquire(pool)
        try:
            result = await work(conn)
        except MegaError:
            await pool.release(conn)
            raise
        except Exception as exc:
            await pool.release(conn)
            raise map_error(exc, dialect=self.dialect_name, table=table) from exc
        except BaseException:  # cancelled mid-conversation: the connection's state is unknown
            await pool.discard(conn)
            raise
        await pool.release(conn)
        return result

    def _live_pool(self) -> Pool[DriverConnection]:
        if self._pool is None:
            raise MegaError("adapter.not_connected", f"db '{self.alias}' is not connected",
                            hint="use it after boot (the adapters stage connects every declared alias)")
        return self._pool

    async def _acquire(self, pool: Pool[DriverConnection]) -> DriverConnection:
        try:
            return await pool.acquire()
        except MegaError:
            raise
        except Exception as exc:
            raise map_error(exc, dialect=self.dialect_name, connecting=True) from exc

    # -- transactions (used by Transaction) ------------------------------------------------

    def transaction(self) -> Transaction:
        """`async with db.transaction() as tx:` — commit at the end, rollback on an exception."""
        return Transaction(self)

    def current_transaction(self) -> Transaction | None:
        return self._tx.get()

    def in_transaction(self) -> bool:
        return self._tx.get() is not None

    def set_transaction(self, tx: Transaction) -> Token[Transaction | None]:
        return self._tx.set(tx)

    def reset_transaction(self, token: Token[Transaction | None]) -> None:
        self._tx.reset(token)

    async def begin_connection(self) -> DriverConnection:
        if self._pool is None:
            await self._connect_on_use()
        pool = self._live_pool()
        conn = await self._acquire(pool)
        try:
            await self.instrumented("begin", conn.begin)
        except BaseException as exc:
            await pool.discard(conn)
            if isinstance(exc, Exception) and not isinstance(exc, MegaError):
                raise map_error(exc, dialect=self.dialect_name) from exc
            raise
        return conn

    async def end_connection(self, conn: DriverConnection, *, commit: bool) -> None:
        pool = self._pool
        try:
            if commit:
                await self.instrumented("commit", conn.commit)
            else:
                await self.instrumented("rollback", conn.rollback)
        except BaseException as exc:
            if pool is not None:
                await pool.discard(conn)
            if not commit:  # an exception is already on its way out: keep it, log this one
                log.warning("rollback on db '%s' failed: %s: %s", self.alias, type(exc).__name__, exc)
                if isinstance(exc, Exception):
                    return
            if isinstance(exc, Exception) and not isinstance(exc, MegaError):
                raise map_error(exc, dialect=self.dialect_name) from exc
            raise
        if pool is not None:
            await pool.release(conn)

    async def on_connection(self, op: str, conn: DriverConnection, call: Coroutine[Any, Any, None],
                            *, quiet: bool = False) -> None:
        """Await a statement on a transaction's connection (savepoints), errors mapped."""
        try:
            await self.instrumented(op, lambda: call)
        except Exception as exc:
            if quiet:
                log.warning("%s on db '%s' failed: %s: %s", op, self.alias, type(exc).__name__, exc)
                return
            if isinstance(exc, MegaError):
                raise
            raise map_error(exc, dialect=self.dialect_name) from exc

    # -- tests (mega's pytest plugin) ----------------------------------------------------------

    async def begin_test_transaction(self) -> None:
        """Until `end_test_transaction()` (or disconnect): every statement, from any task, runs on one
        connection inside one transaction, and `transaction()` blocks become savepoints in it."""
        if self._pinned is not None:
            raise MegaError("db.transaction_open", f"db '{self.alias}' already runs in a test transaction",
                            hint="end it with end_test_transaction() first")
        pinned = PinnedTransaction(self, await self.begin_connection())
        # Swapping the ContextVar for one whose default is the pinned transaction reaches every task
        # and context, and costs the normal path nothing.
        self._pinned = (pinned, self._tx)
        self._tx = ContextVar(self._tx.name, default=pinned)

    async def end_test_transaction(self) -> None:
        """Roll back the test transaction (nothing when there is none)."""
        if self._pinned is None:
            return
        pinned, self._tx = self._pinned
        self._pinned = None
        await self.end_connection(pinned.raw_connection, commit=False)

    def record_writes(self) -> set[str]:
        """From now on, the names of the tables this database's statements write ('*': one whose
        table could not be read) are added to the returned set."""
        written: set[str] = set()
        self._live_pool().wrap(lambda conn: RecordingConnection(conn, written))
        return written

    # -- raw SQL -------------------------------------------------------------------------------

    def _statement(self, sql: Any, params: Mapping[str, Any] | None) -> tuple[str, list[Any], Plan]:
        if params is not None and not isinstance(params, Mapping):
            raise MegaError("db.invalid_query", f"params must be a dict of named values, got "
                            f"{type(params).__name__}",
                            hint="write :name in the SQL and pass {'name': value}")
        if isinstance(sql, str):
            cached = self._text_plans.get(sql)
            if cached is None:
                cached = text_plan(sql, params or {}, self.sa_dialect)
                if len(self._text_plans) >= _MAX_TEXT_PLANS:
                    self._text_plans.clear()
                self._text_plans[sql] = cached
            plan, names = cached
            given = params or {}
            if len(given) != len(names) or any(n not in given for n in names):
                text_plan(sql, given, self.sa_dialect)  # raises db.invalid_query naming the mismatch
            return plan.sql, plan.args([given[n] for n in names]), plan
        if isinstance(sql, sa.ClauseElement):
            return statement_args(sql, params, self.sa_dialect)
        raise MegaError("db.invalid_query", f"expected SQL text or a SQLAlchemy statement, got "
                        f"{type(sql).__name__}")

    async def query(self, sql: str | sa.ClauseElement,
                    params: Mapping[str, Any] | None = None) -> list[Record]:
        """Rows as Records. Typed statements (select(table), text().columns()) convert values."""
        if self._pool is None:
            await self._connect_on_use()
        text, args, plan = self._statement(sql, params)

        async def work(conn: DriverConnection) -> tuple[list[str], list[Any]]:
            return await conn.fetch_named(text, args)

        names, rows = await self.run("query", work, sql=text)
        if plan.columns is not None and len(plan.columns) == len(names):
            names = plan.columns
            if plan.convert:
                rows = [plan.row(r) for r in rows]
        return [Record(zip(names, row, strict=True)) for row in rows]

    async def query_one(self, sql: str | sa.ClauseElement,
                        params: Mapping[str, Any] | None = None) -> Record | None:
        rows = await self.query(sql, params)
        return rows[0] if rows else None

    async def execute(self, sql: str | sa.ClauseElement, params: Mapping[str, Any] | None = None) -> int:
        """Run a statement; returns the number of rows it matched."""
        if self._pool is None:
            await self._connect_on_use()
        text, args, _ = self._statement(sql, params)

        async def work(conn: DriverConnection) -> int:
            return await conn.execute(text, args)

        count: int = await self.run("execute", work, sql=text)
        return count

    # -- models ------------------------------------------------------------------------------

    def store(self, model: type) -> ModelStore:
        """The CRUD store of `model` on this database (compiled statements cached in it)."""
        store = self._stores.get(model)
        if store is None:
            store = self._stores[model] = SqlStore(self, model.__spec__)  # type: ignore[attr-defined]
        return store
