"""`memory` cache: an in-process LRU dict, bounded by `max_entries`; per process (not shared)."""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from typing import Any

import orjson

from mega.cache._sweep import start_sweeper, stop_sweeper
from mega.cache.contract import Cache, next_count

Entry = tuple[bytes, float | None]  # (encoded value, monotonic expiry or None)


class MemoryCache(Cache):
    """Options: `max_entries` (10,000; least recently used go first), `sweep_interval` (60 s, 0 = off)."""

    driver = "memory"
    driver_options = frozenset({"max_entries", "sweep_interval"})

    def __init__(self, alias: str, options: dict[str, Any]) -> None:
        super().__init__(alias, options)
        self.max_entries = self._int_option("max_entries", 10_000)
        self.sweep_interval = self._interval_option("sweep_interval", 60.0)
        self.evictions = 0
        self._store: OrderedDict[str, Entry] = OrderedDict()
        self._sweeper: asyncio.Task[None] | None = None

    def target(self) -> str:
        return "memory"

    async def _connect(self) -> OrderedDict[str, Entry]:
        self._store = OrderedDict()
        if self.sweep_interval:
            self._sweeper = start_sweeper(self.sweep_interval, self._sweep, f"cache:{self.alias}")
        return self._store

    async def _disconnect(self, native: Any) -> None:
        await stop_sweeper(self._sweeper)
        self._sweeper = None
        self._store.clear()

    def stats(self) -> dict[str, Any]:
        return {**super().stats(), "entries": len(self._store), "max_entries": self.max_entries,
                "evictions": self.evictions}

    async def get(self, key: str, default: Any = None) -> Any:
        """`Cache.get` in one frame when no observer is attached (the common read of a request)."""
        if self.observe is not None or not isinstance(key, str):
            return await super().get(key, default)
        self.calls += 1
        if self._connected:
            store: OrderedDict[str, Entry] = self._native
        else:
            self.errors += 1
            store = self.native  # raises adapter.not_connected
        full = self.prefix + key
        entry = store.get(full)  # `_live`, inlined: the read of a request
        if entry is None:
            return default
        if entry[1] is not None and entry[1] <= time.monotonic():
            del store[full]
            return default
        store.move_to_end(full)
        try:
            return orjson.loads(entry[0])
        except orjson.JSONDecodeError:
            return self._decode(entry[0], key)  # says which key holds what is not JSON

    # -- primitives --------------------------------------------------------------------------

    def _live(self, key: str, touch: bool = True) -> Entry | None:
        """The unexpired entry at `key` (expired ones are dropped here, lazily)."""
        store: OrderedDict[str, Entry] = self.native  # raises adapter.not_connected before connect
        entry = store.get(key)
        if entry is None:
            return None
        if entry[1] is not None and entry[1] <= time.monotonic():
            del store[key]
            return None
        if touch:
            store.move_to_end(key)
        return entry

    def _put(self, key: str, raw: bytes, expires: float | None) -> None:
        store: OrderedDict[str, Entry] = self.native
        store[key] = (raw, expires)
        store.move_to_end(key)
        while len(store) > self.max_entries:
            store.popitem(last=False)
            self.evictions += 1

    @staticmethod
    def _deadline(ttl: float | None) -> float | None:
        return None if ttl is None else time.monotonic() + ttl

    async def _do_get(self, key: str) -> bytes | None:
        entry = self._live(key)
        return None if entry is None else entry[0]

    async def _do_set(self, key: str, raw: bytes, ttl: float | None) -> None:
        self._put(key, raw, self._deadline(ttl))

    async def _do_delete(self, key: str) -> bool:
        found = self._live(key, touch=False) is not None
        if found:
            del self._store[key]
        return found

    async def _do_has(self, key: str) -> bool:
        return self._live(key, touch=False) is not None

    async def _do_incr(self, key: str, by: int, user_key: str) -> int:
        entry = self._live(key)
        value = next_count(None if entry is None else entry[0], by, user_key)
        self._put(key, b"%d" % value, None if entry is None else entry[1])
        return value

    async def _do_expire(self, key: str, ttl: float) -> bool:
        entry = self._live(key, touch=False)
        if entry is None:
            return False
        self._store[key] = (entry[0], self._deadline(ttl))
        return True

    async def _do_ttl(self, key: str) -> float | None:
        entry = self._live(key, touch=False)
        if entry is None or entry[1] is None:
            return None
        return max(entry[1] - time.monotonic(), 0.0)

    async def _do_get_many(self, keys: list[str]) -> list[bytes | None]:
        out: list[bytes | None] = []
        for key in keys:
            entry = self._live(key)
            out.append(None if entry is None else entry[0])
        return out

    async def _do_set_many(self, items: list[tuple[str, bytes]], ttl: float | None) -> None:
        expires = self._deadline(ttl)
        for key, raw in items:
            self._put(key, raw, expires)

    async def _do_clear(self) -> None:
        self.native.clear()

    async def _sweep(self) -> int:
        now = time.monotonic()
        store = self._store
        expired = [k for k, (_, exp) in store.items() if exp is not None and exp <= now]
        for key in expired:
            store.pop(key, None)
        return len(expired)
