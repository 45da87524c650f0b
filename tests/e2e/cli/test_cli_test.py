"""`mega test` as a user runs it: on the project's test databases, each test in a transaction rolled
back at its end, the development database untouched; a project that cannot boot is said once."""

from __future__ import annotations

import asyncio
import os
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from mega.adapters import registry
from mega.testing import write_project
from tests import services

from .conftest import environ, mega

pytestmark = pytest.mark.integration

PYTEST_INI = """
    [pytest]
    testpaths = tests
    pythonpath = .
    asyncio_mode = auto
    asyncio_default_fixture_loop_scope = function
"""

MODEL = """
    from mega import Model, fields


    class Item(Model):
        id = fields.id()
        name = fields.string(100, unique=True)
"""

ROUTES = """
    from pydantic import BaseModel

    from apps.main.models.item import Item


    class NewItem(BaseModel):
        name: str


    async def create(req, reply, ctx):
        reply.status(201)
        return await Item.create(name=req.data.name)


    async def count(req, reply, ctx):
        row = await ctx.db().query_one("SELECT COUNT(*) AS n FROM items")
        return {"items": await Item.count(), "raw": row["n"]}


    async def batch(req, reply, ctx):
        async with ctx.db().transaction():
            await Item.create(name="batch 1")
            async with ctx.db().transaction():
                await Item.create(name="batch 2")
        return {"items": await Item.count()}


    def routes(router):
        router.post("/items", create, body=NewItem)
        router.get("/items/count", count)
        router.post("/items/batch", batch)
"""

# Alphabetical order is run order: each test checks what the one before it left.
TESTS = """
    import pytest


    async def test_a_the_test_database_is_used(mega_runtime):
        target = mega_runtime.adapters.db().target()
        assert target.endswith("_test") or "mega-test-" in target, target


    async def test_b_writes_rows(client):
        for name in ("a", "b", "c"):
            assert (await client.post("/items", json={"name": name})).status_code == 201
        assert (await client.get("/items/count")).json()["data"] == {"items": 3, "raw": 3}
        assert (await client.post("/items", json={"name": "a"})).status_code == 409  # and carries on
        assert (await client.post("/items/batch")).json()["data"] == {"items": 5}


    async def test_c_sees_none_of_them(client):
        assert (await client.get("/items/count")).json()["data"] == {"items": 0, "raw": 0}
        assert (await client.post("/items", json={"name": "a"})).status_code == 201


    @pytest.mark.no_rollback
    async def test_d_commits(client):
        assert (await client.post("/items", json={"name": "committed"})).status_code == 201
        assert (await client.get("/items/count")).json()["data"]["items"] == 1


    async def test_e_the_committed_table_was_emptied(client):
        assert (await client.get("/items/count")).json()["data"] == {"items": 0, "raw": 0}
        assert (await client.post("/items", json={"name": "x"})).json()["data"]["id"] == 1


    async def test_f_a_boot_of_the_tests_own_uses_the_test_database_too():
        from mega.testing import running

        async with running(".") as rt:
            target = rt.adapters.db().target()
            assert target.endswith("_test") or "mega-test-" in target, target
"""


def _server_url(kind: str, database: str) -> str:
    return str(sa.engine.make_url(services.require(kind)).set(database=database).render_as_string(False))


