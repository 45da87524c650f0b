"""`live_server(runtime)`: the runtime served as `mega start` serves it, on a free local port, for tests that
need a real socket (WebSockets). `server.websocket_connect(path, host=, cookies=, origin=)` opens a
client connection with the `websockets` library."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from mega.errors import MegaError

if TYPE_CHECKING:
    from mega.boot.stages import Runtime

__all__ = ["LiveServer", "live_server"]


class LiveServer:
    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"

    def websocket_connect(self, path: str, *, host: str = "testserver",
                          cookies: Mapping[str, str] | None = None, origin: str | None = None,
                          **kwargs: Any) -> Any:
        """`async with server.websocket_connect("/ws/chat", origin="http://testserver") as ws:` —
        a `websockets` client connection. `origin=None` sends no Origin header. A refused upgrade
        raises `websockets.exceptions.InvalidStatus` (its `.response` holds status and body)."""
        from websockets.asyncio.client import connect

        headers = []
        if cookies:
            headers.append(("Cookie", "; ".join(f"{k}={v}" for k, v in cookies.items())))
        # The URI names `host` (the Host header, which picks the app); the TCP connection goes to 127.0.0.1.
        return connect(f"ws://{host}:{self.port}{path}", additional_headers=headers, origin=origin,  # type: ignore[arg-type]
                       open_timeout=10, host="127.0.0.1", port=self.port, **kwargs)


@asynccontextmanager
async def live_server(runtime: Runtime) -> AsyncIterator[LiveServer]:
    """Serve `runtime` as `mega start` does (mega's uvicorn protocol and settings) on 127.0.0.1 and a
    free port."""
    import uvicorn

    if runtime.host is None:
        raise MegaError("app.not_initialized", f"the runtime of {runtime.root} has no apps to serve",
                        hint="pass the runtime that running() or boot_for_test() returned")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    from mega.server._serve import uvicorn_config

    config = uvicorn_config(runtime, runtime.server_config)  # what `mega start` runs
    server = uvicorn.Server(config)
    task = asyncio.ensure_future(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        yield LiveServer(port)
    finally:
        server.should_exit = True
        await asyncio.gather(task, return_exceptions=True)
        sock.close()
