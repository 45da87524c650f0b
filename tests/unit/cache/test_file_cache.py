"""The file driver beyond the contract: files on disk, several instances and processes, sweep."""

from __future__ import annotations

import asyncio
import logging
import os
import stat
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from mega.cache import file as file_module
from mega.cache.file import FileCache
from mega.errors import MegaError


@pytest.fixture
async def make(tmp_path: Path) -> AsyncIterator[Any]:
    made: list[FileCache] = []

    async def factory(**options: Any) -> FileCache:
        options.setdefault("path", str(tmp_path / "cache"))
        cache = FileCache("files", options)
        await cache.connect()
        made.append(cache)
        return cache

    yield factory
    for cache in made:
        await cache.disconnect()


def cache_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and ".locks" not in p.parts)


async def test_values_live_in_files_seen_by_every_instance(make: Any, tmp_path: Path) -> None:
    writer = await make()
    reader = await make()
    await writer.set("greeting", {"hello": "world"}, ttl=60)
    assert await reader.get("greeting") == {"hello": "world"}
    files = cache_files(tmp_path / "cache")
    assert len(files) == 1
    assert "greeting" not in str(files[0])  # names are hashes
    assert not [p for p in files if p.name.endswith(".tmp")]
    await writer.disconnect()
    again = await make()
    assert await again.get("greeting") == {"hello": "world"}  # survives a restart


async def test_the_default_directory_is_var_cache_in_the_project(tmp_path: Path) -> None:
    cache = FileCache("files", {})
    cache.root = tmp_path
    await cache.connect()
    try:
        await cache.set("k", 1)
        assert cache.directory == tmp_path / "var" / "cache"
        assert cache_files(tmp_path / "var" / "cache")
        assert cache.stats()["path"] == str(tmp_path / "var" / "cache")
    finally:
        await cache.disconnect()


async def test_a_relative_path_starts_at_the_project(tmp_path: Path) -> None:
    cache = FileCache("files", {"path": "tmp/c"})
    cache.root = tmp_path
    assert cache.target() == str(tmp_path / "tmp" / "c")


async def test_clear_leaves_other_namespaces_in_the_same_directory(make: Any) -> None:
    plain = await make()
    other = await make(prefix="other:")
    await plain.set("k", 1)
    await other.set("k", 2)
    await plain.clear()
    assert await plain.has("k") is False
    assert await other.get("k") == 2


async def test_a_foreign_or_truncated_file_reads_as_missing(make: Any, tmp_path: Path) -> None:
    cache = await make()
    await cache.set("k", "v")
    (path,) = cache_files(tmp_path / "cache")
    path.write_bytes(b"garbage without a header line")
    assert await cache.get("k") is None
    assert await cache.has("k") is False
    assert await cache.incr("k") == 1  # overwritten as a fresh counter


async def test_expired_files_are_removed_on_read_and_by_the_sweep(make: Any, tmp_path: Path) -> None:
    cache = await make(sweep_interval=0.1)
    await cache.set("read-me", 1, ttl=0.05)
    await cache.set("forget-me", 1, ttl=0.05)
    await cache.set("keep", 1)
    await asyncio.sleep(0.06)
    assert await cache.get("read-me") is None
    await asyncio.sleep(0.25)
    assert len(cache_files(tmp_path / "cache")) == 1


async def test_stale_temp_files_are_swept(make: Any, tmp_path: Path) -> None:
    cache = await make(sweep_interval=0)
    await cache.set("k", 1)
    (path,) = cache_files(tmp_path / "cache")
    stale = path.with_name(path.name + ".dead.tmp")
    stale.write_bytes(b"-\n1")
    old = time.time() - 7200
    os.utime(stale, (old, old))
    await cache._sweep()
    assert not stale.exists() and path.exists()


async def test_incr_is_exact_across_processes(make: Any, tmp_path: Path) -> None:
    worker = textwrap.dedent(f"""
        import asyncio
        from mega.cache.file import FileCache

        async def main():
            cache = FileCache("files", {{"path": {str(tmp_path / "cache")!r}}})
            await cache.connect()
            await asyncio.gather(*(cache.incr("shared") for _ in range(50)))
            await cache.disconnect()

        asyncio.run(main())
    """)
    procs = [subprocess.Popen([sys.executable, "-c", worker]) for _ in range(3)]
    cache = await make()
    await asyncio.gather(*(cache.incr("shared") for _ in range(50)))
    for proc in procs:
        assert await asyncio.to_thread(proc.wait, 60) == 0
    assert await cache.get("shared") == 200


async def test_health_checks_the_directory(make: Any) -> None:
    cache = await make()
    assert await cache.health() is True
    await cache.disconnect()
    assert await cache.health() is False


def test_a_bad_path_option_is_refused() -> None:
    with pytest.raises(MegaError) as info:
        FileCache("files", {"path": 42})
    assert info.value.code == "cache.invalid_option" and "path" in info.value.message


# -- what sessions rely on: modes, atomic writes, inode-checked deletes, the sweep, errors ----------


