"""Load and validate a project's config: mega_config.py, then each active app's app_config.py."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mega.config._apps import APPS_DIR, active_apps, app_file_label, check_across_apps, discover_app_dirs
from mega.config._env import DEFAULT_ENV, resolve_env
from mega.config._files import read_config_file
from mega.config._problems import ConfigError
from mega.config._project import AppConfig, ProjectConfig
from mega.config._resolve import resolve_settings
from mega.config._specs import Context
from mega.config._validate import GLOBAL_FILE, validate_file
from mega.config.scopes import Scope

__all__ = ["load_project_config"]


def load_project_config(root: Path, *, environ: Mapping[str, str] | None = None) -> ProjectConfig:
    """Load, validate and default the whole project's config.

    Does not read .env (call `load_dotenv_file` first). Every problem in every file is collected and
    raised together as one `ConfigError`.
    """
    root = Path(root).resolve()
    environ = os.environ if environ is None else environ
    ctx = Context(GLOBAL_FILE, DEFAULT_ENV, environ)

    global_path = root / GLOBAL_FILE
    raw = _read_global(global_path, root, ctx)
    ctx.env = resolve_env(raw, environ, ctx)
    found = discover_app_dirs(root)
    # Where app-only keys found in mega_config.py belong: the app, when there is no doubt which.
    app_hint = app_file_label(found[0] if len(found) == 1 else "<name>")
    values = validate_file(raw, Scope.GLOBAL, ctx, app_file=app_hint)
    values["env"] = ctx.env

    app_raws: dict[str, dict[Any, Any]] = {}
    names = active_apps(values["apps"], found, root, ctx)
    apps = {name: _load_app(root, name, ctx, app_raws) for name in names}
    check_across_apps(apps, ctx)
    settings = resolve_settings(values, raw, apps, app_raws, ctx)
    if ctx.problems:
        raise ConfigError(ctx.problems)
    return ProjectConfig(
        root=root, file=global_path, env=ctx.env, values=values, apps=apps, settings=settings
    )


def _read_global(path: Path, root: Path, ctx: Context) -> dict[Any, Any]:
    if not path.is_file():
        ctx.report(
            "config.missing_file",
            "",
            f"{GLOBAL_FILE} not found in {root}",
            f"run `mega new NAME` to create a project, or create {GLOBAL_FILE} with `config = {{}}`",
        )
        return {}
    return read_config_file(path, ctx) or {}


def _load_app(root: Path, name: str, project: Context, raws: dict[str, dict[Any, Any]]) -> AppConfig:
    app_dir = root / APPS_DIR / name
    path = app_dir / "app_config.py"
    ctx = Context(app_file_label(name), project.env, project.environ, project.problems)
    exists = path.is_file()
    raw = (read_config_file(path, ctx) or {}) if exists else {}
    raws[name] = raw
    values = validate_file(raw, Scope.APP, ctx, app_file=ctx.file)
    return AppConfig(name=name, dir=app_dir, file=path if exists else None, values=values)
