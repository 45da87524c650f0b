"""Which lock each app gets, from its resolved `lock` settings (see `mega.lock._settings`).

The config layer lays an app's `lock` keys over mega_config.py's and checks them; this module only
builds the locks. Every app gets its own lock instance and its own key space (`<prefix><app>:`), so
one key in two apps never collides.

In cluster mode (`MEGA_CLUSTER_SOCKET` set by the primary) an app that would get the memory lock by
default gets the `cluster` lock instead (one lock table for every worker); a `memory` driver written
in the config stays, with a warning; `driver: "cluster"` outside cluster mode is a boot error.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from mega.cluster.ipc.client import ClusterClient
from mega.cluster.ipc.family import ClusterFamily
from mega.lock._settings import DEFAULT, DEFAULT_PREFIX, LockSettings
from mega.lock.cluster import ClusterLock
from mega.lock.contract import Lock, LockError
from mega.lock.memory import MemoryLock

__all__ = ["CLUSTER_FAMILY", "DEFAULT", "DEFAULT_PREFIX", "LockManager", "LockSettings"]

log = logging.getLogger("mega.lock")
CLUSTER_FAMILY = ClusterFamily("lock", LockError, "redis", "workers do not exclude one another", log)

ClientFor = Callable[[str], Awaitable[Any]]
"""Returns the connected redis.asyncio.Redis client of the connection `services.redis.<alias>`."""


class LockManager:
    """Builds each app's lock from config, and closes them all at shutdown."""

    def __init__(self, client_for: ClientFor, *, cluster_socket: str | None = None) -> None:
        self.locks: dict[str, Lock] = {}
        self._client_for = client_for
        self.cluster_socket = cluster_socket  # set in cluster mode: the primary's ClusterHost
        self._cluster: ClusterClient | None = None

    async def open(self, app: str, spec: LockSettings = DEFAULT) -> Lock:
        options: dict[str, Any] = {"ttl": spec.ttl, "wait": spec.wait, "name": f"app '{app}'"}
        driver = self.driver_for(app, spec)
        lock: Lock
        if driver == "redis":
            from mega.lock.redis import RedisLock

            client = await self._client_for(spec.redis or "")  # the config layer resolved it
            lock = RedisLock(client, prefix=f"{spec.prefix}{app}:", **options)
            shown = f"redis ({spec.redis})"
        elif driver == "cluster":
            lock = ClusterLock(await self._cluster_client(app), prefix=f"{spec.prefix}{app}:", **options)
            shown = "cluster (single node)"
        else:
            lock = MemoryLock(**options)
            shown = "memory (this worker only)" if self.cluster_socket else "memory"
        self.locks[app] = lock
        # Stated at info level in cluster mode (the drivers differ from a single process's), else debug.
        log.log(logging.INFO if self.cluster_socket else logging.DEBUG, "app %s: lock: %s", app, shown,
                extra={"app": app, "driver": driver})
        return lock

    def driver_for(self, app: str, spec: LockSettings) -> str:
        """The driver an app gets: its settings' one, with the cluster-mode rules applied."""
        return CLUSTER_FAMILY.driver_for(app, spec.driver, explicit=spec.explicit, file=spec.file,
                                  socket=self.cluster_socket)

    async def _cluster_client(self, app: str) -> ClusterClient:
        if self._cluster is None:
            assert self.cluster_socket is not None
            self._cluster = await CLUSTER_FAMILY.connect(app, self.cluster_socket)
        return self._cluster

    async def close(self) -> None:
        """Close every app's lock: held locks are released, waiters get `lock.closed`."""
        for app, lock in self.locks.items():
            try:
                await lock.close()
            except Exception:
                log.exception("closing the lock of app %s failed", app)
        if self._cluster is not None:
            await self._cluster.close()
