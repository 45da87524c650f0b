"""Driver registry: (family, driver name) -> adapter class. Plugins add drivers with `register_driver`."""

from __future__ import annotations

import importlib
import importlib.util

from mega.adapters.base import Adapter
from mega.errors import MegaError

# Built-in drivers are imported only when a project declares them.
_BUILTIN: dict[tuple[str, str], str] = {}
_classes: dict[tuple[str, str], type[Adapter]] = {}

# Built-in drivers whose client library comes with an extra, not with the base install:
# (family, driver) -> (modules the driver imports, the extra that installs them).
EXTRAS: dict[tuple[str, str], tuple[tuple[str, ...], str]] = {
    ("db", "postgres"): (("asyncpg",), "postgres"),
    ("db", "maria"): (("aiomysql", "pymysql"), "mysql"),
    ("cache", "redis"): (("redis",), "redis"),
    ("redis", "redis"): (("redis",), "redis"),
    ("bus", "nats"): (("nats",), "nats"),
}


def register_builtin(family: str, driver: str, target: str) -> None:
    """Declare a built-in driver by "module:Class" (imported on first use)."""
    _BUILTIN[(family, driver)] = target


for _family, _driver, _target in (
    ("db", "sqlite", "mega.adapters.sql:SqliteAdapter"),
    ("db", "postgres", "mega.adapters.sql:PostgresAdapter"),
    ("db", "maria", "mega.adapters.sql:MariaAdapter"),
    ("cache", "memory", "mega.cache.memory:MemoryCache"),
    ("cache", "file", "mega.cache.file:FileCache"),
    ("cache", "redis", "mega.cache.redis:RedisCache"),
    ("redis", "redis", "mega.adapters.redis:RedisConnection"),
    ("bus", "nats", "mega.adapters.nats:NatsAdapter"),
):
    register_builtin(_family, _driver, _target)


def register_driver(family: str, driver: str, cls: type[Adapter]) -> None:
    if not (isinstance(cls, type) and issubclass(cls, Adapter)):
        raise MegaError("adapter.invalid_driver", f"driver '{driver}' for {family} must subclass "
                        "mega.adapters.base.Adapter")
    key = (family, driver)
    if key in _classes and _classes[key] is not cls:
        raise MegaError("adapter.duplicate_driver",
                        f"a {family} driver named '{driver}' is already registered")
    _classes[key] = cls


def driver_names(family: str) -> list[str]:
    return sorted({d for f, d in [*_BUILTIN, *_classes] if f == family})


def require_installed(family: str, driver: str) -> None:
    """Fail with `adapter.driver_missing` when a built-in driver's client library is not installed."""
    entry = EXTRAS.get((family, driver))
    if entry is None:
        return
    modules, extra = entry
    # find_spec, not import: the check costs no import time, and the driver imports them when it connects.
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        raise MegaError("adapter.driver_missing",
                        f"the {family} driver '{driver}' needs the Python package "
                        f"{' and '.join(missing)}, which is not installed",
                        details={"family": family, "driver": driver, "missing": missing, "extra": extra},
                        hint=f"pip install 'mega[{extra}]'", status=500)


def driver_class(family: str, driver: str) -> type[Adapter]:
    key = (family, driver)
    cls = _classes.get(key)
    if cls is not None:
        return cls
    target = _BUILTIN.get(key)
    if target is None:
        raise MegaError("adapter.unknown_driver", f"unknown {family} driver '{driver}'",
                        details={"family": family, "driver": driver, "drivers": driver_names(family)},
                        hint=f"use one of: {', '.join(driver_names(family)) or '(none)'}")
    require_installed(family, driver)
    module, _, name = target.partition(":")
    loaded: type[Adapter] = getattr(importlib.import_module(module), name)
    _classes[key] = loaded
    return loaded
