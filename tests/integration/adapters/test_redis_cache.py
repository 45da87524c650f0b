"""The redis driver beyond the contract, against a real Redis: options, native client, failures."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import redis.asyncio as aioredis

from mega.cache.redis import RedisCache
from mega.errors import MegaError
from tests.integration.adapters._services import TcpProxy, redis_address, require_redis

pytestmark = pytest.mark.integration


@pytest.fixture
async def make() -> AsyncIterator[Any]:
    require_redis()
    made: list[RedisCache] = []

    async def factory(**options: Any) -> RedisCache:
        options.setdefault("prefix", f"t{uuid.uuid4().hex[:10]}:")
        cache = RedisCache("rc", options)
        await cache.connect()
        made.append(cache)
        return cache

    yield factory
    for cache in made:
        if cache.connected and cache.prefix:
            await cache.clear()
        await cache.disconnect()


async def test_discrete_fields_connect(make: Any) -> None:
    host, port = redis_address()
    db = int(urlsplit(require_redis()).path.strip("/") or 0)
    cache = await make(host=host, port=port, database=db, max_connections=5)
    await cache.set("k", 1)
    assert await cache.get("k") == 1
    assert cache.target() == f"redis://{host}:{port}/{db}"
    assert cache.native.connection_pool.max_connections == 5


async def test_native_is_the_redis_client_and_sees_prefixed_json(make: Any) -> None:
    cache = await make(url=require_redis())
    await cache.set("user", {"id": 7}, ttl=30)
    client = cache.native
    assert isinstance(client, aioredis.Redis)
    assert await client.get(cache.prefix + "user") == b'{"id":7}'
    assert 0 < await client.pttl(cache.prefix + "user") <= 30_000
    await client.rpush(cache.prefix + "history", b"a", b"b")  # what the adapter does not wrap
    assert await client.lrange(cache.prefix + "history", 0, -1) == [b"a", b"b"]


async def test_a_value_written_around_the_cache_is_reported(make: Any) -> None:
    cache = await make(url=require_redis())
    await cache.native.set(cache.prefix + "raw", b"not json")
    with pytest.raises(MegaError) as info:
        await cache.get("raw")
    assert info.value.code == "cache.invalid_value" and "'raw'" in info.value.message


async def test_clear_only_deletes_its_prefix(make: Any) -> None:
    url = require_redis()
    star = await make(url=url, prefix=f"x{uuid.uuid4().hex[:6]}*[a]:")  # glob characters are literal
    neighbour = await make(url=url, prefix=star.prefix.replace("*[a]", "Z[a]"))
    await star.set_many({f"k{i}": i for i in range(1200)})  # more than one SCAN batch
    await neighbour.set("k1", "stays")
    await star.clear()
    assert await star.get_many([f"k{i}" for i in range(1200)]) == {}
    assert await neighbour.get("k1") == "stays"


async def test_clear_without_a_prefix_is_refused(make: Any) -> None:
    cache = await make(url=require_redis(), prefix="")
    key = f"t{uuid.uuid4().hex}"
    await cache.set(key, 1)
    try:
        with pytest.raises(MegaError) as info:
            await cache.clear()
        assert info.value.code == "cache.unscoped_clear"
        assert await cache.get(key) == 1
    finally:
        await cache.delete(key)


async def test_a_dead_server_fails_connect_without_the_password() -> None:
    cache = RedisCache("sessions", {"url": "redis://app:s3cret-pw@127.0.0.1:1/0"})
    with pytest.raises(MegaError) as info:
        await cache.connect()
    err = info.value
    assert err.code == "adapter.connect_failed"
    text = f"{err} {err.details} {err.hint}"
    assert "sessions" in text and "127.0.0.1:1" in text
    assert "s3cret-pw" not in text
    assert "s3cret-pw" not in repr(cache) and "s3cret-pw" not in str(cache.stats())
    assert not cache.connected


async def test_a_lost_server_raises_cache_unavailable_then_recovers() -> None:
    require_redis()
    proxy = await TcpProxy(*redis_address()).start()
    cache = RedisCache("rate", {"host": "127.0.0.1", "port": proxy.port, "socket_timeout": 2,
                                "prefix": f"t{uuid.uuid4().hex[:10]}:"})
    await cache.connect()
    try:
        await cache.set("k", 1)
        assert await cache.health() is True
        await proxy.cut()
        with pytest.raises(MegaError) as info:
            await cache.get("k")
        err = info.value
        assert err.code == "cache.unavailable" and err.status == 503
        assert "'rate'" in err.message and f"127.0.0.1:{proxy.port}" in err.message
        assert err.details == {"alias": "rate", "driver": "redis", "operation": "get"}
        with pytest.raises(MegaError):
            await cache.health()
        assert cache.stats()["errors"] >= 1
        await proxy.resume()
        assert await cache.get("k") == 1  # the client reconnects by itself
        await cache.clear()
    finally:
        await cache.disconnect()
        await proxy.cut()


@pytest.mark.parametrize(("options", "fragment"), [
    ({"max_conections": 5}, "did you mean 'max_connections'"),
    ({"decode_responses": True}, "options:"),
    ({"url": 6379}, "url"),
])
def test_bad_options_are_refused(options: dict[str, Any], fragment: str) -> None:
    with pytest.raises(MegaError) as info:
        RedisCache("rc", options)
    assert info.value.code == "cache.invalid_option"
    assert fragment in f"{info.value.message} {info.value.hint}"
