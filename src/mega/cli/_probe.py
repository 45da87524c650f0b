"""A minimal HTTP listener for processes without an HTTP app (`mega scheduler --http-port N`):
`GET /health/live`, `GET /health/ready` (and `/metrics` when given), for orchestrator probes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

Probe = Callable[[], Awaitable[tuple[int, Any]]]
_REASONS = {200: "OK", 404: "Not Found", 405: "Method Not Allowed", 503: "Service Unavailable"}


async def serve_probes(host: str, port: int, routes: dict[str, Probe]) -> asyncio.Server:
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
            data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
            kind = b"text/plain; version=0.0.4" if isinstance(body, str) else b"application/json"
            head = (b"HTTP/1.1 %d %s\r\ncontent-type: %s\r\ncontent-length: %d\r\n"
                    b"cache-control: no-store\r\nconnection: close\r\n\r\n")
            writer.write(head % (status, _REASONS.get(status, "").encode(), kind, len(data)) + data)
            await writer.drain()
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ValueError):
            pass
        finally:
            writer.close()

    return await asyncio.start_server(handle, host, port)
