"""What compiling and serving an app's routes needs to know about the app, frozen at compile time."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mega.http.response import Headers

if TYPE_CHECKING:
    from mega.observe.access import AccessLog
    from mega.security._policy import AppSecurity
    from mega.views._error_pages import ErrorPages


@dataclass(frozen=True, slots=True)
class AppSettings:
    """One app's serving settings. `constant` holds the headers sent on every response, as pairs and
    as the same bytes in one block; `custom_headers` are the app's own (`headers` in app_config.py),
    which a route's own `helmet` is merged under; `pages` answers errors to browsers."""

    name: str
    env: str
    hosts: tuple[str, ...]
    body_limit: int
    trailing_slash: str
    constant: tuple[Headers, bytes]
    custom_headers: Headers
    security: AppSecurity
    access_log: AccessLog | None
    log: logging.Logger
    pages: ErrorPages | None = None  # HTML error pages for browsers (None: JSON for every client)
