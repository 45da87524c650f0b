"""Boot stage "bus" (after "apps"): give every app its bus, close them all at shutdown.

NATS connections come from the adapters stage (`rt.adapters.bus(alias)`, which connects them, closes
them after the buses and registers their readiness checks `bus:<alias>`). Without that stage (a custom
stage list) this one opens them from `services.buses.<alias>`, closes them, and registers a `bus`
readiness check. `_connector` is the only place that knows the difference.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any

from mega.adapters.registry import driver_class
from mega.bus._settings import DEFAULT
from mega.bus.errors import BusError
from mega.bus.manager import BusManager, Connect, Lookup

if TYPE_CHECKING:
    from mega.adapters.nats import NatsAdapter
    from mega.boot.stages import Runtime


def _connector(rt: Runtime, declared: dict[str, Any]) -> tuple[Connect, bool, Lookup | None]:
    """How to get the connected adapter for an alias, whether the bus stage owns it, and how to find
    an alias the adapters stage connected (for `ctx.bus('alias')`)."""
    adapters = getattr(rt, "adapters", None)

    def lookup(alias: str) -> NatsAdapter:
        from mega.adapters.nats import NatsAdapter

        adapter = adapters.bus(alias)  # type: ignore[union-attr]  # adapter.not_found names the declared
        if not isinstance(adapter, NatsAdapter):
            raise BusError("bus.invalid_config", f"services.buses.{alias} is a {type(adapter).__name__}, "
                           "not a NATS adapter", details={"alias": alias}, status=500)
        return adapter

    async def shared(alias: str) -> NatsAdapter:
        adapter = adapters.bus(alias)  # type: ignore[union-attr]
        if inspect.isawaitable(adapter):
            adapter = await adapter
        return await _connected(alias, adapter)

    async def own(alias: str) -> NatsAdapter:
        entry = dict(declared[alias])
        adapter = driver_class("bus", entry["driver"])(alias, entry)
        return await _connected(alias, adapter)

    if adapters is not None and hasattr(adapters, "bus"):
        return shared, False, lookup
    return own, True, None


async def _connected(alias: str, adapter: Any) -> NatsAdapter:
    from mega.adapters.nats import NatsAdapter

    if not isinstance(adapter, NatsAdapter):
        raise BusError("bus.invalid_config", f"services.buses.{alias} is a {type(adapter).__name__}, not a "
                       "NATS adapter", details={"alias": alias}, status=500)
    await adapter.connect()
    return adapter


async def run(rt: Runtime) -> None:
    values = rt.config.values
    declared: dict[str, Any] = dict((values.get("services") or {}).get("buses") or {})
    connect, owned, lookup = _connector(rt, declared)
    manager = BusManager(list(declared), connect, owns_connections=owned, lookup=lookup)
    rt.shutdown.register("bus", manager.close)  # first, so a failure below still closes what opened
    for name, app in rt.apps.items():
        app.bus_manager = await manager.open(name, rt.config.apps[name].settings.get("bus", DEFAULT))
    if owned:  # no adapters stage: connect every declared bus now, so ctx.bus(alias) finds it
        for alias in declared:
            if alias not in manager.adapters:
                manager.adapters[alias] = await connect(alias)
    if owned and manager.adapters:  # the adapters stage registers its own checks (bus:<alias>)
        rt.health.register("bus", manager.health)
