"""db:status states, and migrations routed to their database by `database = "alias"`."""

from __future__ import annotations

from pathlib import Path

import pytest

from mega.data.migrations._questioner import InteractiveQuestioner
from mega.data.migrations.runner import Runner

from .conftest import Database, write

UP = "def up(schema):\n    schema.execute('SELECT 1')\n\n\ndef down(schema):\n    pass\n"


async def test_status_states(project: Path, database: Database) -> None:
    if database.kind != "sqlite":
        pytest.skip("dialect-independent bookkeeping: once is enough")
    for n in (1, 2, 3):
        write(project, f"apps/main/migrations/2026010100000{n}_m{n}.py", UP)
    runner = Runner(database.engine(), project)
    assert [r.state for r in await runner.status()] == ["pending"] * 3  # no mega_migrations yet: reads only
    assert "mega_migrations" not in await database.tables()
    await runner.migrate()
    write(project, "apps/main/migrations/20260101000002_m2.py", UP + "# edited\n")
    (project / "apps/main/migrations/20260101000003_m3.py").unlink()
    write(project, "apps/main/migrations/20260101000004_m4.py", UP)
    assert [(r.name[-2:], r.state) for r in await runner.status()] == [
        ("m1", "applied"), ("m2", "changed"), ("m4", "pending"), ("m3", "missing")]


async def test_database_attribute_routes_migrations(project: Path, database: Database) -> None:
    if database.kind != "sqlite":
        pytest.skip("dialect-independent routing: once is enough")
    write(project, "apps/main/migrations/20260101000001_main_db.py", UP)
    write(project, "apps/main/migrations/20260101000002_analytics.py", "database = 'analytics'\n" + UP)
    default = Runner(database.engine(), project, default_alias="primary")
    assert [m.name for m in await default.migrate()] == ["20260101000001_main_db"]
    analytics = Runner(database.engine(), project, alias="analytics", default_alias="primary")
    assert [m.name for m in analytics.files()] == ["20260101000002_analytics"]


def test_interactive_questioner_asks_once_per_pair() -> None:
    asked: list[str] = []
    questioner = InteractiveQuestioner(confirm=lambda q: asked.append(q) or True)
    assert questioner.ask_rename("column", "users.name", "users.full_name") is True
    assert asked == ["Did you rename column users.name to users.full_name?"]
