"""What a client is shown of an error: everything in development, no internals elsewhere.

One rule for every error body mega writes (handler errors, 404/405, unknown hosts):

- development: code, message and details, plus the error's `dev_details`;
- elsewhere (production, test), a 5xx error, the server's fault and nothing the client can fix,
  shows its code, the status's generic message and the request id; a 4xx error shows code,
  message and details, never `dev_details`. What is withheld goes to the log with the request id.

Building the body cannot fail the response: a body orjson refuses becomes a fixed envelope.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from mega.errors import MegaError
from mega.http.envelope import dumps

log = logging.getLogger("mega.http")

# Request ids are sanitised to [A-Za-z0-9._:-] (mega.http._wire.request_id): safe inside a JSON string.
_FALLBACK = (b'{"ok":false,"error":{"code":"internal","message":"Internal server error",'
             b'"details":{"request_id":"%s"}}}')


def shows_detail(env: str) -> bool:
    """Whether error bodies carry internals (5xx messages and details, `dev_details`)."""
    return env == "development"


def generic_message(status: int) -> str:
    """"Service unavailable" for 503: the status's reason phrase, nothing about the cause."""
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        return "Internal server error"
    return phrase[:1] + phrase[1:].lower()


def fallback_body(rid: bytes) -> bytes:
    """The fixed 500 envelope, for when nothing better can be encoded."""
    return _FALLBACK % rid


def public_error(err: MegaError, rid: bytes, *, development: bool) -> dict[str, Any]:
    """The `error` object of the envelope a client gets for `err`."""
    if development:
        body = err.to_dict()
        extra = err.dev_details
        if extra:
            details = body["details"]
            if isinstance(details, dict):
                body["details"] = {**details, **extra}
            else:
                body["dev_details"] = extra
        return body
    if err.status >= 500:
        return {"code": err.code, "message": generic_message(err.status),
                "details": {"request_id": rid.decode("latin-1")}}
    if err.dev_details:
        log.info("%s withheld from the client: %s", err.code, err.message,
                 extra={"request_id": rid.decode("latin-1"), "details": err.dev_details})
    return err.to_dict()


def client_error_body(status: int, code: str, message: str, details: dict[str, Any],
                      rid: bytes) -> tuple[int, bytes]:
    """(status, envelope) of a 4xx error that mega answers itself and that has no `dev_details` (404,
    405): what `error_body` gives for `MegaError(code, message, details=details, status=status)` in every
    environment, without building the exception. Never raises, like `error_body`."""
    try:
        return status, dumps({"ok": False, "error": {"code": code, "message": message, "details": details}})
    except Exception as exc:
        log.error("the error body of %s cannot be encoded (%s: %s); sent the fixed 500 envelope",
                  code, type(exc).__name__, exc, extra={"request_id": rid.decode("latin-1")})
        return 500, fallback_body(rid)


def error_body(err: MegaError, rid: bytes, *, development: bool) -> tuple[int, bytes]:
    """(status, envelope) for `err`; never raises: a body that cannot be encoded becomes the fixed
    500 envelope carrying the request id, and the reason is logged."""
    status = err.status
    if type(status) is not int or not 400 <= status <= 599:  # an error never goes out as a success
        status = 500
    try:
        error = dumps(public_error(err, rid, development=development))
    except Exception as exc:
        log.error("the error body of %s cannot be encoded (%s: %s); sent the fixed 500 envelope",
                  err.code, type(exc).__name__, exc, extra={"request_id": rid.decode("latin-1")})
        return 500, fallback_body(rid)
    return status, b'{"ok":false,"error":' + error + b"}"
