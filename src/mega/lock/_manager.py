"""Which lock each app gets, from its resolved `lock` settings (see `mega.lock._settings`).

The config layer lays an app's `lock` keys over mega_config.py's and checks them; this module only
builds the locks. Every app gets its own lock instance and its own key space (`<prefix><app>:`), so
one key in two apps never collides.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from mega.lock._settings import DEFAULT, DEFAULT_PREFIX, LockSettings
from mega.lock.contract import Lock
from mega.lock.memory import MemoryLock

__all__ = ["DEFAULT", "DEFAULT_PREFIX", "LockManager", "LockSettings"]

log = logging.getLogger("mega.lock")

ClientFor = Callable[[str], Awaitable[Any]]
"""Returns the connected redis.asyncio.Redis client of the connection `services.redis.<alias>`."""


class LockManager:
    """Builds each app's lock from config, and closes them all at shutdown."""

    def __init__(self, client_for: ClientFor) -> None:
        self.locks: dict[str, Lock] = {}
        self._client_for = client_for

    async def open(self, app: str, spec: LockSettings = DEFAULT) -> Lock:
        options: dict[str, Any] = {"ttl": spec.ttl, "wait": spec.wait, "name": f"app '{app}'"}
        lock: Lock
        if spec.driver == "redis":
            from mega.lock.redis import RedisLock

            client = await self._client_for(spec.redis or "")  # the config layer resolved it
            lock = RedisLock(client, prefix=f"{spec.prefix}{app}:", **options)
        else:
            lock = MemoryLock(**options)
        self.locks[app] = lock
        log.debug("app %s: lock %s (%s)", app, spec.redis or spec.driver, spec.file)
        return lock

    async def close(self) -> None:
        """Close every app's lock: held locks are released, waiters get `lock.closed`."""
        for app, lock in self.locks.items():
            try:
                await lock.close()
            except Exception:
                log.exception("closing the lock of app %s failed", app)
