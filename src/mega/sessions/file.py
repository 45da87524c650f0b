"""`file` session store: one JSON file per session, written atomically, I/O in a worker thread.
Expired files go when their id comes back, and by a sweep every `cleanup_interval` seconds (the
factory sets one hour; 0 here means no sweep, for an external cron)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from mega.sessions.store import SessionStore, check_id, encode

__all__ = ["FileSessionStore"]

log = logging.getLogger("mega.sessions")


class FileSessionStore(SessionStore):
    driver = "file"

    def __init__(self, directory: str | Path, *, ttl: float, cleanup_interval: float = 0) -> None:
        super().__init__(ttl=ttl)
        self.directory = Path(directory)
        self.cleanup_interval = float(cleanup_interval)
        self._timer: asyncio.TimerHandle | None = None
        self._sweeping: asyncio.Task[None] | None = None
        self.swept = 0

    def _path(self, sid: str) -> Path:
        return self.directory / f"{check_id(sid)}.json"

    # -- blocking parts, run in a thread --------------------------------------------------------

    def _read(self, path: Path) -> dict[str, Any] | None:
        try:
            doc = orjson.loads(path.read_bytes())
            expires, data = float(doc["expires"]), doc["data"]
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError, OSError):
            log.warning("session file %s is damaged: dropped", path.name)
            with contextlib.suppress(OSError):
                path.unlink()
            return None
        if expires <= time.time():
            with contextlib.suppress(OSError):
                path.unlink()
            return None
        return data if isinstance(data, dict) else None

    def _write(self, path: Path, body: bytes) -> None:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".tmp-", suffix=".json")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(body)
            os.chmod(tmp, 0o600)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def _touch(self, path: Path, ttl: float) -> bool:
        data = self._read(path)
        if data is None:
            return False
        self._write(path, orjson.dumps({"expires": time.time() + ttl, "data": data}))
        return True

    def _sweep(self) -> int:
        gone = 0
        now = time.time()
        try:
            entries = list(self.directory.glob("*.json"))
        except OSError:
            return 0
        for path in entries:
            try:
                expires = float(orjson.loads(path.read_bytes())["expires"])
            except (ValueError, KeyError, TypeError, OSError):
                expires = 0.0
            if expires <= now:
                with contextlib.suppress(OSError):
                    path.unlink()
                    gone += 1
        return gone

    # -- contract -------------------------------------------------------------------------------

    async def load(self, sid: str) -> dict[str, Any] | None:
        path = self._path(sid)
        self.loads += 1
        try:
            return await asyncio.to_thread(self._read, path)
        except OSError as exc:
            raise self._unavailable(exc) from exc

    async def save(self, sid: str, data: dict[str, Any], ttl: float | None = None) -> None:
        path = self._path(sid)
        body = encode({"expires": time.time() + (ttl or self.ttl), "data": data})
        self.saves += 1
        try:
            await asyncio.to_thread(self._write, path, body)
        except OSError as exc:
            raise self._unavailable(exc) from exc

    async def destroy(self, sid: str) -> None:
        path = self._path(sid)
        self.destroys += 1
        with contextlib.suppress(FileNotFoundError):
            await asyncio.to_thread(path.unlink)

    async def touch(self, sid: str, ttl: float | None = None) -> bool:
        path = self._path(sid)
        try:
            return await asyncio.to_thread(self._touch, path, ttl or self.ttl)
        except OSError as exc:
            raise self._unavailable(exc) from exc

    # -- sweep ----------------------------------------------------------------------------------

    def start(self) -> None:
        if self.cleanup_interval > 0 and self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.cleanup_interval, self._tick)

    def _tick(self) -> None:
        self._sweeping = asyncio.get_running_loop().create_task(self._run_sweep())
        self._timer = asyncio.get_running_loop().call_later(self.cleanup_interval, self._tick)

    async def _run_sweep(self) -> None:
        try:
            self.swept += await asyncio.to_thread(self._sweep)
        except Exception:
            log.exception("sweeping expired session files in %s failed", self.directory)

    async def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._sweeping is not None and not self._sweeping.done():
            await asyncio.wait([self._sweeping], timeout=2)

    def stats(self) -> dict[str, Any]:
        return {**super().stats(), "directory": str(self.directory), "swept": self.swept,
                "cleanup_interval": self.cleanup_interval}
