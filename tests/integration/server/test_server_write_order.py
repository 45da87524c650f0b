"""Responses held for the loop turn's batch (mega.server._write_batch) against a real server: whatever
path a response takes, the client receives every one, in request order, and before the connection ends."""

from __future__ import annotations

import asyncio

import pytest
from server_wire import close, connect, get, read_response

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
