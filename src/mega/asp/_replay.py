"""Replay caches: each nonce is accepted once while its request could still pass the drift check.

A timestamp is accepted within `drift` seconds either side of the server's clock, so a request may be
replayed for up to 2 x drift after it was sent: each cache keeps nonces that long.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Protocol

from mega.asp._wire import b64

if TYPE_CHECKING:
    from mega.cache.contract import Cache

__all__ = ["CacheReplay", "MemoryReplay", "ReplayCache"]

KEY_PREFIX = "asp:n:"


class ReplayCache(Protocol):
    async def first_use(self, nonce: bytes) -> bool:
        """True the first time `nonce` is seen within the window; False for a replay."""
        ...


class MemoryReplay:
    """This process's nonces. Every entry lives the same time, so the oldest expire first and are
    dropped from the front as new ones come in: no sweeper, and nothing live is ever evicted
    (an LRU bound would let a flood push out a nonce and reopen it to replay)."""

    __slots__ = ("_keep", "_seen", "_sweep_at")

    def __init__(self, drift: float) -> None:
        self._keep = 2 * drift
        self._seen: OrderedDict[bytes, float] = OrderedDict()
        self._sweep_at = math.inf  # when the oldest entry expires

    async def first_use(self, nonce: bytes) -> bool:
        return self.use(nonce)

    def use(self, nonce: bytes) -> bool:
        """`first_use` without awaiting (memory only)."""
        now = time.monotonic()
        seen = self._seen
        if now >= self._sweep_at:
            self._sweep_at = math.inf
            while seen:
                oldest, expires = next(iter(seen.items()))
                if expires > now:
                    self._sweep_at = expires
                    break
                del seen[oldest]
        if nonce in seen:
            return False
        expires = seen[nonce] = now + self._keep
        if self._sweep_at == math.inf:
            self._sweep_at = expires
        return True


class CacheReplay:
    """Nonces in a cache alias: with Redis, a nonce used on one process is refused on every other.

    `incr` is atomic in every driver, so of two processes racing with one nonce exactly one sees 1.
    """

    __slots__ = ("_cache", "_keep")

    def __init__(self, cache: Cache, drift: float) -> None:
        self._cache = cache
        self._keep = 2 * drift

    async def first_use(self, nonce: bytes) -> bool:
        key = KEY_PREFIX + b64(nonce)
        if await self._cache.incr(key) != 1:
            return False
        await self._cache.expire(key, self._keep)
        return True
