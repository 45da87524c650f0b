"""`redis` cache: redis-py's asyncio client; `native` is that client (bytes in, bytes out).

Connection by `url` (`redis://[user:password@]host:port/db`, `rediss://` for TLS) or discrete
fields (`host`, `port`, `user`/`username`, `password`, `database`/`db`); every other option of
`redis.asyncio.Redis` (pool and socket settings: `max_connections`, `socket_timeout`, ...) passes
through to the client.
"""

from __future__ import annotations

import inspect
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from mega.adapters.base import redact_url
from mega.cache.contract import Cache, CacheError

# Options mega reads itself; the client's own keyword arguments are accepted as they are.
_OWN = frozenset({"url", "user", "database"})
# The client must hand back bytes (values are JSON bytes) and own its pool.
_REFUSED = frozenset({"decode_responses", "connection_pool", "self"})
_CLIENT_OPTIONS = frozenset(inspect.signature(aioredis.Redis.__init__).parameters) - _REFUSED
_CONNECT_TIMEOUT = 5.0
_RETRIES = 3  # redis-py retries 10 times with up to 10 s between: seconds of stall per call in an outage
_CLEAR_BATCH = 500


class RedisCache(Cache):
    driver = "redis"
    driver_options = _OWN | _CLIENT_OPTIONS

    def __init__(self, alias: str, options: dict[str, Any]) -> None:
        super().__init__(alias, options)
        url = self.options.get("url")
        if url is not None and not isinstance(url, str):
            raise self._option_error("url", "must be a string such as 'redis://127.0.0.1:6379/0'")

    def target(self) -> str:
        url = self.options.get("url")
        if isinstance(url, str):
            return redact_url(url)
        host = self.options.get("host", "localhost")
        port = self.options.get("port", 6379)
        db = self.options.get("database", self.options.get("db", 0))
        return f"redis://{host}:{port}/{db}"

    def client_kwargs(self) -> dict[str, Any]:
        """What the redis client is built with (secrets included: never log this)."""
        kwargs: dict[str, Any] = {"socket_connect_timeout": _CONNECT_TIMEOUT, "retry": _retry()}
        for name, value in self.options.items():
            if name == "user":
                kwargs["username"] = value
            elif name == "database":
                kwargs["db"] = value
            elif name not in ("url", "prefix"):
                kwargs[name] = value
        return kwargs

    async def _connect(self) -> aioredis.Redis:
        url = self.options.get("url")
        kwargs = self.client_kwargs()
        client = aioredis.Redis.from_url(url, **kwargs) if url else aioredis.Redis(**kwargs)
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
        return bool(await self._call("ping", client.ping))

    def stats(self) -> dict[str, Any]:
        return {**super().stats(), "server": self.target()}

    # -- primitives --------------------------------------------------------------------------

    async def _do_get(self, key: str) -> bytes | None:
        value: bytes | None = await self.native.get(key)
        return value

    async def _do_set(self, key: str, raw: bytes, ttl: float | None) -> None:
        await self.native.set(key, raw, px=_ms(ttl) if ttl is not None else None)

    async def _do_delete(self, key: str) -> bool:
        return bool(await self.native.delete(key))

    async def _do_has(self, key: str) -> bool:
        return bool(await self.native.exists(key))

    async def _do_incr(self, key: str, by: int, user_key: str) -> int:
        try:
            return int(await self.native.incrby(key, by))
        except ResponseError as exc:  # "not an integer or out of range" / "would overflow"
            raise CacheError("cache.not_integer", f"cannot increment key {user_key!r} by {by}: {exc}",
                             details={"key": user_key, "by": by},
                             hint="incr() works on keys holding an integer, or none") from exc

    async def _do_expire(self, key: str, ttl: float) -> bool:
        return bool(await self.native.pexpire(key, _ms(ttl)))

    async def _do_ttl(self, key: str) -> float | None:
        ms = int(await self.native.pttl(key))
        return None if ms < 0 else ms / 1000.0  # -1: no expiry, -2: no key

    async def _do_get_many(self, keys: list[str]) -> list[bytes | None]:
        values: list[bytes | None] = await self.native.mget(keys)
        return values

    async def _do_set_many(self, items: list[tuple[str, bytes]], ttl: float | None) -> None:
        if ttl is None:
            await self.native.mset(dict(items))
            return
        ms = _ms(ttl)
        async with self.native.pipeline(transaction=True) as pipe:
            for key, raw in items:
                pipe.set(key, raw, px=ms)
            await pipe.execute()

    async def _do_clear(self) -> None:
        if not self.prefix:
            # Without a prefix this cache shares the database with locks, sessions and others.
            raise CacheError("cache.unscoped_clear", f"cache '{self.alias}' has no prefix: clear() would "
                             "delete every key of the Redis database", details={"alias": self.alias},
                             hint="give the cache a 'prefix' option, or call native.flushdb() if you "
                             "mean the whole database")
        client = self.native
        batch: list[bytes] = []
        async for key in client.scan_iter(match=_glob_escape(self.prefix) + "*", count=1000):
            batch.append(key)
            if len(batch) >= _CLEAR_BATCH:
                await client.unlink(*batch)
                batch.clear()
        if batch:
            await client.unlink(*batch)


def _retry() -> Retry:
    """A short retry (~0.4 s in all) that rides over a blip but fails fast when Redis is down."""
    return Retry(ExponentialWithJitterBackoff(base=0.05, cap=0.5), _RETRIES,
                 supported_errors=(RedisConnectionError, RedisTimeoutError))


def _ms(ttl: float) -> int:
    return max(1, round(ttl * 1000))


def _glob_escape(text: str) -> str:
    """`text` matched literally by SCAN MATCH."""
    return "".join("\\" + ch if ch in "*?[]\\" else ch for ch in text)
