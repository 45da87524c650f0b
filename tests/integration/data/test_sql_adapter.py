"""The SQL adapters themselves: options, connecting, the pool, lost connections, cancellation."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from mega.adapters import registry
from mega.adapters.base import AdapterError
from mega.adapters.sql import MariaAdapter, PostgresAdapter, SqlAdapter, SqliteAdapter
from mega.errors import MegaError
from tests.integration.adapters._services import TcpProxy
from tests.integration.data.conftest import DIALECTS, MARIA_URL, PG_URL, make_adapter

SLEEP = {"sqlite": None, "postgresql": "SELECT pg_sleep(5)", "mysql": "SELECT SLEEP(5)"}


def test_registry_resolves_the_built_in_drivers() -> None:
    assert registry.driver_class("db", "sqlite") is SqliteAdapter
    assert registry.driver_class("db", "postgres") is PostgresAdapter
    assert registry.driver_class("db", "maria") is MariaAdapter


@pytest.mark.parametrize("cls, options, message", [
    (PostgresAdapter, {"url": "postgresql://h/db", "pool_szie": 3}, "did you mean 'pool_size'"),
    (PostgresAdapter, {"url": "mysql://h/db"}, "does not fit driver 'postgres'"),
    (MariaAdapter, {"url": "postgres://h/db"}, "does not fit driver 'maria'"),
    (PostgresAdapter, {"host": "h", "port": "5432"}, "port must be an integer"),
    (PostgresAdapter, {"url": "postgresql://h/db", "pool_size": -1}, "pool_size"),
    (PostgresAdapter, {"url": "postgresql://h/db", "pool_timeout": "soon"}, "pool_timeout"),
    (SqliteAdapter, {}, "give `path`"),
    (SqliteAdapter, {"url": "postgresql://h/db"}, "does not fit driver 'sqlite'"),
    (SqliteAdapter, {"path": "x.db", "host": "h"}, "unknown option 'host'"),
])
def test_bad_options_fail_at_construction(cls: type[SqlAdapter], options: dict[str, Any],
                                          message: str) -> None:
    with pytest.raises(MegaError, match=message) as info:
        cls("main", options)
    assert info.value.code == "db.invalid_option"


def test_targets_never_show_passwords() -> None:
    db = PostgresAdapter("main", {"url": "postgresql://u:secret@db.example:5433/app"})
    assert "secret" not in db.target() and "db.example:5433" in db.target()
    assert repr(SqliteAdapter("x", {"path": "var/a.db"})).endswith("var/a.db>")


async def test_sqlite_creates_parent_folders_and_shares_memory(tmp_path: Path) -> None:
    db = SqliteAdapter("main", {"path": str(tmp_path / "deep" / "er" / "app.db")})
    await db.connect()
    try:
        assert (tmp_path / "deep" / "er" / "app.db").exists()
        assert (await db.query_one("PRAGMA foreign_keys")) == {"foreign_keys": 1}
        assert (await db.query_one("PRAGMA journal_mode")) == {"journal_mode": "wal"}
    finally:
        await db.disconnect()
    mem = SqliteAdapter("mem", {"url": "sqlite:///:memory:"})
    await mem.connect()
    try:
        await mem.execute("CREATE TABLE t (x INTEGER)")
        await mem.execute("INSERT INTO t VALUES (:x)", {"x": 1})
        async with mem.native.connect() as conn:  # the native engine sees the same database
            assert (await conn.exec_driver_sql("SELECT x FROM t")).scalar() == 1
    finally:
        await mem.disconnect()


async def test_adapters_opening_one_new_sqlite_file_at_once_all_connect(tmp_path: Path) -> None:
    # A primary and a replica on one file connect together at boot. Two switches to WAL that meet can
    # deadlock on the lock upgrade, and SQLite answers "database is locked" at once, without its busy
    # handler; busy cores make the meeting likely (before the retry about one round in thirteen failed).
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    try:
        for i in range(60):
            path = tmp_path / f"round{i}" / "app.db"
            adapters = [SqliteAdapter(f"db{k}", {"path": str(path)}) for k in range(3)]
            try:
                await asyncio.gather(*(a.connect() for a in adapters))
                assert (await adapters[2].query_one("PRAGMA journal_mode")) == {"journal_mode": "wal"}
            finally:
                for adapter in adapters:
                    await adapter.disconnect()
    finally:
        for burner in burners:
            burner.kill()
            burner.wait()


async def test_sqlite_relative_paths_start_at_the_project_root(tmp_path: Path) -> None:
    db = SqliteAdapter("main", {"path": "var/rel.db"})
    db.root = tmp_path
    await db.connect()
    await db.disconnect()
    assert (tmp_path / "var" / "rel.db").exists()


@pytest.mark.parametrize("kind", ["postgres", "maria"])
async def test_connect_failure_names_the_target_not_the_password(kind: str) -> None:
    url = make_url(PG_URL if kind == "postgres" else MARIA_URL).set(password="hunter2", port=1)
    cls = PostgresAdapter if kind == "postgres" else MariaAdapter
    db = cls("main", {"url": url.render_as_string(hide_password=False)})
    with pytest.raises(AdapterError) as info:
        await db.connect()
    assert info.value.code == "adapter.connect_failed" and "hunter2" not in str(info.value)
    assert not db.connected
    with pytest.raises(MegaError) as info:
        await db.query("SELECT 1")
    assert info.value.code == "adapter.not_connected"


@pytest.mark.parametrize("kind", DIALECTS)
async def test_an_exhausted_pool_is_503_after_pool_timeout(kind: str, tmp_path: Path) -> None:
    db = make_adapter(kind, tmp_path, pool_size=1, max_overflow=0, pool_timeout=0.2)
    await db.connect()
    try:
        held, done = asyncio.Event(), asyncio.Event()

        async def hold() -> None:
            async with db.transaction():  # holds the only connection
                held.set()
                await done.wait()

        holder = asyncio.create_task(hold())
        await held.wait()
        with pytest.raises(MegaError) as info:
            await asyncio.wait_for(db.health(), 5)
        done.set()
        await holder
        assert (info.value.code, info.value.status) == ("db.unavailable", 503)
        assert "no free connection" in info.value.message
        assert await db.health() is True
        assert db.stats()["pool"] == {"open": 1, "idle": 1, "in_use": 0, "waiting": 0, "size": 1, "limit": 1}
    finally:
        await db.disconnect()


@pytest.mark.parametrize("kind", ["postgres", "maria"])
async def test_a_lost_server_is_503_and_the_pool_recovers(kind: str, tmp_path: Path) -> None:
    probe = make_adapter(kind, tmp_path)  # skips when the server is down
    url = make_url(PG_URL if kind == "postgres" else MARIA_URL)
    port = url.port or (5432 if kind == "postgres" else 3306)
    proxy = await TcpProxy(url.host or "127.0.0.1", port).start()
    cls = type(probe)
    db = cls("main", {"url": url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False),
                      "pool_size": 2})
    await db.connect()
    try:
        assert await db.health() is True
        await proxy.cut()
        with pytest.raises(MegaError) as info:
            await db.query("SELECT 1")
        assert (info.value.code, info.value.status) == ("db.unavailable", 503)
        await proxy.resume()
        for _ in range(3):  # broken connections are dropped, new ones opened
            try:
                assert await db.health() is True
                break
            except MegaError as exc:
                assert exc.code == "db.unavailable"
        assert await db.health() is True
    finally:
        await db.disconnect()
        await proxy.cut()


@pytest.mark.parametrize("kind", ["postgres", "maria"])
async def test_a_cancelled_query_does_not_poison_the_pool(kind: str, tmp_path: Path) -> None:
    db = make_adapter(kind, tmp_path, pool_size=1, max_overflow=0)
    await db.connect()
    try:
        task = asyncio.create_task(db.query(SLEEP[db.dialect] or ""))
        await asyncio.sleep(0.3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert (await db.query_one("SELECT 2 AS n")) == {"n": 2}
    finally:
        await db.disconnect()


@pytest.mark.parametrize("kind", DIALECTS)
async def test_rollback_after_cancel_inside_a_transaction(kind: str, tmp_path: Path) -> None:
    db = make_adapter(kind, tmp_path, pool_size=1, max_overflow=0)
    await db.connect()
    table = f"cancel_{kind}_{id(db) % 100000}"
    await db.execute(f"CREATE TABLE {table} (x INTEGER)")
    try:
        started = asyncio.Event()

        async def work() -> None:
            async with db.transaction():
                await db.execute(f"INSERT INTO {table} (x) VALUES (1)")
                started.set()
                await asyncio.sleep(10)

        task = asyncio.create_task(work())
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert (await db.query_one(f"SELECT count(*) AS n FROM {table}")) == {"n": 0}
    finally:
        await db.execute(f"DROP TABLE {table}")
        await db.disconnect()
