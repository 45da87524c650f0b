"""Which config keys belong in mega_config.py, which in apps/<name>/app_config.py, and which in both.

The core keys are listed here; a feature section says its own scope when it registers
(`mega.config.sections`).
"""

from __future__ import annotations

from enum import Enum

__all__ = ["APP_ONLY", "BOTH", "GLOBAL_ONLY", "Scope", "allowed_in", "keys_for", "scope_of"]


class Scope(Enum):
    GLOBAL = "global"  # mega_config.py
    APP = "app"  # apps/<name>/app_config.py


GLOBAL_ONLY: frozenset[str] = frozenset({"env", "apps", "server", "services", "logger", "health", "watch"})
APP_ONLY: frozenset[str] = frozenset({"hosts", "default", "middleware", "headers"})
# Core keys valid at both levels (none today; `lock` and `bus` are feature sections in both).
BOTH: frozenset[str] = frozenset()


def _section_scopes() -> dict[str, frozenset[Scope]]:
    from mega.config.sections import registered  # the registry imports this module

    return {name: section.scopes for name, section in registered().items()}


def keys_for(scope: Scope) -> frozenset[str]:
    """Every key valid in a file of this scope."""
    core = (GLOBAL_ONLY if scope is Scope.GLOBAL else APP_ONLY) | BOTH
    return core | {name for name, scopes in _section_scopes().items() if scope in scopes}


def allowed_in(key: str, scope: Scope) -> bool:
    return key in keys_for(scope)


def scope_of(key: str) -> Scope | None:
    """The only scope a key is valid in; None for keys valid in both, or unknown anywhere."""
    if key in GLOBAL_ONLY:
        return Scope.GLOBAL
    if key in APP_ONLY:
        return Scope.APP
    scopes = _section_scopes().get(key)
    if scopes is not None and len(scopes) == 1:
        return next(iter(scopes))
    return None
