"""The ceiling: a raw ASGI app with no framework.

GET /            -> a precomputed body; headers precomputed too (content-type + content-length).
GET /users/{id}  -> int() of the last segment, body formatted with b"%d".
JSON: none needed (bytes are precomputed or formatted).
"""

HELLO = b'{"hello":"world"}'
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
    path = scope["path"]
    if path == "/":
        await send(HELLO_START)
        await send(HELLO_BODY)
        return
    if path.startswith("/users/"):
        try:
            uid = int(path[7:])
        except ValueError:
            uid = None
        if uid is not None:
            body = b'{"id":%d}' % uid
            await send({"type": "http.response.start", "status": 200,
                        "headers": [_JSON, (b"content-length", b"%d" % len(body))]})
            await send({"type": "http.response.body", "body": body})
            return
    await send({"type": "http.response.start", "status": 404,
                "headers": [_JSON, (b"content-length", b"%d" % len(NOT_FOUND))]})
    await send({"type": "http.response.body", "body": NOT_FOUND})
