"""The booted apps by name, so code without a ctx (timers, SDK callbacks, tests) can reach them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mega.errors import MegaError

if TYPE_CHECKING:
    from mega.app.app import MegaApp

_apps: dict[str, MegaApp] = {}


def register(app: MegaApp) -> None:
    """Called once per app by the boot's apps stage."""
    if app.name in _apps and _apps[app.name] is not app:
        raise MegaError("app.duplicate", f"an app named '{app.name}' is already booted in this process",
                        hint="shut the other project down first (mega.testing resets between tests)")
    _apps[app.name] = app


def get_app(name: str | None = None) -> MegaApp:
    """The booted app `name`; without a name, the only booted app."""
    booted = list(_apps)
    if name is not None:
        app = _apps.get(name)
        if app is None:
            shown = ", ".join(booted) if booted else "(none)"
            raise MegaError("app.not_found", f"get_app('{name}') — no booted app named '{name}'. "
                            f"Booted: [{shown}].", details={"name": name, "booted": booted})
        return app
    if not booted:
        raise MegaError("app.not_initialized", "get_app() was called before any app booted",
                        hint="call it after boot, e.g. from an after_boot hook or inside a handler",
                        details={})
    if len(booted) > 1:
        raise MegaError("app.ambiguous", f"get_app() without a name, but {len(booted)} apps are booted: "
                        f"{', '.join(booted)}. Pass a name.", details={"booted": booted})
    return _apps[booted[0]]


def has_app(name: str | None = None) -> bool:
    return bool(_apps) if name is None else name in _apps


def booted_apps() -> list[MegaApp]:
    return list(_apps.values())


def reset() -> None:
    """Forget every app (at shutdown, and between tests)."""
    _apps.clear()
