"""The project's buses: which bus each app gets, built from config, and closing them all.

Each app gets its own `Bus` (`app.bus`, `ctx.bus`, `get_app(name).bus`), built from its resolved
`bus` settings (`mega.bus._settings`: the app's keys laid over mega_config.py's, checked by the
config layer). Buses share what they run over: one `MemoryBroker` per project, one NATS connection
per `services.buses` alias. So isolation comes from the prefix, on memory exactly as on NATS.

`ctx.bus("audit")` is the same app's bus (prefix, timeout) over another `services.buses` alias:
built on first use from the connection the adapters stage opened, closed with the others.

In cluster mode (`MEGA_CLUSTER_SOCKET` set by the primary) an app that would get the memory bus by
default gets the `cluster` bus (routed by the primary between every worker, over one connection per
worker); a `memory` driver written in the config stays, with a warning; `driver: "cluster"` outside
cluster mode is a boot error.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable, Collection
from typing import TYPE_CHECKING, Any

from mega.bus._errors import BusError
from mega.bus._settings import DEFAULT, BusSettings
from mega.bus.cluster import ClusterBus
from mega.bus.contract import Bus
from mega.bus.memory import MemoryBroker, MemoryBus
from mega.cluster.ipc.client import ClusterClient
from mega.cluster.ipc.family import ClusterFamily
from mega.config._problems import close_match

if TYPE_CHECKING:  # nats-py takes ~0.2 s to import: only projects that use NATS pay it
    from mega.adapters.nats import NatsAdapter

log = logging.getLogger("mega.bus")
CLUSTER_FAMILY = ClusterFamily("bus", BusError, "nats", "events do not cross workers", log)

Connect = Callable[[str], Awaitable["NatsAdapter"]]
"""Returns the connected NATS adapter declared as `services.buses.<alias>`."""

Lookup = Callable[[str], "NatsAdapter"]
"""Returns the already connected adapter of an alias (or raises `adapter.not_found`)."""


class BusManager:
    """Builds each app's bus and closes them all (the adapters stage closes the NATS connections)."""

    def __init__(self, declared: Collection[str], connect: Connect, *, lookup: Lookup | None = None,
                 cluster_socket: str | None = None) -> None:
        self.declared = declared  # the services.buses aliases
        self.broker = MemoryBroker()
        self.buses: dict[str, Bus] = {}
        self.alias_buses: dict[tuple[str, str], Bus] = {}
        self.adapters: dict[str, NatsAdapter] = {}
        self._connect = connect
        self._lookup = lookup
        self.cluster_socket = cluster_socket  # set in cluster mode: the primary's ClusterHost
        self._cluster: ClusterClient | None = None

    async def open(self, app: str, spec: BusSettings = DEFAULT) -> Bus:
        options: dict[str, Any] = {"prefix": spec.prefix, "request_timeout": spec.request_timeout,
                                   "name": f"app '{app}'"}
        driver = self.driver_for(app, spec)
        bus: Bus
        if driver == "cluster":
            bus = ClusterBus(await self._cluster_client(app), **options)
        elif driver == "nats":
            from mega.bus.nats import NatsBus

            alias = spec.nats or ""  # the config layer resolved it
            adapter = self.adapters.get(alias)
            if adapter is None:
                adapter = self.adapters[alias] = await self._connect(alias)
            bus = NatsBus(adapter, **options)
        else:
            bus = MemoryBus(self.broker, **options)
        bus._by_alias = functools.partial(self.by_alias, app, spec)
        self.buses[app] = bus
        shown = {"cluster": "cluster (single node)", "nats": f"nats ({spec.nats})"}.get(
            driver, "memory (this worker only)" if self.cluster_socket else "memory")
        # Stated at info level in cluster mode (the drivers differ from a single process's), else debug.
        log.log(logging.INFO if self.cluster_socket else logging.DEBUG, "app %s: bus: %s, prefix %r",
                app, shown, spec.prefix, extra={"app": app, "driver": driver})
        return bus

    def driver_for(self, app: str, spec: BusSettings) -> str:
        """The driver an app gets: its settings' one, with the cluster-mode rules applied."""
        return CLUSTER_FAMILY.driver_for(app, spec.driver, explicit=spec.explicit, file=spec.file,
                                  socket=self.cluster_socket)

    async def _cluster_client(self, app: str) -> ClusterClient:
        if self._cluster is None:
            assert self.cluster_socket is not None
            self._cluster = await CLUSTER_FAMILY.connect(app, self.cluster_socket)
        return self._cluster

    def by_alias(self, app: str, spec: BusSettings, alias: str) -> Bus:
        """App `app`'s bus over `services.buses.<alias>` (its own bus when that is its transport)."""
        if alias == spec.nats:
            return self.buses[app]
        bus = self.alias_buses.get((app, alias))
        if bus is not None:
            return bus
        adapter = self.adapters.get(alias)
        if adapter is None and self._lookup is not None:
            adapter = self._lookup(alias)
        if adapter is None:
            shown = ", ".join(self.declared) or "(none)"
            near = close_match(alias, self.declared)
            raise BusError("bus.unknown_alias", f"app '{app}': no bus named {alias!r} in services.buses "
                           f"(declared: {shown})" + (f"; did you mean {near!r}?" if near else ""),
                           details={"alias": repr(alias), "declared": list(self.declared)}, status=500,
                           hint=f"declare it in mega_config.py: services = {{'buses': {{{alias!r}: "
                                "{'driver': 'nats', 'url': 'nats://127.0.0.1:4222'}}}}")
        from mega.bus.nats import NatsBus

        bus = self.alias_buses[(app, alias)] = NatsBus(adapter, prefix=spec.prefix,
                                                       request_timeout=spec.request_timeout,
                                                       name=f"app '{app}' bus '{alias}'")
        return bus

    async def close(self) -> None:
        """Unsubscribe everything (handlers in progress finish)."""
        for (name, alias), bus in self.alias_buses.items():
            try:
                await bus.close()
            except Exception:
                log.exception("closing the bus %s of app %s failed", alias, name)
        for name, bus in self.buses.items():
            try:
                await bus.close()
            except Exception:
                log.exception("closing the bus of app %s failed", name)
        if self._cluster is not None:
            await self._cluster.close()

    async def health(self) -> dict[str, Any]:
        """Readiness: every NATS connection an app uses is up."""
        checks = {alias: await adapter.health() for alias, adapter in self.adapters.items()}
        down = [alias for alias, result in checks.items() if not result.get("ok")]
        out: dict[str, Any] = {alias: result.get("state") for alias, result in checks.items()}
        if down:
            out.update(ok=False, reason="NATS down: " + ", ".join(
                f"{a} ({checks[a].get('reason')})" for a in down))
        return out
