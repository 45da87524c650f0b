"""Prepare a test run of a project: its test databases, migrated to head, before anything boots.

Per SQL alias of `services.dbs` (the embedded SQLite database when none is declared):
- PostgreSQL and MariaDB: the database `<name>_test` on the same server, created when missing,
  dropped and created again when its applied migrations no longer match the files (one edited or
  deleted since), then migrated to head;
- SQLite: a file in the run's temporary directory, migrated to head.

The development database is never connected to. The run (`TestRun`) goes to boots through the
environment (MEGA_TEST_RUN, see `mega.boot._test_env`).
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from mega.adapters import registry
from mega.adapters.sql.adapter import SqlAdapter
from mega.boot._test_env import SERVER_DRIVERS, TestRun, database_options
from mega.boot.stages import BootError
from mega.config import load_dotenv_file, load_project_config
from mega.data.migrations.runner import Runner
from mega.errors import MegaError

if TYPE_CHECKING:
    from mega.config._project import ProjectConfig

log = logging.getLogger("mega.testing")

Progress = Callable[[str], None]
EMBEDDED_ALIAS = "default"
EMBEDDED_PATH = "var/mega.sqlite3"
SUFFIX = "_test"


async def prepare_run(root: str | Path, environ: Mapping[str, str] | None = None, *,
                      progress: Progress | None = None) -> TestRun:
    """Make the run's directory and test databases; the caller removes the directory (`remove_run`)."""
    root = Path(root).resolve()
    env = dict(os.environ if environ is None else environ)
    load_dotenv_file(root, env)
    env["MEGA_ENV"] = "test"
    try:
        config = load_project_config(root, environ=env)
    except MegaError as exc:  # worded as a boot would word it
        raise BootError("config", exc) from exc
    say = progress or log.info
    directory = tempfile.mkdtemp(prefix="mega-test-")
    try:
        declared = _declared_dbs(config)
        prefix = f"mega:test:{secrets.token_hex(4)}:"
        run = TestRun(str(root), directory, prefix, _test_dbs(declared, directory))
        apps = {name: app.dir for name, app in config.apps.items()}
        default = _default_alias(declared)
        for alias, test_db in run.dbs.items():
            await _prepare(root, apps, alias, default, declared[alias], test_db, say)
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise
    return run


def remove_run(run: TestRun) -> None:
    """Delete the run's directory (its SQLite files, file caches and sessions)."""
    shutil.rmtree(run.directory, ignore_errors=True)


def _declared_dbs(config: ProjectConfig) -> dict[str, dict[str, Any]]:
    dbs = dict(config.values.get("services", {}).get("dbs") or {})
    return dbs or {EMBEDDED_ALIAS: {"driver": "sqlite", "path": EMBEDDED_PATH}}


def _default_alias(dbs: Mapping[str, Any]) -> str:
    for name in ("primary", EMBEDDED_ALIAS):
        if name in dbs:
            return name
    return next(iter(dbs))


def _test_dbs(declared: dict[str, dict[str, Any]], directory: str) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for alias, entry in declared.items():
        driver = entry.get("driver")
        if driver == "sqlite":
            out[alias] = {"path": str(Path(directory, f"{alias}.sqlite3"))}
        elif driver in SERVER_DRIVERS:
            out[alias] = {"database": _development_name(alias, entry) + SUFFIX}
        # Other drivers (a plugin's) are left as declared: mega knows no test database for them.
    return out


def _adapter(alias: str, entry: dict[str, Any], root: Path | None = None) -> SqlAdapter:
    cls = registry.driver_class("db", str(entry["driver"]))  # sqlite, postgres or maria
    adapter = cast(SqlAdapter, cls(alias, {k: v for k, v in entry.items() if k != "driver"}))
    adapter.root = root
    return adapter


def _development_name(alias: str, entry: dict[str, Any]) -> str:
    url = getattr(_adapter(alias, entry), "url", None)
    name = url.database if url is not None else None
    if not name:
        raise _failed(alias, "names no database, so its test database has no name to take",
                      "name the database in the url (postgresql://host/app) or with 'database'")
    return str(name)


async def _prepare(root: Path, apps: dict[str, Path], alias: str, default: str, entry: dict[str, Any],
                   test_db: dict[str, str], say: Progress) -> None:
    options = database_options(entry, test_db)
    server = entry.get("driver") in SERVER_DRIVERS
    if server and await _ensure_database(alias, options, test_db["database"], drop=False):
        say(f"test database '{alias}': created {test_db['database']}")
    for attempt in (1, 2):
        adapter = _adapter(alias, options, root)
        await adapter.connect()
        try:
            runner = Runner(adapter.native, root, apps=apps, alias=alias, default_alias=default, progress=say)
            rows = await runner.status()
            stale = [f"{r.app}/{r.name} ({r.state})" for r in rows if r.state in ("changed", "missing")]
            if not stale:
                if any(r.state == "pending" for r in rows):
                    say(f"test database '{alias}': migrating {adapter.target()}")
                    await runner.migrate()
                return
        finally:
            await adapter.disconnect()
        if not server or attempt == 2:
            raise _failed(alias, f"the test database does not match the migration files: {', '.join(stale)}",
                          "mega db:status shows the state; fix the migration files")
        say(f"test database '{alias}': {test_db['database']} was migrated with other migration files "
            f"({', '.join(stale)}): made again")
        await _ensure_database(alias, options, test_db["database"], drop=True)


async def _ensure_database(alias: str, options: dict[str, Any], name: str, *, drop: bool) -> bool:
    """Create the test database when missing (first dropping it with `drop`); True when created."""
    url = _adapter(alias, options).url  # type: ignore[attr-defined]
    candidates = ["postgres", "template1"] if url.get_backend_name() == "postgresql" else [None]
    last: BaseException | None = None
    for admin_db in candidates:
        engine = create_async_engine(url._replace(database=admin_db), isolation_level="AUTOCOMMIT")
        try:
            async with engine.connect() as conn:
                quoted = conn.dialect.identifier_preparer.quote_identifier(name)
                exists = await _exists(conn, name)
                if exists and drop:
                    await conn.execute(sa.text(f"DROP DATABASE {quoted}"))
                    exists = False
                if exists:
                    return False
                charset = " CHARACTER SET utf8mb4" if conn.dialect.name == "mysql" else ""
                await conn.execute(sa.text(f"CREATE DATABASE {quoted}{charset}"))
                return True
        except Exception as exc:
            last = exc
        finally:
            await engine.dispose()
    reason = f"{type(last).__name__}: {getattr(last, 'orig', None) or last}"
    verb = "make again" if drop else "create"
    raise _failed(alias, f"cannot {verb} its test database {name}: {reason}",
                  f"let the user of services.dbs.{alias} create databases, or create {name} yourself"
                  ) from last


async def _exists(conn: Any, name: str) -> bool:
    if conn.dialect.name == "postgresql":
        sql = "SELECT 1 FROM pg_database WHERE datname = :name"
    else:
        sql = "SELECT 1 FROM information_schema.schemata WHERE schema_name = :name"
    return (await conn.execute(sa.text(sql), {"name": name})).first() is not None


def _failed(alias: str, problem: str, hint: str) -> MegaError:
    return MegaError("db.test_database", f"services.dbs.{alias}: {problem}", details={"alias": alias},
                     hint=hint)
