"""`cluster` lock: the workers of one node share the lock table of the primary's `ClusterHost`.

The host (`mega.cluster.ipc.host`) queues waiters per key in arrival order, grants, expires and
hands keys on; this driver forwards the four primitives over the worker's `ClusterClient`. The host's
deadline comes back with each grant as a `time.monotonic()` value (one machine, one monotonic clock),
so the holder declares a loss no later than the host frees the key. A worker whose connection closes
(it died, or the host did) loses its keys at once on the host; waiters move on. The host unreachable
is `lock.backend_unavailable`, never `lock.timeout`. Single node only: across machines, use redis.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

from mega.cluster.ipc.client import ClusterClient, IpcDown, monotonic_to_loop
from mega.lock.contract import Held, Lock

__all__ = ["ClusterLock"]


class ClusterLock(Lock):
    driver = "cluster"

    def __init__(self, client: ClusterClient, *, prefix: str = "", **options: Any) -> None:
        super().__init__(**options)
        self.client = client
        self.prefix = prefix
        self._pending: set[asyncio.Task[Any]] = set()  # tasks waiting in _do_acquire
        self._woken: set[asyncio.Task[Any]] = set()  # of those, the ones close() cancelled

    async def stats(self) -> dict[str, Any]:
        return {**await super().stats(), "prefix": self.prefix, "socket": self.client.path,
                "connected": self.client.connected}

    async def _do_acquire(self, key: str, ttl: float, wait: float) -> Held | None:
        name = self.prefix + key
        task = asyncio.current_task()
        if task is not None:
            self._pending.add(task)
        try:
            got = await self.client.acquire(name, ttl, None if math.isinf(wait) else wait)
        except IpcDown as exc:
            raise self._backend_error("acquire", key, exc) from exc
        except asyncio.CancelledError:
            if task is not None and task in self._woken:
                self._woken.discard(task)
                if task.uncancel() == 0:  # woken by close(), not cancelled by its caller
                    raise self._closed_error(key) from None
            raise
        finally:
            if task is not None:
                self._pending.discard(task)
        if got is None:
            return None
        token, deadline = got
        return Held(self, key, token, ttl, monotonic_to_loop(deadline), name)

    async def _do_release(self, held: Held) -> bool:
        try:
            return bool(await self.client.call("rel", held._name, held.token))
        except IpcDown as exc:  # the host dropped the connection: it freed the key too
            raise self._backend_error("release", held.key, exc) from exc

    async def _do_extend(self, held: Held, ttl: float) -> bool:
        try:
            return bool(await self.client.call("ext", held._name, held.token, ttl))
        except IpcDown as exc:
            raise self._backend_error("extend", held.key, exc) from exc

    async def _do_claim(self, key: str, ttl: float) -> bool:
        try:
            return bool(await self.client.call("clm", self.prefix + key, ttl))
        except IpcDown as exc:
            raise self._backend_error("claim", key, exc) from exc

    async def _do_close(self) -> None:
        for task in list(self._pending):  # waiters raise lock.closed (see _do_acquire)
            self._woken.add(task)
            task.cancel()

    def _on_lost(self, held: Held) -> None:
        """Nothing to hand on: the host expires the key on its own clock."""
