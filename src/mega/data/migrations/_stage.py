"""Boot stage "migrations" (after "models"): every SQL database is checked against the migrations and
the models before the apps load.

- migrations not applied -> boot fails `db.pending_migrations`, listing them and the command to run;
  with `migrations.allow_pending` (or MEGA_ALLOW_PENDING_MIGRATIONS=1) it logs that as a warning;
- a model's table or field the database lacks, with nothing pending -> a warning `db.model_drift`.

A project with neither models nor migration files skips it without importing anything; so do the
`mega db:*` commands (override `migrations.check: False`), which are how one gets out of it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mega.data.migrations._settings import ALLOW_PENDING_ENV
from mega.errors import MegaError

if TYPE_CHECKING:
    from mega.boot.runtime import Runtime
    from mega.data.migrations.check import SchemaState

log = logging.getLogger("mega.migrations")

_FILE = re.compile(r"\d{14}_[a-z0-9][a-z0-9_]*\.py")
_LISTED = 10  # pending migrations named in the message; details has them all


async def migrations_stage(rt: Runtime) -> None:
    options = rt.config.values.get("migrations") or {}
    adapters = rt.adapters
    if not options.get("check", True) or adapters is None:
        return
    apps = {name: app.dir for name, app in rt.config.apps.items()}
    if not rt.models and not _has_migrations(apps.values()):
        return
    from mega.data.migrations.check import check_schema  # SQLAlchemy and the runner: only with work to do

    default = adapters.default_alias("db")
    states = [await check_schema(adapters.db(alias), rt.root, apps=apps, models=rt.models,
                                 default_alias=default) for alias in adapters.aliases("db")]
    if any(s.pending for s in states):
        error = pending_error(states)
        if not options.get("allow_pending"):
            raise error
        log.warning("%s; starting anyway (migrations.allow_pending)", error.message,
                    extra={"code": "db.pending_migrations", "migrations": error.details["pending"]})
    for state in states:
        for line in drift_lines(state):
            log.warning("%s", line, extra={"code": "db.model_drift", "alias": state.alias})


def _has_migrations(folders: Iterable[Path]) -> bool:
    for folder in folders:
        directory = folder / "migrations"
        if directory.is_dir() and any(_FILE.fullmatch(p.name) for p in directory.iterdir()):
            return True
    return False


def pending_error(states: Iterable[SchemaState]) -> MegaError:
    """`db.pending_migrations` for the databases with unapplied migrations, naming them and the fix."""
    pending = [s for s in states if s.pending]
    parts = []
    for state in pending:
        names = ", ".join(state.pending[:_LISTED])
        more = f" and {len(state.pending) - _LISTED} more" if len(state.pending) > _LISTED else ""
        count = f"{len(state.pending)} migration{'s' if len(state.pending) != 1 else ''}"
        parts.append(f"db '{state.alias}' has {count} not applied: {names}{more}")
    commands = " and ".join(dict.fromkeys(s.migrate_command for s in pending))
    details: Mapping[str, Any] = {"pending": {s.alias: list(s.pending) for s in pending},
                                  "commands": list(dict.fromkeys(s.migrate_command for s in pending))}
    return MegaError("db.pending_migrations", "; ".join(parts), details=dict(details),
                     hint=f"run {commands}; a deployment that migrates in a separate step can start "
                     f"anyway with migrations.allow_pending = True (or {ALLOW_PENDING_ENV}=1)")


def drift_lines(state: SchemaState) -> list[str]:
    """One line per model whose table or fields the database lacks, each with the commands to run."""
    by_model: dict[tuple[str, str], list[str | None]] = {}
    for drift in state.drift:
        by_model.setdefault((drift.model, drift.table), []).append(drift.column)
    lines = []
    for (model, table), columns in by_model.items():
        where = f"db '{state.alias}'"
        if None in columns:
            what, name = f"model {model}'s table {table} is not in {where} and no migration creates it", \
                f"create_{table}"
        elif len(columns) == 1:
            what, name = (f"model {model}'s field {columns[0]} is not a column of {table} in {where} and no "
                          "migration adds it"), f"update_{table}"
        else:
            what, name = (f"model {model}'s fields {', '.join(str(c) for c in columns)} are not columns of "
                          f"{table} in {where} and no migration adds them"), f"update_{table}"
        lines.append(f"{what}: run mega db:generate {name}, then {state.migrate_command}")
    return lines
