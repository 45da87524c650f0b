"""The session store beyond the contract (tests/contract): the built-in file cache it owns (where,
modes, lazy connect, sweep, failures) and a redis cache (keys, expiry, foreign values, outages)."""

from __future__ import annotations

import asyncio
import logging
import secrets
import stat
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest
import pytest_asyncio
import redis.asyncio as aioredis

from mega.adapters.redis import RedisConnection
from mega.cache.memory import MemoryCache
from mega.cache.redis import RedisCache
from mega.errors import MegaError
from mega.sessions.factory import default_session_cache, session_store_for
from mega.sessions.store import SessionStore
from tests.integration.adapters._services import TcpProxy, redis_address, require_redis

pytestmark = pytest.mark.integration


def new_id() -> str:
    return secrets.token_urlsafe(32)


def files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and ".locks" not in p.parts)


def owned(root: Path, cleanup_interval: float = 0, ttl: float = 60) -> SessionStore:
    return session_store_for(default_session_cache(root, "var/sessions", cleanup_interval), ttl=ttl,
                             owns=True)


# -- the built-in file cache ------------------------------------------------------------------------


async def test_files_are_0600_under_var_sessions_and_hold_no_plain_id(tmp_path: Path) -> None:
    store, sid = owned(tmp_path), new_id()
    await store.save(sid, {"a": 1})
    folder = tmp_path / "var" / "sessions"
    (path,) = files(folder)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert sid not in str(path)  # the name is a hash: an id never becomes a path
    head, _, body = path.read_bytes().partition(b"\n")
    assert orjson.loads(body) == {"a": 1} and float(head) > 0
    await store.close()


async def test_a_bad_id_never_reaches_the_disk(tmp_path: Path) -> None:
    store = owned(tmp_path)
    for bad in ("../escape-xxxxxxxxxxxxxxx", "../../s/xxxxxxxxxxxxxxxx"):
        with pytest.raises(MegaError) as info:
            await store.save(bad, {"x": 1})
        assert info.value.code == "session.invalid_id"
    assert list(tmp_path.iterdir()) == []  # not even connected
    await store.close()


async def test_start_connects_the_cache_and_close_disconnects_it(tmp_path: Path) -> None:
    store = owned(tmp_path, cleanup_interval=3600)
    assert store.stats()["connected"] is False
    store.start()
    store.start()
    await asyncio.sleep(0.1)
    assert store.stats()["connected"] is True and (tmp_path / "var" / "sessions").is_dir()
    await store.close()
    await store.close()
    assert store.stats()["connected"] is False


async def test_without_start_the_first_call_connects(tmp_path: Path) -> None:
    store, sid = owned(tmp_path), new_id()
    await asyncio.gather(*(store.save(sid, {"n": n}) for n in range(5)))  # one connect for all
    assert await store.load(sid) in [{"n": n} for n in range(5)]
    await store.close()


async def test_the_sweep_runs_every_cleanup_interval(tmp_path: Path) -> None:
    store = owned(tmp_path, cleanup_interval=0.2)
    store.start()
    old, live = new_id(), new_id()
    await store.save(old, {"old": True}, ttl=0.05)
    await store.save(live, {"live": True})
    await asyncio.sleep(0.7)
    assert len(files(tmp_path / "var" / "sessions")) == 1  # swept without the id coming back
    assert await store.load(live) == {"live": True}
    await store.close()


async def test_an_expired_file_is_deleted_when_its_id_comes_back(tmp_path: Path) -> None:
    store, sid = owned(tmp_path, cleanup_interval=0), new_id()
    await store.save(sid, {}, ttl=0.05)
    await asyncio.sleep(0.3)
    assert len(files(tmp_path / "var" / "sessions")) == 1  # nothing swept it
    assert await store.load(sid) is None
    assert files(tmp_path / "var" / "sessions") == []
    await store.close()


async def test_a_damaged_file_reads_as_missing_and_the_id_works_again(tmp_path: Path) -> None:
    store, sid = owned(tmp_path), new_id()
    await store.save(sid, {"a": 1})
    (path,) = files(tmp_path / "var" / "sessions")
    path.write_bytes(b"{not json")
    assert await store.load(sid) is None
    await store.save(sid, {"fresh": 1})
    assert await store.load(sid) == {"fresh": 1}
    await store.close()


