"""A rename is never guessed: it is given (--rename), confirmed (questioner), or stays a drop plus an add."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from mega.data.migrations._questioner import ScriptedQuestioner
from mega.data.migrations.generate import generate
from mega.data.migrations.runner import Runner
from mega.errors import MegaError

from .conftest import Database, write_models

NOW = dt.datetime(2026, 6, 12, 9, 25, 43, tzinfo=dt.UTC)
V1 = """
class User(Model):
    id = fields.id()
    name = fields.string(100, index=True)
"""
RENAMED = V1.replace("name = fields", "full_name = fields")


def _ops(result: object) -> list[str]:
    return [op.describe() for op in result.operations]  # type: ignore[attr-defined]


def test_without_an_answer_it_is_a_drop_and_an_add_with_a_warning(project: Path) -> None:
    write_models(project, V1)
    generate(project, "init", now=NOW)
    write_models(project, RENAMED)
    result = generate(project, "rename")
    assert _ops(result) == ["drop_index ix_users_name on users", "add_column users.full_name",
                            "create_index ix_users_full_name on users", "drop_column users.name"]
    assert result.warnings == [
        "column users.name was dropped and column users.full_name added: if it is a rename, run again with "
        "--rename users.name:full_name",
        "users.full_name is added NOT NULL without a server_default: migrating fails if the table has rows",
    ]


def test_the_questioner_is_asked_and_yes_renames(project: Path) -> None:
    write_models(project, V1)
    generate(project, "init", now=NOW)
    write_models(project, RENAMED)
    questioner = ScriptedQuestioner({("column", "users.name", "users.full_name"): True})
    result = generate(project, "rename", questioner=questioner)
    assert questioner.asked == [("column", "users.name", "users.full_name")]
    assert _ops(result) == ["rename_column users.name -> full_name", "drop_index ix_users_name on users",
                            "create_index ix_users_full_name on users"]
    assert result.warnings == []


def test_no_means_drop_and_add_without_warning(project: Path) -> None:
    write_models(project, V1)
    generate(project, "init", now=NOW)
    write_models(project, RENAMED.replace("string(100", "string(100, nullable=True"))
    no = ScriptedQuestioner({("column", "users.name", "users.full_name"): False})
    result = generate(project, "r", questioner=no)
    assert "drop_column users.name" in _ops(result) and result.warnings == []


def test_incompatible_kinds_are_not_asked(project: Path) -> None:
    write_models(project, V1)
    generate(project, "init", now=NOW)
    write_models(project, V1.replace("name = fields.string(100, index=True)",
                                     "age = fields.integer(nullable=True)"))
    questioner = ScriptedQuestioner()
    generate(project, "r", questioner=questioner)
    assert questioner.asked == []


def test_table_rename_given(project: Path) -> None:
    write_models(project, V1)
    generate(project, "init", now=NOW)
    write_models(project, V1 + "\n    class Meta:\n        table = 'members'\n")
    result = generate(project, "members", renames=["users:members"])
    assert _ops(result) == ["rename_table users -> members", "drop_index ix_users_name on members",
                            "create_index ix_members_name on members"]


@pytest.mark.parametrize("flag, reason", [
    ("users", "expected old:new"),
    ("users.name:other.full_name", "within one table"),
    ("users.nope:full_name", "no column 'users.nope' was dropped"),
    ("users.name:nothing", "no column 'users.nothing' was added"),
    ("ghosts:members", "no table 'ghosts' was dropped"),
    ("ghosts.a:b", "no table 'ghosts'"),
])
def test_bad_rename_flags(project: Path, flag: str, reason: str) -> None:
    write_models(project, V1)
    generate(project, "init", now=NOW)
    write_models(project, RENAMED)
    with pytest.raises(MegaError) as info:
        generate(project, "rename", renames=[flag])
    assert info.value.code == "migration.invalid_rename"
    assert reason in info.value.message
    assert len(list((project / "apps/main/migrations").glob("*.py"))) == 1  # nothing written


async def test_rename_keeps_the_data(project: Path, database: Database) -> None:
    runner = Runner(database.engine(), project)
    write_models(project, V1)
    generate(project, "init", now=NOW)
    await runner.migrate()
    async with database.engine().begin() as conn:
        await conn.exec_driver_sql("INSERT INTO users (name) VALUES ('Ada')")
    write_models(project, RENAMED)
    generate(project, "rename", renames=["users.name:full_name"])
    await runner.migrate()
    assert await database.rows("SELECT full_name FROM users") == [("Ada",)]
    indexes = await database.inspect(lambda i: {x["name"] for x in i.get_indexes("users")})
    assert indexes == {"ix_users_full_name"}
    await runner.rollback()
    assert await database.rows("SELECT name FROM users") == [("Ada",)]
