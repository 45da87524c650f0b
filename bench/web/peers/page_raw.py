"""The ceiling: a bare Jinja2 render (compiled once, autoescape on) inside a raw ASGI app."""

from jinja2 import Environment, FileSystemLoader
from page_data import PAGE, VIEWS

TEMPLATE = Environment(loader=FileSystemLoader(VIEWS), autoescape=True, auto_reload=False).get_template(
    "page.html")
_HTML = (b"content-type", b"text/html; charset=utf-8")
NOT_FOUND = {"type": "http.response.start", "status": 404, "headers": [(b"content-length", b"0")]}


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    if scope["path"] != "/page":
        await send(NOT_FOUND)
        await send({"type": "http.response.body", "body": b""})
        return
    body = TEMPLATE.render(PAGE).encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [_HTML, (b"content-length", b"%d" % len(body))]})
    await send({"type": "http.response.body", "body": body})
