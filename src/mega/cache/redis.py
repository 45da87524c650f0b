"""`redis` cache: JSON values on the client of a Redis connection (`services.redis.<alias>`).

    services = {"redis": {"main": {"url": "redis://127.0.0.1:6379/0"}},
                "caches": {"pages": {"driver": "redis", "redis": "main", "prefix": "pages:"}}}

`redis` names the connection; it may be left out when exactly one is declared. The connection owns
the client (pool, timeouts, retries): this cache neither opens nor closes it, and `native` is it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from redis.exceptions import ResponseError

from mega.cache.contract import Cache, CacheError

if TYPE_CHECKING:
    import redis.asyncio as aioredis

    from mega.adapters._manager import AdapterManager
    from mega.adapters.redis import RedisConnection

_CLEAR_BATCH = 500
_CONNECTION_OPTIONS = ("url", "host", "port", "db", "database", "user", "username", "password")


class RedisCache(Cache):
    """Options: `redis` (the connection alias), `prefix`."""

    driver = "redis"
    driver_options = frozenset({"redis"})

    def __init__(self, alias: str, options: dict[str, Any], *,
                 connection: RedisConnection | None = None) -> None:
        moved = [name for name in _CONNECTION_OPTIONS if name in options]
        if moved:
            raise CacheError("cache.invalid_option", f"cache '{alias}' (redis) has connection option "
                             f"'{moved[0]}': a redis cache takes its connection from services.redis",
                             details={"alias": alias, "option": moved[0]},
                             hint="declare the connection as services.redis.<name> = {'url': "
                                  "'redis://127.0.0.1:6379/0'} and set 'redis': '<name>' on the cache")
        super().__init__(alias, options)
        name = self.options.get("redis")
        if name is not None and (not isinstance(name, str) or not name):
            raise self._option_error("redis", f"must name a services.redis entry, got {name!r}")
        self.connection = connection

    def bind(self, adapters: AdapterManager) -> None:
        name: str | None = self.options.get("redis")
        if name is None:
            declared = adapters.aliases("redis")
            if len(declared) != 1:
                raise CacheError("cache.invalid_option", f"cache '{self.alias}' (redis) needs 'redis': "
                                 f"'<connection alias>' ({len(declared)} declared in services.redis: "
                                 f"{', '.join(declared) or '(none)'})",
                                 details={"alias": self.alias, "option": "redis", "declared": declared},
                                 hint="declare services.redis.<name> = {'url': 'redis://127.0.0.1:6379/0'}"
                                      " and name it: 'redis': '<name>'")
            name = declared[0]
        self.connection = adapters.get("redis", name)  # adapter.not_found names the declared ones

    def target(self) -> str:
        return "(unbound)" if self.connection is None else self.connection.target()

    async def _connect(self) -> aioredis.Redis:
        if self.connection is None:
            raise CacheError("cache.invalid_option", f"cache '{self.alias}' (redis) has no connection",
                             details={"alias": self.alias},
                             hint="build it through the adapters (services.caches) or pass connection=")
        client: aioredis.Redis = self.connection.native  # adapter.not_connected when it is not
        return client

    async def _disconnect(self, native: Any) -> None:
        """Nothing: the connection owns the client."""

    async def health(self) -> bool:
        client = self.native
        return bool(await self._call("ping", client.ping))

    def stats(self) -> dict[str, Any]:
        return {**super().stats(), "redis": None if self.connection is None else self.connection.alias}

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


def _ms(ttl: float) -> int:
    return max(1, round(ttl * 1000))


def _glob_escape(text: str) -> str:
    """`text` matched literally by SCAN MATCH."""
    return "".join("\\" + ch if ch in "*?[]\\" else ch for ch in text)
