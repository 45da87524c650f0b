"""The `lock` config section (mega_config.py and app_config.py) and the settings each app's lock gets.

    lock = {"redis": "locks"}                   # redis, on the connection services.redis.locks
    lock = {"driver": "memory"}                 # in-process (the default; in cluster mode: cluster)
    lock = {"driver": "cluster"}                # the cluster primary's lock table (cluster mode only)
    lock = {..., "ttl": "10s", "wait": 5}       # defaults of acquire/hold/with_lock (durations)
    lock = {..., "prefix": "mega:lock:"}        # Redis key prefix; the app's name is always appended
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mega.config import _checks as c
from mega.config._specs import Leaf, Section, const
from mega.config.sections import BOTH, Resolve, register_section
from mega.lock.contract import DEFAULT_TTL, DEFAULT_WAIT

__all__ = ["DEFAULT_PREFIX", "LOCK", "LockSettings"]

DRIVERS = ("memory", "redis", "cluster")
DEFAULT_PREFIX = "mega:lock:"


@dataclass(frozen=True)
class LockSettings:
    driver: str
    redis: str | None  # the services.redis alias, for driver redis
    prefix: str
    ttl: float
    wait: float
    file: str  # the file that chose it, for messages
    explicit: bool = False  # driver "memory" written in the config: kept (with a warning) in cluster mode


DEFAULT = LockSettings("memory", None, DEFAULT_PREFIX, DEFAULT_TTL, DEFAULT_WAIT, "default")

LOCK = Section(
    {
        "driver": Leaf(c.optional(c.choice(*DRIVERS)), const(None)),  # None: redis when `redis` is set
        "redis": Leaf(c.optional(c.alias), const(None)),
        "prefix": Leaf(c.string, const(DEFAULT_PREFIX)),
        "ttl": Leaf(c.duration(), const(DEFAULT_TTL)),
        "wait": Leaf(c.duration(zero_ok=True, inf_ok=True), const(DEFAULT_WAIT)),
    }
)


def lock_settings(value: dict[str, Any], resolve: Resolve) -> LockSettings:
    alias = value["redis"]
    driver = value["driver"] or ("redis" if alias is not None else "memory")
    memory = LockSettings("memory", None, value["prefix"], value["ttl"], value["wait"], resolve.default_file,
                          value["driver"] == "memory")
    if driver in ("memory", "cluster"):
        if alias is not None:
            resolve.report(c.INVALID_VALUE, "redis", f"names {alias!r} but lock.driver is {driver!r}",
                           "drop one of them: 'redis' alone means the redis driver")
        if driver == "cluster":
            return LockSettings("cluster", None, value["prefix"], value["ttl"], value["wait"],
                                resolve.default_file, True)
        return memory
    declared = sorted(resolve.declared("redis"))
    if alias is None:
        if len(declared) != 1:
            listed = ", ".join(declared) or "none"
            resolve.report(c.INVALID_VALUE, "driver", "is 'redis' but lock.redis names no connection",
                           f"add 'redis': '<alias of services.redis>' (declared: {listed})")
            return memory
        alias = declared[0]
    elif not resolve.alias("redis", alias, "redis", example="{'url': 'redis://127.0.0.1:6379/0'}"):
        return memory
    return LockSettings("redis", alias, value["prefix"], value["ttl"], value["wait"], resolve.default_file)


register_section("lock", LOCK, scope=BOTH, settings=lock_settings, backend_keys=("driver", "redis"))
