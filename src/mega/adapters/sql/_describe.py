"""What a statement does, for spans: its kind (SELECT, INSERT, ...) and the first table it names.

Read from the SQL text with one small regex, cached per statement string (statements are compiled once
and reused, so the cache holds a bounded working set); never from the parameters.
"""

from __future__ import annotations

import re
from functools import lru_cache

__all__ = ["describe", "store_kind"]

_COMMENTS = re.compile(r"^(?:\s+|--[^\n]*\n?|/\*.*?\*/)*", re.S)
_KIND = re.compile(r"[A-Za-z]+")
_NAME = r'(?:"[^"]+"|`[^`]+`|\[[^\]]+\]|[A-Za-z_][\w$]*)'
_TABLE = re.compile(
    r"\b(?:FROM|INTO|UPDATE|JOIN|TABLE(?:\s+IF\s+(?:NOT\s+)?EXISTS)?)\s+"
    rf"({_NAME}(?:\s*\.\s*{_NAME})?)",
    re.I,
)
_STORE_KINDS = {"create": "INSERT", "create_many": "INSERT", "upsert": "INSERT", "update": "UPDATE",
                "delete": "DELETE"}


@lru_cache(maxsize=2048)
def describe(sql: str) -> tuple[str, str | None]:
    """("SELECT", "users") for "SELECT * FROM users WHERE ..."; the table is None when none is named."""
    start = _COMMENTS.match(sql)
    head = _KIND.match(sql, start.end() if start else 0)
    kind = head.group(0).upper() if head else "SQL"
    found = _TABLE.search(sql)
    if found is None:
        return kind, None
    parts = [p.strip().strip('"`[]') for p in found.group(1).split(".")]
    return kind, ".".join(parts)


def store_kind(op: str) -> str:
    """The statement kind of a model store operation (`find`, `count` read; `create` inserts...)."""
    return _STORE_KINDS.get(op, "SELECT")
