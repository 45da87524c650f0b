"""mega: a Python web framework with a CLI: Slim's lightness with Rails' conventions.

What user code imports: the errors, models (`Model`, `fields`, `Record`), what handlers and routes
files annotate (`Request`, `Reply`, `Ctx`, `Router`, `RouteOptions`, the responses), the contracts
`ctx` hands out (`SqlAdapter`, `Cache`, `Lock`, `Bus`, `Session`), `get_app`, the boot entry points
for scripts, and `mega.testing`. Names are imported on first use (PEP 562) so `mega --help` and light
tools stay fast; the `TYPE_CHECKING` block mirrors them for editors and type checkers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mega._lazy import lazy_getattr

__version__ = "0.1.0"

_LAZY: dict[str, str] = {
    "BadRequestError": "mega.errors",
    "BootError": "mega.boot.stages",
    "Bus": "mega.bus.contract",
    "Cache": "mega.cache.contract",
    "CircuitBreaker": "mega.resilience",
    "ConflictError": "mega.errors",
    "Ctx": "mega.app.ctx",
    "EnqueueResult": "mega.jobs._queue",
    "Envelope": "mega.http.envelope",
    "FileResponse": "mega.http.response",
    "ForbiddenError": "mega.errors",
    "HTMLResponse": "mega.http.response",
    "Held": "mega.lock.contract",
    "InternalError": "mega.errors",
    "JSONResponse": "mega.http.response",
    "Job": "mega.jobs.job",
    "JobInfo": "mega.jobs.job",
    "Lock": "mega.lock.contract",
    "MegaApp": "mega.app.app",
    "MegaError": "mega.errors",
    "Message": "mega.bus.subscription",
    "Model": "mega.data.model",
    "NotFoundError": "mega.errors",
    "RateLimitedError": "mega.errors",
    "Record": "mega.data.records",
    "RedirectResponse": "mega.http.response",
    "Reply": "mega.http.reply",
    "Request": "mega.http.request",
    "Response": "mega.http.response",
    "RouteOptions": "mega.http.router",
    "Router": "mega.http.router",
    "Runtime": "mega.boot.stages",
    "Schedule": "mega.schedules._schedule",
    "Session": "mega.sessions.session",
    "SqlAdapter": "mega.adapters.sql.adapter",
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
    "login": "mega.auth._login",
    "logout": "mega.auth._login",
    "logout_other_sessions": "mega.auth._login",
    "require_auth": "mega.auth._middleware",
    "retry": "mega.resilience",
    "retrying": "mega.resilience",
}
_MODULES: dict[str, str] = {"fields": "mega.data.fields", "shutdown": "mega.shutdown",
                            "testing": "mega.testing"}

__all__ = ["__version__", *sorted([*_LAZY, *_MODULES])]


__getattr__ = lazy_getattr(__name__, _LAZY, _MODULES)


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


if TYPE_CHECKING:
    from mega import shutdown as shutdown
    from mega import testing as testing
    from mega.adapters.sql.adapter import SqlAdapter as SqlAdapter
    from mega.app.app import MegaApp as MegaApp
    from mega.app.ctx import Ctx as Ctx
    from mega.app.registry import get_app as get_app
    from mega.app.registry import has_app as has_app
    from mega.auth._login import login as login
    from mega.auth._login import logout as logout
    from mega.auth._login import logout_other_sessions as logout_other_sessions
    from mega.auth._middleware import require_auth as require_auth
    from mega.boot.stages import BootError as BootError
    from mega.boot.stages import Runtime as Runtime
    from mega.boot.stages import boot_project as boot_project
    from mega.boot.stages import register_health_check as register_health_check
    from mega.boot.stages import register_shutdown_hook as register_shutdown_hook
    from mega.bus.contract import Bus as Bus
    from mega.bus.subscription import Message as Message
    from mega.cache.contract import Cache as Cache
    from mega.data import fields as fields
    from mega.data.model import Model as Model
    from mega.data.records import Record as Record
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
    from mega.http.router import RouteOptions as RouteOptions
    from mega.http.router import Router as Router
    from mega.jobs._queue import EnqueueResult as EnqueueResult
    from mega.jobs.job import Job as Job
    from mega.jobs.job import JobInfo as JobInfo
    from mega.lock.contract import Held as Held
    from mega.lock.contract import Lock as Lock
    from mega.resilience import CircuitBreaker as CircuitBreaker
    from mega.resilience import retry as retry
    from mega.resilience import retrying as retrying
    from mega.schedules._schedule import Schedule as Schedule
    from mega.sessions.session import Session as Session
