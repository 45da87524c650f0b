"""Build a session store from the app's resolved `session.store` settings.

Without `cache`, sessions are files under `path` with the hourly sweep (`cleanup_interval`, 0 = an
external cron); with `cache`, they live in that services.caches entry.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from mega.errors import MegaError
from mega.sessions._settings import StoreSettings
from mega.sessions.store import SessionStore

__all__ = ["make_store"]


def make_store(settings: StoreSettings, *, root: Path, cache: Callable[[str], Any],
               app_name: str) -> SessionStore:
    """The store `settings` describe; `cache(alias)` returns the cache adapter of an alias."""
    if settings.cache is None:
        from mega.sessions.file import FileSessionStore

        return FileSessionStore(root / settings.path, ttl=settings.ttl,
                                cleanup_interval=settings.cleanup_interval)
    return _cache_store(settings, cache, app_name)


def _cache_store(settings: StoreSettings, cache: Callable[[str], Any], app_name: str) -> SessionStore:
    # wired to the cache-backed session store at merge: today only a redis cache can hold sessions.
    from mega.sessions.redis import RedisSessionStore

    alias = settings.cache or ""
    adapter = cache(alias)
    if getattr(adapter, "driver", None) != "redis":
        raise MegaError("session.unsupported_cache", f"app '{app_name}': session.store.cache {alias!r} uses "
                        f"driver {getattr(adapter, 'driver', '?')!r}; sessions need a redis cache for now",
                        status=500, details={"alias": alias},
                        hint="point session.store.cache at a redis cache, or drop it for the file store")
    return RedisSessionStore(adapter.native, ttl=settings.ttl, prefix=settings.prefix)
