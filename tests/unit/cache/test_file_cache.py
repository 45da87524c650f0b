"""The file driver beyond the contract: files on disk, several instances and processes, sweep."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

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
