"""granian's RSGI interface, for the ADR 0033 measurement (`granian --interface rsgi raw_rsgi:<target>`).

app  -> hello-JSON as a native RSGI app: precomputed body and (str, str) headers, one response_bytes call.
shim -> an RSGI -> ASGI adapter in Python in front of raw_asgi.app: what running an ASGI-shaped
        pipeline (mega's) over RSGI would cost, headers converted both ways per request.
"""

from raw_asgi import app as asgi_app

HELLO = b'{"hello":"world"}'
HELLO_HEADERS = [("content-type", "application/json"), ("content-length", str(len(HELLO)))]


class Native:
    async def __rsgi__(self, scope, protocol):
        if scope.path == "/":
            protocol.response_bytes(200, HELLO_HEADERS, HELLO)
            return
        protocol.response_bytes(404, [("content-length", "0")], b"")


class Shim:
    """ASGI scope from the RSGI scope; the body read in one call; the ASGI messages to response_bytes."""

    async def __rsgi__(self, scope, protocol):
        headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in scope.headers.items()]
        asgi_scope = {"type": "http", "method": scope.method, "path": scope.path,
                      "query_string": scope.query_string.encode("latin-1"), "headers": headers,
                      "http_version": scope.http_version, "scheme": scope.scheme}
        state = {}

        async def receive():
            return {"type": "http.request", "body": await protocol(), "more_body": False}

        async def send(message):
            if message["type"] == "http.response.start":
                state["start"] = message
            else:
                start = state["start"]
                protocol.response_bytes(start["status"], [(k.decode("latin-1"), v.decode("latin-1"))
                                                          for k, v in start["headers"]], message["body"])

        await asgi_app(asgi_scope, receive, send)


app = Native()
shim = Shim()
