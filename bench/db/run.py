"""Database benchmark over PostgreSQL: mega models vs raw asyncpg vs SQLAlchemy ORM (async).

Three operations, the same rows and the same SQL for every contender:

- get:      one row by primary key
- insert:   one row, returning it (id and defaults) — autocommit, no explicit transaction
- paginate: page 3 of 20 over 10,000 rows ordered by id, plus the total count

Contenders, all on uvloop with a 5-connection pool:

- mega:             `User.get(id)`, `User.create(...)`, `User.paginate(3, 20)`
- asyncpg:          `pool.acquire()` + `conn.fetch*` (prepared statements from asyncpg's statement
                    cache) on a pool whose release does no reset round trip, like mega's pool: the
                    driver's floor for the same work
- asyncpg_default:  the same on asyncpg's default pool, which runs a reset query on every release:
                    what plain asyncpg code usually costs
- orm:              `session.get`, `session.add` + `commit`, `select().limit().offset()` + `count()`
- asyncpg_conn:     one connection held for the whole run, statements `prepare()`d once, no pool:
                    the floor under everything (not a fair peer: nothing else can skip the pool)

Each round runs every operation for every contender (order rotated per round) for `--n`
iterations after a warm-up; the summary is the median over rounds of µs per operation, and the
ratios are computed within each round, then the median taken. Results: bench/results/db.json.

    .venv/bin/python bench/db/run.py                 # 5 rounds x 2000 iterations
    .venv/bin/python bench/db/run.py --quick         # 2 rounds x 300, writes db-quick.json
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import fcntl
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import sqlalchemy as sa
import uvloop
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from mega.adapters.sql import PostgresAdapter
from mega.data import fields as f
from mega.data.model import Model

ROOT = Path(__file__).resolve().parents[2]
TABLE = "bench_db_users"
ROWS = 10_000
POOL = 5
COLUMNS = "id, email, name, age, created_at"
SQL = {
    "get": f"SELECT {COLUMNS} FROM {TABLE} WHERE id = $1",
    "insert": f"INSERT INTO {TABLE} (email, name, age, created_at) VALUES ($1, $2, $3, $4) "
              f"RETURNING {COLUMNS}",
    "page": f"SELECT {COLUMNS} FROM {TABLE} ORDER BY id LIMIT $1 OFFSET $2",
    "count": f"SELECT count(*) FROM {TABLE}",
}
OPS = ("get", "insert", "paginate")
CONTENDERS = ("mega", "asyncpg", "asyncpg_default", "orm", "asyncpg_conn")
PEERS = ("asyncpg", "asyncpg_default", "orm", "asyncpg_conn")


class User(Model):
    id = f.id()
    email = f.string(255, unique=True)
    name = f.string(100)
    age = f.integer()
    created_at = f.datetime(auto_now_add=True)

    class Meta:
        table = TABLE


class Base(DeclarativeBase):
    pass


class OrmUser(Base):
    __tablename__ = TABLE
    id: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(255), unique=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    age: Mapped[int]
    created_at: Mapped[dt.datetime] = mapped_column(sa.DateTime(timezone=True))


class Counter:
    def __init__(self) -> None:
        self.n = 0

    def email(self) -> str:
        self.n += 1
        return f"bench-{os.getpid()}-{self.n}@example.com"


# -- contenders ------------------------------------------------------------------------------

async def _no_reset(_conn: Any) -> None:
    return None


class RawAsyncpg:
    """asyncpg's own API: `fetch*` run prepared statements from its per-connection statement cache
    (a statement `prepare()`d on a pool proxy dies when the proxy is released)."""

    def __init__(self, url: str, counter: Counter, *, default_pool: bool) -> None:
        self.url, self.counter, self.default_pool = url, counter, default_pool
        self.pool: Any = None

    async def start(self) -> None:
        extra = {} if self.default_pool else {"reset": _no_reset}
        self.pool = await asyncpg.create_pool(self.url, min_size=POOL, max_size=POOL, **extra)

    async def stop(self) -> None:
        await self.pool.close()

    async def get(self, pk: int) -> Any:
        async with self.pool.acquire() as conn:
            return await conn.fetchrow(SQL["get"], pk)

    async def insert(self) -> Any:
        args = (self.counter.email(), "bench", 42, dt.datetime.now(dt.UTC))
        async with self.pool.acquire() as conn:
            return await conn.fetchrow(SQL["insert"], *args)

    async def paginate(self) -> Any:
        async with self.pool.acquire() as conn:
            items = await conn.fetch(SQL["page"], 20, 40)
            total = await conn.fetchval(SQL["count"])
        return items, total


class HeldConnection:
    """The floor: one connection held for the whole run, statements prepared once, no pool."""

    def __init__(self, url: str, counter: Counter) -> None:
        self.url, self.counter = url, counter
        self.conn: Any = None
        self.stmts: dict[str, Any] = {}

    async def start(self) -> None:
        self.conn = await asyncpg.connect(self.url)
        self.stmts = {key: await self.conn.prepare(sql) for key, sql in SQL.items()}

    async def stop(self) -> None:
        await self.conn.close()

    async def get(self, pk: int) -> Any:
        return await self.stmts["get"].fetchrow(pk)

    async def insert(self) -> Any:
        return await self.stmts["insert"].fetchrow(self.counter.email(), "bench", 42, dt.datetime.now(dt.UTC))

    async def paginate(self) -> Any:
        return await self.stmts["page"].fetch(20, 40), await self.stmts["count"].fetchval()


class Mega:
    def __init__(self, url: str, counter: Counter) -> None:
        self.db = PostgresAdapter("bench", {"url": url, "pool_size": POOL, "max_overflow": 0})
        self.counter = counter

    async def start(self) -> None:
        await self.db.connect()
        User.bind(self.db)

    async def stop(self) -> None:
        await self.db.disconnect()

    async def get(self, pk: int) -> Any:
        return await User.get(pk)

    async def insert(self) -> Any:
        return await User.create(email=self.counter.email(), name="bench", age=42)

    async def paginate(self) -> Any:
        return await User.paginate(3, 20)


class Orm:
    def __init__(self, url: str, counter: Counter) -> None:
        self.engine = create_async_engine(url.replace("postgresql://", "postgresql+asyncpg://", 1),
                                          pool_size=POOL, max_overflow=0)
        self.session = async_sessionmaker(self.engine, expire_on_commit=False, class_=AsyncSession)
        self.counter = counter
        self.page = sa.select(OrmUser).order_by(OrmUser.id).limit(20).offset(40)
        self.count = sa.select(sa.func.count()).select_from(OrmUser)

    async def start(self) -> None:
        async with self.engine.connect():
            pass

    async def stop(self) -> None:
        await self.engine.dispose()

    async def get(self, pk: int) -> Any:
        async with self.session() as s:
            return await s.get(OrmUser, pk)

    async def insert(self) -> Any:
        user = OrmUser(email=self.counter.email(), name="bench", age=42, created_at=dt.datetime.now(dt.UTC))
        async with self.session() as s:
            s.add(user)
            await s.commit()
        return user

    async def paginate(self) -> Any:
        async with self.session() as s:
            items = (await s.scalars(self.page)).all()
            total = await s.scalar(self.count)
        return items, total


# -- measuring -------------------------------------------------------------------------------

async def timed(call: Callable[[int], Awaitable[Any]], n: int, warmup: int) -> float:
    for i in range(warmup):
        await call(i)
    started = time.perf_counter()
    for i in range(n):
        await call(i)
    return (time.perf_counter() - started) / n * 1e6


def operation(impl: Any, op: str) -> Callable[[int], Awaitable[Any]]:
    if op == "get":
        return lambda i: impl.get(1 + (i * 7919) % ROWS)
    if op == "insert":
        return lambda i: impl.insert()
    return lambda i: impl.paginate()


async def check_same_answers(impls: dict[str, Any]) -> None:
    """Every contender returns the same rows (a broken contender must not post a fast number)."""
    rows = {name: await impl.get(77) for name, impl in impls.items()}
    emails = {name: (r.email if hasattr(r, "email") else r["email"]) for name, r in rows.items()}
    assert len(set(emails.values())) == 1, emails
    pages = {name: await impl.paginate() for name, impl in impls.items()}
    for name, page in pages.items():
        items, total = (page["items"], page["total"]) if isinstance(page, dict) else page
        ids = [r.id if hasattr(r, "id") else r["id"] for r in items]
        assert ids == list(range(41, 61)) and total >= ROWS, (name, ids[:3], total)


async def seed(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(f"DROP TABLE IF EXISTS {TABLE}")
        await conn.execute(f"CREATE TABLE {TABLE} (id BIGSERIAL PRIMARY KEY, email VARCHAR(255) NOT NULL "
                           "UNIQUE, name VARCHAR(100) NOT NULL, age INTEGER NOT NULL, created_at TIMESTAMPTZ "
                           "NOT NULL)")
        now = dt.datetime.now(dt.UTC)
        await conn.copy_records_to_table(TABLE, columns=["email", "name", "age", "created_at"], records=[
            (f"user{i}@example.com", f"user {i}", i % 90, now) for i in range(ROWS)])
        await conn.execute(f"ANALYZE {TABLE}")
    finally:
        await conn.close()


async def trim(url: str) -> None:
    """Drop the rows inserted by a round so every round paginates and counts over 10,000 rows."""
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(f"DELETE FROM {TABLE} WHERE id > {ROWS}")
    finally:
        await conn.close()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    await seed(args.url)
    counter = Counter()
    impls: dict[str, Any] = {
        "mega": Mega(args.url, counter),
        "asyncpg": RawAsyncpg(args.url, counter, default_pool=False),
        "asyncpg_default": RawAsyncpg(args.url, counter, default_pool=True),
        "orm": Orm(args.url, counter),
        "asyncpg_conn": HeldConnection(args.url, counter),
    }
    for impl in impls.values():
        await impl.start()
    rounds: list[dict[str, dict[str, float]]] = []
    try:
        await check_same_answers(impls)
        for r in range(args.rounds):
            order = list(CONTENDERS[r % len(CONTENDERS):] + CONTENDERS[:r % len(CONTENDERS)])
            result: dict[str, dict[str, float]] = {op: {} for op in OPS}
            for op in OPS:
                for name in order:
                    result[op][name] = await timed(operation(impls[name], op), args.n, args.warmup)
            rounds.append(result)
            await trim(args.url)
            print(f"round {r + 1}/{args.rounds}: " + "  ".join(
                f"{op} " + " ".join(f"{n}={result[op][n]:.0f}" for n in CONTENDERS) for op in OPS),
                  flush=True)
    finally:
        for impl in impls.values():
            await impl.stop()
        conn = await asyncpg.connect(args.url)
        await conn.execute(f"DROP TABLE IF EXISTS {TABLE}")
        await conn.close()
    return summarise(rounds)


def summarise(rounds: list[dict[str, dict[str, float]]]) -> dict[str, Any]:
    summary = {op: {name: round(statistics.median(r[op][name] for r in rounds), 1) for name in CONTENDERS}
               for op in OPS}
    ratios: dict[str, dict[str, Any]] = {}
    for op in OPS:
        ratios[op] = {}
        for peer in PEERS:
            per_round = [r[op]["mega"] / r[op][peer] for r in rounds]
            ratios[op][f"mega_over_{peer}"] = {"median": round(statistics.median(per_round), 3),
                                               "rounds": [round(x, 3) for x in per_round]}
    return {"summary_us_per_op": summary, "ratios": ratios, "rounds": rounds}


def meta(args: argparse.Namespace) -> dict[str, Any]:
    def version(name: str) -> str:
        from importlib.metadata import version as v

        return v(name)

    cpu = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip()

    async def server() -> str:
        conn = await asyncpg.connect(args.url)
        try:
            return str(await conn.fetchval("SHOW server_version"))
        finally:
            await conn.close()

    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "python": platform.python_version(),
        "cpu": cpu, "cores": os.cpu_count(), "commit": commit, "postgres": asyncio.run(server()),
        "packages": {p: version(p) for p in ("sqlalchemy", "asyncpg", "uvloop", "mega")},
        "n": args.n, "warmup": args.warmup, "rounds": args.rounds, "rows": ROWS, "pool_size": POOL,
        "sql": SQL, "loop": "uvloop",
    }


@contextlib.contextmanager
def bench_lock() -> Iterator[None]:
    """The machine-wide benchmark lock (bench/README.md, "Shared machine")."""
    with open("/tmp/mega-bench.lock", "w") as fh:
        print("waiting for /tmp/mega-bench.lock ...", flush=True)
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default=os.environ.get("MEGA_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test"))
    parser.add_argument("--n", type=int, default=2000, help="iterations per contender, operation and round")
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="2 rounds x 300; writes db-quick.json")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    if args.quick:
        args.n, args.rounds, args.warmup = 300, 2, 50
    out = args.out or ROOT / "bench" / "results" / ("db-quick.json" if args.quick else "db.json")
    info = meta(args)
    with bench_lock():
        results = uvloop.run(run(args))
    print(f"\nµs per operation (median of {args.rounds} rounds, {args.n} each):")
    print(f"{'op':10}" + "".join(f"{n:>17}" for n in CONTENDERS))
    for op in OPS:
        print(f"{op:10}" + "".join(f"{results['summary_us_per_op'][op][n]:>17.1f}" for n in CONTENDERS))
    print("\nmega ÷ peer (below 1: mega is faster):")
    for op in OPS:
        print(f"{op:10}" + "".join(f"  ÷{p} {results['ratios'][op]['mega_over_' + p]['median']:.2f}"
                                   for p in PEERS))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"meta": info, **results}, indent=2) + "\n")
    print(f"\nwrote {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")


if __name__ == "__main__":
    sys.exit(main())
