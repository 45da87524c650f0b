"""Find the migrations of every app: `apps/<app>/migrations/<14-digit ts>_<snake_name>.py`.

Generated and hand-written migrations live together; all apps' migrations run in timestamp order.
A migration module defines `up(schema)`, usually `down(schema)`, and may set `database = "alias"`
(default: the project's default database).
"""

from __future__ import annotations

import hashlib
import importlib.util
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from mega.data.migrations._scan import app_dirs
from mega.errors import MegaError

FILE_RE = re.compile(r"(\d{14})_([a-z0-9][a-z0-9_]*)")


@dataclass(eq=False)
class MigrationFile:
    app: str
    name: str  # the file stem: "<ts>_<snake_name>"
    path: Path
    _module: ModuleType | None = field(default=None, repr=False)

    @property
    def timestamp(self) -> str:
        return self.name[:14]

    @property
    def key(self) -> tuple[str, str]:
        return (self.app, self.name)

    @property
    def label(self) -> str:
        return f"{self.app}/{self.name}"

    def checksum(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()

    def module(self) -> ModuleType:
        if self._module is None:
            self._module = _import(self)
        return self._module

    @property
    def database(self) -> str | None:
        value = getattr(self.module(), "database", None)
        return value if isinstance(value, str) and value else None

    @property
    def up(self) -> Callable[[Any], Any]:
        fn: Callable[[Any], Any] = self.module().up
        return fn

    @property
    def down(self) -> Callable[[Any], Any] | None:
        fn = getattr(self.module(), "down", None)
        return fn if callable(fn) else None


def load_migrations(root: Path, apps: Mapping[str, Path] | None = None) -> list[MigrationFile]:
    """Every app's migrations, ordered by timestamp (then app, then name)."""
    found: list[MigrationFile] = []
    for app, folder in (apps if apps is not None else app_dirs(root)).items():
        directory = folder / "migrations"
        if not directory.is_dir():
            continue
        for path in sorted(directory.glob("*.py")):
            if path.name.startswith("_"):
                continue
            if not FILE_RE.fullmatch(path.stem):
                raise MegaError("migration.invalid_name", f"{app}/migrations/{path.name} is not named "
                                "<14-digit timestamp>_<snake_name>.py",
                                details={"app": app, "file": str(path)},
                                hint="rename it (mega g migration NAME makes one), or prefix it with _ if it "
                                "is a helper module")
            found.append(MigrationFile(app, path.stem, path))
    return sorted(found, key=lambda m: (m.timestamp, m.app, m.name))


def _import(migration: MigrationFile) -> ModuleType:
    name = f"mega_migrations.{migration.app}.{migration.name}"
    spec = importlib.util.spec_from_file_location(name, migration.path)
    if spec is None or spec.loader is None:
        raise MegaError("migration.invalid_file", f"cannot load {migration.path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        sys.modules.pop(name, None)
        raise MegaError("migration.invalid_file", f"cannot import migration {migration.label}: "
                        f"{type(exc).__name__}: {exc}", details={"file": str(migration.path)},
                        cause=exc) from exc
    if not callable(getattr(module, "up", None)):
        raise MegaError("migration.invalid_file", f"migration {migration.label} has no up(schema) function",
                        details={"file": str(migration.path)}, hint="def up(schema): ...")
    return module
