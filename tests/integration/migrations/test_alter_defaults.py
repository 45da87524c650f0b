"""Altering a column that has a server default: nullability, length and the default itself, generated
from models, migrated and rolled back one step at a time on every dialect (each used to crash with
`TypeError: Boolean value of this clause is not defined`)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from mega.data.migrations.generate import generate
from mega.data.migrations.runner import Runner

from .conftest import Database, write_models

V1 = """
class Item(Model):
    id = fields.id()
    title = fields.string(50, server_default="untitled")
    stock = fields.integer(server_default=0)
    flag = fields.boolean(nullable=True)
"""
NULLABLE = V1.replace('string(50, server_default="untitled")',
                      'string(50, nullable=True, server_default="untitled")')
LONGER = NULLABLE.replace("string(50,", "string(80,")
DEFAULTS = (LONGER.replace('server_default="untitled"', 'server_default="none yet"')
            .replace("server_default=0", "server_default=5")
            .replace("boolean(nullable=True)", "boolean(nullable=True, server_default=True)"))

STEPS = [  # (models, generated operations, state after migrating)
    (NULLABLE, ["alter_column items.title (nullable)"],
     {"title": (50, True), "row": ("untitled", 0, None)}),
    (LONGER, ["alter_column items.title (length)"],
     {"title": (80, True), "row": ("untitled", 0, None)}),
    (DEFAULTS, ["alter_column items.title (server_default)", "alter_column items.stock (server_default)",
                "alter_column items.flag (server_default)"],  # flag: its first server default
     {"title": (80, True), "row": ("none yet", 5, True)}),
]
START = {"title": (50, False), "row": ("untitled", 0, None)}


async def _state(database: Database, row_id: int) -> dict[str, Any]:
    """The title column's (length, nullable) and the defaults a row gets when it gives only its id."""
    def title(insp: sa.Inspector) -> tuple[int, bool]:
        column = next(c for c in insp.get_columns("items") if c["name"] == "title")
        return column["type"].length, bool(column["nullable"])

    async with database.engine().begin() as conn:
        await conn.execute(sa.text("INSERT INTO items (id) VALUES (:id)"), {"id": row_id})
        title_, stock, flag = (await conn.execute(
            sa.text("SELECT title, stock, flag FROM items WHERE id = :id"), {"id": row_id})).one()
    return {"title": await database.inspect(title),
            "row": (title_, stock, None if flag is None else bool(flag))}


async def test_alter_server_defaulted_column_migrates_and_rolls_back(project: Path,
                                                                     database: Database) -> None:
    runner = Runner(database.engine(), project, progress=lambda line: None)
    now = dt.datetime(2026, 3, 1, 8, 0, 0, tzinfo=dt.UTC)
    write_models(project, V1)
    generate(project, "create items", now=now)
    await runner.migrate()
    rows = iter(range(1, 100))
    assert await _state(database, next(rows)) == START

    for i, (models, operations, state) in enumerate(STEPS, start=1):
        write_models(project, models)
        made = generate(project, f"step {i}", now=now)
        assert [op.describe() for op in made.operations] == operations
        assert len(await runner.migrate()) == 1
        assert await _state(database, next(rows)) == state, f"after step {i}"

    for i in range(len(STEPS) - 1, -1, -1):
        assert len(await runner.rollback()) == 1
        expected = STEPS[i - 1][2] if i else START
        assert await _state(database, next(rows)) == expected, f"after rolling back step {i + 1}"


HAND_WRITTEN = """
def up(schema):
    schema.alter_column("items", "title", kind="string", length=80, nullable=True)


def down(schema):
    schema.alter_column("items", "title", kind="string", length=50, nullable=False)
"""


async def test_hand_written_alter_without_was_keeps_the_default(project: Path, database: Database) -> None:
    """Without `was=` the database is asked what the column is: its default survives the ALTER."""
    runner = Runner(database.engine(), project, progress=lambda line: None)
    write_models(project, V1)
    generate(project, "create items", now=dt.datetime(2026, 3, 1, 8, 0, 0, tzinfo=dt.UTC))
    (project / "apps/main/migrations/20260301090000_widen.py").write_text(HAND_WRITTEN)
    assert len(await runner.migrate()) == 2
    assert await _state(database, 1) == {"title": (80, True), "row": ("untitled", 0, None)}
    assert len(await runner.rollback()) == 1
    assert await _state(database, 2) == START
