"""The session pieces auth and flash stand on, over a memory cache: the reserved `_mega_*` keys are
hidden from items(), rotate() names the new id at once, the per-user index, Auth as a mapping, and
flash validation."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from mega.auth import Auth
from mega.cache.memory import MemoryCache
from mega.errors import MegaError
from mega.sessions._manager import SessionManager
from mega.sessions._settings import CookieSettings
from mega.sessions.cache import CacheSessionStore
from mega.sessions.flash import add_flash
from mega.sessions.session import AUTH, CREATED, FLASH, Session

COOKIE = CookieSettings("mega_sid", None, "lax", None, "/", True)


@pytest_asyncio.fixture
async def manager() -> AsyncIterator[SessionManager]:
    cache = MemoryCache("sessions", {})
    await cache.connect()
    store = CacheSessionStore(cache, ttl=100)
    yield SessionManager(store, secret="s" * 32, ttl=100, rolling=True, cookie=COOKIE, production=False,
                         app_name="web")
    await cache.disconnect()


async def test_items_hide_the_frameworks_keys_and_get_still_reads_them(manager: SessionManager) -> None:
    session = manager.session_for(None)
    await session.update({"cart": [1], AUTH: {"user_id": 7, "user_name": None}, FLASH: [["notice", "x"]]})
    await session.commit(None)
    again = Session(manager, session.id)
    assert await again.items() == {"cart": [1]}
    assert await again.get(AUTH) == {"user_id": 7, "user_name": None}
    assert CREATED in await manager.store.load(session.id)  # type: ignore[operator]
    assert CREATED not in await again.load()


async def test_rotate_names_the_new_id_at_once_and_the_old_one_goes(manager: SessionManager) -> None:
    first = manager.session_for(None)
    await first.set("a", 1)
    await first.commit(None)
    old = first.id
    assert old is not None
    session = Session(manager, old)
    await session.rotate()
    new = session.id
    assert new is not None and new != old and session.is_new
    await session.commit(None)
    assert await manager.store.load(old) is None
    assert (await manager.store.load(new) or {}).get("a") == 1


async def test_the_user_index_lists_live_sessions_only(manager: SessionManager,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("mega.sessions.cache._INDEX_GRACE", 0.0)
    ids = []
    for _ in range(3):
        session = manager.session_for(None)
        await session.set(AUTH, {"user_id": "u-1", "user_name": None})
        await session.commit(None)
        assert session.id is not None
        await manager.index_login("u-1", session.id)
        ids.append(session.id)
    assert sorted(await manager.user_sessions("u-1")) == sorted(ids)
    assert await manager.user_sessions(1) == []  # another user (the int 1, not the string "u-1")
    await manager.store.destroy(ids[0])  # expired
    await manager.index_logout("u-1", [ids[1]])  # logged out
    assert await manager.user_sessions("u-1") == [ids[2]]
    await manager.index_logout("u-1", [ids[2]])
    cache = manager.store.cache  # type: ignore[attr-defined]
    assert not await cache.has(f"mega:sess:u:{manager.user_key('u-1')}")  # an empty index is deleted


async def test_a_fresh_login_not_saved_yet_stays_indexed(manager: SessionManager) -> None:
    """The id of a login is indexed before the request's commit saves it: a concurrent change of the
    index must not drop it."""
    await manager.index_login(7, "a" * 43)
    await manager.index_login(7, "b" * 43)  # the first is not in the store, yet kept
    assert sorted(await manager.user_sessions(7)) == ["a" * 43, "b" * 43]


def test_auth_reads_as_an_object_and_as_a_mapping() -> None:
    auth = Auth(7, "sid", "ann")
    assert (auth.user_id, auth["user_id"], auth["user_name"], auth["session_id"]) == (7, 7, "ann", "sid")
    assert auth.as_dict() == {"user_id": 7, "session_id": "sid", "user_name": "ann"}
    with pytest.raises(KeyError):
        auth["password"]


@pytest.mark.parametrize(("kind", "text", "code"), [
    ("Notice", "x", "flash.invalid_kind"), ("1st", "x", "flash.invalid_kind"),
    ("", "x", "flash.invalid_kind"), ("a" * 33, "x", "flash.invalid_kind"), (None, "x", "flash.invalid_kind"),
    ("notice", "", "flash.invalid_text"), ("notice", None, "flash.invalid_text"),
    ("notice", "x" * 4001, "flash.invalid_text"),
])
async def test_flash_refuses_bad_kinds_and_texts(manager: SessionManager, kind: object, text: object,
                                                 code: str) -> None:
    session = manager.session_for(None)
    with pytest.raises(MegaError) as info:
        await add_flash(session, kind, text)  # type: ignore[arg-type]
    assert info.value.code == code and info.value.hint
    assert not session.loaded  # refused before the session is read


async def test_flashes_keep_the_last_twenty(manager: SessionManager) -> None:
    session = manager.session_for(None)
    for n in range(25):
        await add_flash(session, "notice", f"n{n}")
    waiting = await session.get(FLASH)
    assert len(waiting) == 20 and waiting[0] == ["notice", "n5"] and waiting[-1] == ["notice", "n24"]
