"""Generate from models, migrate, change the models, generate again, migrate, roll back: on every dialect."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import sqlalchemy as sa

from mega.data.migrations.generate import generate
from mega.data.migrations.runner import Runner

from .conftest import Database, write_models

V1 = """
class Org(Model):
    id = fields.id()
    name = fields.string(100, unique=True)


class User(Model):
    id = fields.id()
    email = fields.string(255, unique=True)
    role = fields.enum(["admin", "member"], default="member")
    org_id = fields.foreign_key("orgs.id", on_delete="cascade", nullable=True)

    class Meta:
        indexes = [("org_id", "email")]
"""

# users: email longer, a new nullable column with an index, a self-reference; a new table posts.
V2 = """
class Org(Model):
    id = fields.id()
    name = fields.string(100, unique=True)


class User(Model):
    id = fields.id()
    email = fields.string(320, unique=True)
    role = fields.enum(["admin", "member", "guest"], default="member")
    org_id = fields.foreign_key("orgs.id", on_delete="cascade", nullable=True)
    nickname = fields.string(50, nullable=True, index=True)
    manager_id = fields.foreign_key("users.id", nullable=True, on_delete="set null")

    class Meta:
        indexes = [("org_id", "email")]


class Post(Model):
    id = fields.id()
    author_id = fields.foreign_key("users.id", on_delete="cascade")
    title = fields.string(200)
    published = fields.boolean(server_default=False)
"""


def _fks(insp: sa.Inspector, table: str) -> dict[str, str]:
    return {fk["constrained_columns"][0]: f"{fk['referred_table']}.{fk['referred_columns'][0]}"
            for fk in insp.get_foreign_keys(table)}


def _indexes(insp: sa.Inspector, table: str) -> set[str]:
    return {ix["name"] for ix in insp.get_indexes(table) if ix["name"].startswith("ix_")}


async def test_generate_migrate_change_rollback(project: Path, database: Database) -> None:
    lines: list[str] = []
    runner = Runner(database.engine(), project, progress=lines.append)

    write_models(project, V1)
    first = generate(project, "create users", now=dt.datetime(2026, 6, 12, 9, 25, 43, tzinfo=dt.UTC))
    assert [op.describe() for op in first.operations] == ["create_table orgs", "create_table users"]
    assert [p.name for p in first.migrations] == ["20260612092543_create_users.py"]

    assert [m.name for m in await runner.migrate()] == ["20260612092543_create_users"]
    assert lines[-1].startswith("up   main/20260612092543_create_users (2 steps, ")
    assert await database.tables() == {"orgs", "users", "mega_migrations"}
    async with database.engine().begin() as conn:
        await conn.execute(sa.text("INSERT INTO orgs (name) VALUES ('acme')"))
        await conn.execute(sa.text("INSERT INTO users (email, role, org_id) VALUES ('a@x.io', 'admin', 1)"))

    write_models(project, V2)
    second = generate(project, "add posts", now=dt.datetime(2026, 6, 12, 9, 25, 43, tzinfo=dt.UTC))
    assert [op.describe() for op in second.operations] == [
        "create_table posts",
        "add_column users.nickname",
        "add_column users.manager_id",
        "alter_column users.email (length)",
        "alter_column users.role (choices)",
        "create_index ix_users_nickname on users",
    ]
    assert [p.name for p in second.migrations] == ["20260612092544_add_posts.py"]  # one second later
    assert len(await runner.migrate()) == 1

    def schema_v2(insp: sa.Inspector) -> dict[str, object]:
        columns = {c["name"]: c for c in insp.get_columns("users")}
        return {"users": set(columns), "email": columns["email"]["type"].length,
                "users_fks": _fks(insp, "users"), "posts_fks": _fks(insp, "posts"),
                "users_ix": _indexes(insp, "users")}

    assert await database.inspect(schema_v2) == {
        "users": {"id", "email", "role", "org_id", "nickname", "manager_id"},
        "email": 320,
        "users_fks": {"org_id": "orgs.id", "manager_id": "users.id"},
        "posts_fks": {"author_id": "users.id"},
        "users_ix": {"ix_users_org_id_email", "ix_users_nickname"},
    }
    # The rows survived (SQLite copied the table to alter it), and the new choice is allowed.
    assert await database.rows("SELECT email, role, org_id FROM users") == [("a@x.io", "admin", 1)]
    async with database.engine().begin() as conn:
        await conn.execute(sa.text("UPDATE users SET role = 'guest', nickname = 'al'"))
        await conn.execute(sa.text("UPDATE users SET role = 'admin'"))  # 'guest' goes with the rollback
        await conn.execute(sa.text("INSERT INTO posts (author_id, title) VALUES (1, 'hello')"))
    assert await database.rows("SELECT published FROM posts") in ([(False,)], [(0,)])

    status = await runner.status()
    assert [(r.name, r.state) for r in status] == [("20260612092543_create_users", "applied"),
                                                  ("20260612092544_add_posts", "applied")]

    assert [m.name for m in await runner.rollback()] == ["20260612092544_add_posts"]
    assert lines[-1].startswith("down main/20260612092544_add_posts (")
    assert await database.tables() == {"orgs", "users", "mega_migrations"}
    assert await database.inspect(lambda i: {c["name"] for c in i.get_columns("users")}) == {
        "id", "email", "role", "org_id"}
    assert await database.rows("SELECT email FROM users") == [("a@x.io",)]
    assert [(r.name, r.state) for r in await runner.status()] == [
        ("20260612092543_create_users", "applied"), ("20260612092544_add_posts", "pending")]

    assert len(await runner.migrate()) == 1  # down then up again works
    assert await runner.migrate() == []
    assert lines[-1] == "nothing to migrate"
    assert [m.name for m in await runner.rollback(step=2)] == ["20260612092544_add_posts",
                                                               "20260612092543_create_users"]
    assert await database.tables() == {"mega_migrations"}
    assert await database.rows("SELECT COUNT(*) FROM mega_migrations") == [(0,)]
