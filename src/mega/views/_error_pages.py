"""HTML error pages for browsers: `views/errors/<status>.html` when the app has it, else a small
built-in page. Only the error path comes here, and only for a client whose Accept prefers HTML
(JSON clients keep the envelope). The page shows what the envelope shows (the same public rules);
nothing here can fail the response: a broken template falls back to the built-in page."""

from __future__ import annotations

import logging
from html import escape
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

import orjson

from mega.app.ctx import Ctx
from mega.http._wire import CL, CT, RID, Headers
from mega.http.reply import Reply
from mega.views._engine import Views, template_helpers

if TYPE_CHECKING:
    from mega.app.app import MegaApp
    from mega.http.request import Request

__all__ = ["ErrorPages", "builtin_page"]

_HTML = b"text/html; charset=utf-8"
_NO_STORE = (b"cache-control", b"no-store")

_STYLE = ("body{font:15px/1.5 system-ui,sans-serif;margin:0;color:#1d1d1f;background:#fafafa}"
          "main{max-width:640px;margin:12vh auto;padding:0 24px}h1{font-size:26px;margin:0 0 8px}"
          "p{margin:8px 0}.code,.rid{color:#666;font-size:13px}pre{background:#fff;border:1px solid #ddd;"
          "padding:10px;overflow:auto;font:12.5px/1.4 ui-monospace,monospace;white-space:pre-wrap}")


class ErrorPages:
    """One app's error pages; built at boot when `views.error_pages` is on."""

    __slots__ = ("_app", "_log", "_views")

    def __init__(self, app: MegaApp, views: Views | None, log: logging.Logger) -> None:
        self._app = app
        self._views = views
        self._log = log

    async def send(self, send: Any, status: int, envelope: bytes, req: Request, extra: Headers | None,
                   constant: Headers) -> None:
        """Send the page for an error whose JSON envelope is `envelope` (what a JSON client gets)."""
        try:
            error = orjson.loads(envelope)["error"]
        except Exception:  # the envelope is mega's own: this cannot happen, but the page must go out
            error = {"code": "internal", "message": "Internal server error", "details": None}
        body, own = self.page(status, error, req)
        headers = [(CT, _HTML), (CL, b"%d" % len(body)), (RID, req._rid), _NO_STORE, *constant, *own]
        if extra:
            headers.extend(extra)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def page(self, status: int, error: dict[str, Any], req: Request) -> tuple[bytes, Headers]:
        """(page, headers it sets): the app's template, else (or when it fails) the built-in page."""
        name = f"errors/{status}.html"
        views = self._views
        if views is not None and views.has(name):
            try:
                ctx = Ctx(self._app, req, Reply())
                context = template_helpers(ctx)
                context.update(layout=views.layout, status=status, code=error.get("code"),
                               message=error.get("message"), details=error.get("details"),
                               request_id=req.request_id)
                html = views.render(name, context)
                return html.encode("utf-8"), ctx.reply.headers if ctx.reply is not None else []
            except Exception as exc:
                self._log.error("error page %s failed, sent the built-in page instead: %s", name, exc,
                                exc_info=exc, extra={"request_id": req.request_id})
        return builtin_page(status, error, req.request_id), []


def builtin_page(status: int, error: dict[str, Any], request_id: str) -> bytes:
    """The built-in page: status, message, code, details when there are any, request id; escaped."""
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    title = f"{status} {phrase}"
    message = error.get("message") or phrase
    details = error.get("details")
    if isinstance(details, dict):
        details = {k: v for k, v in details.items() if k != "request_id"} or None
    parts = [
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        "<meta name=viewport content='width=device-width,initial-scale=1'>",
        f"<title>{_e(title)}</title><style>{_STYLE}</style></head><body><main>",
        f"<h1>{_e(title)}</h1><p>{_e(message)}</p>",
        f"<p class=code>{_e(error.get('code') or '')}</p>",
    ]
    if details:
        shown = orjson.dumps(details, option=orjson.OPT_INDENT_2, default=str).decode()
        parts.append(f"<pre>{_e(shown)}</pre>")
    parts.append(f"<p class=rid>request id {_e(request_id)}</p></main></body></html>")
    return "".join(parts).encode("utf-8")


def _e(value: object) -> str:
    return escape(str(value), quote=True)
