"""The ASGI `http.response.pathsend` extension of mega's protocol, through a real server: after a plain
or a raw head, the file goes out whole (sendfile) and the connection stays usable; a file longer than
announced is cut at the announced length, one that is missing or shorter closes the connection."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from server_wire import close, connect, get, read_response

pytestmark = pytest.mark.integration

SIZE = 3 * 1024 * 1024 + 7


@pytest.fixture(scope="module")
def data_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes]:
    path = tmp_path_factory.mktemp("pathsend") / "file.bin"
    data = os.urandom(SIZE)
    path.write_bytes(data)
    return path, data


async def test_scope_offers_the_extension_and_files_go_out_whole(default_port: int,
                                                                  data_file: tuple[Path, bytes]) -> None:
    path, data = data_file
    reader, writer = await connect(default_port)
    try:
        writer.write(get(f"/pathsend?{path}") + get(f"/pathsend-raw?{path}") + get("/echo"))
        await writer.drain()
        plain = await read_response(reader)
        raw = await read_response(reader)
        after = await read_response(reader)
    finally:
        await close(writer)
    assert (plain.status, plain.header("content-length"), plain.body == data) == (200, str(SIZE), True)
    assert (raw.status, raw.header("content-length"), raw.body == data) == (200, str(SIZE), True)
    assert after.status == 200 and after.json()["data"]["raw"] is True  # type: ignore[index]


async def test_head_sends_no_body(default_port: int, data_file: tuple[Path, bytes]) -> None:
    path, _ = data_file
    reader, writer = await connect(default_port)
    try:
        writer.write(get(f"/pathsend-raw?{path}", method="HEAD") + get("/echo"))
        await writer.drain()
        head = await read_response(reader, head_only=True)
        after = await read_response(reader)
    finally:
        await close(writer)
    assert head.status == 200 and head.header("content-length") == str(SIZE)
    assert after.status == 200


async def test_never_more_than_announced_and_a_short_file_closes(default_port: int,
                                                                  data_file: tuple[Path, bytes]) -> None:
    path, data = data_file
    reader, writer = await connect(default_port)
    try:
        writer.write(get(f"/pathsend-raw?{path}&1000") + get("/echo"))
        await writer.drain()
        cut = await read_response(reader)
        after = await read_response(reader)  # framing intact: the next response parses
    finally:
        await close(writer)
    assert cut.body == data[:1000] and after.status == 200

    for target in (f"/pathsend-raw?{path}&{SIZE + 10}", f"/pathsend-raw?{path}.missing&10"):
        reader, writer = await connect(default_port)
        try:
            writer.write(get(target))
            await writer.drain()
            head = await read_response(reader, head_only=True)
            assert head.status == 200
            received = 0
            while chunk := await asyncio.wait_for(reader.read(1 << 20), 5):  # times out unless closed
                received += len(chunk)
            assert received <= SIZE
        finally:
            await close(writer)
