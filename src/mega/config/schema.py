"""The config schema: every known key, its type and its default, for each file scope.

Top-level sections must hold exactly the keys of `scopes.py` for their scope (a test checks it).
"""

from __future__ import annotations

from collections.abc import Mapping

from mega.config import _checks as c
from mega.config._specs import Context, Entries, Leaf, Section, Spec, const
from mega.config.scopes import Scope

__all__ = ["APP", "ENVS", "GLOBAL", "root_for"]

ENVS = ("development", "production", "test")

_NONE = const(None)
_EMPTY_LIST = const([])
_FREE_LIST = Leaf(c.list_of(None), _EMPTY_LIST)
_FREE_DICT = Leaf(c.dict_or_none, _NONE)
_FREE_APP = Leaf(c.dict_bool_or_none, _NONE)
_STR_LIST = c.list_of(c.string, "a list of strings")


def _is_production(ctx: Context) -> bool:
    return ctx.env == "production"


SERVER = Section(
    {
        "host": Leaf(c.string, const("127.0.0.1")),
        "port": Leaf(c.integer(1, 65535), const(3000), env_var="PORT"),
        "shutdown_timeout": Leaf(c.positive_number, const(10.0)),
        "header_timeout": Leaf(c.positive_number, const(30.0)),
        "keep_alive_timeout": Leaf(c.positive_number, const(5.0)),
        "max_header_bytes": Leaf(c.integer(1024, 16_777_216), const(65_536)),
        "max_headers": Leaf(c.integer(1, 10_000), const(100)),
        "body_limit": Leaf(c.integer(0), const(1_048_576)),
        "trailing_slash": Leaf(c.choice("redirect", "strict"), const("redirect")),
        "server": Leaf(c.choice("uvicorn", "granian"), const("uvicorn")),
        "trusted_proxies": Leaf(_STR_LIST, const([])),
    }
)

LOGGER = Section(
    {
        "level": Leaf(c.choice("debug", "info", "warning", "error", "critical"), const("info")),
        "format": Leaf(c.choice("json", "pretty"), lambda ctx: "json" if _is_production(ctx) else "pretty"),
        "access_log": Leaf(c.boolean, lambda ctx: not _is_production(ctx)),
        "sinks": Leaf(c.list_of(None), const([{"type": "console"}])),
    }
)

HEALTH = Section(
    {
        "expose_details": Leaf(c.boolean, const(False)),
        "check_timeout": Leaf(c.positive_number, const(2.0)),
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
# One Redis connection: a url plus redis-py client options (checked by the adapter).
_REDIS = Section(
    {"url": Leaf(c.string, None, required_hint="give the connection a url: 'redis://127.0.0.1:6379/0'")},
    extra=True,
)
SERVICES = Section({**{group: Entries(_ADAPTER, c.alias) for group in ("dbs", "caches", "buses")},
                    "redis": Entries(_REDIS, c.alias)})

_MIDDLEWARE_LIST = Leaf(c.list_of(c.callable_or_name, "a list of middlewares"), _EMPTY_LIST)
MIDDLEWARE = Section({stage: _MIDDLEWARE_LIST for stage in ("before", "transform", "after")})

GLOBAL = Section(
    {
        "env": Leaf(c.choice(*ENVS), lambda ctx: ctx.env),
        "apps": Leaf(c.app_names, _NONE),
        "server": SERVER,
        "services": SERVICES,
        "logger": LOGGER,
        "health": HEALTH,
        "watch": WATCH,
        "jobs": _FREE_LIST,
        "schedules": _FREE_LIST,
        "workers": _FREE_LIST,
        "plugins": _FREE_LIST,
        "cluster": _FREE_DICT,
        "metrics": _FREE_DICT,
        "tracing": _FREE_DICT,
        "ws_cluster": _FREE_DICT,
        "ws_hub": _FREE_DICT,
        "lock": _FREE_DICT,
        "bus": _FREE_DICT,
    }
)

_APP_FREE: Mapping[str, Spec] = {
    key: _FREE_APP
    for key in (
        "bridge_hub", "session", "i18n", "security", "helmet", "cors", "csrf", "rate_limit", "asp",
        "views", "static", "openapi",
    )
}  # fmt: skip

APP = Section(
    {
        "hosts": Leaf(c.host_list, _EMPTY_LIST),
        "default": Leaf(c.boolean, const(False)),
        "headers": Entries(Leaf(c.header_value, None), c.header_name),
        "middleware": MIDDLEWARE,
        **_APP_FREE,
        "lock": _FREE_DICT,
        "bus": _FREE_DICT,
    }
)


def root_for(scope: Scope) -> Section:
    return GLOBAL if scope is Scope.GLOBAL else APP
