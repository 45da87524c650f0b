"""Boot stage "locks" (after "apps"): give every app its lock (`app.lock`), close them at shutdown.

A redis lock uses the client of its connection alias from the adapters stage (`rt.adapters.redis(
alias)`, connected, closed and health-checked there).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mega.lock.manager import LockManager

if TYPE_CHECKING:
    from mega.boot.runtime import Runtime


async def locks_stage(rt: Runtime) -> None:
    values = rt.config.values
    entries: dict[str, Any] = dict((values.get("services") or {}).get("redis") or {})
    connections = dict.fromkeys(entries, "redis")
    adapters = rt.adapters

    async def client(alias: str) -> Any:
        assert adapters is not None  # the adapters stage runs first; a redis spec names a declared alias
        return adapters.redis(alias)

    manager = LockManager(values.get("lock"), connections, client)
    rt.shutdown.register("locks", manager.close)  # first, so a failure below still closes what opened
    for name, app in rt.apps.items():
        app.lock = await manager.open(name, rt.config.apps[name].values.get("lock"))
