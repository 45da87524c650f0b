"""The ceiling: a raw ASGI app with no framework.

GET /            -> a precomputed body; headers precomputed too (content-type + content-length).
GET /users/{id}  -> int() of the last segment, body formatted with b"%d".
GET /search?q=.. -> the query string split by hand, the answer dumped by orjson.
POST /items/*    -> the body read whole and parsed by orjson, no validation (the ceiling).
GET /cached      -> a precomputed answer of a module-level value.
Anything else    -> a precomputed 404.
"""

from urllib.parse import parse_qsl

import orjson

HELLO = b'{"hello":"world"}'
HELLO_START = {
    "type": "http.response.start",
    "status": 200,
    "headers": [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(HELLO))],
}
HELLO_BODY = {"type": "http.response.body", "body": HELLO}
NOT_FOUND = b'{"error":"not found"}'
_JSON = (b"content-type", b"application/json")
CACHE = {"greeting": "hello from the cache"}


async def _json(send, value, status=200):
    body = orjson.dumps(value)
    await send({"type": "http.response.start", "status": status,
                "headers": [_JSON, (b"content-length", b"%d" % len(body))]})
    await send({"type": "http.response.body", "body": body})


async def _body(receive):
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def _lifespan(receive, send):
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def app(scope, receive, send):
    if scope["type"] != "http":
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
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
    if path == "/search":
        await _json(send, {"q": dict(parse_qsl(scope["query_string"].decode("latin-1"))).get("q")})
        return
    if path.startswith("/items/") and scope["method"] == "POST":
        item = orjson.loads(await _body(receive))
        await _json(send, {"name": item["name"], "tags": len(item["tags"])})
        return
    if path == "/cached":
        await _json(send, {"value": CACHE["greeting"]})
        return
    await send({"type": "http.response.start", "status": 404,
                "headers": [_JSON, (b"content-length", b"%d" % len(NOT_FOUND))]})
    await send({"type": "http.response.body", "body": NOT_FOUND})
