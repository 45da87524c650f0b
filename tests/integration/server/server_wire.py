"""Raw-socket HTTP/1.1 helpers for the server tests (asyncio streams, no HTTP client library)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field

import orjson

IO_TIMEOUT = 5.0

# Limits of the two test servers (conftest.py). Small ones keep the at-the-limit tests readable and the
# timeout tests fast.
STRICT = {"header_timeout": 1.0, "max_header_bytes": 8192, "max_headers": 32}
DEFAULTS = {"header_timeout": 30.0, "max_header_bytes": 65536, "max_headers": 100}
KEEP_ALIVE = {**DEFAULTS, "keep_alive_timeout": 1}


@dataclass
class Response:
    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes
    head: bytes = field(repr=False)  # the raw bytes of status line + headers + blank line

    def header(self, name: str) -> str | None:
        values = [v for k, v in self.headers if k == name.lower()]
        assert len(values) <= 1, f"duplicate header {name}: {values}"
        return values[0] if values else None

    def json(self) -> object:
        return orjson.loads(self.body)


async def connect(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)


async def close(writer: asyncio.StreamWriter) -> None:
    """Close and wait for the transport to be gone: one left closing at the loop's end is a
    ResourceWarning that fails whichever test the garbage collector happens to run in."""
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()


async def read_response(reader: asyncio.StreamReader, *, head_only: bool = False) -> Response:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), IO_TIMEOUT)
    lines = head[:-4].decode("latin-1").split("\r\n")
    version, status, reason = lines[0].split(" ", 2)
    assert version == "HTTP/1.1", lines[0]
    headers = []
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers.append((name.lower(), value.strip()))
    response = Response(int(status), reason, headers, b"", head)
    if head_only or response.status < 200 or response.status in (204, 304):
        return response
    length = response.header("content-length")
    if length is not None:
        response.body = await asyncio.wait_for(reader.readexactly(int(length)), IO_TIMEOUT)
    elif response.header("transfer-encoding") == "chunked":
        chunks = []
        while True:
            size = int((await asyncio.wait_for(reader.readuntil(b"\r\n"), IO_TIMEOUT))[:-2], 16)
            data = await asyncio.wait_for(reader.readexactly(size + 2), IO_TIMEOUT)
            if size == 0:
                break
            chunks.append(data[:-2])
        response.body = b"".join(chunks)
    else:
        response.body = await asyncio.wait_for(reader.read(), IO_TIMEOUT)
    return response


async def at_eof(reader: asyncio.StreamReader, timeout: float = IO_TIMEOUT) -> bool:
    """True when the server closed (EOF or reset) with no further bytes within `timeout`."""
    try:
        rest = await asyncio.wait_for(reader.read(1), timeout)
    except (ConnectionResetError, BrokenPipeError):
        return True
    except TimeoutError:
        return False
    return rest == b""


async def request(port: int, raw: bytes, *, head_only: bool = False) -> tuple[Response, bool]:
    """Send one raw request on a new connection; return the response and whether the server then closed."""
    reader, writer = await connect(port)
    try:
        try:
            writer.write(raw)
            await writer.drain()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed before reading all of it (a 431 on a 1 MB head): read that
        response = await read_response(reader, head_only=head_only)
        return response, await at_eof(reader, 0.5)
    finally:
        await close(writer)


def get(path: str = "/", *extra: str, method: str = "GET", version: str = "1.1") -> bytes:
    lines = [f"{method} {path} HTTP/{version}", "Host: test", *extra, "", ""]
    return "\r\n".join(lines).encode("latin-1")


@dataclass
class Trickle:
    """Outcome of sending a request head slowly."""

    response: Response | None
    closed_after: float  # seconds from the first byte sent until the server closed
    lines_sent: int


async def trickle(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    pieces: list[bytes],
    interval: float,
    *,
    limit: float = 4.0,
) -> Trickle:
    """Send `pieces` one per `interval` (cycling the last one) until the server answers and closes."""
    start = time.monotonic()
    sent = 0
    response: Response | None = None

    async def feed() -> None:
        nonlocal sent
        i = 0
        while True:
            try:
                writer.write(pieces[min(i, len(pieces) - 1)])
                await writer.drain()
            except (ConnectionResetError, BrokenPipeError):
                return
            sent += 1
            i += 1
            await asyncio.sleep(interval)

    feeder = asyncio.create_task(feed())
    try:
        try:
            response = await asyncio.wait_for(read_response(reader), limit)
        except asyncio.IncompleteReadError:
            response = None
        assert await at_eof(reader, limit)
        return Trickle(response, time.monotonic() - start, sent)
    finally:
        feeder.cancel()
        await close(writer)
