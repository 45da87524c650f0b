"""One contract over both session stores (file in a temp dir, redis on the real server)."""

from __future__ import annotations

import asyncio
import os
import stat
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
import redis.asyncio as aioredis

from mega.errors import MegaError
from mega.sessions.file import FileSessionStore
from mega.sessions.redis import RedisSessionStore
from mega.sessions.store import SessionStore

pytestmark = pytest.mark.integration
REDIS_URL = os.environ.get("MEGA_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
SID = "a" * 20


@pytest_asyncio.fixture(params=["file", "redis"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SessionStore]:
    if request.param == "file":
        yield FileSessionStore(tmp_path / "sessions", ttl=60)
        return
    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        await client.ping()
    except OSError as exc:
        pytest.skip(f"Redis is not reachable: {exc}")
    prefix = f"test:sess:{uuid.uuid4().hex[:8]}:"
    yield RedisSessionStore(client, ttl=60, prefix=prefix)
    async for key in client.scan_iter(match=prefix + "*"):
        await client.delete(key)
    await client.aclose()


async def test_round_trip_destroy_and_missing(store: SessionStore) -> None:
    data = {"user": 7, "cart": [{"sku": "x", "qty": 2}], "name": "Änn", "flag": None}
    await store.save(SID, data)
    assert await store.load(SID) == data
    assert await store.load("b" * 20) is None
    await store.destroy(SID)
    assert await store.load(SID) is None
    await store.destroy(SID)  # twice is fine
    assert store.stats()["saves"] == 1


async def test_expiry_explicit_ttl_and_touch(store: SessionStore) -> None:
    await store.save(SID, {"a": 1}, ttl=0.3)
    await store.save("c" * 20, {"b": 2}, ttl=0.3)
    await asyncio.sleep(0.15)
    assert await store.touch("c" * 20, ttl=1) is True
    await asyncio.sleep(0.3)
    assert await store.load(SID) is None  # expired
    assert await store.load("c" * 20) == {"b": 2}  # touched in time
    assert await store.touch(SID) is False


@pytest.mark.parametrize("bad", ["../../etc/passwd", "short", "a" * 200, "has space" * 3, ""])
async def test_bad_ids_are_refused_everywhere(store: SessionStore, bad: str) -> None:
    for call in (store.load(bad), store.save(bad, {}), store.destroy(bad), store.touch(bad)):
        with pytest.raises(MegaError) as info:
            await call
        assert (info.value.code, info.value.status) == ("session.invalid_id", 400)


async def test_unencodable_values_are_refused(store: SessionStore) -> None:
    with pytest.raises(MegaError) as info:
        await store.save(SID, {"when": object()})
    assert info.value.code == "session.invalid_value"


async def test_file_sweep_files_and_permissions(tmp_path: Path) -> None:
    folder = tmp_path / "s"
    store = FileSessionStore(folder, ttl=60, cleanup_interval=0.2)
    store.start()
    try:
        await store.save(SID, {"old": True}, ttl=0.1)
        await store.save("d" * 20, {"live": True})
        (folder / ("e" * 20 + ".json")).write_bytes(b"{not json")
        await asyncio.sleep(0.6)
        assert sorted(p.name for p in folder.iterdir()) == ["d" * 20 + ".json"]  # no temp files either
        assert stat.S_IMODE((folder / ("d" * 20 + ".json")).stat().st_mode) == 0o600
        assert store.stats()["swept"] == 2
    finally:
        await store.close()
    quiet = FileSessionStore(tmp_path / "q", ttl=60)  # cleanup_interval 0: no sweep
    quiet.start()
    await quiet.save(SID, {}, ttl=0.05)
    await asyncio.sleep(0.2)
    assert (tmp_path / "q" / f"{SID}.json").exists()
    assert await quiet.load(SID) is None and not (tmp_path / "q" / f"{SID}.json").exists()


async def test_a_damaged_file_reads_as_missing(tmp_path: Path) -> None:
    store = FileSessionStore(tmp_path, ttl=60)
    (tmp_path / f"{SID}.json").write_text('{"expires": "soon"}')
    assert await store.load(SID) is None
