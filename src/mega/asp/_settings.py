"""The `asp` config section (app_config.py) and the settings an app's ASP is built from.

    asp = {
        "secret": os.environ["ASP_MASTER_SECRET"],  # or a list: ["new", "old"] (the first encrypts)
        "paths": ["/api/pay", "/api/secure/*"],     # exact route paths, or a prefix ending in /*
        "drift": 60,                                # seconds a timestamp may be off (or "1m")
        "replay_cache": None,                       # None: this process's memory; or a services.caches alias
        "websocket": {"namespaces": ["/ws/chat"]},  # channels whose frames are encrypted (E:...)
    }

Absent, None or False: ASP is off. A written section needs both a secret (the key, else the
ASP_MASTER_SECRET environment variable) and paths or websocket namespaces; one without the other is a
config problem.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mega.config import _checks as c
from mega.config._specs import Leaf, Section, Switch, const
from mega.config.sections import APP, Resolve, register_section

__all__ = ["ASP", "SECRET_ENV", "AspSettings"]

SECRET_ENV = "ASP_MASTER_SECRET"
MIN_SECRET = 32  # characters; HKDF turns it into 256-bit keys, so it should hold about as much entropy
DEFAULT_DRIFT = 60.0
MAX_DRIFT = 3600.0
_MAKE = "python -c 'import secrets; print(secrets.token_urlsafe(32))'"


@dataclass(frozen=True)
class AspSettings:
    secrets: tuple[str, ...]  # the first encrypts, every one decrypts (key rotation)
    paths: tuple[str, ...]  # exact route paths, and prefixes ending in "/*"
    drift: float  # seconds
    replay_cache: str | None  # a services.caches alias; None: memory of this process
    ws_namespaces: tuple[str, ...] = ()  # channel paths (or '/*' prefixes) whose frames are encrypted

    def __repr__(self) -> str:  # never print the secrets
        return f"AspSettings(secrets=<{len(self.secrets)}>, paths={self.paths!r}, drift={self.drift!r}, " \
               f"replay_cache={self.replay_cache!r}, ws_namespaces={self.ws_namespaces!r})"


def _secrets(value: Any) -> list[str] | None:
    """One secret, several separated by commas, or a list of them. Never echoes a value."""
    if value is None:
        return None
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not items:
        raise c.Invalid(c.INVALID_TYPE, "must be a string or a non-empty list of strings (the first "
                        "encrypts, every one decrypts)", hint=_MAKE)
    for index, item in enumerate(items):
        if not isinstance(item, str) or len(item.strip()) < MIN_SECRET:
            raise c.Invalid(c.INVALID_VALUE, f"must be at least {MIN_SECRET} characters long",
                            hint=f"make one with {_MAKE}",
                            subkey=f"[{index}]" if not isinstance(value, str) or len(items) > 1 else "")
    return [item.strip() for item in items]


def _path(value: Any) -> str:
    if not isinstance(value, str) or not value.startswith("/"):
        raise c.Invalid(c.INVALID_VALUE, f"has {value!r}, which is not a path",
                        hint="write a route path as declared ('/api/pay', '/users/{id}') or a prefix "
                             "('/api/*')")
    if "*" in value[:-1] or (value.endswith("*") and not value.endswith("/*")):
        raise c.Invalid(c.INVALID_VALUE, f"has {value!r}: '*' is only allowed as a final '/*'",
                        hint="'/api/*' covers /api and every route under /api/")
    return value


ASP = Switch(
    Section(
        {
            "secret": Leaf(_secrets, const(None), env_var=SECRET_ENV),
            "paths": Leaf(c.list_of(_path, "a list of paths"), const([])),
            "drift": Leaf(c.duration(most=MAX_DRIFT), const(DEFAULT_DRIFT)),
            "replay_cache": Leaf(c.optional(c.alias), const(None)),
            "websocket": Section({"namespaces": Leaf(c.list_of(_path, "a list of paths"), const([]))}),
        }
    ),
    const(False),
    "None, False or a dict",
    hint="e.g. asp = {'paths': ['/api/secure/*']} with ASP_MASTER_SECRET in the environment",
)


def asp_settings(value: Any, resolve: Resolve) -> AspSettings | None:
    """None when ASP is off; a problem when only one of secret and paths is set."""
    if value is False:
        return None
    secrets, paths = value["secret"], value["paths"]
    namespaces = value["websocket"]["namespaces"]
    if not paths and not namespaces and not _reported(resolve, "paths") \
            and not _reported(resolve, "websocket.namespaces"):  # a bad namespace was reported as such
        resolve.report(c.INVALID_VALUE, "paths", "is empty, but asp is configured: ASP needs both a secret "
                       "and the paths it covers", "list them, e.g. asp = {'paths': ['/api/secure/*']}, "
                       "or remove the asp section")
    if not secrets and not _reported(resolve, "secret"):  # an invalid one was reported as such
        resolve.report(c.INVALID_VALUE, "secret", f"is missing (and {SECRET_ENV} is not set), but asp is "
                       "configured: ASP needs both a secret and the paths it covers",
                       f"set {SECRET_ENV} in the environment or .env (make one with {_MAKE})")
    if not (paths or namespaces) or not secrets:
        return None
    cache = value["replay_cache"]
    if cache is not None and not resolve.alias("replay_cache", cache, "caches",
                                               example="{'driver': 'redis', 'url': ...}"):
        return None
    return AspSettings(tuple(secrets), tuple(dict.fromkeys(paths)), value["drift"], cache,
                       tuple(dict.fromkeys(namespaces)))


def _reported(resolve: Resolve, key: str) -> bool:
    where = f"{resolve.section}.{key}"
    return any(p.key == where or p.key.startswith(where + "[") for p in resolve.ctx.problems)


register_section("asp", ASP, scope=APP, settings=asp_settings)
