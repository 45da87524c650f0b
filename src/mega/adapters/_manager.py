"""The project's adapters by alias: one per `services.<group>.<alias>`, plus embedded defaults.

Defaults: with no alias, a group's default is `primary` if declared, else `default`, else the
first declared. With no database declared the project gets an embedded SQLite database
(`default`, `<project>/var/mega.sqlite3`); with no cache, a `memory` cache (`default`). With
`defer_embedded_db` (a project without models or migrations), the embedded database costs nothing at
boot: its driver (and SQLAlchemy) is imported when the project first asks for it, and it connects on
its first statement or readiness check.
Redis connections (`services.redis`) connect first and close last: caches and others take their
client by alias.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mega._suggest import close_match
from mega.adapters import registry
from mega.adapters.base import Adapter
from mega.errors import MegaError

if TYPE_CHECKING:
    import redis.asyncio as aioredis

    from mega.cache.contract import Cache

log = logging.getLogger("mega.adapters")

GROUPS = {"redis": "redis", "db": "dbs", "cache": "caches", "bus": "buses"}  # family -> services.<group>
_ONE_DRIVER = {"redis": "redis"}  # groups whose entries name no driver
_CONNECTIONS = ("redis",)  # families other adapters build on: connected first, closed last
_EXAMPLE = {"redis": "{'url': 'redis://127.0.0.1:6379/0'}"}
DEFAULT_ALIAS = "default"
EMBEDDED_DB = Path("var") / "mega.sqlite3"


class AdapterManager:
    """Builds every declared adapter (no IO), connects and disconnects them together."""

    def __init__(self, services: Mapping[str, Any] | None = None, *, root: str | Path | None = None,
                 defer_embedded_db: bool = False) -> None:
        self.root = Path(root if root is not None else ".").resolve()
        self._adapters: dict[str, dict[str, Adapter]] = {family: {} for family in GROUPS}
        self._default_cache: Cache | None = None  # `ctx.cache()` on the request path: resolved once
        self._embedded_db: Adapter | None = None
        self._no_embedded_db: str | None = None  # why the embedded database is missing, if it is
        services = services or {}
        for family, group in GROUPS.items():
            for alias, entry in (services.get(group) or {}).items():
                options = {k: v for k, v in entry.items() if k != "driver"}
                self._add(family, alias, _ONE_DRIVER.get(family) or entry["driver"], options)
        if not self._adapters["db"]:
            if defer_embedded_db:
                self._adapters["db"][DEFAULT_ALIAS] = _DeferredDb(self)
            else:
                self._add_embedded_db()
        if not self._adapters["cache"]:
            self._add("cache", DEFAULT_ALIAS, "memory", {})
        for adapter in self.all():
            adapter.bind(self)

    def _add(self, family: str, alias: str, driver: str, options: dict[str, Any]) -> Adapter:
        where = f"services.{GROUPS[family]}.{alias}"
        try:
            cls = registry.driver_class(family, driver)
        except MegaError as exc:
            exc.message = f"{where}: {exc.message}"
            exc.args = (exc.message,)
            raise
        except (ImportError, AttributeError) as exc:
            raise MegaError("adapter.driver_unavailable", f"{where}: the {family} driver '{driver}' cannot "
                            f"be loaded: {type(exc).__name__}: {exc}",
                            details={"group": GROUPS[family], "alias": alias, "driver": driver},
                            hint="install the package that provides it", cause=exc) from exc
        adapter = cls(alias, options)
        adapter.root = self.root
        self._adapters[family][alias] = adapter
        self._default_cache = None
        return adapter

    def _add_embedded_db(self) -> None:
        try:
            registry.driver_class("db", "sqlite")
        except (ImportError, AttributeError) as exc:
            # An install without the SQL stack still boots; ctx.db() then says why there is no db.
            self._no_embedded_db = f"the sqlite driver cannot be loaded ({type(exc).__name__}: {exc})"
            log.warning("no embedded database: %s; declare services.dbs in mega_config.py to use ctx.db()",
                        self._no_embedded_db)
            return
        self._embedded_db = self._add("db", DEFAULT_ALIAS, "sqlite", {"path": str(self.root / EMBEDDED_DB)})

    # -- lookup ------------------------------------------------------------------------------

    def db(self, alias: str | None = None, app: Any = None) -> Any:
        """A database adapter by alias; None = the default database."""
        return self.get("db", alias, app)

    def cache(self, alias: str | None = None, app: Any = None) -> Cache:
        """A cache by alias; None = the default cache (memory when none is declared)."""
        if alias is None and self._default_cache is not None:
            return self._default_cache
        cache: Cache = self.get("cache", alias, app)
        if alias is None:
            self._default_cache = cache
        return cache

    def bus(self, alias: str | None = None, app: Any = None) -> Any:
        """A bus connection (`services.buses`) by alias; None = the default one."""
        return self.get("bus", alias, app)

    def redis(self, alias: str | None = None, app: Any = None) -> aioredis.Redis:
        """The connected client of `services.redis.<alias>`; None = the default connection."""
        client: aioredis.Redis = self.get("redis", alias, app).native
        return client

    def get(self, family: str, alias: str | None = None, app: Any = None) -> Any:
        adapters = self._adapters[family]
        if alias is None:
            alias = self.default_alias(family)
            if alias is None:
                raise self._not_found(family, None, app)
        adapter = adapters.get(alias)
        if adapter is None:
            raise self._not_found(family, alias, app)
        if type(adapter) is _DeferredDb:
            return adapter.resolve()
        return adapter

    def default_alias(self, family: str) -> str | None:
        aliases = self._adapters[family]
        for name in ("primary", DEFAULT_ALIAS):
            if name in aliases:
                return name
        return next(iter(aliases), None)

    def aliases(self, family: str) -> list[str]:
        return list(self._adapters[family])

    def all(self) -> list[Adapter]:
        """Every adapter: redis connections, databases, caches, buses, each in declaration order."""
        return [a for family in GROUPS for a in self._adapters[family].values()]

    def _not_found(self, family: str, alias: str | None, app: Any) -> MegaError:
        group = GROUPS[family]
        declared = self.aliases(family)
        where = f" (app '{app.name}')" if getattr(app, "name", None) else ""
        example = "{'driver': ...}"
        if alias is None:
            reason = f"; {self._no_embedded_db}" if family == "db" and self._no_embedded_db else ""
            return MegaError("adapter.not_found", f"no {family} is declared{where}{reason}",
                             details={"group": group, "alias": None, "declared": declared},
                             hint=f"declare one in mega_config.py: config['services']['{group}']"
                                  f"['primary'] = {_EXAMPLE.get(family, example)}")
        close = close_match(alias, declared)
        also = f"did you mean '{close}'? " if close else ""
        return MegaError("adapter.not_found", f"no {family} named '{alias}'{where}; declared: "
                         f"{', '.join(declared) or '(none)'}",
                         details={"group": group, "alias": alias, "declared": declared},
                         hint=f"{also}declare it in mega_config.py under services.{group}: "
                              f"config['services']['{group}']['{alias}'] = {_EXAMPLE.get(family, example)}")

    # -- lifecycle ---------------------------------------------------------------------------

    async def connect_all(self) -> None:
        """Connect every adapter concurrently; on a failure close the others and raise the first one."""
        if self._embedded_db is not None:
            await asyncio.to_thread((self.root / EMBEDDED_DB).parent.mkdir, parents=True, exist_ok=True)
        for wave in self._waves():
            results = await asyncio.gather(*(a.connect() for a in wave), return_exceptions=True)
            failures = [r for r in results if isinstance(r, BaseException)]
            if failures:
                await self.disconnect_all(quiet=True)
                raise failures[0]

    def _waves(self) -> list[list[Adapter]]:
        """The connections others build on, then everything else."""
        first = [a for f in _CONNECTIONS for a in self._adapters[f].values()]
        return [first, [a for a in self.all() if a.family not in _CONNECTIONS]]

    async def disconnect_all(self, *, quiet: bool = False) -> None:
        """Disconnect every connected adapter concurrently; failures are logged, the first re-raised."""
        failures = []
        for wave in reversed(self._waves()):
            connected = [a for a in wave if a.connected]
            results = await asyncio.gather(*(a.disconnect() for a in connected), return_exceptions=True)
            for adapter, result in zip(connected, results, strict=True):
                if isinstance(result, Exception):
                    log.error("disconnecting %s '%s' failed: %s", adapter.family, adapter.alias, result,
                              exc_info=result)
                    failures.append(result)
        if failures and not quiet:
            raise failures[0]

    def stats(self) -> list[dict[str, Any]]:
        return [a.stats() for a in self.all()]

    def __repr__(self) -> str:
        counts = ", ".join(f"{g}={len(self._adapters[f])}" for f, g in GROUPS.items())
        return f"<AdapterManager {counts}>"


class _DeferredDb(Adapter):
    """Stands in for the embedded database until the project first asks for it (`resolve`): no driver
    import and no file at boot. The database it becomes connects on its first statement."""

    family = "db"
    driver = "sqlite"

    def __init__(self, manager: AdapterManager) -> None:
        super().__init__(DEFAULT_ALIAS, {})
        self._manager = manager
        self._real: Adapter | None = None

    def resolve(self) -> Adapter:
        """The embedded database itself (imported and built on the first call, connected on first use)."""
        if self._real is None:
            manager = self._manager
            del manager._adapters["db"][DEFAULT_ALIAS]  # the slot keeps its place for _add
            manager._add_embedded_db()
            real = manager._adapters["db"].get(DEFAULT_ALIAS)
            if real is None:  # the SQL stack is missing: say why on every later call
                manager._adapters["db"][DEFAULT_ALIAS] = self
                raise manager._not_found("db", None, None)
            real.connect_on_use = True  # type: ignore[attr-defined]
            real.bind(manager)
            self._real = real
        return self._real

    async def connect(self) -> None:
        """Nothing at boot: the database connects when it is first used."""

    async def _connect(self) -> Any:  # pragma: no cover - connect() never calls it
        return None

    async def _disconnect(self, native: Any) -> None:  # pragma: no cover - never connected
        return None

    async def disconnect(self) -> None:
        if self._real is not None:
            await self._real.disconnect()

    @property
    def connected(self) -> bool:
        return self._real is not None and self._real.connected

    async def health(self) -> Any:
        """Readiness asks the database itself: the first probe opens it."""
        return await self.resolve().health()

    def stats(self) -> dict[str, Any]:
        return self._real.stats() if self._real is not None else super().stats()

    def target(self) -> str:
        return str(self._manager.root / EMBEDDED_DB)
