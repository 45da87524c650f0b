"""The session store contract suite. Run it against any `SessionStore`:

    from mega.testing.contracts.sessions import SessionStoreContract

    class TestMyStore(SessionStoreContract):
        @pytest_asyncio.fixture
        async def store_factory(self):
            backend = await open_my_backend()
            yield lambda ttl=60.0: MyStore(backend, ttl=ttl)
            await backend.close()

`store_factory(ttl=...)` returns a started store; the stores of one test share one backend and one
key space (what one saves, another loads). Async tests: pytest-asyncio.
"""

from __future__ import annotations

import asyncio
import math
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import pytest_asyncio

from mega.errors import MegaError
from mega.sessions.store import SessionStore

StoreFactory = Callable[..., SessionStore]

TTL = 0.4
PAST_TTL = 0.9  # sleep this long to see TTL expire, with room for a busy machine
NESTED = {"user": 7, "name": "Änn 🎉", "flag": None, "ok": True, "ratio": 0.25, "empty": {}, "none": [],
          "cart": [{"sku": "x-1", "qty": 2, "tags": ["a", "b"]}, {"sku": "y", "qty": 1, "tags": []}],
          "deep": {"a": {"b": {"c": [1, [2, [3]]]}}}}
BAD_IDS = ["../etc/passwd", "../../etc/passwd/xxxxxxxxxxxx", "a" * 15, "a" * 21, "a" * 129,
           "has space" * 3, "",
           "a" * 24 + "/", "a" * 24 + "\n", "é" * 24, "a" * 24 + ".json", None, b"a" * 24]


def new_id() -> str:
    return secrets.token_urlsafe(32)


def every_method(store: SessionStore, sid: Any) -> dict[str, Callable[[], Awaitable[object]]]:
    return {"load": lambda: store.load(sid), "save": lambda: store.save(sid, {"a": 1}),
            "destroy": lambda: store.destroy(sid), "touch": lambda: store.touch(sid)}


