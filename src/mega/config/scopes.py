"""Which config keys belong in mega_config.py, which in apps/<name>/app_config.py, and which in both.

The core keys are listed here; a feature section says its own scope when it registers, and
`mega.config.sections` answers for both (`keys_for`, `allowed_in`, `scope_of`).
"""

from __future__ import annotations

from enum import Enum

__all__ = ["APP_ONLY", "BOTH", "GLOBAL_ONLY", "Scope"]


class Scope(Enum):
    GLOBAL = "global"  # mega_config.py
    APP = "app"  # apps/<name>/app_config.py


GLOBAL_ONLY: frozenset[str] = frozenset({"env", "apps", "server", "services", "logger", "health", "watch"})
APP_ONLY: frozenset[str] = frozenset({"hosts", "default", "middleware", "headers"})
# Core keys valid at both levels (none today; `lock` and `bus` are feature sections in both).
BOTH: frozenset[str] = frozenset()
