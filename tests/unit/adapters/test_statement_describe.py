"""Spans name a statement by its kind and first table, read from the SQL text (never the parameters)."""

from __future__ import annotations

import pytest

from mega.adapters.sql._describe import describe, store_kind


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT id FROM users WHERE id = :id", ("SELECT", "users")),
        ("insert into orders (a) values ($1)", ("INSERT", "orders")),
        ('UPDATE "Accounts" SET balance = ? WHERE id = ?', ("UPDATE", "Accounts")),
        ("DELETE FROM `audit` WHERE at < %s", ("DELETE", "audit")),
        (
            "/* report */ -- weekly\n SELECT * FROM shop.items i JOIN prices p ON p.id = i.id",
            ("SELECT", "shop.items"),
        ),
        ("CREATE TABLE IF NOT EXISTS traced (id INTEGER)", ("CREATE", "traced")),
        ("SELECT 1", ("SELECT", None)),
        ("   ", ("SQL", None)),
    ],
)
def test_kind_and_first_table(sql: str, expected: tuple[str, str | None]) -> None:
    assert describe(sql) == expected


def test_cached_per_statement_string() -> None:
    describe.cache_clear()
    for _ in range(3):
        describe("SELECT a FROM cached_t")
    info = describe.cache_info()
    assert (info.hits, info.misses) == (2, 1)


def test_store_operations_map_to_kinds() -> None:
    assert [store_kind(op) for op in ("create", "upsert", "update", "delete", "find", "count")] == [
        "INSERT",
        "INSERT",
        "UPDATE",
        "DELETE",
        "SELECT",
        "SELECT",
    ]
