"""The one hook point for security rejections: whatever observability installs hears each one, with
its reason code.

    from mega.security import on_rejection

    def count(rejection):                       # called once per rejection, on the event loop
        counters[rejection.reason] += 1         # "csrf.origin_mismatch", "asp.replay", "auth.locked", ...

    stop = on_rejection(count)                  # stop() removes it

A security rejection is an error answered with a 4xx status whose code belongs to one of
REASON_AREAS: CSRF, the rate limit, CORS, ASP, auth (the login guard, `require_auth`) and the Host
header (`host.disallowed`, `host.invalid`). Every such answer leaves through a route's error boundary,
the dispatcher's CORS preflight, the host dispatcher (a Host no app accepts) or the server's own
check of the request head (two Host fields, a malformed one), and each reports here, so a feature
that refuses a request needs nothing but its error code. With no listener
installed a rejection costs one truthiness check of LISTENERS; requests that are not refused cost
nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mega.errors import MegaError
from mega.security._client_ip import client_ip

__all__ = ["LISTENERS", "REASON_AREAS", "Rejection", "on_rejection", "report"]

REASON_AREAS = frozenset({"csrf", "rate_limit", "cors", "asp", "auth", "host", "ws"})

log = logging.getLogger("mega.security")


@dataclass(frozen=True, slots=True)
class Rejection:
    """One refused request: `reason` is the error code the client got."""

    reason: str
    status: int
    method: str
    path: str
    request_id: str
    ip: str | None


Listener = Callable[[Rejection], None]
LISTENERS: list[Listener] = []  # read at the call sites: empty means nothing to do


def on_rejection(listener: Listener) -> Callable[[], None]:
    """Call `listener(rejection)` for every security rejection from now on; returns its remover.

    Listeners run synchronously on the event loop, before the refusal is sent: keep them cheap
    (increment a counter, set a span attribute). One that raises is logged and skipped.
    """
    if not callable(listener):
        raise MegaError("security.invalid_listener", f"on_rejection() needs a callable, got {listener!r}",
                        status=500, hint="pass a function taking one Rejection")
    LISTENERS.append(listener)

    def remove() -> None:
        if listener in LISTENERS:
            LISTENERS.remove(listener)

    return remove


def report(exc: BaseException, scope: dict[str, Any], rid: bytes) -> None:
    """Tell the listeners when `exc` is a security rejection. Call sites check LISTENERS first."""
    if not isinstance(exc, MegaError) or not isinstance(exc.status, int) or not 400 <= exc.status < 500:
        return
    if exc.code.partition(".")[0] not in REASON_AREAS:
        return
    rejection = Rejection(exc.code, exc.status, str(scope.get("method", "")), str(scope.get("path", "")),
                          rid.decode("latin-1"), client_ip(scope))
    for listener in tuple(LISTENERS):
        try:
            listener(rejection)
        except Exception:
            log.exception("rejection listener %r failed", listener)
