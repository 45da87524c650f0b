"""The `auth` config section (app_config.py): where `require_auth` sends a browser that is not logged in.

    auth = {
        "login_route": "login",     # a route name (declared with name="login"); wins over login_path
        "login_path": "/login",     # else this path
        "next_param": "next",       # the query parameter that carries the page asked for
    }

Absent: `/login?next=...`.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mega.auth._next import safe_next
from mega.config import _checks as c
from mega.config._problems import ConfigError
from mega.config._specs import Context, Leaf, Section, const
from mega.config.sections import APP, Resolve, register_section, registered

if TYPE_CHECKING:
    from mega.app.app import MegaApp

__all__ = ["AUTH_SECTION", "AuthSettings", "auth_settings"]

DEFAULT_LOGIN_PATH = "/login"
_PARAM = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,63}")


@dataclass(frozen=True, slots=True)
class AuthSettings:
    login_route: str | None
    login_path: str
    next_param: str


def _login_path(value: Any) -> str:
    path = c.string(value)
    if safe_next(path) is None or "?" in path or "#" in path:
        raise c.Invalid(c.INVALID_VALUE, f"must be a path on this site, got {value!r}",
                        hint="e.g. '/login' (or name the route with login_route)")
    return path


def _route_name(value: Any) -> str:
    name = c.string(value)
    if not name:
        raise c.Invalid(c.INVALID_VALUE, "must be a route name",
                        hint="e.g. 'login' (router.get(..., name='login'))")
    return name


def _param(value: Any) -> str:
    name = c.string(value)
    if not _PARAM.fullmatch(name):
        raise c.Invalid(c.INVALID_VALUE, f"must be a query parameter name, got {value!r}", hint="e.g. 'next'")
    return name


AUTH_SECTION = Section(
    {
        "login_route": Leaf(c.optional(_route_name), const(None)),
        "login_path": Leaf(_login_path, const(DEFAULT_LOGIN_PATH)),
        "next_param": Leaf(_param, const("next")),
    }
)

DEFAULT = AuthSettings(None, DEFAULT_LOGIN_PATH, "next")


def _settings(value: dict[str, Any], resolve: Resolve) -> AuthSettings:
    return AuthSettings(value["login_route"], value["login_path"], value["next_param"])


register_section("auth", AUTH_SECTION, scope=APP, settings=_settings)


def _parse(config: Mapping[str, Any], file: str) -> AuthSettings:
    if config.get("auth") is None:
        return DEFAULT
    ctx = Context(file, "", {})
    value = registered()["auth"].spec.validate(config["auth"], "auth", ctx)
    if ctx.problems:
        raise ConfigError(ctx.problems)
    return _settings(value, Resolve(ctx, None, "auth", {}, file))


_CACHE: weakref.WeakKeyDictionary[MegaApp, AuthSettings] = weakref.WeakKeyDictionary()


def auth_settings(app: MegaApp) -> AuthSettings:
    """The app's `auth` settings (validated at boot with the rest of app_config.py; read once here)."""
    found = _CACHE.get(app)
    if found is None:
        found = _CACHE[app] = _parse(app.config, f"apps/{app.name}/app_config.py")
    return found
