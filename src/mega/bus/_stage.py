"""Boot stage "bus" (after "apps"): give every app its bus, close them all at shutdown.

NATS connections come from the adapters stage (`rt.adapters.bus(alias)`, which connects them, closes
them after the buses and registers their readiness checks `bus:<alias>`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mega.bus._errors import BusError
from mega.bus._manager import BusManager
from mega.bus._settings import DEFAULT
from mega.cluster.ipc.client import socket_path

if TYPE_CHECKING:
    from mega.adapters._manager import AdapterManager
    from mega.adapters.nats import NatsAdapter
    from mega.boot.runtime import Runtime


def _nats(adapters: AdapterManager | None, alias: str) -> NatsAdapter:
    """The connected NATS adapter of `services.buses.<alias>` (adapter.not_found names the declared)."""
    from mega.adapters.nats import NatsAdapter  # nats-py is imported only by projects that use NATS

    assert adapters is not None  # the adapters stage runs before this one
    adapter = adapters.bus(alias)
    if not isinstance(adapter, NatsAdapter):
        raise BusError("bus.invalid_config", f"services.buses.{alias} is a {type(adapter).__name__}, "
                       "not a NATS adapter", details={"alias": alias}, status=500)
    return adapter


async def run(rt: Runtime) -> None:
    values = rt.config.values
    declared: dict[str, Any] = dict((values.get("services") or {}).get("buses") or {})
    adapters = rt.adapters

    async def connected(alias: str) -> NatsAdapter:
        return _nats(adapters, alias)

    manager = BusManager(list(declared), connected, lookup=lambda alias: _nats(adapters, alias),
                         cluster_socket=socket_path(rt.environ))
    rt.shutdown.register_resource("bus", manager.close)  # first, so a failure below still closes what opened
    for name, app in rt.apps.items():
        app.bus = await manager.open(name, rt.config.apps[name].settings.get("bus", DEFAULT))
