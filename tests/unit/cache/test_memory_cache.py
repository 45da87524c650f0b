"""The memory driver beyond the contract: LRU bound, periodic sweep, options, lifecycle."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from mega.cache.memory import MemoryCache
from mega.errors import MegaError


@pytest.fixture
async def make() -> AsyncIterator[Any]:
    made: list[MemoryCache] = []

    async def factory(**options: Any) -> MemoryCache:
        cache = MemoryCache("mem", options)
        await cache.connect()
        made.append(cache)
        return cache

    yield factory
    for cache in made:
        await cache.disconnect()


async def test_least_recently_used_entries_are_evicted(make: Any) -> None:
    cache = await make(max_entries=3)
    await cache.set_many({"a": 1, "b": 2, "c": 3})
    assert await cache.get("a") == 1  # a is now the most recent: b is the oldest
    await cache.set("d", 4)
    assert await cache.has("b") is False
    assert await cache.get_many(["a", "c", "d"]) == {"a": 1, "c": 3, "d": 4}
    await cache.incr("c")  # writes count as use too
    await cache.set("e", 5)
    assert await cache.has("a") is False
    stats = cache.stats()
    assert stats["entries"] == 3 and stats["max_entries"] == 3 and stats["evictions"] == 2


async def test_the_default_bound_is_ten_thousand(make: Any) -> None:
    cache = await make()
    assert cache.max_entries == 10_000
    await cache.set_many({f"k{i}": i for i in range(10_005)})
    assert cache.stats()["entries"] == 10_000
    assert await cache.has("k4") is False and await cache.has("k5") is True


async def test_the_sweep_drops_expired_entries_nobody_reads(make: Any) -> None:
    cache = await make(sweep_interval=0.05)
    await cache.set("short", 1, ttl=0.05)
    await cache.set("long", 2, ttl=60)
    await asyncio.sleep(0.25)
    assert cache.stats()["entries"] == 1  # swept, not read


async def test_without_the_sweep_expiry_is_lazy(make: Any) -> None:
    cache = await make(sweep_interval=0)
    await cache.set("short", 1, ttl=0.05)
    await asyncio.sleep(0.1)
    assert cache.stats()["entries"] == 1
    assert await cache.get("short") is None
    assert cache.stats()["entries"] == 0


async def test_disconnect_stops_the_sweep_and_empties_the_cache(make: Any) -> None:
    cache = await make(sweep_interval=0.01)
    sweeper = cache._sweeper
    await cache.set("k", 1)
    await cache.disconnect()
    assert sweeper is not None and sweeper.done()
    assert cache.stats()["entries"] == 0
    with pytest.raises(MegaError) as info:
        await cache.get("k")
    assert info.value.code == "adapter.not_connected"


async def test_use_before_connect_says_so() -> None:
    cache = MemoryCache("early", {})
    with pytest.raises(MegaError) as info:
        await cache.set("k", 1)
    assert info.value.code == "adapter.not_connected"
    assert "early" in info.value.message


@pytest.mark.parametrize(("options", "fragment"), [
    ({"max_entries": 0}, "max_entries"),
    ({"max_entries": "10"}, "max_entries"),
    ({"max_entries": True}, "max_entries"),
    ({"sweep_interval": -1}, "sweep_interval"),
    ({"prefix": 3}, "prefix"),
])
def test_bad_options_are_refused(options: dict[str, Any], fragment: str) -> None:
    with pytest.raises(MegaError) as info:
        MemoryCache("mem", options)
    assert info.value.code == "cache.invalid_option"
    assert fragment in info.value.message and "'mem'" in info.value.message


def test_unknown_options_get_a_did_you_mean() -> None:
    with pytest.raises(MegaError) as info:
        MemoryCache("mem", {"max_entrie": 5})
    assert info.value.code == "cache.invalid_option"
    assert "max_entrie" in info.value.message
    assert info.value.hint is not None and "did you mean 'max_entries'" in info.value.hint


def test_stats_and_target() -> None:
    cache = MemoryCache("mem", {"prefix": "p:"})
    stats = cache.stats()
    assert stats["driver"] == "memory" and stats["target"] == "memory" and stats["prefix"] == "p:"
    assert stats["connected"] is False
