"""The `session` config section (app_config.py) and the settings an app's sessions are built from.

    session = {
        "secret": os.environ["SESSION_SECRET"],   # signs the cookie (else SESSION_SECRET is read)
        "ttl": "14 days",                         # how long a session lives without a request
        "rolling": True,                          # each request with the session restarts its ttl
        "absolute_ttl": None,                     # or a duration: the most a session lives at all
        "cookie": {"name": "mega_sid", "secure": None, "samesite": "lax", "domain": None, "path": "/"},
        "store": {"cache": "sessions"},           # a services.caches alias; without: files in var/sessions
    }

`session = False` turns sessions off; absent, None or True means these defaults.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mega.config import _checks as c
from mega.config._specs import Leaf, Section, Switch, const
from mega.config.sections import APP, Resolve, register_section

__all__ = ["SESSION", "CookieSettings", "SessionSettings", "StoreSettings"]

DEFAULT_TTL = 14 * 86400.0
DEFAULT_CLEANUP_INTERVAL = 3600.0
DEFAULT_PATH = "var/sessions"
DEFAULT_PREFIX = "mega:sess:"
SECRET_ENV = "SESSION_SECRET"
MIN_SECRET = 16


@dataclass(frozen=True)
class CookieSettings:
    name: str
    secure: bool | None  # None: secure in production
    samesite: str
    domain: str | None
    path: str
    httponly: bool


@dataclass(frozen=True)
class StoreSettings:
    cache: str | None  # a services.caches alias; None: the built-in file store under `path`
    path: str
    cleanup_interval: float  # the file store's sweep; 0 = none (an external cron)
    ttl: float  # how long the store keeps a session (the session's ttl unless set)
    prefix: str


@dataclass(frozen=True)
class SessionSettings:
    secret: str | None
    ttl: float
    rolling: bool
    cookie: CookieSettings
    store: StoreSettings
    absolute_ttl: float | None = None  # the most a session lives from its creation, however active


def _secret(value: Any) -> str | None:
    # Never echo the value: it is a secret.
    if value is None:
        return None
    if not isinstance(value, str) or len(value) < MIN_SECRET:
        raise c.Invalid(c.INVALID_VALUE, f"must be a string of at least {MIN_SECRET} characters",
                        hint="python -c 'import secrets; print(secrets.token_urlsafe(32))'")
    return value


COOKIE = Section(
    {
        "name": Leaf(c.string, const("mega_sid")),
        "secure": Leaf(c.optional(c.boolean), const(None)),
        "samesite": Leaf(c.choice("lax", "strict", "none"), const("lax")),
        "domain": Leaf(c.optional(c.string), const(None)),
        "path": Leaf(c.string, const("/")),
        "httponly": Leaf(c.boolean, const(True)),
    }
)

STORE = Section(
    {
        "cache": Leaf(c.optional(c.alias), const(None)),
        "path": Leaf(c.string, const(DEFAULT_PATH)),
        "cleanup_interval": Leaf(c.duration(zero_ok=True), const(DEFAULT_CLEANUP_INTERVAL)),
        "ttl": Leaf(c.optional(c.duration()), const(None)),  # None: the session's ttl
        "prefix": Leaf(c.string, const(DEFAULT_PREFIX)),
    }
)

SESSION = Switch(
    Section(
        {
            "secret": Leaf(_secret, const(None), env_var=SECRET_ENV),
            "ttl": Leaf(c.duration(), const(DEFAULT_TTL)),
            "rolling": Leaf(c.boolean, const(True)),
            "absolute_ttl": Leaf(c.optional(c.duration()), const(None)),
            "cookie": COOKIE,
            "store": STORE,
        }
    ),
    None,
    "a dict, None, True or False",
    hint="e.g. session = {'ttl': '1 day'}; session = False turns sessions off",
    true_ok=True,
)


def session_settings(value: Any, resolve: Resolve) -> SessionSettings | None:
    """None when sessions are off."""
    if value is False:
        return None
    store = value["store"]
    if store["cache"] is not None:
        resolve.alias("store.cache", store["cache"], "caches", example="{'driver': 'redis', 'url': ...}")
    ttl = value["ttl"]
    return SessionSettings(
        secret=value["secret"],
        ttl=ttl,
        rolling=value["rolling"],
        cookie=CookieSettings(**value["cookie"]),
        store=StoreSettings(store["cache"], store["path"], store["cleanup_interval"],
                            ttl if store["ttl"] is None else store["ttl"], store["prefix"]),
        absolute_ttl=value["absolute_ttl"],
    )


register_section("session", SESSION, scope=APP, settings=session_settings)
