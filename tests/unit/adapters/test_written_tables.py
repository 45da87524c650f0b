"""Which table a statement writes, as a committing test records it (see mega.adapters.sql._pinned)."""

from __future__ import annotations

import pytest

from mega.adapters.sql._pinned import ANY_TABLE, written_table


@pytest.mark.parametrize("sql, table", [
    ("SELECT * FROM users", None),
    ("  select 1", None),
    ("SELECT * FROM users WHERE id = $1 FOR UPDATE", None),
    ("SELECT * FROM logs WHERE action = 'delete';", None),
    ("INSERT INTO users (id) VALUES ($1)", "users"),
    ('INSERT INTO "public"."users" (id) VALUES (1)', "users"),
    ("INSERT IGNORE INTO `users` (id) VALUES (%s)", "users"),
    ("REPLACE INTO users(id) VALUES (1)", "users"),
    ("UPDATE users SET name = ? WHERE id = ?", "users"),
    ("DELETE FROM users WHERE id = 1", "users"),
    ("TRUNCATE TABLE users", "users"),
    ("WITH x AS (SELECT 1) SELECT * FROM x", None),
    ("WITH x AS (DELETE FROM users RETURNING id) SELECT * FROM x", ANY_TABLE),
    ("CREATE TABLE t (x INT)", ANY_TABLE),
    ("SELECT nextval('s'); DELETE FROM users", ANY_TABLE),
])
def test_the_table_a_statement_writes(sql: str, table: str | None) -> None:
    assert written_table(sql) == table
