"""Answering an exception raised while handling a request: logged with the request id, sent as the
error envelope (mega.http._public_error decides what the client sees). Nothing here can fail the
response: whatever goes wrong while answering, the client gets the fixed 500 envelope."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from mega.errors import MegaError
from mega.http._debug_page import prefers_html, render
from mega.http._public_error import error_body, fallback_body
from mega.http._wire import CL, CT, RID, Headers, send_json
from mega.http.request import Request
from mega.security import rejections

if TYPE_CHECKING:
    from mega.views._error_pages import ErrorPages

_HTML = b"text/html; charset=utf-8"
_CACHE, _NO_STORE = b"cache-control", b"no-store"


def error_response(log: logging.Logger, exc: Exception, req: Request, *,
                   development: bool) -> tuple[int, bytes]:
    """(status, error envelope) for `exc`; server errors are logged, unknown exceptions never leaked."""
    rid = req._rid
    try:
        if isinstance(exc, MegaError):
            if not isinstance(exc.status, int) or exc.status >= 500:
                extra: dict[str, Any] = {"request_id": req.request_id}
                if exc.details:
                    extra["details"] = exc.details
                if exc.dev_details:
                    extra["dev_details"] = exc.dev_details
                log.error("%s %s failed: %s", req.method, req.path, exc, exc_info=exc, extra=extra)
            return error_body(exc, rid, development=development)
        log.error("unhandled %s in %s %s: %s", type(exc).__name__, req.method, req.path, exc,
                  exc_info=exc, extra={"request_id": req.request_id})
        internal = MegaError("internal", "Internal server error", details={"request_id": req.request_id})
        return error_body(internal, rid, development=development)
    except Exception:  # the error path cannot fail
        return 500, fallback_body(rid)


class Failure:
    """How one route answers an exception; built at boot, used only on the error path."""

    __slots__ = ("_app", "_constant", "_cors", "_development", "_handler", "_log", "_pages", "_route")

    def __init__(self, log: logging.Logger, *, development: bool, constant: tuple[Headers, bytes],
                 cors: Any, route: str = "", handler: str = "", app: str = "",
                 pages: ErrorPages | None = None) -> None:
        self._log = log
        self._development = development
        self._constant = constant
        self._cors = cors
        self._route = route
        self._handler = handler
        self._app = app
        self._pages = pages

    async def send(self, scope: dict[str, Any], send: Any, exc: Exception, req: Request) -> int:
        """Send the error response for `exc`; returns its status."""
        if rejections.LISTENERS:  # the one hook point for security rejections (mega.security.rejections)
            rejections.report(exc, scope, req._rid)
        status, body = error_response(self._log, exc, req, development=self._development)
        browser = (self._pages is not None or (self._development and status >= 500)) \
            and prefers_html(scope["headers"])
        if browser and self._development and status >= 500:  # the traceback page comes first
            page = self._page(exc, req, status)
            if page is not None:
                headers = [(CT, _HTML), (CL, b"%d" % len(page)), (RID, req._rid), (_CACHE, _NO_STORE),
                           *self._constant[0]]
                await send({"type": "http.response.start", "status": status, "headers": headers})
                await send({"type": "http.response.body", "body": page})
                return status
        try:
            extra = exc.headers if isinstance(exc, MegaError) else None
            if self._cors is not None:  # so the page that sent it can read the error
                allowed = self._cors.response_headers(scope["headers"])
                extra = [*(extra or ()), *allowed] if allowed else extra
        except Exception:
            self._log.exception("error headers for %s %s failed", req.method, req.path,
                                extra={"request_id": req.request_id})
            extra = None
        if browser and self._pages is not None:
            try:
                await self._pages.send(send, status, body, req, extra, self._constant[0])
                return status
            except Exception:  # nothing was sent: the envelope still can be
                self._log.exception("the HTML error page failed", extra={"request_id": req.request_id})
        await send_json(scope, send, status, body, req._rid, extra, self._constant)
        return status

    def _page(self, exc: Exception, req: Request, status: int) -> bytes | None:
        try:
            return render(exc, req, status, route=self._route, handler=self._handler, app=self._app)
        except Exception:  # the JSON envelope is still there to send
            self._log.exception("the development error page failed", extra={"request_id": req.request_id})
            return None
