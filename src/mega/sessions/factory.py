"""Build an app's session store from the `store` part of its session config.

    "store": {}                                   # the built-in file cache under var/sessions
    "store": {"path": "var/sessions", "cleanup_interval": 3600}
    "store": {"cache": "sessions"}                # services.caches.sessions (memory, file or redis)
    "store": {..., "ttl": 86400, "prefix": "mega:sess:"}

Sessions are stored through the cache family: `session_store_for(cache, ...)` over any cache, and
`default_session_cache(...)`, the file cache a store owns when no `cache` is named (its sweep runs
every `cleanup_interval` seconds, an hour by default; 0 leaves it to an external cron). A store
without its own `ttl` inherits the session's (one source of truth).
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mega.errors import MegaError
from mega.sessions.cache import DEFAULT_PREFIX, CacheSessionStore
from mega.sessions.store import SessionStore, check_seconds

if TYPE_CHECKING:
    from mega.cache.contract import Cache

__all__ = ["DEFAULT_FILE_CLEANUP_INTERVAL", "DEFAULT_FILE_PATH", "KEYS", "default_session_cache",
           "make_store", "session_store_for"]

DEFAULT_FILE_CLEANUP_INTERVAL = 3600.0
DEFAULT_FILE_PATH = "var/sessions"
KEYS = ("cache", "ttl", "prefix", "path", "cleanup_interval")
_FILE_ONLY = ("path", "cleanup_interval")  # options of the built-in file cache


def session_store_for(cache: Cache, *, ttl: float, prefix: str = DEFAULT_PREFIX,
                      owns: bool = False) -> SessionStore:
    """The session store over `cache`; with `owns` it connects and closes the cache itself."""
    return CacheSessionStore(cache, ttl=ttl, prefix=prefix, owns=owns)


def default_session_cache(root: str | os.PathLike[str], path: str | os.PathLike[str] = DEFAULT_FILE_PATH,
                          cleanup_interval: float = DEFAULT_FILE_CLEANUP_INTERVAL) -> Cache:
    """The built-in sessions cache: files under `root/path`, swept every `cleanup_interval` s (0 = off).
    Not connected: the store that owns it connects it."""
    from mega.cache.file import FileCache

    cache = FileCache("sessions", {"path": str(Path(root) / path), "sweep_interval": cleanup_interval})
    cache.root = Path(root)
    return cache


def _error(where: str, message: str, hint: str, **details: Any) -> MegaError:
    return MegaError("session.invalid_config", f"{where}: session.store: {message}", hint=hint, status=500,
                     details={"where": where, **details})


def make_store(cfg: Mapping[str, Any] | None, *, session_ttl: float, root: Path,
               cache_for: Callable[[str], Cache], where: str) -> SessionStore:
    """The store `cfg` describes. `cache_for(alias)` returns the cache `services.caches.<alias>` (or
    raises `adapter.not_found`); `where` names the config file in messages."""
    if cfg is None:
        cfg = {}
    if not isinstance(cfg, Mapping):
        raise _error(where, f"must be a dict, got {type(cfg).__name__}",
                     "e.g. {} (files under var/sessions) or {'cache': 'sessions'}")
    for key in cfg:
        if key not in KEYS:
            near = difflib.get_close_matches(str(key), KEYS, n=1)
            guess = f" (did you mean {near[0]!r}?)" if near else ""
            hint = "sessions are stored in a cache: name it with 'cache'" if key == "driver" else ""
            raise _error(where, f"unknown key {key!r}{guess}",
                         f"{hint + '; ' if hint else ''}keys: {', '.join(KEYS)}", key=str(key))
    label = f"{where}: session.store"
    ttl = check_seconds(cfg.get("ttl", session_ttl), "ttl", label)
    prefix = cfg.get("prefix", DEFAULT_PREFIX)
    if not isinstance(prefix, str):
        raise _error(where, f"prefix must be a string, got {prefix!r}",
                     f"e.g. {DEFAULT_PREFIX!r}; apps sharing a cache need different prefixes", key="prefix")
    alias = cfg.get("cache")
    if alias is None:
        return session_store_for(_file_cache(cfg, root, where, label), ttl=ttl, prefix=prefix, owns=True)
    if not isinstance(alias, str) or not alias:
        raise _error(where, f"cache must be the alias of a services.caches entry, got {alias!r}",
                     "e.g. 'cache': 'sessions', or leave it out for files under var/sessions", key="cache")
    mixed = [key for key in _FILE_ONLY if key in cfg]
    if mixed:
        raise _error(where, f"{mixed[0]!r} applies to the built-in file cache, not to cache {alias!r}",
                     "drop it, or drop 'cache' to keep sessions in files under 'path'", key=mixed[0])
    return session_store_for(cache_for(alias), ttl=ttl, prefix=prefix)


def _file_cache(cfg: Mapping[str, Any], root: Path, where: str, label: str) -> Cache:
    interval = check_seconds(cfg.get("cleanup_interval", DEFAULT_FILE_CLEANUP_INTERVAL), "cleanup_interval",
                             label, zero_ok=True)
    path = cfg.get("path", DEFAULT_FILE_PATH)
    if not isinstance(path, str | os.PathLike) or not str(path):
        raise _error(where, f"path must be a directory (relative to the project), got {path!r}",
                     f"e.g. {DEFAULT_FILE_PATH!r}", key="path")
    return default_session_cache(root, path, interval)
