"""Boot checks every SQL database: unapplied migrations fail it (or warn, when allowed), and a model's
table or field that no migration creates is a warning naming it and `mega db:generate`."""

from __future__ import annotations

import datetime as dt
import logging
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mega.boot.stages import BootError, boot
from mega.data.migrations.check import Drift, check_schema
from mega.data.migrations.generate import generate
from mega.data.migrations.runner import Runner
from mega.errors import MegaError

from .conftest import Database, write, write_models

MEGA = Path(sys.executable).parent / "mega"
TEST_ENV = {"MEGA_ENV": "test"}
TODOS = """
class Todo(Model):
    id = fields.id()
    title = fields.string(100)
"""
TODOS_MORE = TODOS + "    done = fields.boolean(server_default=False)\n    due = fields.date(nullable=True)\n"
TAGS = """
class Tag(Model):
    id = fields.id()
    name = fields.string(40)
"""
NOW = dt.datetime(2026, 5, 1, 12, 0, 0, tzinfo=dt.UTC)


def _configure(project: Path, dbs: dict[str, Any], extra: str = "") -> None:
    (project / "mega_config.py").write_text(f"config = {{'services': {{'dbs': {dbs!r}}}{extra}}}\n")


def _drift_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if getattr(r, "code", None) == "db.model_drift"]


async def _boot_fails(project: Path, environ: dict[str, str] = TEST_ENV) -> MegaError:
    with pytest.raises(BootError) as info:
        await boot(project, environ=environ)
    assert info.value.stage == "migrations"
    original = info.value.original
    assert isinstance(original, MegaError)
    return original


async def test_pending_fails_boot_then_drift_warns(project: Path, database: Database,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    _configure(project, {"primary": database.config})
    write_models(project, TODOS)
    name = generate(project, "create todos", now=NOW).migrations[0].stem

    error = await _boot_fails(project)
    assert error.code == "db.pending_migrations"
    assert error.message == f"db 'primary' has 1 migration not applied: main/{name}"
    assert error.hint is not None and error.hint.startswith("run mega db:migrate; ")
    assert "migrations.allow_pending = True (or MEGA_ALLOW_PENDING_MIGRATIONS=1)" in error.hint
    assert error.details == {"pending": {"primary": [f"main/{name}"]}, "commands": ["mega db:migrate"]}

    await Runner(database.engine(), project, progress=lambda line: None).migrate()
    caplog.set_level(logging.WARNING, logger="mega")
    runtime = await boot(project, environ=TEST_ENV)
    await runtime.close()
    assert _drift_lines(caplog) == []

    # A field and a table the models declare but no migration creates: warnings, boot goes on.
    write_models(project, TODOS_MORE)
    write_models(project, TAGS, name="tag")
    runtime = await boot(project, environ=TEST_ENV)
    await runtime.close()
    assert _drift_lines(caplog) == [
        "model Todo's fields done, due are not columns of todos in db 'primary' and no migration adds them: "
        "run mega db:generate update_todos, then mega db:migrate",
        "model Tag's table tags is not in db 'primary' and no migration creates it: "
        "run mega db:generate create_tags, then mega db:migrate",
    ]

    # The same answer from the function a test database set-up calls.
    runtime = await boot(project, environ=TEST_ENV)
    try:
        assert runtime.adapters is not None
        state = await check_schema(runtime.adapters.db(), project, models=runtime.models)
    finally:
        await runtime.close()
    assert state.pending == () and state.migrate_command == "mega db:migrate"
    assert state.drift == (Drift("Todo", "todos", "done"), Drift("Todo", "todos", "due"),
                           Drift("Tag", "tags"))


async def test_allow_pending_starts_with_a_warning(project: Path, caplog: pytest.LogCaptureFixture) -> None:
    write_models(project, TODOS)  # the embedded database: var/mega.sqlite3
    name = generate(project, "create todos", now=NOW).migrations[0].stem
    caplog.set_level(logging.WARNING, logger="mega")

    runtime = await boot(project, environ={**TEST_ENV, "MEGA_ALLOW_PENDING_MIGRATIONS": "1"})
    await runtime.close()
    warned = [r for r in caplog.records if getattr(r, "code", None) == "db.pending_migrations"]
    assert [r.getMessage() for r in warned] == [
        f"db 'default' has 1 migration not applied: main/{name}; starting anyway (migrations.allow_pending)"]
    assert _drift_lines(caplog) == []  # the pending migration creates the table: no drift while pending

    (project / "mega_config.py").write_text("config = {'migrations': {'allow_pending': True}}\n")
    runtime = await boot(project, environ=TEST_ENV)
    await runtime.close()

    (project / "mega_config.py").write_text("config = {'migrations': {'check': False}}\n")
    runtime = await boot(project, environ=TEST_ENV)
    await runtime.close()

    (project / "mega_config.py").write_text("config = {}\n")
    assert (await _boot_fails(project)).code == "db.pending_migrations"


async def test_each_database_names_its_own_command(project: Path, tmp_path: Path) -> None:
    _configure(project, {"primary": {"driver": "sqlite", "path": str(tmp_path / "p.sqlite3")},
                         "analytics": {"driver": "sqlite", "path": str(tmp_path / "a.sqlite3")}})
    write(project, "apps/main/migrations/20260101000000_events.py", """
        database = "analytics"


        def up(schema):
            schema.execute("CREATE TABLE events (id INTEGER PRIMARY KEY)")
        """)
    error = await _boot_fails(project)
    assert error.message == "db 'analytics' has 1 migration not applied: main/20260101000000_events"
    assert error.hint is not None and error.hint.startswith("run mega db:migrate --alias analytics; ")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _mega(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(MEGA), *args], cwd=cwd, capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)


def test_start_refuses_and_the_db_commands_still_run(project: Path) -> None:
    write_models(project, TODOS)
    assert _mega("db:generate", "create_todos", cwd=project).returncode == 0
    name = next((project / "apps/main/migrations").glob("*.py")).stem

    start = _mega("start", "--port", str(_free_port()), cwd=project)
    assert start.returncode == 1
    assert start.stderr.splitlines() == [
        f"error: boot failed at stage 'migrations': db 'default' has 1 migration not applied: main/{name}",
        "hint: run mega db:migrate; a deployment that migrates in a separate step can start anyway with "
        "migrations.allow_pending = True (or MEGA_ALLOW_PENDING_MIGRATIONS=1)",
        "code: db.pending_migrations",
    ]
    status = _mega("db:status", cwd=project)
    assert status.returncode == 0 and "pending" in status.stdout
    assert _mega("routes", cwd=project).returncode == 0
    migrate = _mega("db:migrate", cwd=project)
    assert migrate.returncode == 0, migrate.stderr


def test_no_models_and_no_migrations_cost_nothing(project: Path) -> None:
    """Nothing to check: the stage imports neither the check nor the runner (nor SQLAlchemy for them)."""
    (project / "apps/main/migrations").mkdir()
    (project / "apps/main/migrations/.gitkeep").write_text("")
    code = ("import asyncio, sys\n"
            "from mega.boot.stages import boot\n"
            "async def main():\n"
            f"    rt = await boot({str(project)!r}, environ={{'MEGA_ENV': 'test'}})\n"
            "    await rt.close()\n"
            "asyncio.run(main())\n"
            "print(sorted(m for m in sys.modules if m.startswith('mega.data.migrations')))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['mega.data.migrations', 'mega.data.migrations._settings', " \
        "'mega.data.migrations._stage']"
