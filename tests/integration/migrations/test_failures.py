"""A failing migration in the middle: the error names migration and step; mega_migrations stays exact."""

from __future__ import annotations

from pathlib import Path

import pytest

from mega.data.migrations.runner import Runner
from mega.errors import MegaError

from .conftest import Database, write

M1 = """
from mega.data.migrations import column


def up(schema):
    schema.create_table("alpha", column("id", "integer", primary_key=True))


def down(schema):
    schema.drop_table("alpha")
"""
# step 1 creates a table, step 2 is raw SQL on a table that does not exist, step 3 never runs.
M2 = """
from mega.data.migrations import column


def up(schema):
    schema.create_table("beta", column("id", "integer", primary_key=True))
    schema.execute("INSERT INTO nowhere (id) VALUES (:id)", {"id": 1})
    schema.create_table("gamma", column("id", "integer", primary_key=True))


def down(schema):
    schema.drop_table("gamma")
    schema.drop_table("beta")
"""
M3 = M1.replace("alpha", "delta")


def _project(project: Path, second: str = M2) -> None:
    write(project, "apps/main/migrations/20260101000001_alpha.py", M1)
    write(project, "apps/main/migrations/20260101000002_beta.py", second)
    write(project, "apps/main/migrations/20260101000003_delta.py", M3)


async def test_failure_in_step_two_of_three(project: Path, database: Database) -> None:
    _project(project)
    lines: list[str] = []
    runner = Runner(database.engine(), project, progress=lines.append)
    with pytest.raises(MegaError) as info:
        await runner.migrate()
    error = info.value
    assert error.code == "migration.failed"
    assert error.message.startswith("migration main/20260101000002_beta failed at step 2 (execute INSERT "
                                    "INTO nowhere (id) VALUES (:id)): ")
    assert error.details["step"] == 2 and error.details["migration"] == "20260101000002_beta"
    assert [line.split(" (")[0] for line in lines] == ["up   main/20260101000001_alpha"]
    # The first migration stays, the failed one left nothing (rolled back, or undone on MariaDB), the
    # third did not run.
    assert await database.tables() == {"mega_migrations", "alpha"}
    assert await database.rows("SELECT app, name FROM mega_migrations") == [("main", "20260101000001_alpha")]
    if database.kind == "maria":
        assert error.details["undone"] is True
        assert "undone by their reverse" in (error.hint or "")
    else:
        assert "rolled back" in (error.hint or "")

    # Fixed, it runs from where it stopped.
    _project(project, M2.replace("nowhere", "beta"))
    assert [m.name for m in await Runner(database.engine(), project).migrate()] == [
        "20260101000002_beta", "20260101000003_delta"]
    assert await database.tables() == {"mega_migrations", "alpha", "beta", "gamma", "delta"}


async def test_maria_names_the_steps_it_cannot_undo(project: Path, database: Database) -> None:
    if database.kind != "maria":
        pytest.skip("only MariaDB commits DDL step by step")
    _project(project, M2.replace('schema.create_table("beta", column("id", "integer", primary_key=True))',
                                 'schema.execute("CREATE TABLE beta (id INT PRIMARY KEY)")'))
    with pytest.raises(MegaError) as info:
        await Runner(database.engine(), project).migrate()
    assert info.value.details["undone"] is False
    assert info.value.details["applied_steps"] == ["execute CREATE TABLE beta (id INT PRIMARY KEY)"]
    assert "these stay applied: execute CREATE TABLE beta" in (info.value.hint or "")
    assert await database.tables() == {"mega_migrations", "alpha", "beta"}
    assert await database.rows("SELECT name FROM mega_migrations") == [("20260101000001_alpha",)]


async def test_code_errors_and_missing_down(project: Path, database: Database) -> None:
    write(project, "apps/main/migrations/20260101000001_alpha.py", M1)
    write(project, "apps/main/migrations/20260101000002_oops.py", """
        from mega.data.migrations import column


        def up(schema):
            schema.create_table("beta", column("id", "integer", primary_key=True))
            raise RuntimeError("boom")
        """)
    runner = Runner(database.engine(), project)
    with pytest.raises(MegaError) as info:
        await runner.migrate()
    assert info.value.message.startswith("migration main/20260101000002_oops failed after step 1 (in the "
                                         "migration's code): RuntimeError: boom")
    assert "beta" not in await database.tables()
    write(project, "apps/main/migrations/20260101000002_oops.py", "def up(schema):\n    pass\n")
    await runner.migrate()
    with pytest.raises(MegaError) as info:
        await runner.rollback()
    assert info.value.code == "migration.irreversible"
    assert await database.rows("SELECT COUNT(*) FROM mega_migrations") == [(2,)]


def test_badly_named_and_broken_files(project: Path) -> None:
    from mega.data.migrations._loader import load_migrations

    write(project, "apps/main/migrations/create_users.py", "def up(schema): pass\n")
    with pytest.raises(MegaError) as info:
        load_migrations(project)
    assert info.value.code == "migration.invalid_name"
    assert "main/migrations/create_users.py is not named <14-digit timestamp>_<snake_name>.py" \
        in info.value.message
    (project / "apps/main/migrations/create_users.py").rename(project / "apps/main/migrations/_helpers.py")
    write(project, "apps/main/migrations/20260101000001_x.py", "def down(schema): pass\n")
    [migration] = load_migrations(project)
    with pytest.raises(MegaError) as info:
        migration.module()
    assert info.value.code == "migration.invalid_file"
    assert "has no up(schema) function" in info.value.message
