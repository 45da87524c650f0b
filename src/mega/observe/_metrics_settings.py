"""The `metrics` config section (mega_config.py only: one registry per process) and its settings.

    metrics = True                                  # /metrics on the main port, every app
    metrics = {"enabled": True,
               "path": "/metrics",                  # where the Prometheus text is served
               "port": 9464, "host": "127.0.0.1",   # a separate listener instead of the main port
               "token": "...",                      # scrapers send `Authorization: Bearer <token>`
               "allow": ["10.0.0.0/8"],             # or: only these client addresses/networks
               "buckets": [0.005, 0.01, ...],       # the HTTP duration histogram, seconds
               "process": True,                     # process memory, CPU, fds, GC collectors
               "loop_lag_interval": "500ms"}        # how often the event-loop lag is sampled (0: off)
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any

from mega.config import _checks as c
from mega.config._specs import Leaf, Section, Switch, const
from mega.config.sections import GLOBAL, Resolve, register_section

__all__ = ["DEFAULT_BUCKETS", "METRICS", "MetricsSettings"]

DEFAULT_PATH = "/metrics"
DEFAULT_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_PATH = re.compile(r"/[A-Za-z0-9._~-]+(?:/[A-Za-z0-9._~-]+)*")


@dataclass(frozen=True)
class MetricsSettings:
    enabled: bool
    path: str
    port: int | None  # None: served by every app on the main port
    host: str
    token: str | None
    allow: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
    buckets: tuple[float, ...]
    process: bool
    loop_lag_interval: float  # 0: no lag sampling

    @property
    def protected(self) -> bool:
        return self.token is not None or bool(self.allow)


OFF = MetricsSettings(False, DEFAULT_PATH, None, "127.0.0.1", None, (), DEFAULT_BUCKETS, True, 0.5)


def _path(value: Any) -> str:
    if not isinstance(value, str) or not _PATH.fullmatch(value):
        raise c.Invalid(c.INVALID_VALUE, f"must be a URL path such as '/metrics', got {value!r}",
                        hint="start with '/', no trailing '/', no spaces, braces, query or fragment")
    return value


def _network(value: Any) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    if isinstance(value, str):
        try:
            return ipaddress.ip_network(value, strict=False)
        except ValueError:
            pass
    raise c.Invalid(c.INVALID_VALUE, f"must be an IP address or network such as '10.0.0.0/8', got {value!r}",
                    hint="list the scrapers' addresses: ['127.0.0.1', '10.0.0.0/8', '::1']")


def _buckets(value: Any) -> list[float]:
    if not isinstance(value, list | tuple) or not value or \
            not all(isinstance(b, int | float) and not isinstance(b, bool) and b > 0 for b in value) or \
            list(value) != sorted(set(value)):
        raise c.Invalid(c.INVALID_VALUE, f"must be increasing positive numbers of seconds, got {value!r}",
                        hint="e.g. [0.005, 0.01, 0.05, 0.1, 0.5, 1, 5] (+Inf is always added)")
    return [float(b) for b in value]


_SECTION = Section({
    "enabled": Leaf(c.boolean, const(True), env_var="MEGA_METRICS_ENABLED"),
    "path": Leaf(_path, const(DEFAULT_PATH)),
    "port": Leaf(c.optional(c.integer(1, 65535)), const(None), env_var="MEGA_METRICS_PORT"),
    "host": Leaf(c.string, const("127.0.0.1")),
    "token": Leaf(c.optional(c.string), const(None), env_var="MEGA_METRICS_TOKEN"),
    "allow": Leaf(c.list_of(_network, "a list of IP addresses or networks"), const([])),
    "buckets": Leaf(_buckets, const(list(DEFAULT_BUCKETS))),
    "process": Leaf(c.boolean, const(True)),
    "loop_lag_interval": Leaf(c.duration(zero_ok=True), const(0.5)),
})

METRICS = Switch(
    _SECTION,
    # Absent: off, unless MEGA_METRICS_ENABLED turns it on (then every key takes its default/env var).
    lambda ctx: _SECTION.default("metrics", ctx) if ctx.environ.get("MEGA_METRICS_ENABLED") else False,
    "True, False or a dict of metrics settings",
    hint="e.g. metrics = True or {'enabled': True, 'token': '...'}",
    true_ok=True,
)


def metrics_settings(value: Any, resolve: Resolve) -> MetricsSettings:
    if value is False or not value["enabled"]:
        return OFF
    return MetricsSettings(True, value["path"], value["port"], value["host"], value["token"],
                           tuple(value["allow"]), tuple(value["buckets"]), value["process"],
                           float(value["loop_lag_interval"]))


register_section("metrics", METRICS, scope=GLOBAL, settings=metrics_settings)
