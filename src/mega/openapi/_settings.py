"""The `openapi` config section (mega_config.py for every app, app_config.py for one) and its settings.

    openapi = {"enabled": True}                      # on in production too (default: off there)
    openapi = False                                  # off everywhere for this app
    openapi = {"path": "/api/openapi.json",          # where the document is served
               "docs_path": "/api/docs",             # the docs page (None: no page)
               "title": "Shop API", "version": "2.1.0", "description": "...",
               "servers": [{"url": "https://api.example.com", "description": "production"}]}
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from mega.config import _checks as c
from mega.config._specs import Leaf, Section, Switch, const
from mega.config.sections import BOTH, Resolve, register_section

__all__ = ["OPENAPI", "OpenApiSettings", "default_settings"]

DEFAULT_PATH = "/openapi.json"
DEFAULT_DOCS_PATH = "/docs"
DEFAULT_VERSION = "1.0.0"
_URL_PATH = re.compile(r"/(?:[A-Za-z0-9._~!$&'()*+,;=:@%-]+(?:/[A-Za-z0-9._~!$&'()*+,;=:@%-]+)*)?")


@dataclass(frozen=True)
class OpenApiSettings:
    enabled: bool
    path: str
    docs_path: str | None  # None: the document only, no docs page
    title: str | None  # None: the app's name
    version: str
    description: str | None
    servers: tuple[tuple[str, str | None], ...]  # (url, description)


def default_settings(env: str) -> OpenApiSettings:
    """The settings of an app whose config says nothing: on, except in production."""
    return OpenApiSettings(env != "production", DEFAULT_PATH, DEFAULT_DOCS_PATH, None, DEFAULT_VERSION, None,
                           ())


def _url_path(value: Any) -> str:
    if not isinstance(value, str) or not _URL_PATH.fullmatch(value) or value == "/":
        raise c.Invalid(c.INVALID_VALUE, f"must be a URL path such as '/openapi.json', got {value!r}",
                        hint="start with '/', no trailing '/', no spaces, braces, query or fragment")
    return value


def _server(value: Any) -> dict[str, str | None]:
    if isinstance(value, str) and value:
        return {"url": value, "description": None}
    if isinstance(value, dict) and isinstance(value.get("url"), str) and value["url"] and \
            set(value) <= {"url", "description"} and isinstance(value.get("description", ""), str):
        return {"url": value["url"], "description": value.get("description")}
    raise c.Invalid(c.INVALID_VALUE, f"must be a URL or {{'url': ..., 'description': ...}}, got {value!r}",
                    hint="e.g. 'https://api.example.com' or {'url': '/', 'description': 'this host'}")


OPENAPI = Switch(
    Section({
        "enabled": Leaf(c.boolean, lambda ctx: ctx.env != "production"),
        "path": Leaf(_url_path, const(DEFAULT_PATH)),
        "docs_path": Leaf(c.optional(_url_path), const(DEFAULT_DOCS_PATH)),
        "title": Leaf(c.optional(c.string), const(None)),
        "version": Leaf(c.string, const(DEFAULT_VERSION)),
        "description": Leaf(c.optional(c.string), const(None)),
        "servers": Leaf(c.list_of(_server, "a list of URLs or {'url', 'description'} dicts"), const([])),
    }),
    None,
    "False or a dict of openapi settings",
    hint="e.g. {'enabled': True, 'title': 'Shop API'} or False",
)


def openapi_settings(value: Any, resolve: Resolve) -> OpenApiSettings:
    if value is False:
        return OpenApiSettings(False, DEFAULT_PATH, None, None, DEFAULT_VERSION, None, ())
    if value["docs_path"] is not None and value["docs_path"] == value["path"]:
        resolve.report(c.INVALID_VALUE, "docs_path", f"is {value['path']!r}, the path of the document too",
                       "give the docs page a path of its own, e.g. '/docs'")
    servers = tuple((s["url"], s["description"]) for s in value["servers"])
    return OpenApiSettings(value["enabled"], value["path"], value["docs_path"], value["title"],
                           value["version"], value["description"], servers)


register_section("openapi", OPENAPI, scope=BOTH, settings=openapi_settings)
