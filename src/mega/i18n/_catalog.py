"""Read an app's catalogs (`locales/server/<locale>.json`) once at boot into flat, compiled entries.

A catalog is a JSON object of strings, nested objects (addressed with dots: `nav.home`) and plural
objects (`{"one": "{count} item", "other": "{count} items"}`: only CLDR category names, `other`
required). Every problem of every file is collected, then boot fails once, naming file and key.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mega.config._problems import ConfigProblem
from mega.i18n._message import BadMessage, Part, parse
from mega.i18n._settings import canonical_locale

__all__ = ["CATEGORIES", "Catalog", "Entry", "Plural", "load_catalogs", "missing_keys"]

CATEGORIES = frozenset({"zero", "one", "two", "few", "many", "other"})
_SHAPE = "a catalog holds strings, nested objects and plural objects"


@dataclass(frozen=True, slots=True)
class Plural:
    forms: Mapping[str, tuple[Part, ...]]  # CLDR category -> message; "other" is always there


Entry = tuple[Part, ...] | Plural


@dataclass(frozen=True)
class Catalog:
    locale: str
    file: str  # relative to the project root, for messages
    entries: Mapping[str, Entry]


def catalog_files(directory: Path) -> list[Path]:
    """The `<locale>.json` files of a `locales/server` folder (hidden and `_` files skipped)."""
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.glob("*.json") if p.is_file() and not p.name.startswith((".", "_")))


def load_catalogs(files: list[Path], root: Path) -> tuple[dict[str, Catalog], list[ConfigProblem]]:
    """Each file's catalog by locale, and every problem found."""
    catalogs: dict[str, Catalog] = {}
    problems: list[ConfigProblem] = []
    for path in files:
        label = _label(path, root)
        locale = canonical_locale(path.stem)
        if locale is None:
            problems.append(_problem("i18n.invalid_locale", "", label,
                                     f"{label}: {path.stem!r} is not a CLDR locale",
                                     "name a catalog after its locale: en.json, ko.json, pt_BR.json"))
            continue
        if locale in catalogs:
            problems.append(_problem("i18n.duplicate_locale", "", label,
                                     f"{label}: is a second catalog of locale {locale!r} "
                                     f"(with {catalogs[locale].file})", "keep one file per locale"))
            continue
        data = _read_json(path, label, problems)
        if data is None:
            continue
        entries: dict[str, Entry] = {}
        _flatten(data, "", label, entries, problems)
        catalogs[locale] = Catalog(locale, label, entries)
    return catalogs, problems


def missing_keys(catalogs: Mapping[str, Catalog]) -> dict[str, list[str]]:
    """Per locale, the keys other catalogs have and it lacks (sorted); locales lacking none are left out."""
    every = set().union(*(c.entries for c in catalogs.values())) if catalogs else set()
    out = {locale: sorted(every - set(c.entries)) for locale, c in catalogs.items()}
    return {locale: keys for locale, keys in out.items() if keys}


def _label(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


def _read_json(path: Path, label: str, problems: list[ConfigProblem]) -> Any:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(_problem("i18n.invalid_json", "", label, f"{label}: cannot be read as UTF-8 text: "
                                 f"{exc}", "save the catalog as UTF-8 JSON"))
        return None
    try:
        data = json.loads(text, object_pairs_hook=_no_duplicates)
    except _DuplicateKey as exc:
        problems.append(_problem("i18n.invalid_catalog", exc.key, label,
                                 f"{label}: key {exc.key!r} is written twice in one object",
                                 "keep one of them: JSON keeps only the last"))
        return None
    except json.JSONDecodeError as exc:
        problems.append(_problem("i18n.invalid_json", "", label,
                                 f"{label}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}",
                                 "fix the JSON syntax there (a missing comma or quote, a trailing comma)"))
        return None
    if not isinstance(data, dict):
        problems.append(_problem("i18n.invalid_catalog", "", label,
                                 f"{label}: is a JSON {type(data).__name__}, not an object", _SHAPE))
        return None
    return data


class _DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


def _flatten(data: dict[str, Any], prefix: str, label: str, entries: dict[str, Entry],
             problems: list[ConfigProblem]) -> None:
    for name, value in data.items():
        key = f"{prefix}{name}"
        if not name or "." in name:
            problems.append(_problem("i18n.invalid_catalog", key, label,
                                     f"{label}: key {key!r} is empty or holds a dot",
                                     "dots join nested keys: nest an object instead"))
        elif isinstance(value, str):
            _compile(value, key, label, entries, problems)
        elif isinstance(value, dict) and value and set(value) <= CATEGORIES:
            _plural(value, key, label, entries, problems)
        elif isinstance(value, dict):
            _flatten(value, f"{key}.", label, entries, problems)
        else:
            problems.append(_problem("i18n.invalid_catalog", key, label,
                                     f"{label}: key {key!r} is {_json_kind(value)}: {_SHAPE}",
                                     "write the text as a string, e.g. \"3\" rather than 3"))


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return "a list"


def _plural(value: dict[str, Any], key: str, label: str, entries: dict[str, Entry],
            problems: list[ConfigProblem]) -> None:
    if "other" not in value:
        problems.append(_problem("i18n.invalid_catalog", key, label,
                                 f"{label}: plural key {key!r} has no 'other' form",
                                 "add \"other\": every locale falls back to it"))
        return
    forms: dict[str, tuple[Part, ...]] = {}
    for category, text in value.items():
        if not isinstance(text, str):
            problems.append(_problem("i18n.invalid_catalog", f"{key}.{category}", label,
                                     f"{label}: plural form {key}.{category} is not a string", _SHAPE))
            return
        found: dict[str, Entry] = {}
        _compile(text, f"{key}.{category}", label, found, problems)
        if f"{key}.{category}" in found:
            forms[category] = found[f"{key}.{category}"]  # type: ignore[assignment]
    if len(forms) == len(value):
        entries[key] = Plural(forms)


def _compile(text: str, key: str, label: str, entries: dict[str, Entry],
             problems: list[ConfigProblem]) -> None:
    try:
        entries[key] = parse(text)
    except BadMessage as exc:
        problems.append(_problem("i18n.invalid_catalog", key, label, f"{label}: key {key!r} {exc.text}",
                                 exc.hint))


def _problem(code: str, key: str, file: str, message: str, hint: str) -> ConfigProblem:
    return ConfigProblem(code, key, file, message, hint)
