"""mega's RSGI adapter (`mega start --server granian`) on a real granian embedded server: what an ASGI
app sees and sends through it, and the guard it keeps in front of the app."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import orjson
import pytest
import websockets

from mega.server._rsgi import RsgiApp

TIMEOUT = 0.5
App = Callable[[dict[str, Any], Any, Any], Awaitable[None]]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _serve(app: App) -> AsyncIterator[str]:
    from granian.constants import HTTPModes, Interfaces
    from granian.log import LogLevels
    from granian.server.embed import Server

    port = _free_port()
    server = Server(RsgiApp(app, max_headers=10, body_timeout=TIMEOUT), address="127.0.0.1", port=port,
                    interface=Interfaces.RSGI, http=HTTPModes.http1, websockets=True,
                    log_level=LogLevels.error, log_access=False)
    task = asyncio.ensure_future(server.serve())
    url = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient() as client:
        for _ in range(100):
            try:
                await client.get(url + "/__up")
                break
            except httpx.TransportError:
                await asyncio.sleep(0.02)
    try:
        yield url
    finally:
        server.stop()
        await asyncio.wait_for(task, 5)


@pytest.fixture
async def echo() -> AsyncIterator[str]:
    """An ASGI app that answers what it was given: the scope's head and the body it read."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["path"] == "/stream":
            await send({"type": "http.response.start", "status": 200, "headers": [(b"x-kind", b"stream")]})
            for part in (b"one,", b"two,", b"three"):
                await send({"type": "http.response.body", "body": part, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
            return
        if scope["path"] == "/boom":
            raise RuntimeError("broken app")
        if scope["path"] == "/silent":
            return
        chunks = []
        while True:
            message = await receive()
            chunks.append(message["body"])
            if not message["more_body"]:
                break
        body = orjson.dumps({"method": scope["method"], "path": scope["path"],
                             "query": scope["query_string"].decode(), "client": scope["client"][0],
                             "headers": [[n.decode(), v.decode()] for n, v in scope["headers"]],
                             "reads": len(chunks), "size": len(b"".join(chunks))})
        await send({"type": "http.response.start", "status": 201,
                    "headers": [(b"content-type", b"application/json"), (b"x-one", b"1")]})
        await send({"type": "http.response.body", "body": body})

    async for url in _serve(app):
        yield url


async def test_the_app_sees_the_head_and_the_whole_body(echo: str) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.post(echo + "/a%20b/c?x=%20y&z", content=b"x" * 1000,
                                     headers={"X-Test": "yes"})
    assert response.status_code == 201 and response.headers["x-one"] == "1"
    seen = response.json()
    assert seen["method"] == "POST" and seen["path"] == "/a b/c" and seen["query"] == "x=%20y&z"
    assert seen["client"] == "127.0.0.1" and ["x-test", "yes"] in seen["headers"]
    assert seen["size"] == 1000 and seen["reads"] == 1  # the announced length ends the body: one read


async def test_a_large_body_arrives_in_pieces(echo: str) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.post(echo + "/", content=b"y" * 3_000_000)
    assert response.json()["size"] == 3_000_000


async def test_a_chunked_body_is_read_to_its_end(echo: str) -> None:
    async def parts() -> AsyncIterator[bytes]:
        for _ in range(3):
            yield b"z" * 10
            await asyncio.sleep(0.05)

    async with httpx.AsyncClient() as client:
        response = await client.post(echo + "/", content=parts())
    assert response.json()["size"] == 30


async def test_a_streamed_response_arrives_whole(echo: str) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.get(echo + "/stream")
    assert response.status_code == 200 and response.text == "one,two,three"
    assert response.headers["x-kind"] == "stream"


async def test_an_app_that_raises_before_answering_gets_the_500_envelope(echo: str) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.get(echo + "/boom")
    assert response.status_code == 500 and response.json()["ok"] is False


async def test_an_app_that_never_answers_gets_an_empty_500(echo: str) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.get(echo + "/silent")
    assert response.status_code == 500 and response.content == b""


@pytest.mark.parametrize(("headers", "status", "code"), [
    ([("x-h", "v")] * 11, 431, "http.too_many_headers"),
    ([("host", "a@evil.com")], 400, "host.invalid"),
])
async def test_refusals_carry_the_envelope_and_close(echo: str, headers: list[tuple[str, str]], status: int,
                                                     code: str) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.get(echo + "/", headers=headers)
    assert response.status_code == status and response.headers["connection"] == "close"
    assert response.json()["error"]["code"] == code


async def test_a_body_that_stops_arriving_is_a_408() -> None:
    got: list[Any] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        try:
            while (await receive())["more_body"]:  # "ab" arrives, then nothing more
                pass
        except Exception as exc:  # the pipeline's error boundary turns it into the 408 envelope
            got.append(exc)
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async for url in _serve(app):
        port = int(url.rpartition(":")[2])
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nab")
        await writer.drain()
        await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        writer.close()
    [err] = got
    assert err.code == "http.body_timeout" and err.status == 408
    assert (b"connection", b"close") in err.headers


async def test_a_websocket_connects_exchanges_and_closes() -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "websocket" and (await receive())["type"] == "websocket.connect"
        await send({"type": "websocket.accept"})
        message = await receive()
        await send({"type": "websocket.send", "text": "echo:" + message["text"]})
        message = await receive()
        await send({"type": "websocket.send", "bytes": message["bytes"][::-1]})
        assert (await receive())["type"] == "websocket.disconnect"

    async for url in _serve(app):
        async with websockets.connect(url.replace("http", "ws") + "/ws") as ws:
            await ws.send("hi")
            assert await ws.recv() == "echo:hi"
            await ws.send(b"abc")
            assert await ws.recv() == b"cba"


async def test_a_refused_upgrade_is_a_403() -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.close", "code": 1008})

    async for url in _serve(app):
        with pytest.raises(websockets.exceptions.InvalidStatus) as caught:
            async with websockets.connect(url.replace("http", "ws") + "/ws"):
                pass
        assert caught.value.response.status_code == 403
