"""The cache contract suite. Run it against any `Cache` driver:

    from mega.testing.contracts.cache import CacheContract

    class TestMyCache(CacheContract):
        @pytest_asyncio.fixture
        async def cache_factory(self):
            made = []
            async def make(prefix):
                cache = MyCache("test", {"prefix": prefix})
                await cache.connect()
                made.append(cache)
                return cache
            yield make
            for cache in made:
                await cache.clear()
                await cache.disconnect()

`cache_factory(prefix)` returns a connected cache whose keys start with `prefix`; the suite calls it
with a fresh prefix per test, so a shared backend needs no flushing. Async tests: pytest-asyncio.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import pytest_asyncio

from mega.cache.contract import Cache
from mega.errors import MegaError

CacheFactory = Callable[[str], Awaitable[Cache]]

SHORT_TTL = 0.2
PAST_TTL = 0.35  # sleep this long to see SHORT_TTL expire

JSON_VALUES: list[Any] = [
    {"name": "ada", "tags": ["x", "y"], "nested": {"n": 1, "none": None}},
    [1, "two", 3.5, True, None, {"k": []}],
    "text with unicode: 한글 ✓",
    "",
    0,
    -42,
    2**53,
    3.25,
    True,
    False,
    None,
    {},
    [],
]


def fresh_prefix() -> str:
    return f"t{uuid.uuid4().hex[:12]}:"


async def expect_code(code: str, call: Awaitable[Any]) -> MegaError:
    with pytest.raises(MegaError) as info:
        await call
    assert info.value.code == code, f"expected {code}, got {info.value.code}: {info.value}"
    return info.value


@pytest.mark.asyncio
class CacheContract:
    """Every cache driver behaves like this."""

    @pytest_asyncio.fixture
    async def cache(self, cache_factory: CacheFactory) -> Cache:
        return await cache_factory(fresh_prefix())

    # -- get / set / delete / has --------------------------------------------------------------

    async def test_a_missing_key_gives_the_default(self, cache: Cache) -> None:
        assert await cache.get("nope") is None
        assert await cache.get("nope", "fallback") == "fallback"
        assert await cache.has("nope") is False

    @pytest.mark.parametrize("value", JSON_VALUES, ids=lambda v: type(v).__name__)
    async def test_json_values_round_trip(self, cache: Cache, value: Any) -> None:
        await cache.set("k", value)
        got = await cache.get("k", "MISS")
        assert got == value and type(got) is type(value)

    async def test_tuples_come_back_as_lists(self, cache: Cache) -> None:
        await cache.set("t", (1, 2))
        assert await cache.get("t") == [1, 2]

    async def test_a_stored_none_is_not_a_miss(self, cache: Cache) -> None:
        await cache.set("n", None)
        assert await cache.has("n") is True
        assert await cache.get("n", "MISS") is None

    async def test_values_are_copies(self, cache: Cache) -> None:
        value = {"list": [1]}
        await cache.set("v", value)
        value["list"].append(2)
        got = await cache.get("v")
        got["list"].append(3)
        assert await cache.get("v") == {"list": [1]}

    async def test_set_overwrites(self, cache: Cache) -> None:
        await cache.set("k", 1)
        await cache.set("k", {"a": 2})
        assert await cache.get("k") == {"a": 2}

    async def test_delete_says_whether_the_key_existed(self, cache: Cache) -> None:
        await cache.set("k", "v")
        assert await cache.delete("k") is True
        assert await cache.delete("k") is False
        assert await cache.has("k") is False
        assert await cache.get("k") is None

    async def test_non_json_values_are_refused(self, cache: Cache) -> None:
        await expect_code("cache.invalid_value", cache.set("k", object()))
        await expect_code("cache.invalid_value", cache.set("k", {1, 2}))
        assert await cache.has("k") is False  # nothing half-written

    async def test_keys_must_be_strings(self, cache: Cache) -> None:
        await expect_code("cache.invalid_key", cache.set(1, "v"))  # type: ignore[arg-type]
        await expect_code("cache.invalid_key", cache.get(b"k"))  # type: ignore[arg-type]

    async def test_keys_are_exact(self, cache: Cache) -> None:
        keys = ["a", "A", "a ", "a:b", "a*", "ü", "x" * 300, ""]
        for i, key in enumerate(keys):
            await cache.set(key, i)
        for i, key in enumerate(keys):
            assert await cache.get(key) == i

    # -- expiry -------------------------------------------------------------------------------

    async def test_a_key_expires_after_its_ttl(self, cache: Cache) -> None:
        await cache.set("k", "v", ttl=SHORT_TTL)
        await cache.set("forever", "v")
        assert await cache.get("k") == "v"
        await asyncio.sleep(PAST_TTL)
        assert await cache.get("k") is None
        assert await cache.has("k") is False
        assert await cache.get("forever") == "v"

    async def test_ttl_reports_the_time_left(self, cache: Cache) -> None:
        await cache.set("k", "v", ttl=10)
        left = await cache.ttl("k")
        assert left is not None and 9.0 < left <= 10.0
        await cache.set("fractional", "v", ttl=1.5)
        left = await cache.ttl("fractional")
        assert left is not None and 1.0 < left <= 1.5

    async def test_ttl_is_none_without_expiry_or_key(self, cache: Cache) -> None:
        await cache.set("k", "v")
        assert await cache.ttl("k") is None
        assert await cache.ttl("missing") is None

    async def test_set_without_ttl_drops_the_old_expiry(self, cache: Cache) -> None:
        await cache.set("k", "v", ttl=SHORT_TTL)
        await cache.set("k", "w")
        await asyncio.sleep(PAST_TTL)
        assert await cache.get("k") == "w"

    async def test_expire_sets_a_new_ttl(self, cache: Cache) -> None:
        await cache.set("k", "v")
        assert await cache.expire("k", SHORT_TTL) is True
        left = await cache.ttl("k")
        assert left is not None and 0 < left <= SHORT_TTL
        await asyncio.sleep(PAST_TTL)
        assert await cache.has("k") is False

    async def test_expire_extends(self, cache: Cache) -> None:
        await cache.set("k", "v", ttl=SHORT_TTL)
        assert await cache.expire("k", 10) is True
        await asyncio.sleep(PAST_TTL)
        assert await cache.get("k") == "v"

    async def test_expire_on_a_missing_or_expired_key_is_false(self, cache: Cache) -> None:
        assert await cache.expire("missing", 10) is False
        await cache.set("k", "v", ttl=SHORT_TTL)
        await asyncio.sleep(PAST_TTL)
        assert await cache.expire("k", 10) is False
        assert await cache.has("k") is False

    @pytest.mark.parametrize("ttl", [0, -1, -0.5, "10", float("nan"), float("inf"), True, [1]])
    async def test_invalid_ttls_are_refused(self, cache: Cache, ttl: Any) -> None:
        await expect_code("cache.invalid_ttl", cache.set("k", "v", ttl=ttl))
        await expect_code("cache.invalid_ttl", cache.set_many({"k": "v"}, ttl=ttl))
        assert await cache.has("k") is False
        await cache.set("k", "v")
        await expect_code("cache.invalid_ttl", cache.expire("k", ttl))
        assert await cache.ttl("k") is None

    # -- counters -----------------------------------------------------------------------------

    async def test_incr_counts_from_zero(self, cache: Cache) -> None:
        assert await cache.incr("n") == 1
        assert await cache.incr("n") == 2
        assert await cache.incr("n", 10) == 12
        assert await cache.incr("n", -20) == -8
        assert await cache.get("n") == -8

    async def test_incr_continues_a_stored_integer(self, cache: Cache) -> None:
        await cache.set("n", 41)
        assert await cache.incr("n") == 42

    async def test_incr_keeps_the_expiry(self, cache: Cache) -> None:
        await cache.set("n", 1, ttl=10)
        await cache.incr("n")
        left = await cache.ttl("n")
        assert left is not None and 9.0 < left <= 10.0

    async def test_incr_restarts_an_expired_counter(self, cache: Cache) -> None:
        await cache.set("n", 5, ttl=SHORT_TTL)
        await asyncio.sleep(PAST_TTL)
        assert await cache.incr("n") == 1
        assert await cache.ttl("n") is None

    @pytest.mark.parametrize("value", ["abc", "5", 1.5, True, None, [1], {"n": 1}])
    async def test_incr_on_a_non_integer_is_refused(self, cache: Cache, value: Any) -> None:
        await cache.set("k", value)
        await expect_code("cache.not_integer", cache.incr("k"))
        got = await cache.get("k", "MISS")
        assert got == value and type(got) is type(value)  # left as it was

    async def test_incr_beyond_64_bits_is_refused(self, cache: Cache) -> None:
        await cache.set("k", 2**63 - 1)
        await expect_code("cache.not_integer", cache.incr("k"))
        assert await cache.get("k") == 2**63 - 1

    @pytest.mark.parametrize("by", [1.5, "1", True, None])
    async def test_incr_steps_are_integers(self, cache: Cache, by: Any) -> None:
        await expect_code("cache.invalid_value", cache.incr("k", by))
        assert await cache.has("k") is False

    async def test_concurrent_incr_counts_exactly(self, cache: Cache) -> None:
        results = await asyncio.gather(*(cache.incr("hits") for _ in range(100)))
        assert sorted(results) == list(range(1, 101))
        assert await cache.get("hits") == 100

    # -- many ---------------------------------------------------------------------------------

    async def test_get_many_returns_the_keys_that_exist(self, cache: Cache) -> None:
        await cache.set("a", 1)
        await cache.set("n", None)
        got = await cache.get_many(["a", "missing", "n", "a"])
        assert got == {"a": 1, "n": None}
        assert await cache.get_many([]) == {}

    async def test_set_many_stores_all(self, cache: Cache) -> None:
        await cache.set_many({"a": 1, "b": [2], "c": {"x": None}})
        assert await cache.get_many(["a", "b", "c"]) == {"a": 1, "b": [2], "c": {"x": None}}
        assert await cache.ttl("a") is None
        await cache.set_many({})

    async def test_set_many_with_ttl(self, cache: Cache) -> None:
        await cache.set_many({"a": 1, "b": 2}, ttl=SHORT_TTL)
        left = await cache.ttl("b")
        assert left is not None and 0 < left <= SHORT_TTL
        await asyncio.sleep(PAST_TTL)
        assert await cache.get_many(["a", "b"]) == {}

    async def test_set_many_refuses_before_writing(self, cache: Cache) -> None:
        await expect_code("cache.invalid_value", cache.set_many({"a": 1, "b": object()}))
        assert await cache.has("a") is False

    # -- namespaces ---------------------------------------------------------------------------

    async def test_clear_empties_this_cache(self, cache: Cache) -> None:
        await cache.set_many({"a": 1, "b": 2})
        await cache.set("c", 3, ttl=10)
        await cache.clear()
        assert await cache.get_many(["a", "b", "c"]) == {}
        await cache.set("a", "again")
        assert await cache.get("a") == "again"

    async def test_prefixes_isolate_two_caches(self, cache_factory: CacheFactory) -> None:
        left = await cache_factory(fresh_prefix())
        right = await cache_factory(fresh_prefix())
        await left.set("k", "left")
        await right.set("k", "right")
        assert await left.incr("n") == 1
        assert await right.has("n") is False
        assert await left.get("k") == "left" and await right.get("k") == "right"
        assert await right.delete("n") is False
        await left.clear()
        assert await left.has("k") is False
        assert await right.get("k") == "right"

    # -- adapter surface ----------------------------------------------------------------------

    async def test_is_a_connected_cache_adapter(self, cache: Cache) -> None:
        assert isinstance(cache, Cache) and cache.family == "cache"
        assert cache.connected
        assert await cache.health()
        assert cache.native is not None

    async def test_stats_count_calls(self, cache: Cache) -> None:
        before = cache.stats()["calls"]
        await cache.set("k", 1)
        await cache.get("k")
        stats = cache.stats()
        assert stats["calls"] == before + 2
        assert {"alias", "family", "driver", "connected", "target", "errors", "prefix"} <= set(stats)
        assert stats["family"] == "cache" and stats["driver"] == cache.driver

    async def test_observer_sees_each_operation(self, cache: Cache) -> None:
        seen: list[tuple[str, bool]] = []
        cache.observe = lambda adapter, op, seconds, error: seen.append((op, error is None))
        try:
            await cache.set("k", "v")
            await cache.get("k")
            await cache.set("s", "x")
            with pytest.raises(MegaError):
                await cache.incr("s")
        finally:
            cache.observe = None
        assert seen == [("set", True), ("get", True), ("set", True), ("incr", False)]
