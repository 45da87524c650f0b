"""Fixtures for the migration tests: a throwaway database per test on each dialect, a project folder.

Each postgres and MariaDB test gets its own database (created, then dropped), so `mega_migrations`
and the tables a test makes never meet another test's. A service that is down skips its tests
(fails them under CI: see tests.services).
"""

from __future__ import annotations

import textwrap
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from mega.boot._loader import forget_project_modules
from mega.testing import write_project
from tests import services

PG_URL = services.url("postgres")
MARIA_URL = services.url("maria")
DIALECTS = ["sqlite", "postgres", "maria"]
_ASYNC = {"postgres": "postgresql+asyncpg", "maria": "mysql+aiomysql"}


@dataclass
class Database:
    """One throwaway database: `engine()` makes engines (disposed at the end), `config` is its
    `services.dbs` entry."""

    kind: str  # "sqlite" | "postgres" | "maria"
    url: sa.URL  # the async SQLAlchemy URL
    config: dict[str, Any]
    engines: list[AsyncEngine] = field(default_factory=list)

    @property
    def dialect(self) -> str:
        return {"sqlite": "sqlite", "postgres": "postgresql", "maria": "mysql"}[self.kind]

    def engine(self) -> AsyncEngine:
        engine = create_async_engine(self.url)
        self.engines.append(engine)
        return engine

    async def tables(self) -> set[str]:
        async with self.engine().connect() as conn:
            return set(await conn.run_sync(lambda c: sa.inspect(c).get_table_names()))

    async def inspect(self, fn: Callable[[sa.Inspector], Any]) -> Any:
        async with self.engine().connect() as conn:
            return await conn.run_sync(lambda c: fn(sa.inspect(c)))

    async def rows(self, sql: str) -> list[tuple[Any, ...]]:
        async with self.engine().connect() as conn:
            return [tuple(r) for r in await conn.execute(sa.text(sql))]


@pytest.fixture(params=DIALECTS)
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """A fresh, empty database of each dialect."""
    kind = request.param
    if kind == "sqlite":
        path = tmp_path / "db.sqlite3"
        db = Database(kind, sa.URL.create("sqlite+aiosqlite", database=str(path)),
                      {"driver": "sqlite", "path": str(path)})
        yield db
        for engine in db.engines:
            await engine.dispose()
        return
    base = services.require(kind)
    name = f"mega_mig_{uuid.uuid4().hex[:10]}"
    admin = create_async_engine(make_url(base).set(drivername=_ASYNC[kind]), isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.exec_driver_sql(f"CREATE DATABASE {name}")
        plain = make_url(base).set(database=name)
        db = Database(kind, plain.set(drivername=_ASYNC[kind]),
                      {"driver": kind, "url": plain.render_as_string(hide_password=False)})
        try:
            yield db
        finally:
            for engine in db.engines:
                await engine.dispose()
            async with admin.connect() as conn:
                force = " WITH (FORCE)" if kind == "postgres" else ""
                await conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}{force}")
    finally:
        await admin.dispose()


@pytest.fixture
def project(tmp_path: Path) -> Any:
    """An empty project folder with apps/main/models/; forgets its modules afterwards."""
    root = tmp_path / "proj"
    (root / "apps" / "main" / "models").mkdir(parents=True)
    (root / "mega_config.py").write_text("config = {}\n")
    forget_project_modules()
    yield root
    forget_project_modules()


def write(root: Path, relative: str, source: str) -> Path:
    write_project(root, {relative: textwrap.dedent(source).lstrip()})
    return root / relative


def write_models(root: Path, source: str, name: str = "models", app: str = "main") -> Path:
    """Write apps/<app>/models/<name>.py with the usual imports above `source`."""
    header = "from mega.data import fields\nfrom mega.data.model import Model\n\n\n"
    return write(root, f"apps/{app}/models/{name}.py", header + textwrap.dedent(source).lstrip())
