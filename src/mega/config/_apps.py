"""Which apps are active (folders under apps/, filtered by the `apps` whitelist) and the rules across apps."""

from __future__ import annotations

from pathlib import Path

from mega.config._project import AppConfig
from mega.config._specs import Context
from mega.config._validate import GLOBAL_FILE

APPS_DIR = "apps"
_NEW_APP_HINT = "create one with `mega g app NAME`, or create apps/<name>/ with an app_config.py"


def app_file_label(name: str) -> str:
    return f"{APPS_DIR}/{name}/app_config.py"


def discover_app_dirs(root: Path) -> list[str]:
    """Folder names under apps/, sorted; hidden and private ones (`.x`, `_x`, `__pycache__`) are not apps."""
    apps_dir = root / APPS_DIR
    if not apps_dir.is_dir():
        return []
    return sorted(p.name for p in apps_dir.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))


def active_apps(whitelist: list[str] | None, found: list[str], root: Path, ctx: Context) -> list[str]:
    """The apps to load, in whitelist order; reports unknown names and the no-app cases."""
    if whitelist is None:
        if not found:
            _report_no_apps(root, ctx)
        return found
    if not whitelist:
        ctx.report(
            "config.no_apps",
            "apps",
            f"{GLOBAL_FILE}: apps is an empty list, so no app would run",
            f"list the apps to run, or remove `apps` to run every folder under {APPS_DIR}/",
            file=GLOBAL_FILE,
        )
        return []
    listed = ", ".join(found) or "none"
    for name in whitelist:
        if name not in found:
            ctx.report(
                "config.unknown_app",
                "apps",
                f"{GLOBAL_FILE}: apps lists {name!r}, but there is no folder {APPS_DIR}/{name}/ "
                f"(found: {listed})",
                f"create {APPS_DIR}/{name}/ (`mega g app {name}`) or remove {name!r} from apps",
                file=GLOBAL_FILE,
            )
    return [name for name in whitelist if name in found]


def _report_no_apps(root: Path, ctx: Context) -> None:
    if (root / APPS_DIR).is_dir():
        message = f"no apps found: {APPS_DIR}/ in {root} has no app folders"
    else:
        message = f"no apps found: there is no {APPS_DIR}/ folder in {root}"
    ctx.report("config.no_apps", "", message, _NEW_APP_HINT, file=f"{APPS_DIR}/")


def check_across_apps(apps: dict[str, AppConfig], ctx: Context) -> None:
    """A host routes to one app only, and at most one app is the default."""
    owners: dict[str, str] = {}
    for name, app in apps.items():
        for host in app.values["hosts"]:
            first = owners.setdefault(host, name)
            if first != name:
                ctx.report(
                    "config.duplicate_host",
                    "hosts",
                    f"host {host!r} is claimed by two apps: {first!r} ({app_file_label(first)}) "
                    f"and {name!r} ({app_file_label(name)})",
                    f"a host routes to one app; remove {host!r} from the hosts of one of them",
                    file=app_file_label(name),
                )
    defaults = [name for name, app in apps.items() if app.values["default"] is True]
    if len(defaults) > 1:
        ctx.report(
            "config.duplicate_default",
            "default",
            f"more than one app sets default: True: {', '.join(defaults)}",
            "only one app can take requests whose Host matches no app; keep default: True on one of them",
            file=app_file_label(defaults[1]),
        )