async def _admin(kind: str, *statements: str) -> None:
    engine = create_async_engine(_server_url(kind, "postgres" if kind == "postgres" else "")
                                 .replace("postgresql://", "postgresql+asyncpg://")
                                 .replace("mysql://", "mysql+aiomysql://"), isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            for statement in statements:
                await conn.execute(sa.text(statement))
    finally:
        await engine.dispose()


async def _query(entry: dict[str, Any], sql: str, root: Path) -> list[Any]:
    options = {k: v for k, v in entry.items() if k != "driver"}
    db: Any = registry.driver_class("db", entry["driver"])("x", options)
    db.root = root
    await db.connect()
    try:
        return [dict(r) for r in await db.query(sql)]
    finally:
        await db.disconnect()


@pytest.fixture(params=["sqlite", "postgres", "maria"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """The project's development database (a name of this test's own on the shared servers)."""
    kind = request.param
    if kind == "sqlite":
        yield {"driver": "sqlite", "path": "var/dev.sqlite3"}
        return
    name = f"megatdb_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    quote = '"' if kind == "postgres" else "`"
    asyncio.run(_admin(kind, f"CREATE DATABASE {quote}{name}{quote}"))
    try:
        yield {"driver": kind, "url": _server_url(kind, name)}
    finally:
        drops = [f"DROP DATABASE IF EXISTS {quote}{n}{quote}" for n in (name, f"{name}_test")]
        with warnings.catch_warnings():  # MariaDB warns about a database that was not there
            warnings.simplefilter("ignore")
            asyncio.run(_admin(kind, *drops))


def migrated_shop(tmp_path: Path, database: dict[str, Any]) -> Path:
    """The items project on `database`, its first migration generated and applied."""
    root = write_project(tmp_path / "shop", {
        "mega_config.py": f"config = {{'services': {{'dbs': {{'primary': {database!r}}}}}}}\n",
        "apps/main/models/item.py": MODEL,
        "apps/main/routes/items.py": ROUTES,
        "tests/test_items.py": TESTS,
        "pytest.ini": PYTEST_INI,
    })
    for command in (("db:generate", "init"), ("db:migrate",)):
        result = mega(*command, cwd=root)
        assert result.returncode == 0, result.stdout + result.stderr
    return root


def test_mega_test_runs_on_the_test_database_and_leaves_development_alone(
        tmp_path: Path, database: dict[str, Any]) -> None:
    root = migrated_shop(tmp_path, database)
    asyncio.run(_query(database, "INSERT INTO items (name) VALUES ('dev 1'), ('dev 2')", root))
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    for run in (1, 2):
        result = mega("test", "-q", "--strict-markers", "-p", "no:cacheprovider", cwd=root,
                      env=environ(TMPDIR=str(tmp)))
        assert result.returncode == 0, result.stdout + result.stderr
        assert "6 passed" in result.stdout
        # The run says what it did to the test database: created and migrated once, then nothing.
        assert ("migrating" in result.stdout) == (run == 1 or database["driver"] == "sqlite"), result.stdout
    rows = asyncio.run(_query(database, "SELECT name FROM items ORDER BY name", root))
    assert rows == [{"name": "dev 1"}, {"name": "dev 2"}]
    if database["driver"] != "sqlite":
        test_entry = {**database, "url": database["url"] + "_test"}
        assert asyncio.run(_query(test_entry, "SELECT COUNT(*) AS n FROM items", root)) == [{"n": 0}]
    assert list(tmp.iterdir()) == []  # the runs' directories (SQLite files, sessions) are gone


@pytest.mark.parametrize("files, headline", [
    ({"apps/main/routes/broken.py": "def routes(router):\n    router.get('/', oops\n"},
     "error: boot failed at stage 'apps': app 'main': cannot import apps/main/routes/broken.py"),
    ({"mega_config.py": "config = {'sever': {}}\n"},
     "error: boot failed at stage 'config': 1 config problem"),
])
def test_a_project_that_cannot_boot_is_said_once_and_exits_2(
        project_copy: Path, files: dict[str, str], headline: str) -> None:
    write_project(project_copy, files)
    result = mega("test", cwd=project_copy)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.count(headline) == 1, result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert result.stdout == ""  # pytest never started


@pytest.fixture
def project_copy(project: Path, tmp_path: Path) -> Path:
    import shutil

    return Path(shutil.copytree(project, tmp_path / "demo"))


CACHE_ROUTES = """
    async def remember(req, reply, ctx):
        await ctx.cache("pages").set("greeting", "hello")
        async with ctx.lock.hold("report"):
            pass
        await ctx.session.set("seen", True)
        return "ok"


    async def recall(req, reply, ctx):
        return {"greeting": await ctx.cache("pages").get("greeting")}


    def routes(router):
        router.post("/remember", remember)
        router.get("/recall", recall)
"""

CACHE_TESTS = """
    async def test_a_keys_live_under_the_runs_prefix(client, mega_runtime):
        assert mega_runtime.adapters.cache("pages").prefix.startswith("mega:test:")
        assert (await client.post("/remember")).status_code == 200
        assert (await client.get("/recall")).json()["data"] == {"greeting": "hello"}


    async def test_b_the_keys_of_the_test_before_are_gone(client):
        assert (await client.get("/recall")).json()["data"] == {"greeting": None}
"""


def test_redis_keys_of_a_run_are_its_own_and_deleted(tmp_path: Path) -> None:
    import redis

    url = services.require("redis")
    mark = f"megatdb{uuid.uuid4().hex[:8]}"
    config = {"services": {"redis": {"main": {"url": url}},
                           "caches": {"pages": {"driver": "redis", "redis": "main", "prefix": f"{mark}:"}}},
              "lock": {"redis": "main", "prefix": f"{mark}:lock:"}}
    root = write_project(tmp_path / "cached", {
        "mega_config.py": f"config = {config!r}\n",
        "apps/main/app_config.py": "config = {'session': {'secret': 'x' * 32, 'store': {'cache': 'pages'}}}",
        "apps/main/routes/cache.py": CACHE_ROUTES,
        "tests/test_cache.py": CACHE_TESTS,
        "pytest.ini": PYTEST_INI,
    })
    client = redis.Redis.from_url(url)
    try:
        client.set(f"{mark}:greeting", b'"development"')
        result = mega("test", "-q", cwd=root)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "2 passed" in result.stdout
        assert sorted(client.scan_iter(match=f"*{mark}*")) == [f"{mark}:greeting".encode()]
        assert client.get(f"{mark}:greeting") == b'"development"'
    finally:
        for key in client.scan_iter(match=f"*{mark}*"):
            client.delete(key)
        client.close()


def test_plain_pytest_gets_the_same_isolation(tmp_path: Path) -> None:
    """The plugin prepares the run itself when pytest runs without `mega test`, whatever MEGA_ENV says."""
    import subprocess
    import sys

    database = {"driver": "sqlite", "path": "var/dev.sqlite3"}
    root = migrated_shop(tmp_path, database)
    asyncio.run(_query(database, "INSERT INTO items (name) VALUES ('dev 1')", root))
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=root,
                            capture_output=True, text=True, timeout=120, env=environ(MEGA_ENV="development"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "6 passed" in result.stdout
    assert asyncio.run(_query(database, "SELECT COUNT(*) AS n FROM items", root)) == [{"n": 1}]
    write_project(root, {"apps/main/routes/broken.py": "def routes(router):\n    router.get('/', oops\n"})
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=root,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stdout + result.stderr
    assert (result.stdout + result.stderr).count("cannot import apps/main/routes/broken.py") == 1
    assert "Traceback" not in result.stdout + result.stderr
