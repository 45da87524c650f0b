"""Which config keys belong in mega_config.py, which in apps/<name>/app_config.py, and which in both."""

from __future__ import annotations

from enum import Enum

__all__ = ["APP_ONLY", "BOTH", "GLOBAL_ONLY", "Scope", "allowed_in", "keys_for", "scope_of"]


class Scope(Enum):
    GLOBAL = "global"  # mega_config.py
    APP = "app"  # apps/<name>/app_config.py


GLOBAL_ONLY: frozenset[str] = frozenset(
    {
        "env", "apps", "server", "services", "logger", "health", "jobs", "schedules", "workers",
        "watch", "cluster", "metrics", "tracing", "ws_cluster", "ws_hub", "plugins",
    }
)  # fmt: skip
APP_ONLY: frozenset[str] = frozenset(
    {
        "hosts", "default", "bridge_hub", "session", "i18n", "middleware", "headers", "security",
        "helmet", "cors", "csrf", "rate_limit", "asp", "views", "static", "openapi",
    }
)  # fmt: skip
# Both levels: the global one is the fallback for apps that do not declare their own.
BOTH: frozenset[str] = frozenset({"lock", "bus"})


def keys_for(scope: Scope) -> frozenset[str]:
    """Every key valid in a file of this scope."""
    return (GLOBAL_ONLY if scope is Scope.GLOBAL else APP_ONLY) | BOTH


def allowed_in(key: str, scope: Scope) -> bool:
    return key in keys_for(scope)


def scope_of(key: str) -> Scope | None:
    """The only scope a key is valid in; None for keys valid in both, or unknown anywhere."""
    if key in GLOBAL_ONLY:
        return Scope.GLOBAL
    if key in APP_ONLY:
        return Scope.APP
    return None
