"""`file` cache: one file per key under a directory, shared by the processes that use it.

Layout: `<path>/ns-<hash of prefix>/<h[:2]>/<h>` where h is the SHA-256 of the key. A file holds its
expiry (wall clock, so it outlives the process) on the first line and the JSON value after it.
Writes go to a temp file (mode 0600, named `*.tmp` so the sweep never reads it) then `os.replace`
(readers never see half a value); writes and read-modify-write operations hold a lock per stripe of
keys: an asyncio lock in the process (waiters hold no thread) and `flock` across processes. Expiry
deletes also check the file's inode, so a file another writer just replaced is never removed. A read
error is an error (`cache.unavailable`), never a reason to delete. All file IO runs in threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import re
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from mega.cache._sweep import start_sweeper, stop_sweeper
from mega.cache.contract import Cache, next_count

try:
    import fcntl
except ImportError:  # Windows: the asyncio locks still serialise one process
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger("mega.cache")

T = TypeVar("T")
_NO_EXPIRY = b"-"
_STRIPES = 256  # one lock per first hash byte
_STALE_TMP = 3600.0  # a temp file this old was left by a crashed writer
_ENTRY_NAME = re.compile(r"[0-9a-f]{64}")  # what `_file` names an entry


class FileCache(Cache):
    """Options: `path` (default `var/cache` in the project), `sweep_interval` (300 s, 0 = off)."""

    driver = "file"
    driver_options = frozenset({"path", "sweep_interval"})

    def __init__(self, alias: str, options: dict[str, Any]) -> None:
        super().__init__(alias, options)
        path = self.options.get("path", "var/cache")
        if not isinstance(path, str | os.PathLike):
            raise self._option_error("path", f"must be a directory path, got {path!r}")
        self._path_option: str | os.PathLike[str] = path
        self.sweep_interval = self._interval_option("sweep_interval", 300.0)
        self.directory = Path()
        self._namespace = "ns-" + hashlib.sha256(self.prefix.encode()).hexdigest()[:16]
        self._locks: list[asyncio.Lock] = []
        self._sweeper: asyncio.Task[None] | None = None

    @property
    def namespace_dir(self) -> Path:
        return self.directory / self._namespace

    def target(self) -> str:
        return str(self.resolve_path(self._path_option))

    async def _connect(self) -> Path:
        self.directory = self.resolve_path(self._path_option)
        await asyncio.to_thread(self._prepare)
        self._locks = [asyncio.Lock() for _ in range(_STRIPES)]
        if self.sweep_interval:
            self._sweeper = start_sweeper(self.sweep_interval, self._sweep, f"cache:{self.alias}")
        return self.directory

    def _prepare(self) -> None:
        (self.directory / ".locks").mkdir(mode=0o700, parents=True, exist_ok=True)
        self.namespace_dir.mkdir(mode=0o700, exist_ok=True)

    async def _disconnect(self, native: Any) -> None:
        await stop_sweeper(self._sweeper)
        self._sweeper = None

    async def health(self) -> bool:
        return self.connected and os.access(self.namespace_dir, os.W_OK)

    def stats(self) -> dict[str, Any]:
        return {**super().stats(), "path": str(self.directory)}

    # -- primitives --------------------------------------------------------------------------

    async def _do_get(self, key: str) -> bytes | None:
        return await self._read_live(key)

    async def _do_set(self, key: str, raw: bytes, ttl: float | None) -> None:
        expires = _deadline(ttl)
        await self._locked([key], lambda: self._write(self._file(key), raw, expires))

    async def _do_delete(self, key: str) -> bool:
        return await self._locked([key], lambda: self._delete_live(self._file(key)))

    async def _do_has(self, key: str) -> bool:
        return await self._read_live(key) is not None

    async def _do_incr(self, key: str, by: int, user_key: str) -> int:
        def incr() -> int:
            path = self._file(key)
            entry = _read(path)
            raw, expires = entry if entry is not None and _alive(entry[1]) else (None, None)
            value = next_count(raw, by, user_key)
            self._write(path, b"%d" % value, expires)
            return value

        return await self._locked([key], incr)

    async def _do_expire(self, key: str, ttl: float) -> bool:
        def expire() -> bool:
            path = self._file(key)
            entry = _read(path)
            if entry is None or not _alive(entry[1]):
                return False
            self._write(path, entry[0], _deadline(ttl))
            return True

        return await self._locked([key], expire)

    async def _do_ttl(self, key: str) -> float | None:
        entry = await asyncio.to_thread(_read, self._file(key))
        if entry is None or entry[1] is None or not _alive(entry[1]):
            return None
        return max(entry[1] - time.time(), 0.0)

    async def _do_get_many(self, keys: list[str]) -> list[bytes | None]:
        def read_all() -> list[bytes | None]:
            out: list[bytes | None] = []
            for key in keys:
                entry = _read(self._file(key))
                out.append(entry[0] if entry is not None and _alive(entry[1]) else None)
            return out

        return await asyncio.to_thread(read_all)

    async def _do_set_many(self, items: list[tuple[str, bytes]], ttl: float | None) -> None:
        expires = _deadline(ttl)

        def write_all() -> None:
            for key, raw in items:
                self._write(self._file(key), raw, expires)

        await self._locked([k for k, _ in items], write_all)

    async def _do_clear(self) -> None:
        def clear() -> None:
            # Rename first: the namespace disappears at once, then the files go at leisure.
            trash = self.directory / f".trash-{uuid.uuid4().hex}"
            with contextlib.suppress(FileNotFoundError):
                os.replace(self.namespace_dir, trash)
                shutil.rmtree(trash, ignore_errors=True)
            self.namespace_dir.mkdir(mode=0o700, exist_ok=True)

        self._check_connected()
        await asyncio.to_thread(clear)

    # -- files -------------------------------------------------------------------------------

    def _check_connected(self) -> None:
        _ = self.native  # raises adapter.not_connected before connect()

    def _file(self, key: str) -> Path:
        digest = hashlib.sha256(key.encode()).hexdigest()
        return self.namespace_dir / digest[:2] / digest

    async def _read_live(self, key: str) -> bytes | None:
        self._check_connected()
        path = self._file(key)
        entry = await asyncio.to_thread(_read, path)
        if entry is None:
            return None
        if not _alive(entry[1]):
            await self._locked([key], lambda: self._delete_expired(path))
            return None
        return entry[0]

    async def _locked(self, keys: list[str], work: Callable[[], T]) -> T:
        """Run `work` in a thread holding the stripe locks of `keys` (taken in order: no deadlock)."""
        self._check_connected()
        stripes = sorted({int(hashlib.sha256(k.encode()).hexdigest()[:2], 16) for k in keys})
        async with contextlib.AsyncExitStack() as stack:
            for stripe in stripes:
                await stack.enter_async_context(self._locks[stripe])
            return await asyncio.to_thread(self._with_flocks, stripes, work)

    def _with_flocks(self, stripes: list[int], work: Callable[[], T]) -> T:
        with contextlib.ExitStack() as stack:
            for stripe in stripes:
                stack.enter_context(_flock(self.directory / ".locks" / f"{stripe:02x}"))
            return work()

    def _write(self, path: Path, raw: bytes, expires: float | None) -> None:
        data = (_NO_EXPIRY if expires is None else repr(expires).encode()) + b"\n" + raw
        try:
            _write_atomic(path, data)
        except FileNotFoundError:  # clear() moved the namespace away mid-write: write into the new one
            _write_atomic(path, data)

    def _delete_live(self, path: Path) -> bool:
        entry = _read(path)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        return entry is not None and _alive(entry[1])

    def _delete_expired(self, path: Path, now: float | None = None) -> bool:
        """Delete `path` if it holds an expired entry (re-read under the lock: a writer may have just
        replaced it); the inode check keeps a file that was replaced after this read."""
        found = _read_inode(path)
        if found is None:
            return False
        ino, data = found
        entry = _parse(data)
        if entry is not None and _alive(entry[1], now):
            return False
        if entry is None:
            log.warning("cache file %s is not a cache entry: deleted", path)
        return _unlink_if_same(path, ino)

    async def _sweep(self) -> int:
        return await asyncio.to_thread(self._sweep_files)

    def _sweep_files(self) -> int:
        removed = failed = 0
        now = time.time()
        first: OSError | None = None
        for path in self.namespace_dir.glob("*/*"):
            try:
                if path.name.endswith(".tmp"):  # a write in progress, or left by a crashed writer
                    if now - path.stat().st_mtime > _STALE_TMP:
                        path.unlink()
                        removed += 1
                    continue
                if not _ENTRY_NAME.fullmatch(path.name):
                    continue  # not written by this cache: not ours to judge
                entry = _read(path)
                if entry is None or not _alive(entry[1], now):
                    with _flock(self.directory / ".locks" / f"{int(path.name[:2], 16):02x}"):
                        removed += self._delete_expired(path, now)
            except FileNotFoundError:
                continue
            except OSError as exc:  # one unreadable file must not stop the sweep of the others
                failed, first = failed + 1, first or exc
        if failed:
            log.warning("cache sweep of %s: %d files could not be checked, e.g. %s", self.namespace_dir,
                        failed, first)
        return removed


def _deadline(ttl: float | None) -> float | None:
    return None if ttl is None else time.time() + ttl


def _alive(expires: float | None, now: float | None = None) -> bool:
    return expires is None or expires > (time.time() if now is None else now)


def _read(path: Path) -> tuple[bytes, float | None] | None:
    """(value, expiry) of a cache file, or None when there is none (or it is not a cache entry)."""
    try:
        data = path.read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        return None
    return _parse(data)


def _read_inode(path: Path) -> tuple[int, bytes] | None:
    """(inode, content) of a file, None when it does not exist."""
    try:
        with open(path, "rb") as fh:
            return os.fstat(fh.fileno()).st_ino, fh.read()
    except (FileNotFoundError, NotADirectoryError):
        return None


def _unlink_if_same(path: Path, ino: int) -> bool:
    """Delete `path` unless it was replaced since it was read (`os.replace` makes a new inode)."""
    try:
        if os.stat(path).st_ino != ino:
            return False
        path.unlink()
    except FileNotFoundError:
        return False
    return True


def _parse(data: bytes) -> tuple[bytes, float | None] | None:
    head, sep, raw = data.partition(b"\n")
    if not sep:
        return None  # not ours (or truncated): treat as missing
    try:
        expires = None if head == _NO_EXPIRY else float(head)
    except ValueError:
        return None
    return raw, expires


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # entries may hold sessions
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


@contextlib.contextmanager
def _flock(path: Path) -> Iterator[None]:
    if fcntl is None:
        yield
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock
