"""Build a session store from the `store` part of the session config (seed semantics: a store without
its own ttl inherits the session's; the file store's hourly sweep is injected here, only when
`cleanup_interval` is unset, and 0 opts out)."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from mega.errors import MegaError
from mega.sessions.store import SessionStore, check_ttl

__all__ = ["DEFAULT_FILE_CLEANUP_INTERVAL", "make_store"]

DEFAULT_FILE_CLEANUP_INTERVAL = 3600.0
DRIVERS = ("file", "redis")
KEYS = {"file": ("driver", "ttl", "path", "cleanup_interval"), "redis": ("driver", "ttl", "cache", "prefix")}


def _error(where: str, message: str, hint: str) -> MegaError:
    return MegaError("session.invalid_config", f"{where}: session.store: {message}", hint=hint, status=500,
                     details={"where": where})


def make_store(cfg: Mapping[str, Any] | None, *, session_ttl: float, root: Path,
               cache_client: Callable[[str], Any], where: str) -> SessionStore:
    cfg = dict(cfg or {})
    driver = cfg.get("driver", "file")
    if driver not in DRIVERS:
        raise _error(where, f"unknown driver {driver!r}", f"drivers: {', '.join(DRIVERS)}")
    for key in cfg:
        if key not in KEYS[driver]:
            near = difflib.get_close_matches(str(key), KEYS[driver], n=1)
            guess = f" (did you mean {near[0]!r}?)" if near else ""
            raise _error(where, f"unknown key {key!r} for driver {driver!r}{guess}",
                         f"keys: {', '.join(KEYS[driver])}")
    ttl = check_ttl(cfg.get("ttl", session_ttl), f"{where}: session.store")
    if driver == "file":
        from mega.sessions.file import FileSessionStore

        interval = cfg.get("cleanup_interval", DEFAULT_FILE_CLEANUP_INTERVAL)
        if isinstance(interval, bool) or not isinstance(interval, int | float) or interval < 0:
            raise _error(where, f"cleanup_interval must be seconds >= 0 (0 = no sweep), got {interval!r}",
                         "3600 sweeps hourly; 0 leaves it to an external cron")
        path = cfg.get("path", "var/sessions")
        if not isinstance(path, str) or not path:
            raise _error(where, f"path must be a directory name, got {path!r}", "e.g. 'var/sessions'")
        return FileSessionStore(root / path, ttl=ttl, cleanup_interval=float(interval))
    alias = cfg.get("cache")
    if not isinstance(alias, str) or not alias:
        raise _error(where, "the redis store needs 'cache': '<alias of a redis cache>'",
                     "declare services.caches.<alias> = {'driver': 'redis', 'url': ...}")
    prefix = cfg.get("prefix", "mega:sess:")
    if not isinstance(prefix, str):
        raise _error(where, f"prefix must be a string, got {prefix!r}", "e.g. 'mega:sess:'")
    from mega.sessions.redis import RedisSessionStore

    return RedisSessionStore(cache_client(alias), ttl=ttl, prefix=prefix)
