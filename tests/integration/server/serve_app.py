"""A tiny ASGI app served by uvicorn with mega's protocol class; run as a subprocess by the tests.

usage: python serve_app.py PORT HEADER_TIMEOUT MAX_HEADER_BYTES MAX_HEADERS [KEEP_ALIVE_TIMEOUT]
"""

from __future__ import annotations

import asyncio
import contextvars
import os
import sys
from typing import Any

import orjson
import uvicorn

from mega.server import RAW_HEADERS_EXTENSION, make_protocol_class

Scope = dict[str, Any]
# Set by /ctx to the request's path: a later request must never see an earlier one's value.
SEEN: contextvars.ContextVar[str] = contextvars.ContextVar("seen", default="unset")
Receive = Any
Send = Any


async def read_body(receive: Receive) -> bytes:
    body = b""
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        body += message.get("body", b"")
        more = message.get("more_body", False)
    return body


async def websocket_echo(receive: Receive, send: Send) -> None:
    assert (await receive())["type"] == "websocket.connect"
    await send({"type": "websocket.accept"})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        await send({"type": "websocket.send", "text": "echo:" + message["text"]})


async def pathsend(scope: Scope, send: Send) -> None:
    """/pathsend?FILE (plain head), /pathsend-raw?FILE&LENGTH (raw head, "mega.length" = LENGTH,
    announced as the content-length): the file goes out with the pathsend extension."""
    file, _, length = scope["query_string"].decode().partition("&")
    size = int(length) if length else os.stat(file).st_size
    if scope["path"] == "/pathsend-raw":
        block = b"content-type: application/octet-stream\r\ncontent-length: %d\r\n" % size
        await send({"type": "http.response.start", "status": 200, RAW_HEADERS_EXTENSION: block})
        await send({"type": "http.response.pathsend", "path": file, "mega.length": size})
    else:
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", b"%d" % size)]})
        await send({"type": "http.response.pathsend", "path": file})


async def in_a_task(send: Send) -> None:
    """A handler is a task from its first line: asyncio.timeout needs one, and cancels it."""
    async with asyncio.timeout(1):
        text = b"task" if asyncio.current_task() is not None else b"none"
    block = b"content-type: text/plain\r\ncontent-length: %d\r\n" % len(text)
    await send({"type": "http.response.start", "status": 200, RAW_HEADERS_EXTENSION: block})
    await send({"type": "http.response.body", "body": text})


async def timeout_fires(send: Send) -> None:
    """A timeout entered before the first await fires while the handler waits: TimeoutError, then the
    answer, which says how many cancellation requests the task still counts (0)."""
    try:
        async with asyncio.timeout(0.05):
            await asyncio.sleep(5)
        text = b"slept"
    except TimeoutError:
        text = b"timed out " + str(asyncio.current_task().cancelling()).encode()  # type: ignore[union-attr]
    block = b"content-type: text/plain\r\ncontent-length: %d\r\n" % len(text)
    await send({"type": "http.response.start", "status": 200, RAW_HEADERS_EXTENSION: block})
    await send({"type": "http.response.body", "body": text})


SPECIAL = {"/task": in_a_task, "/timeout-fires": timeout_fires}


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "websocket":
        await websocket_echo(receive, send)
        return
    assert scope["type"] == "http"
    path: str = scope["path"]
    body = await read_body(receive)
    if path == "/boom":
        raise RuntimeError("boom")
    if path.startswith("/ctx"):
        before = SEEN.get()
        SEEN.set(path)
        if "await" in path:  # suspends: the rest runs as a task, still in this request's context
            await asyncio.sleep(0.01)
        text = (before + " " + SEEN.get()).encode()
        block = b"content-type: text/plain\r\ncontent-length: %d\r\n" % len(text)
        await send({"type": "http.response.start", "status": 200, RAW_HEADERS_EXTENSION: block})
        await send({"type": "http.response.body", "body": text})
        return
    special = SPECIAL.get(path)
    if special is not None:
        await special(send)
        return
    if path == "/boom-after-await":
        await asyncio.sleep(0.01)
        raise RuntimeError("boom")
    if path == "/stream":
        # Plain headers, no content-length: uvicorn's chunked encoding.
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]}
        )
        for part in (b"one,", b"two,", b"three"):
            await send({"type": "http.response.body", "body": part, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        return
    if path.startswith("/pathsend"):
        await pathsend(scope, send)
        return
    if path == "/big":
        payload = b"x" * 200_000
    else:
        payload = orjson.dumps(
            {
                "ok": True,
                "data": {
                    "path": path,
                    "query": scope["query_string"].decode(),
                    "headers": len(scope["headers"]),
                    "body": len(body),
                    "raw": RAW_HEADERS_EXTENSION in scope.get("extensions", {}),
                },
            }
        )
    use_raw = path != "/plain" and RAW_HEADERS_EXTENSION in scope.get("extensions", {})
    if use_raw:
        block = b"content-type: application/json\r\ncontent-length: %d\r\nx-request-id: r-1\r\n" % len(
            payload
        )
        await send({"type": "http.response.start", "status": 200, RAW_HEADERS_EXTENSION: block})
    else:
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", b"%d" % len(payload)),
            (b"x-request-id", b"r-1"),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


def main() -> None:
    port = int(sys.argv[1])
    protocol = make_protocol_class(
        header_timeout=float(sys.argv[2]), max_header_bytes=int(sys.argv[3]), max_headers=int(sys.argv[4])
    )
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        http=protocol,
        timeout_keep_alive=int(sys.argv[5]) if len(sys.argv) > 5 else 5,
        loop="uvloop",
        lifespan="off",
        access_log=False,
        log_level="error",
    )
    uvicorn.Server(config).run()


if __name__ == "__main__":
    main()
