"""`GET /health/live` and `GET /health/ready`, answered the same way by every app."""

from __future__ import annotations

from typing import Any

from mega.http._pipeline import Endpoint
from mega.http._wire import CL, CT, JSON, RID, request_id
from mega.http.envelope import dumps


def health_endpoints(health: Any) -> dict[tuple[str, str], Endpoint]:
    """Static endpoints keyed by (method, path); an app's own route on these paths wins."""

    def make(probe: Any) -> Endpoint:
        async def endpoint(scope: dict[str, Any], receive: Any, send: Any, params: Any) -> None:
            status, payload = await probe()
            body = dumps(payload)
            await send({"type": "http.response.start", "status": status, "headers": [
                (CT, JSON), (CL, b"%d" % len(body)), (b"cache-control", b"no-store"),
                (RID, request_id(scope["headers"]))]})
            await send({"type": "http.response.body", "body": body})

        return endpoint

    return {("GET", "/health/live"): make(health.live), ("GET", "/health/ready"): make(health.ready)}
