"""The scope table, the schema and the reference docs agree with each other."""

from __future__ import annotations

import re
from pathlib import Path

from mega.config import schema
from mega.config._specs import Entries, Section, Spec
from mega.config.problems import PROBLEM_CODES
from mega.config.scopes import APP_ONLY, BOTH, GLOBAL_ONLY, Scope, allowed_in, keys_for, scope_of

DOC = Path(__file__).parents[3] / "docs" / "reference" / "config.md"


def dotted_keys(spec: Spec, prefix: str = "") -> list[str]:
    """Every key the schema knows, dotted; `<alias>` stands for a user-chosen name."""
    keys = [prefix] if prefix else []
    if isinstance(spec, Section):
        for name, item in spec.fields.items():
            keys += dotted_keys(item, f"{prefix}.{name}" if prefix else name)
    elif isinstance(spec, Entries) and isinstance(spec.item, Section):
        keys += dotted_keys(spec.item, f"{prefix}.<alias>")[1:]  # the alias itself is not a key
    return keys


def test_scopes_do_not_overlap() -> None:
    assert not GLOBAL_ONLY & APP_ONLY
    assert not (GLOBAL_ONLY | APP_ONLY) & BOTH


def test_schema_roots_hold_exactly_the_keys_of_their_scope() -> None:
    assert set(schema.GLOBAL.fields) == GLOBAL_ONLY | BOTH == keys_for(Scope.GLOBAL)
    assert set(schema.APP.fields) == APP_ONLY | BOTH == keys_for(Scope.APP)


def test_scope_lookups() -> None:
    assert scope_of("server") is Scope.GLOBAL
    assert scope_of("hosts") is Scope.APP
    assert scope_of("lock") is None
    assert scope_of("nope") is None
    assert allowed_in("bus", Scope.GLOBAL) and allowed_in("bus", Scope.APP)
    assert not allowed_in("hosts", Scope.GLOBAL)


def test_reference_doc_lists_every_key_and_code() -> None:
    text = DOC.read_text(encoding="utf-8")
    documented = set(re.findall(r"`([a-z0-9_<>.]+)`", text))

    keys = dotted_keys(schema.GLOBAL) + dotted_keys(schema.APP)
    assert "services.caches.<alias>.driver" in keys
    assert [key for key in keys if key not in documented] == []
    assert [code for code in (*PROBLEM_CODES, "config.invalid") if code not in documented] == []
