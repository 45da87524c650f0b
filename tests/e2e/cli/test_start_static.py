"""Static files through the server `mega start` really runs: large files go out with sendfile (the
ASGI pathsend extension of mega's protocol), keep-alive framing holds around them, aborted downloads
leak no descriptor, and every traversal form sent as raw bytes is a 404."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.cli.conftest import Server, environ, free_port, get, mega, wait_for
from tests.integration.server.server_wire import close, connect, read_response, request
from tests.integration.server.server_wire import get as raw_get

pytestmark = pytest.mark.integration

BIG = 16 * 1024 * 1024


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path, Server]]:
    parent = tmp_path_factory.mktemp("static")
    assert mega("new", "demo", "--dir", str(parent), cwd=parent).returncode == 0
    root = parent / "demo"
    (root / "mega_config.py").write_text('config = {"logger": {"level": "warning"}}\n')
    public = root / "apps" / "main" / "public"
    (public / "big.bin").write_bytes(os.urandom(BIG))
    (public / "app.css").write_text("body { margin: 0 }\n")
    (public / ".secret").write_text("dotfile\n")
    (root / "apps" / "main" / "secret.txt").write_text("outside\n")
    (public / "out.txt").symlink_to(root / "apps" / "main" / "secret.txt")
    port = free_port()
    server = Server(["start", "--port", str(port)], root, parent / "server.log",
                    environ(MEGA_ENV="production"))
    try:
        wait_for(lambda: get(port, "/health/live").status_code == 200, 20, "mega start to serve")
        yield port, public, server
    finally:
        server.kill()


def io_counts(pid: int) -> dict[str, int]:
    rows = Path(f"/proc/{pid}/io").read_text().split("\n")
    return {k: int(v) for k, _, v in (row.partition(": ") for row in rows if row)}


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


async def test_a_large_file_goes_out_with_sendfile_and_keep_alive_holds(
        site: tuple[int, Path, Server]) -> None:
    port, public, server = site
    expected = hashlib.sha256((public / "big.bin").read_bytes()).hexdigest()
    reader, writer = await connect(port)
    try:
        before = io_counts(server.proc.pid)
        # Pipelined: the small file after the large one must come out whole, in order.
        writer.write(raw_get("/static/big.bin") + raw_get("/static/app.css"))
        await writer.drain()
        big = await read_response(reader)
        small = await read_response(reader)
        after = io_counts(server.proc.pid)
    finally:
        await close(writer)
    assert big.status == 200 and big.header("content-length") == str(BIG)
    assert hashlib.sha256(big.body).hexdigest() == expected
    assert small.status == 200 and small.body == b"body { margin: 0 }\n"
    # 16 MiB read through Python would take at least 64 reads of 256 KiB; sendfile needs a few calls.
    assert after["syscr"] - before["syscr"] < 40, (before, after)
    assert after["rchar"] - before["rchar"] >= BIG  # the bytes did come from the file


async def test_slow_readers_and_aborted_downloads(site: tuple[int, Path, Server]) -> None:
    port, public, server = site
    data = (public / "big.bin").read_bytes()
    reader, writer = await connect(port)
    try:
        writer.write(raw_get("/static/big.bin"))
        await writer.drain()
        response = await read_response(reader, head_only=True)
        first = await reader.readexactly(1000)
        await asyncio.sleep(0.5)  # the server waits for the socket to drain, then goes on
        rest = await asyncio.wait_for(reader.readexactly(BIG - 1000), 10)
    finally:
        await close(writer)
    assert response.status == 200 and first + rest == data

    baseline = open_fds(server.proc.pid)
    for _ in range(3):
        reader, writer = await connect(port)
        writer.write(raw_get("/static/big.bin"))
        await writer.drain()
        await reader.readexactly(4096)
        writer.transport.abort()  # gone mid-file
    await asyncio.sleep(0.5)
    wait_for(lambda: open_fds(server.proc.pid) <= baseline, 5, "the file and socket descriptors to close")
    after, _ = await request(port, raw_get("/static/app.css"))
    assert after.status == 200


async def test_head_range_and_conditional_on_the_real_server(site: tuple[int, Path, Server]) -> None:
    port, public, _ = site
    data = (public / "big.bin").read_bytes()
    head, _ = await request(port, raw_get("/static/big.bin", method="HEAD"), head_only=True)
    assert head.status == 200 and head.header("content-length") == str(BIG)
    part, _ = await request(port, raw_get("/static/big.bin", "Range: bytes=1000-300999"))
    assert part.status == 206 and part.body == data[1000:301000]
    assert part.header("content-range") == f"bytes 1000-300999/{BIG}"
    again, _ = await request(port, raw_get("/static/big.bin", f"If-None-Match: {head.header('etag')}"))
    assert again.status == 304 and again.body == b""
    bad, _ = await request(port, raw_get("/static/big.bin", f"Range: bytes={BIG}-"))
    assert bad.status == 416 and bad.header("content-range") == f"bytes */{BIG}"


@pytest.mark.parametrize("target", [
    "/static/../secret.txt",
    "/static/%2e%2e/secret.txt",
    "/static/%2E%2E/secret.txt",
    "/static/%2e%2e%2fsecret.txt",
    "/static/%252e%252e/secret.txt",
    "/static/..%5csecret.txt",
    "/static/%5c..%5csecret.txt",
    "/static/app.css%00.png",
    "/static//etc/passwd",
    "/static/%2fetc%2fpasswd",
    "/static/out.txt",
    "/static/.secret",
    "/static/%2esecret",
    "/static/",
])
async def test_traversal_forms_sent_as_raw_bytes_are_404(site: tuple[int, Path, Server], target: str) -> None:
    port, _, _ = site
    control, _ = await request(port, raw_get("/static/app.css"))
    assert control.status == 200
    response, _ = await request(port, raw_get(target))
    assert response.status == 404, target
    for leaked in (b"outside", b"dotfile", b"root:"):
        assert leaked not in response.body
