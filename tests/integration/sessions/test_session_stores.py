"""One contract over both session stores (file in a temp dir, redis on the real server), then what
only one of them does: the file store's sweep, damaged files, atomic writes and modes; redis keys."""

from __future__ import annotations

import asyncio
import logging
import math
import os
import secrets
import stat
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
import pytest_asyncio
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from mega.errors import MegaError
from mega.sessions.file import FileSessionStore
from mega.sessions.redis import RedisSessionStore
from mega.sessions.store import SessionStore
from tests import services

pytestmark = pytest.mark.integration
REDIS_URL = services.url("redis")
NESTED = {"user": 7, "name": "Änn 🎉", "flag": None, "ok": True, "ratio": 0.25, "empty": {}, "none": [],
          "cart": [{"sku": "x-1", "qty": 2, "tags": ["a", "b"]}, {"sku": "y", "qty": 1, "tags": []}],
          "deep": {"a": {"b": {"c": [1, [2, [3]]]}}}}
BAD_IDS = ["../etc/passwd", "../../etc/passwd/xxxxxxxxxxxx", "a" * 15, "a" * 129, "has space" * 3, "",
           "a" * 20 + "/", "a" * 20 + "\n", "é" * 20, "a" * 20 + ".json", None, b"a" * 20]

Make = Callable[..., SessionStore]


def new_id() -> str:
    return secrets.token_urlsafe(32)


def every_method(store: SessionStore, sid: Any) -> dict[str, Callable[[], Awaitable[object]]]:
    return {"load": lambda: store.load(sid), "save": lambda: store.save(sid, {"a": 1}),
            "destroy": lambda: store.destroy(sid), "touch": lambda: store.touch(sid)}


def redis_client(**kwargs: Any) -> aioredis.Redis:
    return aioredis.Redis.from_url(REDIS_URL, socket_connect_timeout=1, **kwargs)


async def connect_or_skip(**kwargs: Any) -> aioredis.Redis:
    services.require("redis")
    client = redis_client(**kwargs)
    try:
        await client.ping()
    except (RedisError, OSError) as exc:
        await client.aclose()
        services.down("redis", f"no answer to PING: {exc}")
    return client


