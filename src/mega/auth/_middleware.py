"""`require_auth`: the before-middleware that lets only logged-in requests through.

    router.get("/account", account, before=[require_auth])
    middleware = {"before": [require_auth]}          # app_config.py: every route (opt out per route)

Not logged in: a browser (Accept ranks HTML above JSON) asking for a page is redirected to the app's
login page (`auth.login_route` or `auth.login_path`) with `?next=<the page asked for>` when that is a
safe relative path; every other client gets 401 `auth.required`. It reads only ctx and the request,
so it guards a WebSocket upgrade the same way (always 401 there: a socket cannot follow a redirect).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from mega.auth._login import current_auth
from mega.auth._next import safe_next
from mega.auth._settings import auth_settings
from mega.errors import UnauthorizedError
from mega.http._debug_page import prefers_html
from mega.http.response import RedirectResponse
from mega.security import rejections

if TYPE_CHECKING:
    from mega.app.app import MegaApp
    from mega.app.ctx import Ctx
    from mega.http.request import Request

__all__ = ["login_url", "require_auth"]


def login_url(app: MegaApp, next_path: str | None = None) -> str:
    """The app's login page, with `next` when it is a safe relative path."""
    settings = auth_settings(app)
    base = app.url_for(settings.login_route) if settings.login_route else settings.login_path
    target = safe_next(next_path)
    if target is None:
        return base
    return f"{base}{'&' if '?' in base else '?'}{settings.next_param}={quote(target, safe='/')}"


def _required() -> UnauthorizedError:
    return UnauthorizedError("auth.required", "log in first", hint="log in, then send the session cookie")


async def require_auth(req: Request, reply: Any, ctx: Ctx) -> RedirectResponse | None:
    """None (go on) when someone is logged in; else the redirect to the login page or 401."""
    if await current_auth(ctx) is not None:
        return None
    scope = req.scope
    if scope.get("type", "http") != "http" or not prefers_html(scope["headers"]):
        raise _required()
    page = scope["method"] in ("GET", "HEAD")  # a form post cannot be replayed by a redirect: no next
    query = req.query_string
    asked = req.path + ("?" + query if query else "") if page else None
    target = login_url(ctx.app, asked)
    if urlsplit(target).path == req.path:  # the login page itself is guarded: a redirect would loop
        raise _required()
    if rejections.LISTENERS:  # a refusal, even when answered with a redirect
        rejections.report(_required(), scope, req.request_id.encode("latin-1"))
    return RedirectResponse(target, 302 if page else 303, {"cache-control": "no-store"})
