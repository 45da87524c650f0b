"""Boot stage "locks" (after "apps"): give every app its lock (`app.lock`), close them at shutdown.

A redis lock uses the client of its connection alias from the adapters stage (`rt.adapters.redis(
alias)`, connected, closed and health-checked there). Without that stage (a custom stage list) this
one opens `services.redis.<alias>` itself, closes it after the locks, and registers a `lock:<alias>`
readiness check. `_clients` is the only place that knows the difference.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mega.lock.manager import ClientFor, LockManager

if TYPE_CHECKING:
    from mega.adapters.base import Adapter
    from mega.boot.stages import Runtime


def _clients(rt: Runtime, entries: dict[str, Any], owned: dict[str, Adapter]) -> ClientFor:
    adapters = getattr(rt, "adapters", None)

    async def shared(alias: str) -> Any:
        return adapters.redis(alias)  # type: ignore[union-attr]

    async def own(alias: str) -> Any:
        adapter = owned.get(alias)
        if adapter is None:
            from mega.adapters.redis import RedisConnection

            adapter = RedisConnection(alias, dict(entries[alias]))
            await adapter.connect()
            owned[alias] = adapter
            rt.health.register(f"lock:{alias}", adapter.health)
        return adapter.native

    return shared if adapters is not None and hasattr(adapters, "redis") else own


async def locks_stage(rt: Runtime) -> None:
    values = rt.config.values
    entries: dict[str, Any] = dict((values.get("services") or {}).get("redis") or {})
    connections = dict.fromkeys(entries, "redis")
    owned: dict[str, Adapter] = {}
    manager = LockManager(values.get("lock"), connections, _clients(rt, entries, owned))

    async def close() -> None:
        await manager.close()
        for adapter in owned.values():
            await adapter.disconnect()

    rt.shutdown.register("locks", close)  # first, so a failure below still closes what opened
    for name, app in rt.apps.items():
        app.lock_manager = await manager.open(name, rt.config.apps[name].values.get("lock"))
