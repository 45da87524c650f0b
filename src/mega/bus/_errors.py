"""Bus errors, and how a responder's failure travels back to the requester.

Every driver raises the same codes, so callers catch one thing whatever the transport. A responder that
raises answers with an error reply (the `Mega-Error` header marks it; the body is the error's JSON), so
the requester fails at once instead of waiting for its timeout.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from mega.errors import MegaError

ERROR_HEADER = "Mega-Error"
"""Header present on an error reply; a plain reply carries only the encoded return value."""


class BusError(MegaError):
    status = 503
    default_code = "bus.unavailable"


def request_timeout(subject: str, timeout: float) -> BusError:
    return BusError("bus.request_timeout", f'request("{subject}") timed out after {timeout:g}s',
                    details={"subject": subject, "timeout": timeout}, status=504,
                    hint="the responder is slow or gone; raise timeout= or check the responder's logs")


def no_responders(subject: str) -> BusError:
    return BusError("bus.no_responders", f'request("{subject}"): no responders subscribed to the subject',
                    details={"subject": subject}, status=503,
                    hint="start the service that answers it (bus.on(event, handler)), and check the prefix")


def unavailable(message: str, *, subject: str | None = None, cause: BaseException | None = None) -> BusError:
    details = {} if subject is None else {"subject": subject}
    return BusError("bus.unavailable", message, details=details, status=503, cause=cause,
                    hint="the bus connection is down or closed; it reconnects by itself while the app runs")


def backend_unavailable(driver: str, operation: str, subject: str, cause: BaseException) -> BusError:
    """The transport failed under a call (the cluster host unreachable): an outage, never a timeout."""
    return BusError("bus.backend_unavailable", f"{operation} on {subject!r} failed: the {driver} bus backend "
                    f"is unavailable ({type(cause).__name__}: {cause})",
                    details={"subject": subject, "operation": operation, "driver": driver,
                             "error": type(cause).__name__}, status=503, cause=cause,
                    hint="check the process that serves the bus (in cluster mode, the primary); "
                         "the driver reconnects by itself")


def handler_failed(subject: str, error: str) -> BusError:
    return BusError("bus.handler_failed", f'request("{subject}"): the responder failed ({error})',
                    details={"subject": subject, "error": error}, status=502,
                    hint="the responder logged the traceback with this subject")


# -- error replies ---------------------------------------------------------------------------


def error_reply(exc: BaseException, subject: str) -> bytes:
    """The body a failing responder sends: a MegaError crosses as is, anything else as handler_failed.

    Only a MegaError's public fields travel; another exception's text may hold internals, so the
    requester sees its type name and the responder logs the rest.
    """
    err = exc if isinstance(exc, MegaError) else handler_failed(subject, type(exc).__name__)
    body = {**err.to_dict(), "status": err.status, "hint": err.hint}
    try:
        return orjson.dumps(body, default=repr)
    except TypeError:  # details orjson cannot encode even with repr (say, non-str keys)
        return orjson.dumps({**body, "details": repr(err.details)})


def is_error_reply(headers: Mapping[str, str] | None) -> bool:
    return headers is not None and ERROR_HEADER in headers


def raise_error_reply(data: bytes, subject: str) -> None:
    """Raise the MegaError an error reply carries (same code, message, details, status)."""
    try:
        body: Any = orjson.loads(data)
        code, message = str(body["code"]), str(body["message"])
    except (ValueError, TypeError, KeyError) as exc:
        raise handler_failed(subject, "unreadable error reply") from exc
    status = body.get("status")
    raise MegaError(code, message, details=body.get("details"), hint=body.get("hint"),
                    status=status if isinstance(status, int) else 502)
