"""The global `ws_cluster` section (mega_config.py): presence and broadcasts across instances over NATS.

    ws_cluster = {
        "bus": "events",                          # a services.buses alias of driver nats
        "roster": {"driver": "nats", "ttl": 15},  # "nats" | "none" | "redis" (+ "cache": "<alias>")
        "subject_prefix": "mega.ws",              # subjects are <subject_prefix>.<app>
    }
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from mega._suggest import close_match
from mega.config import _checks as c
from mega.config._specs import Leaf, Section, Switch, const
from mega.config.sections import GLOBAL, Resolve, register_section

__all__ = ["MIN_TTL", "RosterSettings", "WsClusterSettings", "roster_settings"]

MIN_TTL = 3.0
DEFAULT_TTL = 15.0
DRIVERS = ("nats", "none", "redis")
_SUBJECT = re.compile(r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$")


@dataclass(frozen=True)
class RosterSettings:
    driver: str  # nats | none | redis
    ttl: float  # seconds a member (or a silent instance) is kept
    cache: str | None = None  # services.caches alias of a redis cache, for driver redis


@dataclass(frozen=True)
class WsClusterSettings:
    bus: str  # services.buses alias (NATS)
    roster: RosterSettings
    subject_prefix: str = "mega.ws"


def _subject_prefix(value: Any) -> str:
    if not isinstance(value, str) or not _SUBJECT.fullmatch(value):
        raise c.Invalid(c.INVALID_VALUE, "must be dot-separated NATS tokens without wildcards, got "
                        f"{value!r}", hint="e.g. 'mega.ws'")
    return value


ROSTER = Section({
    "driver": Leaf(c.choice(*DRIVERS), const("nats")),
    "ttl": Leaf(c.duration(), const(DEFAULT_TTL)),
    "cache": Leaf(c.optional(c.alias), const(None)),
})

WS_CLUSTER = Switch(Section({
    "bus": Leaf(c.optional(c.alias), const(None)),
    "roster": ROSTER,
    "subject_prefix": Leaf(_subject_prefix, const("mega.ws")),
}), const(None), "a dict such as {'bus': '<services.buses alias>'}")


def _driver(entry: Any) -> Any:
    return entry.get("driver") if isinstance(entry, dict) else None


def _named(resolve: Resolve, key: str, alias: str, group: str, driver: str, example: str) -> bool:
    """`alias` names a `services.<group>` entry of `driver`: else adapter.not_found / config.invalid_value."""
    entries = resolve.declared(group)
    if resolve.services is None:
        return True
    if alias not in entries:
        listed = ", ".join(sorted(entries)) or "none"
        near = close_match(alias, [name for name, entry in entries.items() if _driver(entry) == driver])
        guess = f"did you mean {near!r}? " if near else ""
        resolve.report("adapter.not_found", key, f"names {alias!r}, which is not declared in "
                       f"services.{group} (declared: {listed})",
                       f"{guess}declare it in mega_config.py: "
                       f"services = {{{group!r}: {{{alias!r}: {example}}}}}")
        return False
    if _driver(entries[alias]) != driver:
        resolve.report(c.INVALID_VALUE, key, f"names {alias!r}, which is not a {driver} entry "
                       f"(services.{group}.{alias} has driver {_driver(entries[alias])!r})",
                       f"name a services.{group} entry of driver {driver!r}")
        return False
    return True


def roster_settings(value: dict[str, Any], resolve: Resolve, key: str = "roster") -> RosterSettings | None:
    """A `roster` dict (`ws_cluster.roster`; the hub bridge's `roster` too), checked; None when invalid."""
    ttl = float(value["ttl"])
    ok = True
    if ttl < MIN_TTL:
        resolve.report(c.INVALID_VALUE, f"{key}.ttl", f"is {ttl:g} s: at least {MIN_TTL:g} s (a snapshot "
                       "goes out every ttl / 3)", "e.g. 'ttl': 15")
        ok = False
    cache = value["cache"]
    if value["driver"] == "redis":
        if cache is None:
            resolve.report(c.INVALID_VALUE, f"{key}.cache", "is missing: the redis roster needs a redis "
                           "cache",
                           "add 'cache': '<services.caches alias of driver redis>'")
            ok = False
        elif not _named(resolve, f"{key}.cache", cache, "caches", "redis",
                        "{'driver': 'redis', 'redis': '<services.redis alias>', 'prefix': 'app:'}"):
            ok = False
    elif cache is not None:
        resolve.report(c.INVALID_VALUE, f"{key}.cache", f"is set but {key}.driver is {value['driver']!r}",
                       "remove 'cache', or use 'driver': 'redis'")
        ok = False
    return RosterSettings(value["driver"], ttl, cache) if ok else None


def ws_cluster_settings(value: Any, resolve: Resolve) -> WsClusterSettings | None:
    if not value:
        return None
    bus = value["bus"]
    if bus is None:
        nats = sorted(a for a, e in resolve.declared("buses").items() if _driver(e) == "nats")
        if len(nats) != 1:
            resolve.report(c.INVALID_VALUE, "bus", "is missing and there is not exactly one NATS bus "
                           f"(NATS buses: {', '.join(nats) or 'none'})",
                           "add 'bus': '<services.buses alias of driver nats>'")
            return None
        bus = nats[0]
    elif not _named(resolve, "bus", bus, "buses", "nats", "{'driver': 'nats', 'url': 'nats://127.0.0.1:4222'}"):
        return None
    roster = roster_settings(value["roster"], resolve)
    if roster is None:
        return None
    return WsClusterSettings(bus, roster, value["subject_prefix"])


register_section("ws_cluster", WS_CLUSTER, scope=GLOBAL, settings=ws_cluster_settings)
