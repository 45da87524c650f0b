"""Turn each feature section's validated value into its typed settings, once every file is validated.

A section valid at both levels gives each app mega_config.py's keys with the app's laid over them;
an app that names a backend (one of the section's `backend_keys`) takes none of the global's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mega.config._project import AppConfig
from mega.config._specs import Context
from mega.config._validate import GLOBAL_FILE
from mega.config.scopes import Scope
from mega.config.sections import Resolve, SectionDef, registered


def resolve_settings(
    values: dict[str, Any], raw: Mapping[Any, Any], apps: Mapping[str, AppConfig],
    app_raws: Mapping[str, Mapping[Any, Any]], ctx: Context,
) -> dict[str, Any]:
    """The global sections' settings; each app's are put on its AppConfig. Problems go to `ctx`.

    A value that failed its check has its default in place (a required one is None), so the
    cross-section checks still run and report in this same pass.
    """
    services: Mapping[str, Any] = values.get("services") or {}
    project: dict[str, Any] = {}
    for name, section in registered().items():
        if section.settings is None:
            continue
        if Scope.GLOBAL in section.scopes:
            project[name] = section.settings(values[name], Resolve(ctx, services, name, {}, GLOBAL_FILE))
        if Scope.APP not in section.scopes:
            continue
        for app_name, app in apps.items():
            label = f"apps/{app_name}/app_config.py"
            app_given = _given(app_raws.get(app_name, {}), name)
            if Scope.GLOBAL in section.scopes and app_given is None:
                app.settings[name] = project[name]  # nothing of its own: the global settings as they are
                continue
            value, files = app.values[name], dict[str, str]()
            if Scope.GLOBAL in section.scopes:
                value, files = _lay_over(section, values[name], _given(raw, name) or set(), value,
                                         app_given or set(), label)
            app.settings[name] = section.settings(value, Resolve(ctx, services, name, files, label))
    return project


def _given(raw: Mapping[Any, Any], name: str) -> set[str] | None:
    """The keys a file wrote in section `name` (None when the file has no such section)."""
    value = raw.get(name)
    if value is None:
        return None
    return {key for key in value if isinstance(key, str)} if isinstance(value, dict) else set()


def _lay_over(section: SectionDef, base: Any, base_keys: set[str], own: Any, own_keys: set[str],
              label: str) -> tuple[Any, dict[str, str]]:
    """The app's value with the global's given keys under it, and which file each key came from."""
    if not isinstance(base, dict) or not isinstance(own, dict):
        return own, {}
    names_backend = any(key in own_keys for key in section.backend_keys)
    merged = dict(own)
    files = dict.fromkeys(own_keys, label)
    for key in base_keys - own_keys:
        if key in base and not (names_backend and key in section.backend_keys):
            merged[key] = base[key]
            files[key] = GLOBAL_FILE
    return merged, files
