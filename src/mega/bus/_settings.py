"""The `bus` config section (mega_config.py and app_config.py) and the settings each app's bus gets.

    bus = {"nats": "events", "prefix": "web."}     # NATS connection services.buses.events
    bus = {"driver": "memory", "prefix": "web."}   # in-process (the default; in cluster mode: cluster)
    bus = {"driver": "cluster"}                    # routed by the cluster primary (cluster mode only)
    bus = {..., "request_timeout": "5s"}           # default timeout of request() (30 s)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mega.bus._subjects import normalise_prefix
from mega.bus.contract import DEFAULT_REQUEST_TIMEOUT
from mega.config import _checks as c
from mega.config._specs import Leaf, Section, const
from mega.config.sections import BOTH, Resolve, register_section
from mega.errors import MegaError

__all__ = ["BUS", "BusSettings"]

DRIVERS = ("memory", "nats", "cluster")


@dataclass(frozen=True)
class BusSettings:
    driver: str
    nats: str | None  # the services.buses alias, for driver nats
    prefix: str
    request_timeout: float
    file: str  # the file that chose it, for messages
    explicit: bool = False  # driver "memory" written in the config: kept (with a warning) in cluster mode


DEFAULT = BusSettings("memory", None, "", DEFAULT_REQUEST_TIMEOUT, "default")


def _prefix(value: Any) -> str:
    try:
        return normalise_prefix(value)
    except MegaError as exc:
        raise c.Invalid(c.INVALID_VALUE, f"must be dot-separated tokens without whitespace or wildcards, "
                        f"got {value!r}", hint="e.g. 'prefix': 'web.'") from exc


BUS = Section(
    {
        "driver": Leaf(c.optional(c.choice(*DRIVERS)), const(None)),  # None: nats when `nats` is set
        "nats": Leaf(c.optional(c.alias), const(None)),
        "prefix": Leaf(_prefix, const("")),
        "request_timeout": Leaf(c.duration(), const(DEFAULT_REQUEST_TIMEOUT)),
    }
)


def _is_nats(entry: Any) -> bool:
    return isinstance(entry, dict) and entry.get("driver") == "nats"


def bus_settings(value: dict[str, Any], resolve: Resolve) -> BusSettings:
    alias = value["nats"]
    driver = value["driver"] or ("nats" if alias is not None else "memory")
    memory = BusSettings("memory", None, value["prefix"], value["request_timeout"], resolve.default_file,
                         value["driver"] == "memory")
    if driver in ("memory", "cluster"):
        if alias is not None:
            resolve.report(c.INVALID_VALUE, "nats", f"names {alias!r} but bus.driver is {driver!r}",
                           "drop one of them: 'nats' alone means the nats driver")
        if driver == "cluster":
            return BusSettings("cluster", None, value["prefix"], value["request_timeout"],
                               resolve.default_file, True)
        return memory
    if alias is None:
        declared = sorted(a for a, e in resolve.declared("buses").items() if _is_nats(e))
        if len(declared) != 1:
            listed = ", ".join(declared) or "none"
            resolve.report(c.INVALID_VALUE, "driver", "is 'nats' but bus.nats names no connection",
                           f"add 'nats': '<alias of services.buses>' (NATS buses: {listed})")
            return memory
        alias = declared[0]
    elif not resolve.alias("nats", alias, "buses", accept=_is_nats, want="a NATS bus",
                           example="{'driver': 'nats', 'url': 'nats://127.0.0.1:4222'}"):
        return memory
    return BusSettings("nats", alias, value["prefix"], value["request_timeout"], resolve.default_file)


register_section("bus", BUS, scope=BOTH, settings=bus_settings, backend_keys=("driver", "nats"))
