"""Boot stage "locks" (after "apps"): give every app its lock (`app.lock`), close them at shutdown.

A redis lock uses the connection its settings name (`services.redis.<alias>`). This stage opens it,
closes it after the locks, and registers a `lock:<alias>` readiness check; `_clients` is the only
place that knows where connections come from.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any

from mega.lock._settings import DEFAULT
from mega.lock.manager import ClientFor, LockManager

if TYPE_CHECKING:
    from mega.adapters.base import Adapter
    from mega.boot.stages import Runtime


def _clients(rt: Runtime, entries: dict[str, Any], owned: dict[str, Adapter]) -> ClientFor:
    adapters = getattr(rt, "adapters", None)

    async def shared(alias: str) -> Any:
        client = adapters.redis(alias)  # type: ignore[union-attr]
        return await client if inspect.isawaitable(client) else client

    # wired to services.redis at merge: until the adapters stage opens services.redis connections,
    # this stage opens its own, through the redis cache driver's connection code.
    async def own(alias: str) -> Any:
        adapter = owned.get(alias)
        if adapter is None:
            from mega.adapters.registry import driver_class

            adapter = driver_class("cache", "redis")(alias, dict(entries[alias]))
            await adapter.connect()
            owned[alias] = adapter
            rt.health.register(f"lock:{alias}", adapter.health)
        return adapter.native

    return shared if adapters is not None and hasattr(adapters, "redis") else own


async def locks_stage(rt: Runtime) -> None:
    entries: dict[str, Any] = dict((rt.config.values.get("services") or {}).get("redis") or {})
    owned: dict[str, Adapter] = {}
    manager = LockManager(_clients(rt, entries, owned))

    async def close() -> None:
        await manager.close()
        for adapter in owned.values():
            await adapter.disconnect()

    rt.shutdown.register("locks", close)  # first, so a failure below still closes what opened
    for name, app in rt.apps.items():
        app.lock_manager = await manager.open(name, rt.config.apps[name].settings.get("lock", DEFAULT))
