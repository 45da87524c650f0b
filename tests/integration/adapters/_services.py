"""Real-service helpers: where Redis is (tests.services says when it is down) and a TCP proxy we can cut."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any
from urllib.parse import urlsplit

from mega.adapters import registry
from mega.adapters.redis import RedisConnection
from mega.cache.contract import Cache
from mega.cache.redis import RedisCache
from tests import services

REDIS_URL = services.url("redis")


def redis_address() -> tuple[str, int]:
    parts = urlsplit(REDIS_URL)
    return parts.hostname or "127.0.0.1", parts.port or 6379


def require_redis() -> str:
    """The Redis URL; skips the test (fails it under CI) when Redis is down."""
    return services.require("redis")


async def open_cache(driver: str, options: dict[str, Any], alias: str = "test",
                     redis: dict[str, Any] | None = None) -> Cache:
    """A connected cache of `driver`; a redis one on its own connection (`redis`: its options, the
    test Redis by default), which `close_cache` closes with it. Skips when Redis is down."""
    if driver != "redis":
        cache = registry.driver_class("cache", driver)(alias, options)
        assert isinstance(cache, Cache)
        await cache.connect()
        return cache
    connection = RedisConnection(alias, redis or {"url": require_redis()})
    await connection.connect()
    cache = RedisCache(alias, options, connection=connection)
    await cache.connect()
    return cache


async def close_cache(cache: Cache, *, clear: bool = True) -> None:
    if clear and cache.connected and (cache.prefix or cache.driver != "redis"):
        await cache.clear()
    await cache.disconnect()
    connection = getattr(cache, "connection", None)
    if connection is not None:
        await connection.disconnect()


class TcpProxy:
    """Forwards 127.0.0.1:<port> to a real service; `cut()` drops every connection and stops listening."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> TcpProxy:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self._writers |= {writer, up_writer}
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.CancelledError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    async def cut(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for writer in list(self._writers):
            writer.close()
        self._writers.clear()
        tasks, self._tasks = {t for t in self._tasks if not t.done()}, set()
        if tasks:  # let the pipes see their sockets closed and finish
            await asyncio.wait(tasks, timeout=2)
        if server is not None:
            await server.wait_closed()

    async def resume(self) -> None:
        """Listen again on the same port."""
        await self.start()
