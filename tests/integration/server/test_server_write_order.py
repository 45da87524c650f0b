"""Responses held for the loop turn's batch (mega.server._write_batch) against a real server: whatever
path a response takes, the client receives every one, in request order, and before the connection ends."""

from __future__ import annotations

import asyncio

import pytest
from server_wire import at_eof, close, connect, get, read_response

pytestmark = pytest.mark.integration


async def test_responses_of_every_kind_pipelined_on_one_connection_arrive_in_order(strict_port: int) -> None:
    # Held raw-block responses between a plain one, a chunked stream, a 200 KB body (written at once) and a
    # handler that answers after an await: none overtakes another.
    paths = ["/a", "/plain", "/b", "/stream", "/c", "/big", "/ctx-await", "/d"] * 3
    reader, writer = await connect(strict_port)
    try:
        writer.write(b"".join(get(p) for p in paths))
        await writer.drain()
        for path in paths:
            response = await read_response(reader)
            assert response.status == 200, (path, response)
            if path == "/stream":
                assert response.body == b"one,two,three"
            elif path == "/big":
                assert response.body == b"x" * 200_000
            elif path == "/ctx-await":
                assert response.body.endswith(b" /ctx-await")
            else:
                assert response.json()["data"]["path"] == path  # type: ignore[index]
    finally:
        await close(writer)


async def test_a_client_that_half_closes_after_its_requests_gets_every_response(strict_port: int) -> None:
    reader, writer = await connect(strict_port)
    try:
        writer.write(get("/one") + get("/ctx-await") + get("/three"))
        writer.write_eof()  # no more requests: the three it sent are still answered, then it closes
        for path in ("/one", "/ctx-await", "/three"):
            response = await read_response(reader)
            assert response.status == 200, (path, response)
            assert response.header("connection") == ("close" if path == "/three" else None), path
        assert await at_eof(reader)
    finally:
        await close(writer)


async def test_a_client_that_half_closes_inside_a_body_is_closed_unanswered(strict_port: int) -> None:
    reader, writer = await connect(strict_port)
    try:
        writer.write(b"POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc")
        writer.write_eof()  # the body can never be whole
        assert await reader.read() == b""
    finally:
        await close(writer)


async def test_many_connections_each_get_their_own_responses(strict_port: int) -> None:
    # 64 clients at once, 20 requests each, one at a time: every answer goes to its own connection.
    async def client(n: int) -> None:
        reader, writer = await connect(strict_port)
        try:
            for i in range(20):
                writer.write(get(f"/c{n}/r{i}"))
                response = await read_response(reader)
                assert response.json()["data"]["path"] == f"/c{n}/r{i}"  # type: ignore[index]
        finally:
            await close(writer)

    await asyncio.gather(*(client(n) for n in range(64)))
