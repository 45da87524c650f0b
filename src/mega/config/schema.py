"""The config schema of the core keys, for each file scope, plus the registered feature sections.

The core keys must be exactly those of `scopes.py` for their scope (a test checks it); each feature
declares its own section beside itself (`mega.config.sections`).
"""

from __future__ import annotations

from mega.config import _checks as c
from mega.config._sinks import sink
from mega.config._specs import Context, Entries, Leaf, Section, Spec, const
from mega.config.scopes import Scope
from mega.config.sections import registered

__all__ = ["APP_CORE", "ENVS", "GLOBAL_CORE", "root_for"]

ENVS = ("development", "production", "test")

_NONE = const(None)
_EMPTY_LIST = const([])
_STR_LIST = c.list_of(c.string, "a list of strings")
_DURATION = c.duration()


def _is_production(ctx: Context) -> bool:
    return ctx.env == "production"


SERVER = Section(
    {
        "host": Leaf(c.string, const("127.0.0.1")),
        "port": Leaf(c.integer(1, 65535), const(3000), env_var="PORT"),
        "shutdown_timeout": Leaf(_DURATION, const(10.0)),
        "header_timeout": Leaf(_DURATION, const(30.0)),
        "body_timeout": Leaf(_DURATION, const(30.0)),
        "keep_alive_timeout": Leaf(_DURATION, const(5.0)),
        "max_header_bytes": Leaf(c.integer(1024, 16_777_216), const(65_536)),
        "max_headers": Leaf(c.integer(1, 10_000), const(100)),
        "body_limit": Leaf(c.integer(0), const(1_048_576)),
        "trailing_slash": Leaf(c.choice("redirect", "strict"), const("redirect")),
        "server": Leaf(c.choice("uvicorn", "granian"), const("uvicorn")),
        "trusted_proxies": Leaf(_STR_LIST, const([])),
        "workers": Leaf(c.workers, const(0)),  # cluster mode; MEGA_CLUSTER_WORKERS wins (mega.cluster)
    }
)

LOGGER = Section(
    {
        "level": Leaf(c.choice("debug", "info", "warning", "error", "critical"), const("info")),
        "format": Leaf(c.choice("json", "pretty"), lambda ctx: "json" if _is_production(ctx) else "pretty"),
        "access_log": Leaf(c.boolean, lambda ctx: not _is_production(ctx)),
        "access_log_health": Leaf(c.boolean, const(False)),  # /health/* probes: one line per probe
        "sinks": Leaf(c.list_of(sink, "a list of sinks"), const([{"type": "console"}])),
    }
)

HEALTH = Section(
    {
        "expose_details": Leaf(c.boolean, const(False)),
        "check_timeout": Leaf(_DURATION, const(2.0)),
    }
)

WATCH = Section(
    {
        "paths": Leaf(_STR_LIST, const(["apps", "mega_config.py", ".env"])),
        "ignore": Leaf(_STR_LIST, const(["var/*", "*.pyc", "__pycache__/*", ".mega/*", "tests/*"])),
    }
)

# One declared adapter: a driver plus driver-specific options (checked by the driver, not here).
_ADAPTER = Section(
    {"driver": Leaf(c.string, None, required_hint="name the adapter's driver, e.g. 'driver': 'redis'")},
    extra=True,
)
# A Redis connection: `url` plus redis-py options, shared by the features that name its alias.
_REDIS = Section(
    {"url": Leaf(c.string, None, required_hint="e.g. 'url': 'redis://127.0.0.1:6379/0'")},
    extra=True,
)
SERVICES = Section(
    {
        **{group: Entries(_ADAPTER, c.alias) for group in ("dbs", "caches", "buses")},
        "redis": Entries(_REDIS, c.alias),
    }
)

_MIDDLEWARE_LIST = Leaf(c.list_of(c.callable_or_name, "a list of middlewares"), _EMPTY_LIST)
MIDDLEWARE = Section({stage: _MIDDLEWARE_LIST for stage in ("before", "transform", "after")})

GLOBAL_CORE: dict[str, Spec] = {
    "env": Leaf(c.choice(*ENVS), lambda ctx: ctx.env),
    "apps": Leaf(c.app_names, _NONE),
    "server": SERVER,
    "services": SERVICES,
    "logger": LOGGER,
    "health": HEALTH,
    "watch": WATCH,
}

APP_CORE: dict[str, Spec] = {
    "hosts": Leaf(c.host_list, _EMPTY_LIST),
    "default": Leaf(c.boolean, const(False)),
    "headers": Entries(Leaf(c.header_value, None), c.header_name),
    "middleware": MIDDLEWARE,
}


def root_for(scope: Scope) -> Section:
    """The schema of a file of `scope`: its core keys, then every feature section registered for it."""
    core = GLOBAL_CORE if scope is Scope.GLOBAL else APP_CORE
    features = {name: s.spec for name, s in registered().items() if scope in s.scopes}
    return Section({**core, **features})
