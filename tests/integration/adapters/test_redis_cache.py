"""services.redis connections and the redis cache on them, against a real Redis: options, the shared
client, binding by alias, failures."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis

from mega.adapters._manager import AdapterManager
from mega.adapters.redis import RedisConnection
from mega.cache.redis import RedisCache
from mega.errors import MegaError
from tests.integration.adapters._services import (
    TcpProxy,
    close_cache,
    open_cache,
    redis_address,
    require_redis,
)

pytestmark = pytest.mark.integration


@pytest.fixture
async def make() -> AsyncIterator[Any]:
    require_redis()
    made: list[RedisCache] = []

    async def factory(**options: Any) -> RedisCache:
        options.setdefault("prefix", f"t{uuid.uuid4().hex[:10]}:")
        cache = await open_cache("redis", options, "rc")
        assert isinstance(cache, RedisCache)
        made.append(cache)
        return cache

    yield factory
    for cache in made:
        await close_cache(cache, clear=bool(cache.prefix))


# -- the connection ---------------------------------------------------------------------------------


async def test_client_options_pass_through_to_the_pool() -> None:
    connection = RedisConnection("main", {"url": require_redis(), "max_connections": 5})
    await connection.connect()
    try:
        assert isinstance(connection.native, aioredis.Redis)
        assert connection.native.connection_pool.max_connections == 5
        assert await connection.health() is True
        assert connection.stats()["max_connections"] == 5 and connection.family == "redis"
    finally:
        await connection.disconnect()
    assert not connection.connected


@pytest.mark.parametrize(("options", "fragment"), [
    ({}, "'url' must be a URL such as"),
    ({"url": 6379}, "'url' must be a URL such as"),
    ({"url": "http://x"}, "'url' must be a URL such as"),
    ({"url": "redis://x", "max_conections": 5}, "did you mean 'max_connections'"),
    ({"url": "redis://x", "decode_responses": True}, "unknown option 'decode_responses'"),
    ({"url": "redis://x", "host": "h"}, "put host, port, db and password in the url"),
])
def test_bad_connection_options_are_refused(options: dict[str, Any], fragment: str) -> None:
    with pytest.raises(MegaError) as info:
        RedisConnection("main", options)
    assert info.value.code == "adapter.invalid_option"
    assert info.value.message.startswith("services.redis.main: ")
    assert fragment in f"{info.value.message} {info.value.hint}"


def test_a_url_with_a_password_is_never_shown() -> None:
    with pytest.raises(MegaError) as info:
        RedisConnection("main", {"url": "http://app:s3cret-pw@x"})
    assert "s3cret-pw" not in str(info.value)
    connection = RedisConnection("main", {"url": "redis://app:s3cret-pw@127.0.0.1:1/0"})
    assert "s3cret-pw" not in repr(connection) and "s3cret-pw" not in str(connection.stats())


async def test_a_dead_server_fails_connect_without_the_password() -> None:
    connection = RedisConnection("sessions", {"url": "redis://app:s3cret-pw@127.0.0.1:1/0"})
    with pytest.raises(MegaError) as info:
        await connection.connect()
    err = info.value
    assert err.code == "adapter.connect_failed"
    text = f"{err} {err.details} {err.hint}"
    assert "sessions" in text and "127.0.0.1:1" in text
    assert "s3cret-pw" not in text
    assert not connection.connected


# -- the cache on it --------------------------------------------------------------------------------


async def test_native_is_the_connection_client_and_sees_prefixed_json(make: Any) -> None:
    cache = await make()
    assert cache.native is cache.connection.native
    await cache.set("user", {"id": 7}, ttl=30)
    client = cache.native
    assert await client.get(cache.prefix + "user") == b'{"id":7}'
    assert 0 < await client.pttl(cache.prefix + "user") <= 30_000
    assert cache.stats()["redis"] == "rc"


async def test_a_value_written_around_the_cache_is_reported(make: Any) -> None:
    cache = await make()
    await cache.native.set(cache.prefix + "raw", b"not json")
    with pytest.raises(MegaError) as info:
        await cache.get("raw")
    assert info.value.code == "cache.invalid_value" and "'raw'" in info.value.message


async def test_clear_only_deletes_its_prefix(make: Any) -> None:
    star = await make(prefix=f"x{uuid.uuid4().hex[:6]}*[a]:")  # glob characters are literal
    neighbour = await make(prefix=star.prefix.replace("*[a]", "Z[a]"))
    await star.set_many({f"k{i}": i for i in range(1200)})  # more than one SCAN batch
    await neighbour.set("k1", "stays")
    await star.clear()
    assert await star.get_many([f"k{i}" for i in range(1200)]) == {}
    assert await neighbour.get("k1") == "stays"


async def test_clear_without_a_prefix_is_refused(make: Any) -> None:
    cache = await make(prefix="")
    key = f"t{uuid.uuid4().hex}"
    await cache.set(key, 1)
    try:
        with pytest.raises(MegaError) as info:
            await cache.clear()
        assert info.value.code == "cache.unscoped_clear"
        assert await cache.get(key) == 1
    finally:
        await cache.delete(key)


async def test_disconnecting_the_cache_leaves_the_shared_client_open(make: Any) -> None:
    cache = await make()
    other = RedisCache("other", {"prefix": cache.prefix + "o:"}, connection=cache.connection)
    await other.connect()
    await other.disconnect()
    await cache.set("k", 1)  # the client still works
    assert await cache.get("k") == 1


async def test_a_lost_server_raises_cache_unavailable_then_recovers() -> None:
    require_redis()
    proxy = await TcpProxy(*redis_address()).start()
    cache = await open_cache("redis", {"prefix": f"t{uuid.uuid4().hex[:10]}:"}, "rate",
                             redis={"url": f"redis://127.0.0.1:{proxy.port}/0", "socket_timeout": 2})
    try:
        await cache.set("k", 1)
        assert await cache.health() is True
        await proxy.cut()
        with pytest.raises(MegaError) as info:
            await cache.get("k")
        err = info.value
        assert err.code == "cache.unavailable" and err.status == 503
        assert "'rate'" in err.message and "127.0.0.1" not in err.message  # the host stays off the wire
        assert err.details == {"alias": "rate", "driver": "redis", "operation": "get"}
        with pytest.raises(MegaError):
            await cache.health()
        assert cache.stats()["errors"] >= 1
        await proxy.resume()
        assert await cache.get("k") == 1  # the client reconnects by itself
    finally:
        await close_cache(cache)
        await proxy.cut()


# -- binding by alias -------------------------------------------------------------------------------


@pytest.mark.parametrize("option", ["url", "host", "password", "db"])
def test_connection_options_on_a_redis_cache_are_refused_with_a_hint(option: str) -> None:
    with pytest.raises(MegaError) as info:
        RedisCache("rc", {option: "x"})
    err = info.value
    assert err.code == "cache.invalid_option" and f"connection option '{option}'" in err.message
    assert "services.redis.<name> = {'url':" in (err.hint or "")


def test_an_unknown_option_is_refused() -> None:
    with pytest.raises(MegaError) as info:
        RedisCache("rc", {"redsi": "main"})
    assert info.value.code == "cache.invalid_option" and "did you mean 'redis'" in (info.value.hint or "")


def test_the_only_connection_is_taken_when_none_is_named() -> None:
    manager = AdapterManager({"redis": {"main": {"url": "redis://127.0.0.1:6379/0"}},
                              "caches": {"pages": {"driver": "redis"}}})
    cache = manager.cache("pages")
    assert isinstance(cache, RedisCache) and cache.connection is manager.get("redis", "main")


@pytest.mark.parametrize("declared", [{}, {"a": {"url": "redis://h/0"}, "b": {"url": "redis://h/1"}}])
def test_a_cache_without_redis_needs_exactly_one_connection(declared: dict[str, Any]) -> None:
    with pytest.raises(MegaError) as info:
        AdapterManager({"redis": declared, "caches": {"pages": {"driver": "redis"}}})
    err = info.value
    assert err.code == "cache.invalid_option" and "needs 'redis': '<connection alias>'" in err.message
    assert f"{len(declared)} declared in services.redis" in err.message


def test_an_undeclared_connection_alias_names_the_declared_ones() -> None:
    with pytest.raises(MegaError) as info:
        AdapterManager({"redis": {"main": {"url": "redis://h/0"}},
                        "caches": {"pages": {"driver": "redis", "redis": "mian"}}})
    err = info.value
    assert err.code == "adapter.not_found" and "no redis named 'mian'; declared: main" in err.message
    assert "did you mean 'main'?" in (err.hint or "") and "services.redis" in (err.hint or "")


async def test_the_manager_connects_redis_first_and_closes_it_last() -> None:
    url = require_redis()
    manager = AdapterManager({"redis": {"main": {"url": url}},
                              "caches": {"pages": {"driver": "redis", "prefix": "t-mgr:"}}})
    await manager.connect_all()
    try:
        assert manager.redis("main") is manager.cache("pages").native
        assert manager.redis() is manager.redis("main")  # the default connection
        assert [a.family for a in manager.all()][:1] == ["redis"]
    finally:
        await manager.disconnect_all()
    assert not manager.get("redis", "main").connected
