"""`GET /health/live` and `GET /health/ready`, answered the same way by every app."""

from __future__ import annotations

from time import perf_counter
from typing import TYPE_CHECKING, Any

from mega.http._pipeline import Endpoint
from mega.http._wire import CL, CT, JSON, RID, request_id
from mega.http.envelope import dumps
from mega.http.response import Headers

if TYPE_CHECKING:
    from mega.observe.access import AccessLog


def health_endpoints(health: Any, access: AccessLog | None = None,
                     constant: Headers | None = None) -> dict[tuple[str, str], Endpoint]:
    """Static endpoints keyed by (method, path); an app's own route on these paths wins. Probes
    write access lines only when `access` is given (`logger.access_log_health`: frequent probes
    would drown the requests). `constant`: the app's headers, secure ones included (as every answer)."""

    fixed = list(constant or ())

    def make(probe: Any) -> Endpoint:
        async def endpoint(scope: dict[str, Any], receive: Any, send: Any, params: Any) -> None:
            started = perf_counter() if access is not None else 0.0
            rid = request_id(scope["headers"])
            status, payload = await probe()
            body = dumps(payload)
            await send({"type": "http.response.start", "status": status, "headers": [
                (CT, JSON), (CL, b"%d" % len(body)), (b"cache-control", b"no-store"), (RID, rid), *fixed]})
            await send({"type": "http.response.body", "body": body})
            if access is not None:
                access.record(scope["method"], scope["path"], status, (perf_counter() - started) * 1000.0,
                              rid.decode("latin-1"))

        return endpoint

    return {("GET", "/health/live"): make(health.live), ("GET", "/health/ready"): make(health.ready)}
