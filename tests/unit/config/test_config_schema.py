"""The scope table, the schema and the reference docs agree with each other."""

from __future__ import annotations

import re
from pathlib import Path

from mega.config import schema
from mega.config._problems import PROBLEM_CODES
from mega.config._specs import Entries, Section, Spec, Switch
from mega.config.scopes import APP_ONLY, BOTH, GLOBAL_ONLY, Scope
from mega.config.sections import NOT_BUILT, allowed_in, keys_for, registered, scope_of

DOC = Path(__file__).parents[3] / "docs" / "reference" / "config.md"


def dotted_keys(spec: Spec, prefix: str = "") -> list[str]:
    """Every key the schema knows, dotted; `<alias>` stands for a user-chosen name."""
    keys = [prefix] if prefix else []
    if isinstance(spec, Switch):
        return keys + dotted_keys(spec.inner, prefix)[1:]
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
    sections = registered()
    for scope, core in ((Scope.GLOBAL, GLOBAL_ONLY), (Scope.APP, APP_ONLY)):
        features = {name for name, section in sections.items() if scope in section.scopes}
        assert set(schema.root_for(scope).fields) == core | BOTH | features == keys_for(scope)


def test_builtin_sections_are_registered_with_their_scopes() -> None:
    scopes = {name: section.scopes for name, section in registered().items()}
    assert scopes == {
        "lock": {Scope.GLOBAL, Scope.APP},
        "bus": {Scope.GLOBAL, Scope.APP},
        "session": {Scope.APP},
        "helmet": {Scope.APP},
        "cors": {Scope.APP},
        "csrf": {Scope.APP},
        "rate_limit": {Scope.APP},
        "forms": {Scope.APP},
        "migrations": {Scope.GLOBAL},
        "i18n": {Scope.GLOBAL, Scope.APP},
        "static": {Scope.APP},
        "views": {Scope.APP},
        "openapi": {Scope.GLOBAL, Scope.APP},
        "asp": {Scope.APP},
        "auth": {Scope.APP},
        "metrics": {Scope.GLOBAL},
        "tracing": {Scope.GLOBAL},
        "jobs": {Scope.GLOBAL},
        "schedules": {Scope.GLOBAL},
        "workers": {Scope.GLOBAL},
        "ws": {Scope.APP},
        "ws_cluster": {Scope.GLOBAL},
    }
    assert not set(scopes) & set(NOT_BUILT)


def test_scope_lookups() -> None:
    assert scope_of("server") is Scope.GLOBAL
    assert scope_of("hosts") is Scope.APP
    assert scope_of("cors") is Scope.APP
    assert scope_of("lock") is None
    assert scope_of("nope") is None
    assert allowed_in("bus", Scope.GLOBAL) and allowed_in("bus", Scope.APP)
    assert not allowed_in("hosts", Scope.GLOBAL)


def test_reference_doc_lists_every_key_and_code() -> None:
    text = DOC.read_text(encoding="utf-8")
    documented = set(re.findall(r"`([a-z0-9_<>.]+)`", text))

    keys = dotted_keys(schema.root_for(Scope.GLOBAL)) + dotted_keys(schema.root_for(Scope.APP))
    assert "services.caches.<alias>.driver" in keys
    assert [key for key in keys if key not in documented] == []
    assert [code for code in (*PROBLEM_CODES, "config.invalid") if code not in documented] == []
