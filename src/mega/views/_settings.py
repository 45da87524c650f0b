"""The `views` config section (app_config.py) and the settings an app's templates are built from.

    views = {
        "folder": "views",                  # under apps/<name>/
        "layout": "layouts/main.html",      # what `{% extends layout %}` names; None: no default layout
        "auto_reload": None,                # re-read changed templates: None = in development only
        "error_pages": True,                # HTML error pages for browsers (False: JSON for everyone)
    }
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mega.config import _checks as c
from mega.config._specs import Leaf, Section, const
from mega.config.sections import APP, Resolve, register_section, section_settings

__all__ = ["VIEWS", "ViewsSettings", "views_settings"]

DEFAULT_FOLDER = "views"
DEFAULT_LAYOUT = "layouts/main.html"


@dataclass(frozen=True, slots=True)
class ViewsSettings:
    folder: str
    layout: str | None
    auto_reload: bool | None  # None: on in development, off elsewhere
    error_pages: bool

    def reloads(self, env: str) -> bool:
        return self.auto_reload if self.auto_reload is not None else env == "development"


def _folder(value: Any) -> str:
    folder = c.string(value)
    if not folder or folder.startswith("/") or ".." in folder.replace("\\", "/").split("/"):
        raise c.Invalid(c.INVALID_VALUE, f"must be a folder inside the app, got {value!r}",
                        hint="e.g. 'views' (apps/<name>/views) or 'templates'")
    return folder


def _template_name(value: Any) -> str:
    name = c.string(value)
    if not name or name.startswith("/") or ".." in name.split("/"):
        raise c.Invalid(c.INVALID_VALUE, f"must name a template inside the views folder, got {value!r}",
                        hint="e.g. 'layouts/main.html', or None for no default layout")
    return name


VIEWS = Section(
    {
        "folder": Leaf(_folder, const(DEFAULT_FOLDER)),
        "layout": Leaf(c.optional(_template_name), const(DEFAULT_LAYOUT)),
        "auto_reload": Leaf(c.optional(c.boolean), const(None)),
        "error_pages": Leaf(c.boolean, const(True)),
    }
)

DEFAULT = ViewsSettings(DEFAULT_FOLDER, DEFAULT_LAYOUT, None, True)


def _settings(value: dict[str, Any], resolve: Resolve) -> ViewsSettings:
    return ViewsSettings(value["folder"], value["layout"], value["auto_reload"], value["error_pages"])


register_section("views", VIEWS, scope=APP, settings=_settings)


def views_settings(config: Mapping[str, Any], *, file: str) -> ViewsSettings:
    """The `views` section of an app config dict (raw, or as the loader validated it)."""
    if config.get("views") is None:
        return DEFAULT
    settings: ViewsSettings = section_settings(config, ("views",), file=file)["views"]
    return settings
