"""`memory` lock: in-process, one event loop. Waiters queue per key and are served in arrival order.

Nothing polls: a waiter is a future in the key's queue, and the release (or the holder's expiry)
hands the key straight to the first waiter still waiting, so a newcomer never barges in.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections import deque
from typing import Any

from mega.lock._fence import TokenClock
from mega.lock.contract import Held, Lock

__all__ = ["MemoryLock"]


class _Key:
    __slots__ = ("holder", "waiters")

    def __init__(self) -> None:
        self.holder: Held | None = None
        self.waiters: deque[tuple[asyncio.Future[Held], float]] = deque()


class MemoryLock(Lock):
    driver = "memory"

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._keys: dict[str, _Key] = {}
        self._tokens = TokenClock()

    async def _do_acquire(self, key: str, ttl: float, wait: float) -> Held | None:
        state = self._keys.get(key)
        if state is None:
            state = self._keys[key] = _Key()
            return self._grant(state, key, ttl)
        if wait <= 0:
            return None
        future: asyncio.Future[Held] = asyncio.get_running_loop().create_future()
        entry = (future, ttl)
        state.waiters.append(entry)
        try:
            if math.isinf(wait):
                return await future
            async with asyncio.timeout(wait):
                return await future
        except TimeoutError:
            # Granted in the same instant the wait ran out: keep it.
            return future.result() if future.done() and not future.cancelled() else None
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self._hand_on(future.result())  # granted, then cancelled before it could run
            raise
        finally:
            if not future.done():
                future.cancel()
                with contextlib.suppress(ValueError):
                    state.waiters.remove(entry)

    async def _do_release(self, held: Held) -> bool:
        return self._hand_on(held)

    async def _do_extend(self, held: Held, ttl: float) -> bool:
        state = self._keys.get(held.key)
        return state is not None and state.holder is held

    def _on_lost(self, held: Held) -> None:
        self._hand_on(held)

    async def _do_close(self) -> None:
        for key, state in self._keys.items():
            while state.waiters:
                future, _ = state.waiters.popleft()
                if not future.done():
                    future.set_exception(self._closed_error(key))

    async def stats(self) -> dict[str, Any]:
        return {**await super().stats(), "keys": len(self._keys)}

    # -- internals -------------------------------------------------------------------------------

    def _grant(self, state: _Key, key: str, ttl: float) -> Held:
        now = asyncio.get_running_loop().time()
        held = Held(self, key, self._tokens.next(), ttl, now + ttl, key)
        state.holder = held
        return held

    def _hand_on(self, held: Held) -> bool:
        """If `held` holds its key, pass the key to the first live waiter (or free it); True if it did."""
        state = self._keys.get(held.key)
        if state is None or state.holder is not held:
            return False
        state.holder = None
        while state.waiters:
            future, ttl = state.waiters.popleft()
            if not future.done():
                future.set_result(self._grant(state, held.key, ttl))
                return True
        del self._keys[held.key]
        return True
