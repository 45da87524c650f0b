"""`file` session store: `<directory>/<sid>.json` holding `{"expires": epoch seconds, "data": {...}}`.

Writes go to a temp file in the same directory, then `os.replace`, so a reader never sees half a
session; all file I/O runs in a worker thread. Expired files go when their id comes back, and by a
sweep every `cleanup_interval` seconds (0, the default here, means none: the boot factory sets one
hour, and an external cron can do it instead).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from mega.sessions.store import ID_PATTERN, SessionStore, check_id, check_seconds, encode

__all__ = ["FileSessionStore"]

log = logging.getLogger("mega.sessions")

_TMP_PREFIX = ".tmp-"
_STALE_TMP = 3600.0  # a temp file this old was left by a crashed writer
_CLOSE_WAIT = 5.0  # a sweep in its thread cannot be interrupted: wait this long for it at close


def _parse(raw: bytes) -> tuple[float, dict[str, Any]] | None:
    """(expires, data) of a session file, None when it is damaged."""
    try:
        doc = orjson.loads(raw)
        expires, data = float(doc["expires"]), doc["data"]
    except (ValueError, KeyError, TypeError, IndexError):  # orjson.JSONDecodeError is a ValueError
        return None
    return (expires, data) if isinstance(data, dict) and math.isfinite(expires) else None


def _open(path: Path) -> tuple[int, bytes] | None:
    """(inode, content) of a file, None when it does not exist."""
    try:
        with open(path, "rb") as fh:
            return os.fstat(fh.fileno()).st_ino, fh.read()
    except FileNotFoundError:
        return None


def _same_file(path: Path, ino: int) -> bool:
    # os.replace makes a new inode: a different one means another writer got there since our read
    try:
        return os.stat(path).st_ino == ino
    except FileNotFoundError:
        return False


def _unlink_if_same(path: Path, ino: int) -> bool:
    """Delete `path` unless it was rewritten since it was read (a fresh save must survive)."""
    if not _same_file(path, ino):
        return False
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True


class FileSessionStore(SessionStore):
    driver = "file"

    def __init__(self, directory: str | Path, *, ttl: float, cleanup_interval: float = 0) -> None:
        super().__init__(ttl=ttl)
        self.directory = Path(directory)
        self.cleanup_interval = check_seconds(cleanup_interval, "cleanup_interval", "FileSessionStore",
                                              zero_ok=True)
        self.swept = 0
        self._running = False
        self._timer: asyncio.TimerHandle | None = None
        self._sweeping: asyncio.Task[None] | None = None
        self._reported: set[tuple[str, int]] = set()

    def _path(self, sid: str) -> Path:
        return self.directory / f"{check_id(sid)}.json"

    # -- blocking parts, run in a thread ----------------------------------------------------------

    def _read(self, path: Path) -> tuple[int, dict[str, Any]] | None:
        """(inode, data) of a live session; expired and damaged files are deleted."""
        found = _open(path)
        if found is None:
            return None
        ino, raw = found
        entry = _parse(raw)
        if entry is None:
            self._drop_damaged(path, ino)
            return None
        if entry[0] <= time.time():
            self._unlink_quietly(path, ino)
            return None
        return ino, entry[1]

    def _drop_damaged(self, path: Path, ino: int) -> None:
        self._unlink_quietly(path, ino)
        if (path.name, ino) not in self._reported:  # once per file, even if it could not be deleted
            if len(self._reported) > 1000:
                self._reported.clear()
            self._reported.add((path.name, ino))
            log.warning("session file %s/%s... is damaged (not {expires, data} JSON): treated as missing "
                        "and deleted", self.directory, path.name[:8])

    def _unlink_quietly(self, path: Path, ino: int) -> None:
        # the session is over either way; a file we cannot delete is the sweep's problem, not the request's
        try:
            _unlink_if_same(path, ino)
        except OSError as exc:
            log.warning("cannot delete session file in %s: %s", self.directory, exc)

    def _write(self, path: Path, body: bytes, *, unless_changed: int | None = None) -> bool:
        """Write `body` atomically; with `unless_changed` (an inode), only over that same file."""
        try:
            fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=_TMP_PREFIX, suffix=".tmp")  # mode 0600
        except FileNotFoundError:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=_TMP_PREFIX, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(body)
            if unless_changed is not None and not _same_file(path, unless_changed):
                os.unlink(tmp)
                return False
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        return True

    def _touch(self, path: Path, ttl: float) -> bool:
        found = self._read(path)
        if found is None:
            return False
        ino, data = found
        if self._write(path, _body(data, ttl), unless_changed=ino):
            return True
        # rewritten since our read: a save set its own expiry (keep it); destroyed: stay destroyed
        return path.exists()

    def _sweep(self) -> int:
        """Delete expired and damaged session files and stale temp files; the number deleted."""
        try:
            names = os.listdir(self.directory)
        except FileNotFoundError:
            return 0  # nothing saved yet
        now, gone, failed = time.time(), 0, 0
        first: OSError | None = None
        for name in names:
            path = self.directory / name
            try:
                if name.startswith(_TMP_PREFIX):
                    if path.stat().st_mtime < now - _STALE_TMP:
                        path.unlink()
                        gone += 1
                elif name.endswith(".json") and ID_PATTERN.fullmatch(name[:-5]):
                    gone += self._sweep_one(path, now)
            except FileNotFoundError:
                continue
            except OSError as exc:
                failed, first = failed + 1, first or exc
        if failed:
            log.warning("session sweep in %s: %d files could not be checked, e.g. %s", self.directory,
                        failed, first)
        return gone

    def _sweep_one(self, path: Path, now: float) -> bool:
        found = _open(path)
        if found is None:
            return False
        ino, raw = found
        entry = _parse(raw)
        if entry is None:
            self._drop_damaged(path, ino)
            return not path.exists()
        return entry[0] <= now and _unlink_if_same(path, ino)

    # -- contract ---------------------------------------------------------------------------------

    async def load(self, sid: str) -> dict[str, Any] | None:
        path = self._path(sid)
        self.loads += 1
        try:
            found = await asyncio.to_thread(self._read, path)
        except OSError as exc:
            raise self._unavailable(exc) from exc
        if found is None:
            return None
        self.hits += 1
        return found[1]

    async def save(self, sid: str, data: dict[str, Any], ttl: float | None = None) -> None:
        path = self._path(sid)
        body = _body(data, self._ttl(ttl))
        self.saves += 1
        try:
            await asyncio.to_thread(self._write, path, body)
        except OSError as exc:
            raise self._unavailable(exc) from exc

    async def destroy(self, sid: str) -> None:
        path = self._path(sid)
        self.destroys += 1
        try:
            await asyncio.to_thread(path.unlink, missing_ok=True)
        except OSError as exc:
            raise self._unavailable(exc) from exc

    async def touch(self, sid: str, ttl: float | None = None) -> bool:
        path = self._path(sid)
        seconds = self._ttl(ttl)
        self.touches += 1
        try:
            return await asyncio.to_thread(self._touch, path, seconds)
        except OSError as exc:
            raise self._unavailable(exc) from exc

    # -- sweep ------------------------------------------------------------------------------------

    def start(self) -> None:
        """Sweep every `cleanup_interval` seconds (nothing when it is 0). Needs a running loop."""
        if self.cleanup_interval <= 0 or self._running:
            return
        loop = asyncio.get_running_loop()
        self._running = True
        # an asyncio timer never keeps the process alive: the loop stops when the app's main task ends
        self._timer = loop.call_later(self.cleanup_interval, self._tick)

    def _tick(self) -> None:
        self._timer = None
        if self._running:
            self._sweeping = asyncio.get_running_loop().create_task(self._run_sweep(),
                                                                    name="mega-session-sweep")

    async def _run_sweep(self) -> None:
        try:
            gone = await asyncio.to_thread(self._sweep)
        except Exception:
            log.exception("sweeping expired session files in %s failed (retried in %ss)", self.directory,
                          self.cleanup_interval)
        else:
            self.swept += gone
            if gone:
                log.debug("swept %d expired session files from %s", gone, self.directory)
        if self._running:  # the next sweep is timed from the end of this one: sweeps never overlap
            self._timer = asyncio.get_running_loop().call_later(self.cleanup_interval, self._tick)

    async def close(self) -> None:
        self._running = False
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        task, self._sweeping = self._sweeping, None
        if task is not None and not task.done():
            _, pending = await asyncio.wait([task], timeout=_CLOSE_WAIT)
            if pending:
                log.warning("a session sweep of %s was still running at close", self.directory)

    def stats(self) -> dict[str, Any]:
        return {**super().stats(), "directory": str(self.directory), "swept": self.swept,
                "cleanup_interval": self.cleanup_interval, "sweeping": self._running}


def _body(data: dict[str, Any], ttl: float) -> bytes:
    # data is encoded on its own so an error names the session's key, not the envelope's
    return b'{"expires":' + orjson.dumps(time.time() + ttl) + b',"data":' + encode(data) + b"}"
