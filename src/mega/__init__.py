"""mega: a Python web framework with a CLI: Slim's lightness with Rails' conventions.

Names are imported on first use (PEP 562) so `mega --help` and light tools stay fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_LAZY: dict[str, str] = {
    "BadRequestError": "mega.errors",
    "BootError": "mega.boot.stages",
    "ConflictError": "mega.errors",
    "Ctx": "mega.app.ctx",
    "Envelope": "mega.http.envelope",
    "FileResponse": "mega.http.response",
    "ForbiddenError": "mega.errors",
    "HTMLResponse": "mega.http.response",
    "InternalError": "mega.errors",
    "JSONResponse": "mega.http.response",
    "MegaApp": "mega.app.app",
    "MegaError": "mega.errors",
    "NotFoundError": "mega.errors",
    "RateLimitedError": "mega.errors",
    "RedirectResponse": "mega.http.response",
    "Reply": "mega.http.reply",
    "Request": "mega.http.request",
    "Response": "mega.http.response",
    "Router": "mega.http.router",
    "Runtime": "mega.boot.stages",
    "StreamResponse": "mega.http.response",
    "TextResponse": "mega.http.response",
    "UnauthorizedError": "mega.errors",
    "UnprocessableError": "mega.errors",
    "ValidationError": "mega.errors",
    "boot_project": "mega.boot.stages",
    "get_app": "mega.app.registry",
    "has_app": "mega.app.registry",
    "register_health_check": "mega.boot.stages",
    "register_shutdown_hook": "mega.boot.stages",
}

__all__ = ["__version__", *sorted(_LAZY)]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'mega' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


if TYPE_CHECKING:
    from mega.app.app import MegaApp as MegaApp
    from mega.app.ctx import Ctx as Ctx
    from mega.app.registry import get_app as get_app
    from mega.app.registry import has_app as has_app
    from mega.boot.stages import BootError as BootError
    from mega.boot.stages import Runtime as Runtime
    from mega.boot.stages import boot_project as boot_project
    from mega.boot.stages import register_health_check as register_health_check
    from mega.boot.stages import register_shutdown_hook as register_shutdown_hook
    from mega.errors import BadRequestError as BadRequestError
    from mega.errors import ConflictError as ConflictError
    from mega.errors import ForbiddenError as ForbiddenError
    from mega.errors import InternalError as InternalError
    from mega.errors import MegaError as MegaError
    from mega.errors import NotFoundError as NotFoundError
    from mega.errors import RateLimitedError as RateLimitedError
    from mega.errors import UnauthorizedError as UnauthorizedError
    from mega.errors import UnprocessableError as UnprocessableError
    from mega.errors import ValidationError as ValidationError
    from mega.http.envelope import Envelope as Envelope
    from mega.http.reply import Reply as Reply
    from mega.http.request import Request as Request
    from mega.http.response import FileResponse as FileResponse
    from mega.http.response import HTMLResponse as HTMLResponse
    from mega.http.response import JSONResponse as JSONResponse
    from mega.http.response import RedirectResponse as RedirectResponse
    from mega.http.response import Response as Response
    from mega.http.response import StreamResponse as StreamResponse
    from mega.http.response import TextResponse as TextResponse
    from mega.http.router import Router as Router
