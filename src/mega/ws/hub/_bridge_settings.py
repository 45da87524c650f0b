"""The `bridge_hub` config section (app_config.py): this app's link to a `mega ws-hub` server.

    bridge_hub = {
        "url": "ws://hub.internal:3100",      # default: MEGA_WSHUB_URL, else ws://localhost:3100
        "token": "...",                       # default: MEGA_WSHUB_TOKEN (required)
        "bridge_id": "web-1",                 # default: BRIDGE_ID, else main-1; unique per process
                                              # (a cluster worker N appends ".w<N>": web-1.w2)
        "channels": ["chat"],                 # channels this bridge receives broadcasts of
        "retry": {"retries": 30, "min_timeout": 1, "max_timeout": 10},   # reconnect backoff, seconds
        "connect_timeout": 5,                 # seconds to wait for register_ok
        "roster": {"driver": "redis", "cache": "presence"},   # optional: a Redis roster per channel
    }
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from mega.cluster import WORKER_ID_VAR
from mega.config import _checks as c
from mega.config._specs import Leaf, Section, Switch, const
from mega.config.sections import APP, Resolve, register_section
from mega.ws.presence._settings import ROSTER, RosterSettings, roster_settings

__all__ = ["BRIDGE_HUB", "BridgeSettings", "RetrySettings"]

URL_ENV = "MEGA_WSHUB_URL"
TOKEN_ENV = "MEGA_WSHUB_TOKEN"
ID_ENV = "BRIDGE_ID"
DEFAULT_URL = "ws://localhost:3100"
DEFAULT_ID = "main-1"


@dataclass(frozen=True)
class RetrySettings:
    retries: int = 30
    min_timeout: float = 1.0
    max_timeout: float = 10.0


@dataclass(frozen=True)
class BridgeSettings:
    url: str
    token: str
    bridge_id: str
    channels: tuple[str, ...] = ()
    retry: RetrySettings = RetrySettings()
    connect_timeout: float = 5.0
    roster: RosterSettings | None = None  # driver redis: the Redis roster; None: local sessions only

    def __repr__(self) -> str:  # never print the token
        return (f"BridgeSettings(url={self.url!r}, token=<hidden>, bridge_id={self.bridge_id!r}, "
                f"channels={self.channels!r}, retry={self.retry!r}, "
                f"connect_timeout={self.connect_timeout!r}, roster={self.roster!r})")


def _url(value: Any) -> str:
    text = c.string(value).strip()
    parts = urlsplit(text)
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise c.Invalid(c.INVALID_VALUE, f"must be a ws:// or wss:// URL, got {value!r}",
                        hint="e.g. ws://localhost:3100 (the address `mega ws-hub` listens on)")
    return text


def _ident(value: Any) -> str:
    text = c.string(value).strip()
    if not text or len(text) > 200:
        raise c.Invalid(c.INVALID_VALUE, f"must be 1-200 characters, got {value!r}")
    return text


BRIDGE_HUB = Switch(
    Section(
        {
            "url": Leaf(_url, const(DEFAULT_URL), env_var=URL_ENV),
            "token": Leaf(c.optional(c.string), const(None), env_var=TOKEN_ENV),
            "bridge_id": Leaf(_ident, const(DEFAULT_ID), env_var=ID_ENV),
            "channels": Leaf(c.list_of(_ident, "a list of channel names"), const([])),
            "retry": Section(
                {
                    "retries": Leaf(c.integer(0, 10_000), const(30)),
                    "min_timeout": Leaf(c.duration(zero_ok=True, most=3600), const(1.0)),
                    "max_timeout": Leaf(c.duration(zero_ok=True, most=3600), const(10.0)),
                }
            ),
            "connect_timeout": Leaf(c.duration(most=300), const(5.0)),
            "roster": Switch(ROSTER, const(None), "None, False or a dict such as {'driver': 'redis', "
                             "'cache': '<services.caches alias>'}"),
        }
    ),
    const(False),
    "None, False or a dict",
    hint="e.g. bridge_hub = {'channels': ['chat']} with MEGA_WSHUB_TOKEN in the environment",
    true_ok=True,
)


def bridge_settings(value: Any, resolve: Resolve) -> BridgeSettings | None:
    if value is False:
        return None
    token = value["token"]
    if not token:
        resolve.report("config.missing_value", "token", f"is missing (and {TOKEN_ENV} is not set): the "
                       "hub refuses a bridge without a token",
                       f"set {TOKEN_ENV} in the environment or .env to one of the hub's MEGA_WSHUB_TOKENS")
        return None
    retry = value["retry"]
    if retry["min_timeout"] > retry["max_timeout"]:
        resolve.report(c.INVALID_VALUE, "retry.min_timeout", f"({retry['min_timeout']:g}s) must not "
                       f"exceed retry.max_timeout ({retry['max_timeout']:g}s)",
                       "lower min_timeout or raise max_timeout")
        return None
    roster = _roster(value["roster"], resolve)
    if isinstance(roster, bool):
        return None
    bridge_id = value["bridge_id"]
    worker = resolve.ctx.environ.get(WORKER_ID_VAR, "")
    if worker.isdigit():  # a cluster worker (the primary sets its slot): one link, so one id, per process
        bridge_id = f"{bridge_id}.w{worker}"
    return BridgeSettings(value["url"], token, bridge_id, tuple(dict.fromkeys(value["channels"])),
                          RetrySettings(int(retry["retries"]), float(retry["min_timeout"]),
                                        float(retry["max_timeout"])), float(value["connect_timeout"]),
                          roster)


def _roster(value: Any, resolve: Resolve) -> RosterSettings | bool | None:
    """The roster's settings; None without one (or driver none); False after reporting a problem."""
    if not value:
        return None
    if value["driver"] == "nats":
        resolve.report(c.INVALID_VALUE, "roster.driver", "is 'nats', which only ws_cluster keeps",
                       "use 'driver': 'redis' with 'cache': '<services.caches alias>', or remove roster")
        return False
    roster = roster_settings(value, resolve, key="roster")
    if roster is None:
        return False
    return roster if roster.driver == "redis" else None


register_section("bridge_hub", BRIDGE_HUB, scope=APP, settings=bridge_settings)
