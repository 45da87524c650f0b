"""Build an app's session store from its resolved `session.store` settings.

    "store": {}                                   # the built-in file cache under var/sessions
    "store": {"path": "var/sessions", "cleanup_interval": 3600}
    "store": {"cache": "sessions"}                # services.caches.sessions (memory, file or redis)
    "store": {..., "ttl": 86400, "prefix": "mega:sess:"}

Sessions are stored through the cache family: `session_store_for(cache, ...)` over any cache, and
`default_session_cache(...)`, the file cache a store owns when no `cache` is named (its sweep runs
every `cleanup_interval` seconds, an hour by default; 0 leaves it to an external cron).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from mega.cache.file import FileCache
from mega.sessions._settings import StoreSettings
from mega.sessions.cache import DEFAULT_PREFIX, CacheSessionStore
from mega.sessions.store import SessionStore

if TYPE_CHECKING:
    from mega.cache.contract import Cache

__all__ = ["DEFAULT_FILE_CLEANUP_INTERVAL", "DEFAULT_FILE_PATH", "default_session_cache", "make_store",
           "session_store_for"]

DEFAULT_FILE_CLEANUP_INTERVAL = 3600.0
DEFAULT_FILE_PATH = "var/sessions"


def session_store_for(cache: Cache, *, ttl: float, prefix: str = DEFAULT_PREFIX,
                      owns: bool = False) -> SessionStore:
    """The session store over `cache`; with `owns` it connects and closes the cache itself."""
    return CacheSessionStore(cache, ttl=ttl, prefix=prefix, owns=owns)


def default_session_cache(root: str | os.PathLike[str], path: str | os.PathLike[str] = DEFAULT_FILE_PATH,
                          cleanup_interval: float = DEFAULT_FILE_CLEANUP_INTERVAL) -> Cache:
    """The built-in sessions cache: files under `root/path`, swept every `cleanup_interval` s (0 = off).
    Not connected: the store that owns it connects it."""
    cache = FileCache("sessions", {"path": str(Path(root) / path), "sweep_interval": cleanup_interval})
    cache.root = Path(root)
    return cache


def make_store(settings: StoreSettings, *, root: Path, cache: Callable[[str], Cache]) -> SessionStore:
    """The store `settings` describe; `cache(alias)` returns the cache `services.caches.<alias>`."""
    if settings.cache is None:
        owned = default_session_cache(root, settings.path, settings.cleanup_interval)
        return session_store_for(owned, ttl=settings.ttl, prefix=settings.prefix, owns=True)
    return session_store_for(cache(settings.cache), ttl=settings.ttl, prefix=settings.prefix)
