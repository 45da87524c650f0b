"""Answering an exception raised while handling a request: logged with the request id, sent as the
error envelope (mega.http._public_error decides what the client sees). Nothing here can fail the
response: whatever goes wrong while answering, the client gets the fixed 500 envelope."""

from __future__ import annotations

import logging
from typing import Any

from mega.errors import MegaError
from mega.http._public_error import error_body, fallback_body
from mega.http._wire import Headers, send_json
from mega.http.request import Request


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

    __slots__ = ("_constant", "_cors", "_development", "_log")

    def __init__(self, log: logging.Logger, *, development: bool, constant: tuple[Headers, bytes],
                 cors: Any) -> None:
        self._log = log
        self._development = development
        self._constant = constant
        self._cors = cors

    async def send(self, scope: dict[str, Any], send: Any, exc: Exception, req: Request) -> int:
        """Send the error response for `exc`; returns its status."""
        status, body = error_response(self._log, exc, req, development=self._development)
        try:
            extra = exc.headers if isinstance(exc, MegaError) else None
            if self._cors is not None:  # so the page that sent it can read the error
                allowed = self._cors.response_headers(scope["headers"])
                extra = [*(extra or ()), *allowed] if allowed else extra
        except Exception:
            self._log.exception("error headers for %s %s failed", req.method, req.path,
                                extra={"request_id": req.request_id})
            extra = None
        await send_json(scope, send, status, body, req._rid, extra, self._constant)
        return status
