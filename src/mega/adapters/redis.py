"""`services.redis.<alias>`: one Redis connection (a redis-py asyncio client and its pool).

    services = {"redis": {"main": {"url": "redis://127.0.0.1:6379/0", "max_connections": 50}}}

The cache, lock, session and rate-limit families take a client by alias (`adapters.redis(alias)`);
none of them opens its own. `url` is required (`redis://[user:password@]host:port/db`, `rediss://`
for TLS); every keyword argument of `redis.asyncio.Redis` (pool and socket settings) passes through.
Responses are bytes: the client is shared, and its users agree on that.
"""

from __future__ import annotations

import inspect
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from mega._suggest import close_match
from mega.adapters.base import Adapter, redact_url
from mega.errors import MegaError

__all__ = ["RedisConnection"]

# The client must hand back bytes (every user of the shared client expects them) and own its pool.
_REFUSED = frozenset({"decode_responses", "connection_pool", "self", "host", "port", "db", "password",
                      "username"})
_CLIENT_OPTIONS = frozenset(inspect.signature(aioredis.Redis.__init__).parameters) - _REFUSED
_CONNECT_TIMEOUT = 5.0
_RETRIES = 3  # redis-py retries 10 times with up to 10 s between: seconds of stall per call in an outage


def _retry() -> Retry:
    """A short retry (~0.4 s in all) that rides over a blip but fails fast when Redis is down."""
    return Retry(ExponentialWithJitterBackoff(base=0.05, cap=0.5), _RETRIES,
                 supported_errors=(RedisConnectionError, RedisTimeoutError))


class RedisConnection(Adapter):
    """A connected `redis.asyncio.Redis` (`native`), shared by every feature that names its alias."""

    family = "redis"
    driver = "redis"

    def __init__(self, alias: str, options: dict[str, Any]) -> None:
        super().__init__(alias, options)
        url = self.options.get("url")
        if not isinstance(url, str) or not url.startswith(("redis://", "rediss://", "unix://")):
            raise self._option_error("url", f"must be a URL such as 'redis://127.0.0.1:6379/0', got "
                                     f"{redact_url(url) if isinstance(url, str) else repr(url)}")
        for name in self.options:
            if name != "url" and name not in _CLIENT_OPTIONS:
                close = close_match(name, sorted(_CLIENT_OPTIONS))
                also = f"did you mean '{close}'? " if close else ""
                where = "put host, port, db and password in the url; " if name in _REFUSED else ""
                raise MegaError("adapter.invalid_option", f"services.redis.{alias}: unknown option "
                                f"'{name}'", details={"alias": alias, "option": name},
                                hint=f"{also}{where}options: url and the keyword arguments of "
                                     "redis.asyncio.Redis (max_connections, socket_timeout, ...)")

    def _option_error(self, name: str, problem: str) -> MegaError:
        return MegaError("adapter.invalid_option", f"services.redis.{self.alias}: '{name}' {problem}",
                         details={"alias": self.alias, "option": name},
                         hint="declare services.redis.<alias> = {'url': 'redis://host:6379/0'}")

    def client_kwargs(self) -> dict[str, Any]:
        """What the client is built with, besides the url (secrets included: never log this)."""
        kwargs: dict[str, Any] = {"socket_connect_timeout": _CONNECT_TIMEOUT, "retry": _retry()}
        kwargs.update((k, v) for k, v in self.options.items() if k != "url")
        return kwargs

    async def _connect(self) -> aioredis.Redis:
        client: aioredis.Redis = aioredis.Redis.from_url(self.options["url"], **self.client_kwargs())
        try:
            await client.ping()  # connect now: a bad host fails boot, not the first request
        except BaseException:
            await client.aclose()
            raise
        return client

    async def _disconnect(self, native: Any) -> None:
        await native.aclose()

    async def health(self) -> bool:
        client = self.native
        return bool(await self.instrumented("ping", client.ping))

    def stats(self) -> dict[str, Any]:
        stats = super().stats()
        pool = getattr(self._native, "connection_pool", None)
        if pool is not None:
            stats["max_connections"] = pool.max_connections
        return stats
