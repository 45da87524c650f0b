"""The differ's order and rules, on snapshot dicts (no database, no files)."""

from __future__ import annotations

from typing import Any

import pytest

from mega.data.migrations._differ import Differ, Renames
from mega.data.migrations._operations import AddForeignKey, CreateTable
from mega.data.migrations._writer import render_migration, snake_name
from mega.errors import MegaError


def table(name: str, *columns: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"app": "main", "model": name.title(), "table": name, "indexes": [],
            "columns": [{"name": "id", "kind": "bigint", "nullable": False, "primary_key": True,
                         "autoincrement": True}, *columns], **extra}


def fk(name: str, target: str, **kw: Any) -> dict[str, Any]:
    return {"name": name, "kind": "bigint", "nullable": True, "references": target, **kw}


def describe(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    return [op.describe() for op in Differ(old, new).diff().operations]


def test_tables_are_created_after_the_tables_they_reference() -> None:
    new = {"a_comments": table("a_comments", fk("post_id", "b_posts.id")),
           "b_posts": table("b_posts", fk("author_id", "c_users.id")),
           "c_users": table("c_users")}
    assert describe({}, new) == ["create_table c_users", "create_table b_posts", "create_table a_comments"]
    # and dropped in the reverse order
    assert describe(new, {}) == ["drop_table a_comments", "drop_table b_posts", "drop_table c_users"]


def test_a_cycle_is_closed_by_a_key_added_afterwards() -> None:
    new = {"a": table("a", fk("b_id", "b.id")), "b": table("b", fk("a_id", "a.id")),
           "s": table("s", fk("parent_id", "s.id"))}
    ops = Differ({}, new).diff().operations
    assert [op.describe() for op in ops] == ["create_table b", "create_table a", "create_table s",
                                             "add_foreign_key b.a_id -> a.id"]
    assert isinstance(ops[0], CreateTable) and "references" not in ops[0].columns[1]
    assert isinstance(ops[1], CreateTable) and ops[1].columns[1]["references"] == "b.id"
    assert isinstance(ops[2], CreateTable) and ops[2].columns[1]["references"] == "s.id"  # self: inline
    assert isinstance(ops[3], AddForeignKey)
    # down: the key goes first, then the tables
    down = [op.reverse().describe() for op in reversed(ops)]  # type: ignore[union-attr]
    assert down == ["drop_foreign_key b.a_id", "drop_table s", "drop_table a", "drop_table b"]


def test_changes_in_phase_order() -> None:
    old = {"users": table("users", {"name": "email", "kind": "string", "length": 100, "nullable": False},
                          fk("org_id", "orgs.id"), {"name": "gone", "kind": "text", "nullable": True},
                          indexes=[{"name": "ix_users_email", "columns": ["email"], "unique": False}]),
           "orgs": table("orgs"), "legacy": table("legacy")}
    new = {"users": table("users", {"name": "email", "kind": "string", "length": 200, "nullable": True},
                          fk("org_id", "teams.id"), {"name": "age", "kind": "integer", "nullable": True},
                          indexes=[{"name": "ix_users_email", "columns": ["email"], "unique": True}]),
           "orgs": table("orgs"), "teams": table("teams")}
    assert describe(old, new) == [
        "drop_foreign_key users.org_id", "drop_index ix_users_email on users", "create_table teams",
        "add_column users.age", "alter_column users.email (length, nullable)",
        "add_foreign_key users.org_id -> teams.id", "create_index ix_users_email on users",
        "drop_column users.gone", "drop_table legacy"]


def test_unsupported_changes_are_refused() -> None:
    old = {"t": table("t", {"name": "x", "kind": "integer", "nullable": False})}
    new = {"t": table("t", {"name": "x", "kind": "integer", "nullable": False, "primary_key": True})}
    with pytest.raises(MegaError) as info:
        Differ(old, new).diff()
    assert info.value.code == "migration.unsupported_change"
    assert info.value.message == "t.x: changing primary_key is not supported by db:generate"


def test_rendered_migrations_are_valid_python_and_reverse() -> None:
    ops = Differ({}, {"u": table("u", {"name": "bio", "kind": "text", "nullable": True, "comment": "it's"})}
                 ).diff().operations
    text = render_migration("init", "x", ops, "analytics")
    compile(text, "m.py", "exec")
    assert "database = 'analytics'" in text and 'comment="it\'s"' in text
    assert "def down(schema: Schema) -> None:\n    schema.drop_table(\"u\")\n" in text


def test_rename_flags_parse() -> None:
    renames = Renames.parse(["users:members", "posts.body:content", "posts.a:posts.b"])
    assert renames.tables == {"users": "members"}
    assert renames.columns == {("posts", "body"): "content", ("posts", "a"): "b"}


@pytest.mark.parametrize("name, snake", [("CreateUsers", "create_users"),
                                         ("add-user email", "add_user_email"), ("x", "x")])
def test_snake_names(name: str, snake: str) -> None:
    assert snake_name(name) == snake