async def test_a_broken_directory_is_unavailable_without_os_text(tmp_path: Path) -> None:
    (tmp_path / "var").write_text("a file where the directory should be")
    store = owned(tmp_path)
    calls = {"load": lambda sid: store.load(sid), "save": lambda sid: store.save(sid, {"a": 1}),
             "destroy": lambda sid: store.destroy(sid), "touch": lambda sid: store.touch(sid)}
    for name, call in calls.items():
        with pytest.raises(MegaError) as info:
            await call(new_id())
        error = info.value
        assert (error.code, error.status) == ("session.unavailable", 503), name
        assert error.message == "the file session store failed (NotADirectoryError)", error.message
        assert str(tmp_path) not in str(error.to_dict())
        assert error.__cause__ is not None and isinstance(error.__cause__.__cause__, OSError)
    assert store.stats()["failures"] == 4
    await store.close()


async def test_a_failed_write_keeps_the_old_session(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    store, sid = owned(tmp_path), new_id()
    await store.save(sid, {"old": True})

    def fail(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(MegaError) as info:
        await store.save(sid, {"new": True})
    monkeypatch.undo()
    assert info.value.code == "session.unavailable" and "No space" not in info.value.message
    assert await store.load(sid) == {"old": True}
    assert len(files(tmp_path / "var" / "sessions")) == 1  # no temp file left
    await store.close()


async def test_a_shared_cache_is_neither_connected_nor_closed_by_the_store() -> None:
    cache = MemoryCache("shared", {})
    store = session_store_for(cache, ttl=60)
    with pytest.raises(MegaError) as info:
        await store.load(new_id())
    assert info.value.code == "adapter.not_connected"  # a boot mistake, not an outage
    await cache.connect()
    await store.save(new_id(), {"a": 1})
    await store.close()
    assert cache.connected
    await cache.disconnect()


# -- a redis cache ----------------------------------------------------------------------------------


@pytest_asyncio.fixture
async def redis_cache() -> AsyncIterator[RedisCache]:
    connection = RedisConnection("main", {"url": require_redis()})
    await connection.connect()
    cache = RedisCache("sessions", {"prefix": f"t{uuid.uuid4().hex[:10]}:"}, connection=connection)
    await cache.connect()
    yield cache
    await cache.clear()
    await cache.disconnect()
    await connection.disconnect()


async def test_redis_keys_values_and_expiry(redis_cache: RedisCache) -> None:
    client: aioredis.Redis = redis_cache.native
    store, sid = session_store_for(redis_cache, ttl=60, prefix="sess:"), new_id()
    key = redis_cache.prefix + "sess:" + sid
    await store.save(sid, {"a": 1})
    assert orjson.loads(await client.get(key) or b"") == {"a": 1}
    assert 59_000 < await client.pttl(key) <= 60_000
    await store.touch(sid, ttl=600)
    assert 599_000 < await client.pttl(key) <= 600_000
    await store.save(sid, {"a": 2}, ttl=0.3)
    assert 0 < await client.pttl(key) <= 300


async def test_a_foreign_redis_value_reads_as_missing_and_stays(redis_cache: RedisCache,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    client: aioredis.Redis = redis_cache.native
    store, sid = session_store_for(redis_cache, ttl=60, prefix="sess:"), new_id()
    key = redis_cache.prefix + "sess:" + sid
    for raw in (b"not json", b"[1, 2]"):
        await client.set(key, raw, px=60_000)
        with caplog.at_level(logging.WARNING, logger="mega.sessions"):
            assert await store.load(sid) is None
    assert await client.exists(key)  # not ours to delete
    warnings = [r.getMessage() for r in caplog.records if r.name == "mega.sessions"]
    assert len(warnings) == 2 and all("does not hold a JSON object" in w for w in warnings)
    assert all(sid not in w for w in warnings)  # a session id is a credential: not in the logs


async def test_a_lost_redis_is_unavailable_then_recovers() -> None:
    require_redis()
    proxy = await TcpProxy(*redis_address()).start()
    connection = RedisConnection("main", {"url": f"redis://127.0.0.1:{proxy.port}/0", "socket_timeout": 1})
    await connection.connect()
    cache = RedisCache("sessions", {"prefix": f"t{uuid.uuid4().hex[:10]}:"}, connection=connection)
    await cache.connect()
    store, sid = session_store_for(cache, ttl=60), new_id()
    try:
        await store.save(sid, {"a": 1})
        await proxy.cut()
        with pytest.raises(MegaError) as info:
            await store.load(sid)
        assert (info.value.code, info.value.status) == ("session.unavailable", 503)
        assert "127.0.0.1" not in info.value.message and "redis" in info.value.message
        await proxy.resume()
        assert await store.load(sid) == {"a": 1}
    finally:
        await cache.clear()
        await cache.disconnect()
        await connection.disconnect()
        await proxy.cut()
