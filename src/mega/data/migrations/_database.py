"""The database a migration command works on: `services.dbs.<alias>` of the config, as an AsyncEngine.

Used when the boot has no adapters to lend one. With no database declared at all, the project runs on
the embedded SQLite file `var/mega.sqlite3`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from mega.errors import MegaError

EMBEDDED_ALIAS = "default"
EMBEDDED = Path("var") / "mega.sqlite3"
_ASYNC = {"sqlite": "sqlite+aiosqlite", "postgres": "postgresql+asyncpg", "maria": "mysql+aiomysql"}


def default_alias(dbs: dict[str, Any]) -> str:
    """As the adapters pick it: `primary`, else `default`, else the first declared (embedded: `default`)."""
    for name in ("primary", EMBEDDED_ALIAS):
        if name in dbs:
            return name
    return next(iter(dbs), EMBEDDED_ALIAS)


def database_options(dbs: dict[str, Any], alias: str | None) -> tuple[str, dict[str, Any]]:
    """(alias, options) for `--alias` (None: the default database)."""
    name = alias or default_alias(dbs)
    if name in dbs:
        return name, dict(dbs[name])
    if not dbs and name == EMBEDDED_ALIAS:
        return name, {"driver": "sqlite", "path": str(EMBEDDED)}
    raise MegaError("migration.unknown_database", f"no database '{name}' in services.dbs",
                    details={"alias": name, "aliases": sorted(dbs)},
                    hint=f"pass --alias with one of: {', '.join(sorted(dbs)) or '(none declared)'}")


def engine_url(root: Path, options: dict[str, Any]) -> URL:
    driver = str(options.get("driver", ""))
    if driver not in _ASYNC:
        raise MegaError("migration.unknown_database",
                        f"migrations do not support the database driver {driver!r}",
                        hint=f"drivers: {', '.join(sorted(_ASYNC))}")
    if driver == "sqlite":
        path = options.get("path") or options.get("database")
        if options.get("url"):
            path = make_url(str(options["url"])).database
        path = str(path or EMBEDDED)
        if path != ":memory:" and not Path(path).is_absolute():
            path = str(Path(root) / path)
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        return URL.create(_ASYNC["sqlite"], database=path)
    if options.get("url"):
        return make_url(str(options["url"])).set(drivername=_ASYNC[driver])
    return URL.create(_ASYNC[driver], username=options.get("user"), password=options.get("password"),
                      host=options.get("host", "127.0.0.1"), port=options.get("port"),
                      database=options.get("database"))


def engine_for(root: Path, options: dict[str, Any]) -> AsyncEngine:
    return create_async_engine(engine_url(root, options))