async def test_entries_are_0600_in_0700_directories(make: Any, tmp_path: Path) -> None:
    cache = await make()
    await cache.set("secret", {"user": 7})
    (path,) = cache_files(tmp_path / "cache")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    for folder in (path.parent, path.parent.parent):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700


async def test_concurrent_writes_are_atomic_and_leave_no_temp_files(make: Any, tmp_path: Path) -> None:
    cache = await make()
    values = [{"n": n, "pad": "x" * 20_000} for n in range(40)]
    results = await asyncio.gather(*(cache.set("k", v, ttl=60) for v in values),
                                   *(cache.get("k") for _ in range(40)))
    assert all(r is None or r in values for r in results[40:])  # never half a value
    assert await cache.get("k") in values
    assert [p.name.endswith(".tmp") for p in cache_files(tmp_path / "cache")] == [False]


async def test_a_failed_write_keeps_the_old_value_and_no_temp_file(make: Any, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    cache = await make()
    await cache.set("k", {"old": True})

    def fail(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(MegaError) as info:
        await cache.set("k", {"new": True})
    monkeypatch.undo()
    error = info.value
    assert (error.code, error.status) == ("cache.unavailable", 503)
    assert isinstance(error.__cause__, OSError)
    assert "No space" not in error.message and str(tmp_path) not in error.message  # off the wire
    assert len(cache_files(tmp_path / "cache")) == 1
    assert await cache.get("k") == {"old": True}


async def test_a_read_error_is_unavailable_and_deletes_nothing(make: Any, tmp_path: Path) -> None:
    cache = await make()
    await cache.set("k", 1)
    (path,) = cache_files(tmp_path / "cache")
    path.unlink()
    path.mkdir()  # unreadable as a file, whoever runs the test (root reads a chmod 0 file)
    (path / "data").write_text("someone's")
    with pytest.raises(MegaError) as info:
        await cache.get("k")
    assert info.value.code == "cache.unavailable" and "IsADirectoryError" in info.value.message
    assert await cache._sweep() == 0
    assert (path / "data").read_text() == "someone's"


async def test_an_expiry_delete_never_removes_a_file_replaced_since_its_read(make: Any,
                                                                             tmp_path: Path) -> None:
    cache = await make(sweep_interval=0)
    await cache.set("k", "old", ttl=0.05)
    assert len(cache_files(tmp_path / "cache")) == 1
    await asyncio.sleep(0.1)
    real_read = file_module._read_inode

    def read_then_replaced(target: Path) -> Any:  # a writer replaces the file right after this read
        found = real_read(target)
        file_module._write_atomic(target, b"-\n\"fresh\"")
        return found

    file_module._read_inode = read_then_replaced  # type: ignore[assignment]
    try:
        assert cache._sweep_files() == 0
    finally:
        file_module._read_inode = real_read  # type: ignore[assignment]
    assert await cache.get("k") == "fresh"


async def test_the_sweep_deletes_expired_damaged_and_stale_files_only(
        make: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    cache = await make(sweep_interval=0.2)
    await cache.set("old", 1, ttl=0.05)
    await cache.set("live", 2, ttl=60)
    await cache.set("damaged", 3)
    await cache.set("forever", 4)
    by_key = {p.name: p for p in cache_files(tmp_path / "cache")}
    damaged = cache._file(cache.prefix + "damaged")
    damaged.write_bytes(b"{not a cache entry")
    folder = damaged.parent
    (folder / "crashed.abcd.tmp").write_bytes(b"-\n1")
    os.utime(folder / "crashed.abcd.tmp", (time.time() - 7200, time.time() - 7200))
    (folder / "writing.abcd.tmp").write_bytes(b"-\n1")  # a write in progress elsewhere
    (folder / "notes.txt").write_text("not ours")
    with caplog.at_level(logging.WARNING, logger="mega.cache"):
        await asyncio.sleep(0.7)
    left = sorted(p.name for p in cache_files(tmp_path / "cache"))
    expected = {cache._file(cache.prefix + k).name for k in ("live", "forever")}
    assert left == sorted([*expected, "notes.txt", "writing.abcd.tmp"]), by_key
    assert await cache.get("live") == 2 and await cache.get("forever") == 4
    assert any("not a cache entry" in r.getMessage() for r in caplog.records)


async def test_a_failing_sweep_is_logged_and_retried(make: Any, monkeypatch: pytest.MonkeyPatch,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    cache = await make(sweep_interval=0)
    calls: list[int] = []

    async def boom() -> int:
        calls.append(1)
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(cache, "_sweep", boom)
    await cache.disconnect()
    cache.sweep_interval = 0.1
    with caplog.at_level(logging.ERROR, logger="mega.cache"):
        await cache.connect()
        await asyncio.sleep(0.45)
        await cache.disconnect()
    failures = [r for r in caplog.records if "sweep failed" in r.getMessage()]
    assert len(calls) >= 2 and len(failures) >= 2 and failures[0].exc_info is not None


async def test_no_sweep_runs_with_sweep_interval_zero(make: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []

    async def sweep() -> int:
        calls.append(1)
        return 0

    monkeypatch.setattr(FileCache, "_sweep", lambda self: sweep())
    await make(sweep_interval=0)
    await asyncio.sleep(0.3)
    assert calls == []
