"""The project's schema as the migrations left it: `.mega/journal/snapshot.json`.

    {"version": 1, "last": "<ts>-<name>" | null, "tables": {"users": {"app": "main", <ModelSpec.to_dict()>}}}

`db:generate` diffs the models against it, so no database is needed to generate.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from mega.data.model import Model
from mega.errors import MegaError

VERSION = 1
JOURNAL_DIR = Path(".mega") / "journal"
SNAPSHOT_FILE = "snapshot.json"
HISTORY_DIR = "history"

Tables = dict[str, dict[str, Any]]
_RESTORE = "restore it from version control (only mega db:generate writes it)"


def journal_dir(root: Path) -> Path:
    return Path(root) / JOURNAL_DIR


def snapshot_path(root: Path) -> Path:
    return journal_dir(root) / SNAPSHOT_FILE


def empty() -> dict[str, Any]:
    return {"version": VERSION, "last": None, "tables": {}}


def load_snapshot(root: Path) -> dict[str, Any]:
    """The journal's snapshot; an empty one when the project has none yet."""
    path = snapshot_path(root)
    if not path.is_file():
        return empty()
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise MegaError("migration.invalid_journal", f"cannot read {path}: {exc}", hint=_RESTORE) from exc
    valid = isinstance(data, dict) and data.get("version") == VERSION and isinstance(data.get("tables"), dict)
    if not valid:
        raise MegaError("migration.invalid_journal", f"{path} is not a version {VERSION} mega snapshot",
                        hint=_RESTORE)
    return data


def table_entry(model: type[Model]) -> dict[str, Any]:
    spec = model.spec()
    return {"app": spec.app, **spec.to_dict()}


def tables_of(models: Iterable[type[Model]]) -> Tables:
    """The snapshot's `tables` for these models, by table name."""
    entries = {m.spec().table: table_entry(m) for m in models}
    # Through JSON once so that what is compared is exactly what would be stored.
    loaded: Tables = json.loads(json.dumps(entries, default=str))
    return loaded


def build(tables: Tables, last: str | None) -> dict[str, Any]:
    return {"version": VERSION, "last": last, "tables": {name: tables[name] for name in sorted(tables)}}


def dumps(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n"
