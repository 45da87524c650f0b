"""The session store: session data in a cache (`services.caches.<alias>`, or the built-in file cache).

One key per session, `<prefix><sid>`, holding the JSON data with the session's ttl as the cache
entry's expiry; `touch` is the cache's `expire`. What a store must guarantee on disk or in Redis
(atomic 0600 files, expiry deletes that never remove a fresh write, the sweep, Redis-enforced
expiry) is the cache driver's job; this module adds the id check, the value errors and the 503s.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import weakref
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from mega.errors import MegaError
from mega.sessions.store import SessionStore, check_id, encode

if TYPE_CHECKING:
    from mega.cache.contract import Cache

__all__ = ["DEFAULT_PREFIX", "CacheSessionStore"]

log = logging.getLogger("mega.sessions")

T = TypeVar("T")

DEFAULT_PREFIX = "mega:sess:"
_FOREIGN = "cache.invalid_value"  # what the cache says of a value it did not write
_USER_KEY = re.compile(r"[0-9a-f]{32}")
_INDEX_MAX = 1000  # sessions remembered per user: the oldest go first
_INDEX_GRACE = 120.0  # seconds an indexed id may wait for its first save (the login request's commit)


class CacheSessionStore(SessionStore):
    """Sessions in `cache`. With `owns`, the store connects the cache (at `start`, or at first use)
    and disconnects it at `close`; otherwise the cache belongs to the adapters."""

    def __init__(self, cache: Cache, *, ttl: float, prefix: str = DEFAULT_PREFIX, owns: bool = False) -> None:
        super().__init__(ttl=ttl)
        if not isinstance(prefix, str):
            raise MegaError("session.invalid_config", f"CacheSessionStore: prefix must be a string, got "
                            f"{prefix!r}", status=500, hint=f"e.g. {DEFAULT_PREFIX!r}")
        self.cache = cache
        self.driver = cache.driver
        self.prefix = prefix
        self.owns = owns
        self._opening: asyncio.Task[None] | None = None
        # the index's read-change-write, one at a time per user in this process
        self._index_locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    def _key(self, sid: str) -> str:
        return self.prefix + check_id(sid)

    # -- the per-user index -----------------------------------------------------------------------
    # `<prefix>u:<user key>` holds [[sid, added_at], ...]. A session that expired or was destroyed
    # elsewhere is dropped at the next change (ids still waiting for their first save are kept for
    # _INDEX_GRACE seconds); the index itself expires later than any session it lists.

    def _index_key(self, user_key: str) -> str:
        if not isinstance(user_key, str) or not _USER_KEY.fullmatch(user_key):
            raise MegaError("session.invalid_id", "a user index key is 32 hex digits", status=500,
                            hint="use SessionManager.user_key(user_id)")
        return f"{self.prefix}u:{user_key}"

    def _index_lock(self, user_key: str) -> asyncio.Lock:
        lock = self._index_locks.get(user_key)
        if lock is None:
            lock = self._index_locks[user_key] = asyncio.Lock()
        return lock

    async def _live_entries(self, key: str) -> list[list[Any]]:
        raw = await self._call(lambda: self.cache.get(key))
        entries = [e for e in raw if isinstance(e, list) and len(e) == 2 and isinstance(e[0], str)
                   and isinstance(e[1], int | float)] if isinstance(raw, list) else []
        if not entries:
            return []
        keys = [self.prefix + e[0] for e in entries]
        found = await self._call(lambda: self.cache.get_many(keys))
        now, grace = time.time(), min(_INDEX_GRACE, self.ttl)
        return [e for e in entries if self.prefix + e[0] in found or now - e[1] < grace]

    async def _write_index(self, key: str, entries: list[list[Any]], ttl: float) -> None:
        if entries:
            await self._call(lambda: self.cache.set(key, entries[-_INDEX_MAX:], ttl=ttl))
        else:
            await self._call(lambda: self.cache.delete(key))

    async def add_user_session(self, user_key: str, sid: str, ttl: float) -> None:
        key = self._index_key(user_key)
        check_id(sid)
        async with self._index_lock(user_key):
            entries = [e for e in await self._live_entries(key) if e[0] != sid]
            entries.append([sid, time.time()])
            await self._write_index(key, entries, ttl)

    async def remove_user_sessions(self, user_key: str, sids: list[str], ttl: float) -> None:
        key = self._index_key(user_key)
        gone = set(sids)
        async with self._index_lock(user_key):
            entries = await self._live_entries(key)
            await self._write_index(key, [e for e in entries if e[0] not in gone], ttl)

    async def keep_user_index(self, user_key: str, sid: str, ttl: float) -> None:
        key = self._index_key(user_key)
        raw = await self._call(lambda: self.cache.get(key))
        listed = isinstance(raw, list) and any(isinstance(e, list) and e and e[0] == sid for e in raw)
        if not listed or not await self._call(lambda: self.cache.expire(key, ttl)):
            await self.add_user_session(user_key, sid, ttl)  # dropped by a crossed write, or expired

    async def user_sessions(self, user_key: str) -> list[str]:
        key = self._index_key(user_key)
        return [e[0] for e in await self._live_entries(key)]

    # -- contract ---------------------------------------------------------------------------------

    async def load(self, sid: str) -> dict[str, Any] | None:
        key = self._key(sid)
        self.loads += 1
        try:
            data = await self._call(lambda: self.cache.get(key))
        except MegaError as exc:
            if exc.code != _FOREIGN:
                raise
            data = exc  # not JSON: reported below like any other foreign value
        if data is None:
            return None
        if not isinstance(data, dict):
            # written by something else under our prefix: not ours to delete
            log.warning("session key %s%s... in cache '%s' does not hold a JSON object: treated as missing",
                        self.prefix, sid[:8], self.cache.alias)
            return None
        self.hits += 1
        return data

    async def save(self, sid: str, data: dict[str, Any], ttl: float | None = None) -> None:
        key, seconds = self._key(sid), self._ttl(ttl)
        if not isinstance(data, dict):
            encode(data)  # raises session.invalid_value
        self.saves += 1
        try:
            await self._call(lambda: self.cache.set(key, data, ttl=seconds))
        except MegaError as exc:
            if exc.code == _FOREIGN:
                encode(data)  # raises the session error, naming the key path and type that fail
            raise

    async def destroy(self, sid: str) -> None:
        key = self._key(sid)
        self.destroys += 1
        await self._call(lambda: self.cache.delete(key))

    async def touch(self, sid: str, ttl: float | None = None) -> bool:
        key, seconds = self._key(sid), self._ttl(ttl)
        self.touches += 1
        return await self._call(lambda: self.cache.expire(key, seconds))

    async def _call(self, call: Callable[[], Awaitable[T]]) -> T:
        """`call` on a connected cache; an outage (a 503 from the cache) becomes session.unavailable."""
        try:
            if self.owns and not self.cache.connected:
                await self._open()
            return await call()
        except MegaError as exc:
            if exc.status != 503:
                raise
            raise self._unavailable(exc) from exc

    # -- lifecycle --------------------------------------------------------------------------------

    def start(self) -> None:
        """Connect an owned cache now (so its sweep runs from boot); without a running loop, the
        first call connects it."""
        if not self.owns or self.cache.connected or self._opening is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._opening = loop.create_task(self.cache.connect(), name=f"mega-sessions:{self.cache.alias}")
        self._opening.add_done_callback(self._opened)

    def _opened(self, task: asyncio.Task[None]) -> None:
        # retrieved here, so a failure is logged once; the session call that waited gets session.unavailable
        if not task.cancelled() and task.exception() is not None:
            log.warning("the sessions cache '%s' could not be opened: %s", self.cache.alias,
                        task.exception())

    async def _open(self) -> None:
        """Connect the owned cache once, however many requests wait for it; a failure is retried."""
        if self._opening is None or self._opening.done():
            self._opening = asyncio.get_running_loop().create_task(self.cache.connect())
            self._opening.add_done_callback(self._opened)
        await asyncio.shield(self._opening)

    async def close(self) -> None:
        opening, self._opening = self._opening, None
        if opening is not None and not opening.done():
            opening.cancel()
            await asyncio.gather(opening, return_exceptions=True)
        if self.owns:
            await self.cache.disconnect()

    def stats(self) -> dict[str, Any]:
        return {**super().stats(), "cache": self.cache.alias, "prefix": self.prefix,
                "connected": self.cache.connected}

    def _unavailable(self, exc: BaseException) -> MegaError:
        # named after the cause the cache wrapped (OSError, ConnectionError), the chain kept
        root = exc.__cause__ if isinstance(exc, MegaError) and exc.__cause__ is not None else exc
        error = super()._unavailable(root)
        error.__cause__ = exc
        return error
