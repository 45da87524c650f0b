"""`db:generate`: scan the models, validate them, diff them against the journal's snapshot and write the
migration files and the journal entry. No database is needed."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mega.data.migrations import _snapshot as snap
from mega.data.migrations._differ import Differ, Renames
from mega.data.migrations._loader import load_migrations
from mega.data.migrations._operations import Operation, RenameTable
from mega.data.migrations._questioner import Questioner
from mega.data.migrations._scan import app_dirs, scan_models
from mega.data.migrations._validate import validate_models
from mega.data.migrations._writer import (
    TS_FORMAT,
    PendingFile,
    history_entry,
    kebab_name,
    next_timestamp,
    render_migration,
    snake_name,
    write_all,
)
from mega.errors import MegaError


@dataclass
class Generated:
    operations: list[Operation] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    migrations: list[Path] = field(default_factory=list)
    history: Path | None = None

    @property
    def changed(self) -> bool:
        return bool(self.operations)


def generate(root: Path, name: str, *, apps: Mapping[str, Path] | None = None, app: str | None = None,
             renames: Iterable[str] = (), questioner: Questioner | None = None,
             now: dt.datetime | None = None) -> Generated:
    """Write the migrations that bring the journal's snapshot to the models (nothing when equal).

    `app` limits the diff to that app's models (and puts the files in it); otherwise each operation
    goes to the app of its table.
    """
    root = Path(root)
    snake = snake_name(name)
    apps = dict(apps) if apps is not None else app_dirs(root)
    if app is not None and app not in apps:
        raise MegaError("migration.unknown_app", f"no app named '{app}'",
                        hint=f"apps: {', '.join(apps) or '(none)'}")
    models = scan_models(root, apps)
    validate_models(models)
    current = snap.load_snapshot(root)
    old: snap.Tables = current["tables"]
    target = snap.tables_of(models)
    if app is not None:
        target = {t: e for t, e in target.items() if e.get("app") == app}
        target.update({t: e for t, e in old.items() if e.get("app") != app and t not in target})
    plan = Differ(old, target, questioner, Renames.parse(renames)).diff()
    result = Generated(plan.operations, plan.warnings)
    if not plan.operations:
        return result

    existing = [m.timestamp for m in load_migrations(root, apps)]
    existing += [p.name[:14] for p in (snap.journal_dir(root) / snap.HISTORY_DIR).glob("*.json")
                 if p.name[:14].isdigit()]
    stamp = next_timestamp(existing, now)
    history_id = f"{stamp.strftime(TS_FORMAT)}-{kebab_name(snake)}"
    default_app = app or next(iter(apps), "main")
    files: list[PendingFile] = []
    entries: list[dict[str, Any]] = []
    for i, ((owner, database), ops) in enumerate(_runs(plan.operations, old, target, default_app, app)):
        ts = (stamp + dt.timedelta(seconds=i)).strftime(TS_FORMAT)
        path = apps.get(owner, root / "apps" / owner) / "migrations" / f"{ts}_{snake}.py"
        title = f"{name}: " + ", ".join(op.describe() for op in ops[:3]) + (", ..." if len(ops) > 3 else "")
        files.append(PendingFile(path, render_migration(title, history_id, ops, database)))
        entries.append({"app": owner, "database": database, "file": _rel(path, root),
                        "operations": [op.to_dict() for op in ops]})
    new_snapshot = snap.build(target, history_id)
    history = snap.journal_dir(root) / snap.HISTORY_DIR / f"{history_id}.json"
    entry = history_entry(history_id, snake, stamp, entries, new_snapshot)
    files.append(PendingFile(history, snap.dumps(entry)))
    files.append(PendingFile(snap.snapshot_path(root), snap.dumps(new_snapshot)))
    write_all(files)
    result.migrations = [f.path for f in files[:-2]]
    result.history = history
    return result


def _runs(operations: list[Operation], old: snap.Tables, new: snap.Tables, default_app: str,
          forced_app: str | None) -> list[tuple[tuple[str, str | None], list[Operation]]]:
    """Consecutive operations of one (app, database), in order: each run becomes one file."""
    runs: list[tuple[tuple[str, str | None], list[Operation]]] = []
    for op in operations:
        entry = new.get(op.new if isinstance(op, RenameTable) else op.table) or old.get(op.table) or {}
        owner = (forced_app or entry.get("app") or default_app, entry.get("database"))
        if runs and runs[-1][0] == owner:
            runs[-1][1].append(op)
        else:
            runs.append((owner, [op]))
    return runs


def _rel(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()
