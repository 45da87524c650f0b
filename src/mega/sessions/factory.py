"""Build a session store from the `store` part of the session config.

A store without its own `ttl` inherits the session's (one source of truth). The file store's hourly
sweep is injected here, at boot, only for `file` and only when `cleanup_interval` is unset; 0 opts
out (an external cron), and the store class itself defaults to no sweep.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from mega.errors import MegaError
from mega.sessions.store import SessionStore, check_seconds

__all__ = ["DEFAULT_FILE_CLEANUP_INTERVAL", "DRIVERS", "make_store"]

DEFAULT_FILE_CLEANUP_INTERVAL = 3600.0
DEFAULT_FILE_PATH = "var/sessions"
DEFAULT_PREFIX = "mega:sess:"
DRIVERS = ("file", "redis")
KEYS = {"file": ("driver", "ttl", "path", "cleanup_interval"), "redis": ("driver", "ttl", "cache", "prefix")}


def _error(where: str, message: str, hint: str, **details: Any) -> MegaError:
    return MegaError("session.invalid_config", f"{where}: session.store: {message}", hint=hint, status=500,
                     details={"where": where, **details})


def make_store(cfg: Mapping[str, Any] | None, *, session_ttl: float, root: Path,
               cache_client: Callable[[str], Any], where: str) -> SessionStore:
    """The store `cfg` describes. `cache_client(alias)` returns the redis client of a cache alias
    (or raises); `where` names the config file in messages."""
    if cfg is None:
        cfg = {}
    if not isinstance(cfg, Mapping):
        raise _error(where, f"must be a dict, got {type(cfg).__name__}",
                     "e.g. {'driver': 'file'} or {'driver': 'redis', 'cache': 'sessions'}")
    driver = cfg.get("driver", "file")
    if not isinstance(driver, str) or driver not in DRIVERS:
        raise _error(where, f"unknown driver {driver!r} (drivers: {', '.join(DRIVERS)})",
                     f"set driver to one of: {', '.join(DRIVERS)}", key="driver")
    for key in cfg:
        if key not in KEYS[driver]:
            near = difflib.get_close_matches(str(key), KEYS[driver], n=1)
            guess = f" (did you mean {near[0]!r}?)" if near else ""
            raise _error(where, f"unknown key {key!r} for driver {driver!r}{guess}",
                         f"keys for {driver}: {', '.join(KEYS[driver])}", key=str(key))
    label = f"{where}: session.store"
    ttl = check_seconds(cfg.get("ttl", session_ttl), "ttl", label)
    if driver == "file":
        return _file_store(cfg, ttl, root, where, label)
    return _redis_store(cfg, ttl, cache_client, where)


def _file_store(cfg: Mapping[str, Any], ttl: float, root: Path, where: str, label: str) -> SessionStore:
    from mega.sessions.file import FileSessionStore

    interval = check_seconds(cfg.get("cleanup_interval", DEFAULT_FILE_CLEANUP_INTERVAL), "cleanup_interval",
                             label, zero_ok=True)
    path = cfg.get("path", DEFAULT_FILE_PATH)
    if not isinstance(path, str | os.PathLike) or not str(path):
        raise _error(where, f"path must be a directory (relative to the project), got {path!r}",
                     f"e.g. {DEFAULT_FILE_PATH!r}", key="path")
    return FileSessionStore(root / path, ttl=ttl, cleanup_interval=interval)


def _redis_store(cfg: Mapping[str, Any], ttl: float, cache_client: Callable[[str], Any],
                 where: str) -> SessionStore:
    from mega.sessions.redis import RedisSessionStore

    alias = cfg.get("cache")
    if not isinstance(alias, str) or not alias:
        raise _error(where, f"the redis store needs 'cache': '<alias of a redis cache>', got {alias!r}",
                     "declare services.caches.<alias> = {'driver': 'redis', 'url': ...} and name it here",
                     key="cache")
    prefix = cfg.get("prefix", DEFAULT_PREFIX)
    if not isinstance(prefix, str) or not prefix:
        raise _error(where, f"prefix must be a non-empty string, got {prefix!r}",
                     f"e.g. {DEFAULT_PREFIX!r}; apps sharing a Redis need different prefixes", key="prefix")
    return RedisSessionStore(cache_client(alias), ttl=ttl, prefix=prefix)
