"""The project's buses: which bus each app gets, built from config, and closing them all.

Each app gets its own `Bus` (`app.bus`, `ctx.bus`, `get_app(name).bus`): its `bus` key in
app_config.py, else the `bus` key of mega_config.py, else memory. An app's keys are laid over the
global ones, so `{"prefix": "web."}` alone keeps the global NATS connection; an app that names a
transport (`driver` or `nats`) takes none of the global's. Buses share what they run over: one
`MemoryBroker` per project, one NATS connection per `services.buses` alias. So isolation comes from
the prefix, on memory exactly as on NATS.

    bus = {"nats": "events", "prefix": "web."}     # NATS connection services.buses.events
    bus = {"driver": "memory", "prefix": "web."}   # in-process
    bus = {..., "request_timeout": 5}              # default timeout of request(), seconds (30)

`ctx.bus("audit")` is the same app's bus (prefix, timeout) over another `services.buses` alias:
built on first use from the connection the adapters stage opened, closed with the others.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from difflib import get_close_matches
from typing import TYPE_CHECKING, Any

from mega.bus._subjects import normalise_prefix
from mega.bus.contract import DEFAULT_REQUEST_TIMEOUT, Bus, check_timeout
from mega.bus.errors import BusError
from mega.bus.memory import MemoryBroker, MemoryBus
from mega.errors import MegaError

if TYPE_CHECKING:  # nats-py takes ~0.2 s to import: only projects that use NATS pay it
    from mega.adapters.nats import NatsAdapter

log = logging.getLogger("mega.bus")

KEYS = ("driver", "nats", "prefix", "request_timeout")
DRIVERS = ("memory", "nats")

Connect = Callable[[str], Awaitable["NatsAdapter"]]
"""Returns the connected NATS adapter declared as `services.buses.<alias>`."""

Lookup = Callable[[str], "NatsAdapter"]
"""Returns the already connected adapter of an alias (or raises `adapter.not_found`)."""


@dataclass(frozen=True)
class BusSpec:
    driver: str
    alias: str | None
    prefix: str
    request_timeout: float
    where: str  # the file that chose it, for messages


DEFAULT = BusSpec("memory", None, "", DEFAULT_REQUEST_TIMEOUT, "default")


def _error(where: str, message: str, hint: str, **details: Any) -> BusError:
    return BusError("bus.invalid_config", f"{where}: bus: {message}", details={"file": where, **details},
                    hint=hint, status=500)


def parse_spec(cfg: object, *, where: str, declared: Mapping[str, Mapping[str, Any]]) -> BusSpec | None:
    """A `bus` config value → BusSpec (None when absent); every mistake names the file and the key."""
    if cfg is None:
        return None
    if not isinstance(cfg, Mapping):
        raise _error(where, f"must be a dict, got {type(cfg).__name__}",
                     "e.g. {'nats': 'events', 'prefix': 'web.'}")
    for key in cfg:
        if key not in KEYS:
            near = get_close_matches(str(key), KEYS, n=1)
            raise _error(where, f"unknown key {key!r}" + (f" (did you mean {near[0]!r}?)" if near else ""),
                         f"keys: {', '.join(KEYS)}", key=str(key))
    driver, alias = _transport(cfg, where, declared)
    try:
        prefix = normalise_prefix(cfg.get("prefix"))
        timeout = check_timeout(cfg.get("request_timeout", DEFAULT_REQUEST_TIMEOUT), "request_timeout")
    except MegaError as exc:
        raise _error(where, exc.message, exc.hint or "") from exc
    return BusSpec(driver, alias, prefix, timeout, where)


def _transport(cfg: Mapping[str, Any], where: str,
               declared: Mapping[str, Mapping[str, Any]]) -> tuple[str, str | None]:
    alias = cfg.get("nats")
    driver = cfg.get("driver", "nats" if alias is not None else "memory")
    if driver not in DRIVERS:
        raise _error(where, f"unknown driver {driver!r}", f"drivers: {', '.join(DRIVERS)}",
                     driver=repr(driver))
    if driver == "memory":
        if alias is not None:
            raise _error(where, "'driver': 'memory' with a 'nats' alias", "drop one of them")
        return driver, None
    nats_aliases = [a for a, entry in declared.items() if entry.get("driver") == "nats"]
    if alias is None:
        if len(nats_aliases) != 1:
            raise _error(where, "'driver': 'nats' needs 'nats': '<alias>'",
                         f"declared NATS buses: {', '.join(nats_aliases) or '(none)'}")
        alias = nats_aliases[0]
    if not isinstance(alias, str) or alias not in declared:
        shown = ", ".join(declared) or "(none)"
        near = get_close_matches(str(alias), list(declared), n=1)
        guess = f"; did you mean {near[0]!r}?" if near else ""
        raise BusError("bus.unknown_alias", f"{where}: bus.nats {alias!r} is not declared in "
                       f"services.buses (declared: {shown}){guess}",
                       details={"file": where, "alias": repr(alias), "declared": list(declared)},
                       hint=f"declare it in mega_config.py: services = {{'buses': {{{alias!r}: "
                            "{'driver': 'nats', 'url': 'nats://127.0.0.1:4222'}}}}", status=500)
    if declared[alias].get("driver") != "nats":
        raise _error(where, f"services.buses.{alias} uses driver {declared[alias].get('driver')!r}, "
                     "not 'nats'", f"NATS buses: {', '.join(nats_aliases) or '(none)'}", alias=alias)
    return driver, alias


class BusManager:
    """Builds each app's bus and closes them all (the adapters stage closes the NATS connections)."""

    def __init__(self, global_cfg: object, declared: Mapping[str, Mapping[str, Any]], connect: Connect,
                 *, lookup: Lookup | None = None) -> None:
        self.declared = declared
        self.global_cfg = global_cfg if isinstance(global_cfg, Mapping) else None
        self.fallback = parse_spec(global_cfg, where="mega_config.py", declared=declared) or DEFAULT
        self.broker = MemoryBroker()
        self.buses: dict[str, Bus] = {}
        self.alias_buses: dict[tuple[str, str], Bus] = {}
        self.adapters: dict[str, NatsAdapter] = {}
        self._connect = connect
        self._lookup = lookup

    def spec_for(self, app: str, app_cfg: object) -> BusSpec:
        if isinstance(app_cfg, Mapping) and self.global_cfg is not None:
            transport = "driver" in app_cfg or "nats" in app_cfg
            base = {k: v for k, v in self.global_cfg.items() if not (transport and k in ("driver", "nats"))}
            app_cfg = {**base, **app_cfg}
        spec = parse_spec(app_cfg, where=f"apps/{app}/app_config.py", declared=self.declared)
        return spec or self.fallback

    async def open(self, app: str, app_cfg: object) -> Bus:
        spec = self.spec_for(app, app_cfg)
        options: dict[str, Any] = {"prefix": spec.prefix, "request_timeout": spec.request_timeout,
                                   "name": f"app '{app}'"}
        bus: Bus
        if spec.driver == "nats":
            from mega.bus.nats import NatsBus

            assert spec.alias is not None
            adapter = self.adapters.get(spec.alias)
            if adapter is None:
                adapter = self.adapters[spec.alias] = await self._connect(spec.alias)
            bus = NatsBus(adapter, **options)
        else:
            bus = MemoryBus(self.broker, **options)
        bus._by_alias = functools.partial(self.by_alias, app, spec)
        self.buses[app] = bus
        log.debug("app %s: bus %s prefix %r (%s)", app, spec.alias or spec.driver, spec.prefix, spec.where)
        return bus

    def by_alias(self, app: str, spec: BusSpec, alias: str) -> Bus:
        """App `app`'s bus over `services.buses.<alias>` (its own bus when that is its transport)."""
        if alias == spec.alias:
            return self.buses[app]
        bus = self.alias_buses.get((app, alias))
        if bus is not None:
            return bus
        adapter = self.adapters.get(alias)
        if adapter is None and self._lookup is not None:
            adapter = self._lookup(alias)
        if adapter is None:
            shown = ", ".join(self.declared) or "(none)"
            near = get_close_matches(str(alias), list(self.declared), n=1)
            raise BusError("bus.unknown_alias", f"app '{app}': no bus named {alias!r} in services.buses "
                           f"(declared: {shown})" + (f"; did you mean {near[0]!r}?" if near else ""),
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

    async def health(self) -> dict[str, Any]:
        """Readiness: every NATS connection an app uses is up."""
        checks = {alias: await adapter.health() for alias, adapter in self.adapters.items()}
        down = [alias for alias, result in checks.items() if not result.get("ok")]
        out: dict[str, Any] = {alias: result.get("state") for alias, result in checks.items()}
        if down:
            out.update(ok=False, reason="NATS down: " + ", ".join(
                f"{a} ({checks[a].get('reason')})" for a in down))
        return out
