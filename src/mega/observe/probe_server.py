"""A minimal HTTP listener for processes without an HTTP app (`mega worker --http-port N`,
`mega scheduler --http-port N`): `GET` of a few fixed paths (`/health/live`, `/health/ready`,
`/metrics`) for orchestrator probes and scrapers; one request per connection."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

__all__ = ["Probe", "serve_probes"]

# A path's answer: (status, body). A str or bytes body is Prometheus text; anything else is JSON.
Probe = Callable[[], Awaitable[tuple[int, Any]]]
_REASONS = {200: "OK", 404: "Not Found", 405: "Method Not Allowed", 503: "Service Unavailable"}
_HEAD = (b"HTTP/1.1 %d %s\r\ncontent-type: %s\r\ncontent-length: %d\r\n"
         b"cache-control: no-store\r\nconnection: close\r\n\r\n")


async def serve_probes(host: str, port: int, routes: Mapping[str, Probe]) -> asyncio.Server:
    """Listen on `host:port` (0: a free port) and answer each path of `routes` with its probe."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            method, _, rest = head.split(b"\r\n", 1)[0].decode("latin-1").partition(" ")
            path = rest.split(" ", 1)[0].split("?", 1)[0]
            probe = routes.get(path)
            if probe is None:
                status, body = 404, {"error": {"code": "route.not_found", "message": f"no {path}"}}
            elif method != "GET":
                status, body = 405, {"error": {"code": "route.method_not_allowed", "message": method}}
            else:
                status, body = await probe()
            writer.write(_response(status, body))
            await writer.drain()
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ValueError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    return await asyncio.start_server(handle, host, port)


def _response(status: int, body: Any) -> bytes:
    if isinstance(body, str | bytes):
        data, kind = (body.encode() if isinstance(body, str) else body), b"text/plain; version=0.0.4"
    else:
        data, kind = json.dumps(body).encode(), b"application/json"
    return _HEAD % (status, _REASONS.get(status, "").encode(), kind, len(data)) + data