@pytest.mark.asyncio
class SessionStoreContract:
    """Every session store behaves like this."""

    @pytest_asyncio.fixture
    async def store(self, store_factory: StoreFactory) -> SessionStore:
        return store_factory()

    # -- round trips -------------------------------------------------------------------------------

    async def test_nested_json_round_trips(self, store: SessionStore) -> None:
        sid = new_id()
        await store.save(sid, NESTED)
        assert await store.load(sid) == NESTED
        await store.save(sid, {"replaced": True})
        assert await store.load(sid) == {"replaced": True}
        assert await store.load(new_id()) is None  # another id is not there

    async def test_a_missing_session_is_none_everywhere(self, store: SessionStore) -> None:
        sid = new_id()
        assert await store.load(sid) is None
        assert await store.touch(sid) is False
        await store.destroy(sid)  # missing is fine
        assert await store.load(sid) is None  # touch did not create it

    async def test_what_one_store_saves_another_on_the_same_backend_loads(
            self, store_factory: StoreFactory) -> None:
        sid = new_id()
        await store_factory().save(sid, {"shared": 1})
        assert await store_factory().load(sid) == {"shared": 1}

    # -- expiry ------------------------------------------------------------------------------------

    async def test_sessions_expire_after_the_store_ttl(self, store_factory: StoreFactory) -> None:
        store, sid = store_factory(ttl=TTL), new_id()
        await store.save(sid, {"a": 1})
        assert await store.load(sid) == {"a": 1}
        await asyncio.sleep(PAST_TTL)
        assert await store.load(sid) is None
        assert await store.touch(sid) is False  # an expired session cannot be brought back

    async def test_save_with_an_explicit_ttl_overrides_the_store_ttl(
            self, store_factory: StoreFactory) -> None:
        long_lived, short_lived = store_factory(ttl=60), store_factory(ttl=TTL)
        brief, kept, stretched = new_id(), new_id(), new_id()
        await long_lived.save(brief, {"n": 1}, ttl=TTL)
        await long_lived.save(kept, {"n": 2})
        await short_lived.save(stretched, {"n": 3}, ttl=60)
        await asyncio.sleep(PAST_TTL)
        assert await long_lived.load(brief) is None
        assert await long_lived.load(kept) == {"n": 2}
        assert await short_lived.load(stretched) == {"n": 3}

    async def test_touch_restarts_the_expiry_and_keeps_the_data(self, store_factory: StoreFactory) -> None:
        store, sid, other = store_factory(ttl=1.0), new_id(), new_id()
        await store.save(sid, {"a": 1})
        await store.save(other, {"b": 2})
        await asyncio.sleep(0.6)
        assert await store.touch(sid) is True
        assert await store.touch(other, ttl=60) is True
        await asyncio.sleep(0.6)  # 1.2 s after the save, 0.6 s after the touch
        assert await store.load(sid) == {"a": 1}
        await asyncio.sleep(1.0)
        assert await store.load(sid) is None
        assert await store.load(other) == {"b": 2}  # touched with its own ttl

    # -- destroy -----------------------------------------------------------------------------------

    async def test_destroy_removes_only_that_session(self, store: SessionStore) -> None:
        gone, kept = new_id(), new_id()
        await store.save(gone, {"a": 1})
        await store.save(kept, {"b": 2})
        await store.destroy(gone)
        assert await store.load(gone) is None
        assert await store.touch(gone) is False
        assert await store.load(kept) == {"b": 2}
        await store.destroy(gone)  # twice is fine

    # -- bad input ---------------------------------------------------------------------------------

    @pytest.mark.parametrize("bad", BAD_IDS, ids=repr)
    async def test_bad_ids_are_refused_by_every_method(self, store: SessionStore, bad: Any) -> None:
        for name, call in every_method(store, bad).items():
            with pytest.raises(MegaError) as info:
                await call()
            assert (info.value.code, info.value.status) == ("session.invalid_id", 400), name
        assert store.stats()["saves"] == 0

    @pytest.mark.parametrize("sid", ["a" * 22, "Z" * 128, "-_" * 11])
    async def test_ids_at_the_edges_of_the_pattern_work(self, store: SessionStore, sid: str) -> None:
        await store.save(sid, {"ok": 1})
        assert await store.load(sid) == {"ok": 1}
        await store.destroy(sid)

    @pytest.mark.parametrize(("data", "key", "kind"), [
        ({"when": object()}, "when", "object"),
        ({"cart": [{"sku": "x"}, {"at": {1, 2}}]}, "cart[1].at", "set"),
        ({"prefs": {1: "x"}}, "prefs[1]", "int"),
        ({"big": 2**70}, "big", "int"),
    ])
    async def test_unencodable_values_are_refused_and_nothing_is_lost(
            self, store: SessionStore, data: dict[str, Any], key: str, kind: str) -> None:
        sid = new_id()
        await store.save(sid, {"kept": True})
        with pytest.raises(MegaError) as info:
            await store.save(sid, data)
        error = info.value
        assert (error.code, error.status) == ("session.invalid_value", 500)
        assert repr(key) in error.message and f"({kind})" in error.message
        assert error.details == {"key": key, "type": kind}
        assert await store.load(sid) == {"kept": True}

    async def test_data_that_is_not_a_dict_is_refused(self, store: SessionStore) -> None:
        with pytest.raises(MegaError) as info:
            await store.save(new_id(), ["a", "list"])  # type: ignore[arg-type]
        assert info.value.code == "session.invalid_value" and "list" in info.value.message

    @pytest.mark.parametrize("ttl", [0, -1, math.nan, math.inf, "60", True])
    async def test_bad_ttls_are_refused_and_nothing_changes(self, store_factory: StoreFactory,
                                                            ttl: Any) -> None:
        with pytest.raises(MegaError) as info:
            store_factory(ttl=ttl)
        assert info.value.code == "session.invalid_config" and "ttl must be" in info.value.message
        store, sid = store_factory(), new_id()
        await store.save(sid, {"a": 1})
        for call in (lambda: store.save(sid, {"a": 2}, ttl=ttl), lambda: store.touch(sid, ttl=ttl)):
            with pytest.raises(MegaError) as info:
                await call()
            assert info.value.code == "session.invalid_config"
        assert await store.load(sid) == {"a": 1}

    # -- stats and lifecycle -----------------------------------------------------------------------

    async def test_stats_count_the_calls(self, store: SessionStore) -> None:
        sid = new_id()
        await store.save(sid, {"a": 1})
        await store.load(sid)
        await store.load(new_id())
        await store.touch(sid)
        await store.destroy(sid)
        stats = store.stats()
        assert stats["driver"] == store.driver and stats["ttl"] == 60.0
        assert {k: stats[k] for k in ("loads", "hits", "saves", "touches", "destroys", "failures")} == \
            {"loads": 2, "hits": 1, "saves": 1, "touches": 1, "destroys": 1, "failures": 0}

    async def test_start_and_close_are_idempotent(self, store: SessionStore) -> None:
        store.start()
        store.start()
        await store.save(new_id(), {})
        await store.close()
        await store.close()
