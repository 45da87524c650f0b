"""Mapping an exception raised while handling a request to the error envelope the client gets."""

from __future__ import annotations

import logging

from mega.errors import MegaError
from mega.http.envelope import error_body
from mega.http.request import Request


def error_response(log: logging.Logger, exc: Exception, req: Request) -> tuple[int, bytes]:
    """(status, error envelope) for `exc`; unknown exceptions are logged, never leaked."""
    if isinstance(exc, MegaError):
        if exc.status >= 500:
            log.error("%s %s failed: %s", req.method, req.path, exc, exc_info=exc,
                      extra={"request_id": req.request_id})
        return exc.status, error_body(exc)
    log.error("unhandled %s in %s %s: %s", type(exc).__name__, req.method, req.path, exc,
              exc_info=exc, extra={"request_id": req.request_id})
    internal = MegaError("internal", "Internal server error", details={"request_id": req.request_id})
    return 500, error_body(internal)
