"""The peers of bench/ws/run.py, one server per process:

    python bench/ws/peers.py starlette PORT    # Starlette on uvicorn: `await ws.send_text(t)` per socket
    python bench/ws/peers.py websockets PORT   # the websockets library: `broadcast(conns, t)` (ceiling)
    python bench/ws/peers.py broadcaster PORT REDIS_URL CHANNEL   # Starlette + broadcaster on Redis
    python bench/ws/peers.py socketio PORT REDIS_URL CHANNEL      # python-socketio, AsyncRedisManager

Both accept sockets at /ws/b and fan out on `GET /go?n=&size=` (Starlette) or a text frame
`go <n> <size>` (websockets), then answer with the server-side seconds until every write buffer is empty.
The last two are the cross-instance peers (bench/ws/cross.py): two processes of each share one Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import sys
import time
from collections.abc import AsyncIterator
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
    from websockets.exceptions import ConnectionClosed

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
        except ConnectionClosed:  # the bench drops its clients without a close frame: not worth a traceback
            pass
        finally:
            conns.discard(ws)

    async with serve(handler, "127.0.0.1", port, max_size=2**20, ping_interval=None, compression=None):
        print("ready", flush=True)
        await asyncio.Event().wait()


def broadcaster_app(url: str, channel: str) -> Any:
    """Starlette + broadcaster: a chat message from any socket is published on Redis; each process has one
    subscription and a queue and a task per socket (broadcaster's documented pattern)."""
    from broadcaster import Broadcast
    from starlette.applications import Starlette
    from starlette.routing import WebSocketRoute
    from starlette.websockets import WebSocket, WebSocketDisconnect

    broadcast = Broadcast(url)

    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()

        async def outbound() -> None:
            async with broadcast.subscribe(channel=channel) as subscriber:
                async for event in subscriber:  # type: ignore[union-attr]
                    await websocket.send_text(event.message)

        sender = asyncio.create_task(outbound())
        try:
            while True:
                data = json.loads(await websocket.receive_text())
                if data["type"] == "settle":  # bench/ws/cross.py's settle step
                    gc.collect()
                    await websocket.send_text('{"type":"settled","payload":null}')
                    continue
                await broadcast.publish(channel=channel, message=json.dumps(
                    {"type": "m", "ns": "/ws/x", "payload": data["payload"]}, separators=(",", ":")))
        except WebSocketDisconnect:
            pass
        finally:
            sender.cancel()

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        await broadcast.connect()
        yield
        await broadcast.disconnect()

    return Starlette(routes=[WebSocketRoute("/ws/x", ws)], lifespan=lifespan)


def socketio_app(url: str, channel: str) -> Any:
    """python-socketio on ASGI with its Redis manager: `emit` to everyone from the event handler."""
    import socketio

    manager = socketio.AsyncRedisManager(url, channel=channel)
    sio = socketio.AsyncServer(async_mode="asgi", client_manager=manager, cors_allowed_origins="*")

    @sio.on("say")  # type: ignore[misc]
    async def say(sid: str, data: Any) -> None:
        await sio.emit("m", data)

    @sio.on("settle")  # type: ignore[misc]
    async def settle(sid: str, data: Any) -> None:  # bench/ws/cross.py's settle step
        gc.collect()
        await sio.emit("settled", {}, to=sid)

    return socketio.ASGIApp(sio)


def main() -> None:
    kind, port = sys.argv[1], int(sys.argv[2])
    if kind in ("starlette", "broadcaster", "socketio"):
        import uvicorn

        if kind == "starlette":
            app = starlette_app()
        elif kind == "broadcaster":
            app = broadcaster_app(sys.argv[3], sys.argv[4])
        else:
            app = socketio_app(sys.argv[3], sys.argv[4])
        print("ready", flush=True)
        uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", ws="websockets-sansio",
                    ws_ping_interval=None, access_log=False)
    else:
        asyncio.run(websockets_server(port))


if __name__ == "__main__":
    main()
