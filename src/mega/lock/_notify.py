"""Release notifications over Redis pub/sub: one subscriber connection per lock, one channel per key.

A waiter subscribes to its key's channel (and waits for Redis to confirm) before it retries, so a
release published after that retry cannot be missed. A channel stays subscribed a few seconds after
its last waiter left: under contention the next waiter finds it ready. A lost connection is
re-established by redis-py on the next read, which resubscribes; meanwhile waiters poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from redis.exceptions import RedisError

log = logging.getLogger("mega.lock")

LINGER = 5.0  # seconds a channel stays subscribed after its last waiter
CONFIRM_WITHIN = 1.0  # seconds to wait for a subscribe confirmation before relying on polling


class Notifier:
    def __init__(self, client: Any) -> None:
        self._client = client
        self._pubsub: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._events: dict[str, set[asyncio.Event]] = {}
        self._confirmed: dict[str, asyncio.Future[None]] = {}
        self._changing = asyncio.Lock()  # subscribe/unsubscribe commands go out in a known order
        self._lingering: dict[str, asyncio.TimerHandle] = {}
        self._closed = False

    @contextlib.asynccontextmanager
    async def watch(self, channel: str, confirm_within: float) -> AsyncIterator[asyncio.Event]:
        """An event set whenever `channel` receives a message, while the block runs.

        Raises redis' own errors when the subscription cannot be sent.
        """
        event = asyncio.Event()
        self._events.setdefault(channel, set()).add(event)
        handle = self._lingering.pop(channel, None)
        if handle is not None:
            handle.cancel()
        try:
            await self._subscribe(channel, min(confirm_within, CONFIRM_WITHIN))
            yield event
        finally:
            waiters = self._events.get(channel)
            if waiters is not None:
                waiters.discard(event)
                if not waiters:
                    del self._events[channel]
                    if not self._closed:
                        self._lingering[channel] = asyncio.get_running_loop().call_later(
                            LINGER, self._spawn_unsubscribe, channel)

    async def close(self) -> None:
        self._closed = True
        for handle in self._lingering.values():
            handle.cancel()
        self._lingering.clear()
        for events in self._events.values():
            for event in events:
                event.set()  # waiters wake, see the lock closed and raise
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
            self._reader = None
        if self._pubsub is not None:
            with contextlib.suppress(RedisError, OSError):
                await self._pubsub.aclose()
            self._pubsub = None

    async def _subscribe(self, channel: str, confirm_within: float) -> None:
        if self._closed:
            return  # the waiter sees its lock closed and leaves
        async with self._changing:
            confirmed = self._confirmed.get(channel)
            if confirmed is None:
                if self._pubsub is None:
                    self._pubsub = self._client.pubsub()
                confirmed = self._confirmed[channel] = asyncio.get_running_loop().create_future()
                try:
                    await self._pubsub.subscribe(channel)
                except BaseException:
                    del self._confirmed[channel]
                    raise
                if self._reader is None:
                    self._reader = asyncio.get_running_loop().create_task(self._read())
        if not confirmed.done():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(confirm_within):
                    await asyncio.shield(confirmed)

    def _spawn_unsubscribe(self, channel: str) -> None:
        self._lingering.pop(channel, None)
        if channel not in self._events and not self._closed:
            task = asyncio.get_running_loop().create_task(self._unsubscribe(channel))
            task.add_done_callback(_log_failure)

    async def _unsubscribe(self, channel: str) -> None:
        async with self._changing:
            if channel in self._events or channel not in self._confirmed or self._pubsub is None:
                return
            del self._confirmed[channel]
            with contextlib.suppress(RedisError, OSError):
                await self._pubsub.unsubscribe(channel)

    async def _read(self) -> None:
        backoff = 0.05
        while True:
            try:
                message = await self._pubsub.get_message(timeout=None)
            except (RedisError, OSError) as exc:
                log.debug("lock notifications: %s; reconnecting in %.2f s", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 1.0)
                continue
            backoff = 0.05
            if not message:
                continue
            channel = message["channel"]
            channel = channel.decode() if isinstance(channel, bytes) else str(channel)
            kind = message["type"]
            if kind == "message":
                for event in self._events.get(channel, ()):
                    event.set()
            elif kind == "subscribe":
                confirmed = self._confirmed.get(channel)
                if confirmed is not None and not confirmed.done():
                    confirmed.set_result(None)


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.debug("lock notifications: unsubscribe failed: %s", task.exception())