@pytest_asyncio.fixture(params=["file", "redis"])
async def make(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Make]:
    """Builds stores of one driver sharing one place (a directory, a key prefix): make(ttl=...)."""
    if request.param == "file":
        yield lambda ttl=60.0: FileSessionStore(tmp_path / "sessions", ttl=ttl)
        return
    client = await connect_or_skip()
    prefix = f"test:sess:{uuid.uuid4().hex}:"
    yield lambda ttl=60.0: RedisSessionStore(client, ttl=ttl, prefix=prefix)
    keys = [key async for key in client.scan_iter(match=prefix + "*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


@pytest.fixture
def store(make: Make) -> SessionStore:
    return make()


# -- the contract, for every driver ---------------------------------------------------------------


async def test_nested_json_round_trips(store: SessionStore) -> None:
    sid = new_id()
    await store.save(sid, NESTED)
    assert await store.load(sid) == NESTED
    await store.save(sid, {"replaced": True})
    assert await store.load(sid) == {"replaced": True}
    assert await store.load(new_id()) is None  # another id is not there


async def test_a_missing_session_is_none_everywhere(store: SessionStore) -> None:
    sid = new_id()
    assert await store.load(sid) is None
    assert await store.touch(sid) is False
    await store.destroy(sid)  # missing is fine
    assert await store.load(sid) is None  # touch did not create it


async def test_sessions_expire_after_the_store_ttl(make: Make) -> None:
    store, sid = make(ttl=0.3), new_id()
    await store.save(sid, {"a": 1})
    assert await store.load(sid) == {"a": 1}
    await asyncio.sleep(0.5)
    assert await store.load(sid) is None
    assert await store.touch(sid) is False  # an expired session cannot be brought back


async def test_save_with_an_explicit_ttl(make: Make) -> None:
    long_lived, short_lived = make(ttl=60), make(ttl=0.3)
    brief, kept, stretched = new_id(), new_id(), new_id()
    await long_lived.save(brief, {"n": 1}, ttl=0.3)
    await long_lived.save(kept, {"n": 2})
    await short_lived.save(stretched, {"n": 3}, ttl=60)
    await asyncio.sleep(0.5)
    assert await long_lived.load(brief) is None
    assert await long_lived.load(kept) == {"n": 2}
    assert await short_lived.load(stretched) == {"n": 3}


async def test_touch_extends_the_expiry(make: Make) -> None:
    store, sid, other = make(ttl=0.4), new_id(), new_id()
    await store.save(sid, {"a": 1})
    await store.save(other, {"b": 2})
    await asyncio.sleep(0.25)
    assert await store.touch(sid) is True
    assert await store.touch(other, ttl=60) is True
    await asyncio.sleep(0.25)  # 0.5 s after the save, 0.25 s after the touch
    assert await store.load(sid) == {"a": 1}  # the data survive a touch unchanged
    await asyncio.sleep(0.4)
    assert await store.load(sid) is None
    assert await store.load(other) == {"b": 2}  # touched with its own ttl


async def test_destroy_removes_only_that_session(store: SessionStore) -> None:
    gone, kept = new_id(), new_id()
    await store.save(gone, {"a": 1})
    await store.save(kept, {"b": 2})
    await store.destroy(gone)
    assert await store.load(gone) is None
    assert await store.touch(gone) is False
    assert await store.load(kept) == {"b": 2}
    await store.destroy(gone)  # twice is fine


@pytest.mark.parametrize("bad", BAD_IDS, ids=repr)
async def test_bad_ids_are_refused_by_every_method(store: SessionStore, bad: Any) -> None:
    for name, call in every_method(store, bad).items():
        with pytest.raises(MegaError) as info:
            await call()
        assert (info.value.code, info.value.status) == ("session.invalid_id", 400), name
    assert store.stats()["saves"] == 0


@pytest.mark.parametrize("sid", ["a" * 16, "Z" * 128, "-_" * 8])
async def test_ids_at_the_edges_of_the_pattern_work(store: SessionStore, sid: str) -> None:
    await store.save(sid, {"ok": 1})
    assert await store.load(sid) == {"ok": 1}


@pytest.mark.parametrize("data, key, kind", [
    ({"when": object()}, "when", "object"),
    ({"cart": [{"sku": "x"}, {"at": {1, 2}}]}, "cart[1].at", "set"),
    ({"prefs": {1: "x"}}, "prefs[1]", "int"),
    ({"big": 2**70}, "big", "int"),
])
async def test_unencodable_values_are_refused_and_nothing_is_lost(store: SessionStore, data: dict[str, Any],
                                                                  key: str, kind: str) -> None:
    sid = new_id()
    await store.save(sid, {"kept": True})
    with pytest.raises(MegaError) as info:
        await store.save(sid, data)
    error = info.value
    assert (error.code, error.status) == ("session.invalid_value", 500)
    assert repr(key) in error.message and f"({kind})" in error.message
    assert error.details == {"key": key, "type": kind}
    assert await store.load(sid) == {"kept": True}


async def test_data_that_is_not_a_dict_is_refused(store: SessionStore) -> None:
    with pytest.raises(MegaError) as info:
        await store.save(new_id(), ["a", "list"])  # type: ignore[arg-type]
    assert info.value.code == "session.invalid_value" and "list" in info.value.message


@pytest.mark.parametrize("ttl", [0, -1, math.nan, math.inf, "60", True])
async def test_bad_ttls_are_refused(make: Make, ttl: Any) -> None:
    with pytest.raises(MegaError) as info:
        make(ttl=ttl)
    assert info.value.code == "session.invalid_config" and "ttl must be" in info.value.message
    store, sid = make(), new_id()
    await store.save(sid, {"a": 1})
    for call in (lambda: store.save(sid, {"a": 2}, ttl=ttl), lambda: store.touch(sid, ttl=ttl)):
        with pytest.raises(MegaError) as info:
            await call()
        assert info.value.code == "session.invalid_config"
    assert await store.load(sid) == {"a": 1}


async def test_stats_count_the_calls(store: SessionStore) -> None:
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


async def test_start_and_close_are_idempotent(store: SessionStore) -> None:
    store.start()
    store.start()
    await store.save(new_id(), {})
    await store.close()
    await store.close()


# -- backend failures -------------------------------------------------------------------------------


async def assert_unavailable(store: SessionStore, cause: type[BaseException]) -> None:
    for name, call in every_method(store, new_id()).items():
        with pytest.raises(MegaError) as info:
            await call()
        error = info.value
        assert (error.code, error.status) == ("session.unavailable", 503), name
        assert isinstance(error.__cause__, cause), name
        assert store.driver in error.message
    assert store.stats()["failures"] == 4


async def test_a_file_store_on_a_broken_directory_is_unavailable(tmp_path: Path) -> None:
    (tmp_path / "not-a-dir").write_text("a file where the directory should be")
    await assert_unavailable(FileSessionStore(tmp_path / "not-a-dir", ttl=60), OSError)


async def test_an_unreachable_redis_is_unavailable() -> None:
    client = aioredis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.5,
                            retry=Retry(NoBackoff(), 0))  # fail at once, not after redis-py's retries
    try:
        await assert_unavailable(RedisSessionStore(client, ttl=60), RedisError)
    finally:
        await client.aclose()


# -- file store only ----------------------------------------------------------------------------------


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


async def test_the_file_format_and_modes(tmp_path: Path) -> None:
    folder = tmp_path / "var" / "sessions"
    store, sid = FileSessionStore(folder, ttl=60), new_id()
    assert await store.load(sid) is None
    assert not folder.exists()  # created by the first save, not before
    await store.save(sid, {"a": 1})
    doc = orjson.loads((folder / f"{sid}.json").read_bytes())
    assert doc["data"] == {"a": 1} and time.time() + 55 < doc["expires"] <= time.time() + 60
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE((folder / f"{sid}.json").stat().st_mode) == 0o600


async def test_a_bad_id_never_reaches_the_disk(tmp_path: Path) -> None:
    store = FileSessionStore(tmp_path / "s", ttl=60)
    for bad in ("../escape-xxxxxxxxxxxxxxx", "../../s/xxxxxxxxxxxxxxxx"):
        with pytest.raises(MegaError):
            await store.save(bad, {"x": 1})
    assert names(tmp_path) == []


async def test_writes_are_atomic_and_leave_no_temp_files(tmp_path: Path) -> None:
    store, sid = FileSessionStore(tmp_path, ttl=60), new_id()
    values = [{"n": n, "pad": "x" * 20_000} for n in range(40)]
    results = await asyncio.gather(*(store.save(sid, v) for v in values),
                                   *(store.load(sid) for _ in range(40)))
    assert all(r is None or r in values for r in results[40:])  # never half a file
    assert await store.load(sid) in values
    assert names(tmp_path) == [f"{sid}.json"]


async def test_a_failed_write_keeps_the_old_file_and_no_temp_file(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    store, sid = FileSessionStore(tmp_path, ttl=60), new_id()
    await store.save(sid, {"old": True})

    def fail(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(MegaError) as info:
        await store.save(sid, {"new": True})
    monkeypatch.undo()
    assert info.value.code == "session.unavailable" and isinstance(info.value.__cause__, OSError)
    assert "No space" not in info.value.message  # the disk's details stay in the cause, off the wire
    assert names(tmp_path) == [f"{sid}.json"]
    assert await store.load(sid) == {"old": True}


@pytest.mark.parametrize("body", [b"{not json", b"", b'"text"', b"[]", b'{"data": {}}',
                                  b'{"expires": "soon", "data": {}}', b'{"expires": 9e12, "data": [1]}'])
async def test_a_damaged_file_reads_as_missing_is_deleted_and_logged_once(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, body: bytes) -> None:
    store, sid = FileSessionStore(tmp_path, ttl=60), new_id()
    (tmp_path / f"{sid}.json").write_bytes(body)
    with caplog.at_level(logging.WARNING, logger="mega.sessions"):
        assert await store.load(sid) is None
        assert await store.load(sid) is None
    assert names(tmp_path) == []
    warnings = [r for r in caplog.records if r.name == "mega.sessions"]
    assert len(warnings) == 1 and "damaged" in warnings[0].getMessage()
    assert sid not in warnings[0].getMessage()  # a session id is a credential: not in the logs
    await store.save(sid, {"fresh": 1})  # the id works again
    assert await store.load(sid) == {"fresh": 1}


async def test_an_expired_file_is_deleted_when_its_id_comes_back(tmp_path: Path) -> None:
    store, sid = FileSessionStore(tmp_path, ttl=60), new_id()  # no sweep: cleanup_interval 0
    store.start()
    await store.save(sid, {}, ttl=0.05)
    await asyncio.sleep(0.3)
    assert names(tmp_path) == [f"{sid}.json"]  # nothing swept it
    assert await store.load(sid) is None
    assert names(tmp_path) == []
    await store.close()


async def test_the_sweep_deletes_expired_damaged_and_stale_files_only(tmp_path: Path) -> None:
    store = FileSessionStore(tmp_path, ttl=60, cleanup_interval=0.2)
    old, live, damaged = new_id(), new_id(), new_id()
    await store.save(old, {"old": True}, ttl=0.1)
    await store.save(live, {"live": True})
    (tmp_path / f"{damaged}.json").write_bytes(b"{not json")
    (tmp_path / ".tmp-crashed.tmp").write_bytes(b"{")
    os.utime(tmp_path / ".tmp-crashed.tmp", (time.time() - 7200, time.time() - 7200))
    (tmp_path / ".tmp-writing.tmp").write_bytes(b"{")  # a write in progress elsewhere
    (tmp_path / "notes.txt").write_text("not a session")
    (tmp_path / "README.json").write_text("{}")  # not a session id: not ours
    store.start()
    store.start()
    try:
        assert store.stats()["sweeping"] is True
        await asyncio.sleep(0.6)
        assert names(tmp_path) == sorted([".tmp-writing.tmp", "README.json", f"{live}.json", "notes.txt"])
        assert store.stats()["swept"] == 3
        assert await store.load(live) == {"live": True}
    finally:
        await store.close()
    await store.close()
    assert store.stats()["sweeping"] is False
    late = new_id()
    await store.save(late, {}, ttl=0.05)
    await asyncio.sleep(0.5)
    assert (tmp_path / f"{late}.json").exists()  # closed: no more sweeps


async def test_no_sweep_runs_with_cleanup_interval_zero(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    store = FileSessionStore(tmp_path, ttl=60, cleanup_interval=0)
    calls: list[int] = []

    def sweep() -> int:
        calls.append(1)
        return 0

    monkeypatch.setattr(store, "_sweep", sweep)
    store.start()
    await asyncio.sleep(0.3)
    assert calls == [] and store.stats()["sweeping"] is False
    await store.close()


async def test_start_twice_runs_one_sweep_timer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = FileSessionStore(tmp_path, ttl=60, cleanup_interval=0.2)
    calls: list[int] = []

    def sweep() -> int:
        calls.append(1)
        return 0

    monkeypatch.setattr(store, "_sweep", sweep)
    store.start()
    store.start()
    await asyncio.sleep(0.5)
    await store.close()
    assert 1 <= len(calls) <= 2


async def test_a_failing_sweep_is_logged_and_retried(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    store = FileSessionStore(tmp_path, ttl=60, cleanup_interval=0.1)

    def boom() -> int:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(store, "_sweep", boom)
    with caplog.at_level(logging.ERROR, logger="mega.sessions"):
        store.start()
        await asyncio.sleep(0.45)
        await store.close()
    failures = [r for r in caplog.records if r.name == "mega.sessions" and "sweeping" in r.getMessage()]
    assert len(failures) >= 2 and failures[0].exc_info is not None
    sid = new_id()
    await store.save(sid, {"still": "works"})
    assert await store.load(sid) == {"still": "works"}


async def test_start_needs_a_running_loop_only_when_it_sweeps(tmp_path: Path) -> None:
    def start_outside_the_loop(store: FileSessionStore) -> None:
        store.start()

    await asyncio.to_thread(start_outside_the_loop, FileSessionStore(tmp_path, ttl=60))  # no sweep: fine
    sweeping = FileSessionStore(tmp_path, ttl=60, cleanup_interval=1)
    with pytest.raises(RuntimeError):
        await asyncio.to_thread(start_outside_the_loop, sweeping)


# -- redis store only ---------------------------------------------------------------------------------


@pytest_asyncio.fixture
async def client() -> AsyncIterator[aioredis.Redis]:
    client = await connect_or_skip()
    yield client
    await client.aclose()


async def test_redis_keys_values_and_expiry(client: aioredis.Redis) -> None:
    prefix = f"test:sess:{uuid.uuid4().hex}:"
    store, sid = RedisSessionStore(client, ttl=60, prefix=prefix), new_id()
    try:
        await store.save(sid, {"a": 1})
        assert orjson.loads(await client.get(prefix + sid) or b"") == {"a": 1}
        assert 59_000 < await client.pttl(prefix + sid) <= 60_000
        await store.touch(sid, ttl=600)
        assert 599_000 < await client.pttl(prefix + sid) <= 600_000
        await store.save(sid, {"a": 2}, ttl=0.3)
        assert 0 < await client.pttl(prefix + sid) <= 300
    finally:
        await client.delete(prefix + sid)


async def test_a_foreign_redis_value_reads_as_missing(client: aioredis.Redis,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    prefix = f"test:sess:{uuid.uuid4().hex}:"
    store, sid = RedisSessionStore(client, ttl=60, prefix=prefix), new_id()
    try:
        for raw in (b"not json", b"[1, 2]"):
            await client.set(prefix + sid, raw, px=60_000)
            with caplog.at_level(logging.WARNING, logger="mega.sessions"):
                assert await store.load(sid) is None
        assert await client.exists(prefix + sid)  # not ours to delete
        assert any("does not hold a JSON object" in r.getMessage() for r in caplog.records)
    finally:
        await client.delete(prefix + sid)


async def test_a_redis_client_with_decoded_responses_works(client: aioredis.Redis) -> None:
    decoding = await connect_or_skip(decode_responses=True)
    prefix = f"test:sess:{uuid.uuid4().hex}:"
    store, sid = RedisSessionStore(decoding, ttl=60, prefix=prefix), new_id()
    try:
        await store.save(sid, NESTED)
        assert await store.load(sid) == NESTED
    finally:
        await client.delete(prefix + sid)
        await decoding.aclose()
