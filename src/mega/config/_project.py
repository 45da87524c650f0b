"""The loaded, validated config of a project and of each of its apps."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["AppConfig", "ProjectConfig"]


@dataclass
class AppConfig:
    """One app's validated config (`apps/<name>/app_config.py`; an absent file is an empty config)."""

    name: str
    dir: Path
    file: Path | None
    values: dict[str, Any]
    # Each feature section's typed settings (`lock`, `session`, ...), mega_config.py's laid under.
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass
class ProjectConfig:
    """The validated global config and every active app's, in `apps` whitelist order (else by name)."""

    root: Path
    file: Path
    env: str
    values: dict[str, Any]
    apps: dict[str, AppConfig]
    settings: dict[str, Any] = field(default_factory=dict)  # the global feature sections' settings
