"""Zero-copy file bodies for the ASGI `http.response.pathsend` extension: `os.sendfile` from the file
to the connection's socket, waiting for writability on a duplicate of the socket's descriptor.

The event loop cannot do it for us: uvloop's `loop.sendfile` raises NotImplementedError, and both loops
refuse `add_writer` on a descriptor a transport owns; a duplicate shares the socket without that check.
The transport's own buffer is empty first (its bytes must go out before ours), and nothing else writes
to the transport until the file is sent.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from typing import Any

__all__ = ["send_file"]


async def _writable(loop: asyncio.AbstractEventLoop, fd: int) -> None:
    ready: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_writer(fd, wake)
    try:
        await ready
    finally:
        loop.remove_writer(fd)


async def send_file(transport: Any, path: str, closed: Callable[[], bool], length: int | None = None) -> bool:
    """Write the whole file at `path` to the transport's socket; False when the connection ended first,
    or the file could not be opened or shrank (the connection must then close: its framing is broken).
    `length`: the content-length the app announced; never more is sent, whatever the file's size now."""
    sock = transport.get_extra_info("socket")
    if sock is None:  # pragma: no cover - every TCP and Unix transport has one
        raise RuntimeError("http.response.pathsend needs a socket transport")
    loop = asyncio.get_running_loop()
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False  # gone since the app looked: the head is out, so only closing can tell the client
    out = -1
    try:
        size = os.fstat(fd).st_size
        if length is not None:
            if size < length:
                return False
            size = length
        out = os.dup(sock.fileno())
        offset = 0
        while offset < size:
            if closed() or transport.is_closing():
                return False
            if transport.get_write_buffer_size():
                await _writable(loop, out)
                continue
            try:
                sent = os.sendfile(out, fd, offset, size - offset)
            except BlockingIOError:
                await _writable(loop, out)
                continue
            except OSError:  # reset or broken pipe: the client is gone
                return False
            if sent == 0:
                return False  # the file shrank under us
            offset += sent
        return True
    finally:
        os.close(fd)
        if out >= 0:
            os.close(out)
