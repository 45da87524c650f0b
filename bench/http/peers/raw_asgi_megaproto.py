"""The ceiling on mega's own uvicorn protocol: like raw_asgi, but when the server offers the
`mega.raw_headers` extension (bench/http/serve_mega_protocol.py does) the head goes as one
precomputed header block, as mega itself sends it. Falls back to plain headers elsewhere.
"""

RAW = "mega.raw_headers"
HELLO = b'{"hello":"world"}'
HELLO_HEAD = b"content-type: application/json\r\ncontent-length: %d\r\n" % len(HELLO)
HELLO_START_RAW = {"type": "http.response.start", "status": 200, "headers": (), RAW: HELLO_HEAD}
HELLO_START = {
    "type": "http.response.start",
    "status": 200,
    "headers": [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(HELLO))],
}
HELLO_BODY = {"type": "http.response.body", "body": HELLO}
NOT_FOUND = b'{"error":"not found"}'
_JSON = (b"content-type", b"application/json")


async def app(scope, receive, send):
    if scope["type"] != "http":
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        return
    raw = RAW in (scope.get("extensions") or ())
    path = scope["path"]
    if path == "/":
        await send(HELLO_START_RAW if raw else HELLO_START)
        await send(HELLO_BODY)
        return
    if path.startswith("/users/"):
        try:
            uid = int(path[7:])
        except ValueError:
            uid = None
        if uid is not None:
            body = b'{"id":%d}' % uid
            if raw:
                head = b"content-type: application/json\r\ncontent-length: %d\r\n" % len(body)
                await send({"type": "http.response.start", "status": 200, "headers": (), RAW: head})
            else:
                await send({"type": "http.response.start", "status": 200,
                            "headers": [_JSON, (b"content-length", b"%d" % len(body))]})
            await send({"type": "http.response.body", "body": body})
            return
    await send({"type": "http.response.start", "status": 404,
                "headers": [_JSON, (b"content-length", b"%d" % len(NOT_FOUND))]})
    await send({"type": "http.response.body", "body": NOT_FOUND})
