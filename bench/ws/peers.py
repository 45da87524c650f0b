"""The peers of bench/ws/run.py, one server per process:

    python bench/ws/peers.py starlette PORT    # Starlette on uvicorn: `await ws.send_text(t)` per socket
    python bench/ws/peers.py websockets PORT   # the websockets library: `broadcast(conns, t)` (ceiling)

Both accept sockets at /ws/b and fan out on `GET /go?n=&size=` (Starlette) or a text frame
`go <n> <size>` (websockets), then answer with the server-side seconds until every write buffer is empty.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any


def frame_text(size: int) -> str:
    """The frame every server sends: the envelope mega gives a broadcast, `size` bytes of payload."""
    return json.dumps({"type": "b", "ns": "/ws/b", "payload": "x" * size}, separators=(",", ":"))


def starlette_app() -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route, WebSocketRoute
    from starlette.websockets import WebSocket, WebSocketDisconnect

    conns: set[WebSocket] = set()

    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        conns.add(websocket)
        try:
            while True:
                await websocket.receive_text()
        except WebSocketDisconnect:
            pass
        finally:
            conns.discard(websocket)

    async def go(request: Request) -> JSONResponse:
        n, size = int(request.query_params["n"]), int(request.query_params["size"])
        text = frame_text(size)
        started = time.perf_counter()
        for _ in range(n):
            for sock in list(conns):
                try:
                    await sock.send_text(text)
                except Exception:
                    conns.discard(sock)
        return JSONResponse({"seconds": time.perf_counter() - started, "sockets": len(conns)})

    return Starlette(routes=[WebSocketRoute("/ws/b", ws), Route("/go", go)])


async def websockets_server(port: int) -> None:
    from websockets.asyncio.server import ServerConnection, broadcast, serve

    conns: set[ServerConnection] = set()

    async def handler(ws: ServerConnection) -> None:
        conns.add(ws)
        try:
            async for message in ws:
                if isinstance(message, str) and message.startswith("go "):
                    _, n, size = message.split()
                    text = frame_text(int(size))
                    targets = [c for c in conns if c is not ws]
                    started = time.perf_counter()
                    for _ in range(int(n)):
                        broadcast(targets, text)
                    while any(c.transport.get_write_buffer_size() for c in targets
                              if not c.transport.is_closing()):
                        await asyncio.sleep(0.001)
                    took = time.perf_counter() - started
                    await ws.send(json.dumps({"seconds": took, "sockets": len(targets)}))
        finally:
            conns.discard(ws)

    async with serve(handler, "127.0.0.1", port, max_size=2**20, ping_interval=None, compression=None):
        print("ready", flush=True)
        await asyncio.Event().wait()


def main() -> None:
    kind, port = sys.argv[1], int(sys.argv[2])
    if kind == "starlette":
        import uvicorn

        print("ready", flush=True)
        uvicorn.run(starlette_app(), host="127.0.0.1", port=port, log_level="warning", ws="websockets-sansio",
                    ws_ping_interval=None, access_log=False)
    else:
        asyncio.run(websockets_server(port))


if __name__ == "__main__":
    main()
