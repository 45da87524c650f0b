"""Boot stays light: a project that declares no database, cache server or bus imports none of their
drivers to boot, list its routes or answer its first request. The embedded database is imported and
opened by its first use. Checked in a fresh interpreter (sys.modules of this one holds everything)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from mega.adapters._manager import AdapterManager

DRIVERS = {"sqlalchemy", "alembic", "redis", "nats", "asyncpg", "aiomysql", "aiosqlite"}
# What features import on first use (multiprocessing: CPU pools): a new project uses none of them to boot
# and answer.
FEATURE_LIBRARIES = {"tenacity", "pydantic", "fastjsonschema", "jsonschema", "jinja2", "prometheus_client",
                     "opentelemetry", "argon2", "cryptography", "babel", "cronsim", "multiprocessing"}

PROBE = textwrap.dedent("""
    import asyncio, json, sys

    from mega.boot.stages import boot

    def drivers():
        return sorted({m.split(".")[0] for m in sys.modules} & set(sys.argv[1].split(",")))

    async def call(rt, path):
        sent = []

        async def receive():
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message):
            sent.append(message)

        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
                 "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
                 "root_path": "", "headers": [(b"host", b"localhost")], "client": ("127.0.0.1", 1),
                 "server": ("127.0.0.1", 80)}
        await rt.host(scope, receive, send)
        return sent[0]["status"]

    async def main():
        out = {}
        rt = await boot(".", overrides={"logger.level": "warning"})
        try:
            out["routes"] = sum(len(app.describe_routes()) for app in rt.apps.values())
            out["status"] = await call(rt, "/")
            out["after_first_request"] = drivers()
            out["db_file_before_use"] = (rt.root / "var" / "mega.sqlite3").exists()
            out["select"] = dict(await rt.adapters.db().query_one("SELECT 1 AS one"))
            out["after_db_use"] = drivers()
            out["db_file_after_use"] = (rt.root / "var" / "mega.sqlite3").exists()
        finally:
            await rt.close()
        print(json.dumps(out))

    asyncio.run(main())
""")


@pytest.fixture(scope="module")
def new_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = tmp_path_factory.mktemp("boot-imports")
    made = subprocess.run([sys.executable, "-m", "mega", "new", "demo"], cwd=where, capture_output=True,
                          text=True, timeout=120)
    assert made.returncode == 0, made.stderr
    return where / "demo"


def test_a_project_without_a_database_boots_and_answers_without_any_driver(new_project: Path) -> None:
    probe = subprocess.run([sys.executable, "-c", PROBE, ",".join(sorted(DRIVERS))], cwd=new_project,
                           capture_output=True, text=True, timeout=120)
    assert probe.returncode == 0, probe.stderr
    out = json.loads(probe.stdout.strip().splitlines()[-1])
    assert out["routes"] >= 1 and out["status"] == 200
    assert out["after_first_request"] == []
    assert out["db_file_before_use"] is False
    # the embedded database is still there: its first use imports its driver and opens the file
    assert out["select"] == {"one": 1}
    assert {"sqlalchemy", "aiosqlite"} <= set(out["after_db_use"])
    assert out["db_file_after_use"] is True


def test_a_new_project_boots_and_answers_without_the_libraries_of_features_it_does_not_use(
    new_project: Path,
) -> None:
    probe = subprocess.run([sys.executable, "-c", PROBE, ",".join(sorted(FEATURE_LIBRARIES))],
                           cwd=new_project, capture_output=True, text=True, timeout=120)
    assert probe.returncode == 0, probe.stderr
    out = json.loads(probe.stdout.strip().splitlines()[-1])
    assert out["status"] == 200
    assert out["after_first_request"] == []


async def test_the_deferred_embedded_database_connects_once_on_concurrent_first_use(tmp_path: Path) -> None:
    import asyncio

    manager = AdapterManager({}, root=tmp_path, defer_embedded_db=True)
    await manager.connect_all()
    assert not (tmp_path / "var" / "mega.sqlite3").exists()
    assert manager.aliases("db") == ["default"]
    db = manager.db()
    assert db.driver == "sqlite" and not db.connected
    opened = []
    connect = db._connect

    async def counting() -> object:
        opened.append(1)
        return await connect()

    db._connect = counting  # type: ignore[method-assign]
    try:
        rows = await asyncio.gather(*(db.query_one("SELECT :n AS n", {"n": i}) for i in range(5)))
        assert [dict(r) for r in rows if r is not None] == [{"n": i} for i in range(5)]
        assert db.connected and (tmp_path / "var" / "mega.sqlite3").exists()
        assert opened == [1]  # five first uses at once, one connect
        assert manager.all() == [db, manager.cache()]
        assert manager.stats()[0]["pool"]["size"] >= 1
    finally:
        await manager.disconnect_all()
    assert not db.connected


async def test_readiness_opens_the_deferred_database(tmp_path: Path) -> None:
    manager = AdapterManager({}, root=tmp_path, defer_embedded_db=True)
    await manager.connect_all()
    placeholder = manager.all()[0]
    try:
        assert placeholder.stats()["connected"] is False
        assert await placeholder.health() is True  # what the boot registered as "db:default"
        assert placeholder.connected and manager.db().connected
    finally:
        await manager.disconnect_all()
    assert not placeholder.connected
