"""The in-process bus driver: a broker with NATS's rules, for development, tests and single processes.

One `MemoryBroker` per project plays the server: every app's memory bus publishes into it, so two
apps with prefixes `web.` and `glob.` are isolated exactly as they would be on NATS, and
`get_app('admin').bus.emit(...)` reaches admin's subscribers. Each subscription has its own queue and
task, so handlers run after `emit` returns, in order, like a NATS subscription; a subscription more than
`pending_limit` messages behind drops new ones (a "slow consumer", logged and counted), as nats-py does.
Queue groups take turns (round-robin); NATS picks at random; both give each message to one member.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Mapping
from typing import Any

from mega.bus._errors import no_responders, request_timeout
from mega.bus._subjects import is_pattern, matches, one_per_queue
from mega.bus.contract import Bus, Reply
from mega.bus.subscription import Subscription

log = logging.getLogger("mega.bus")

PENDING_LIMIT = 512 * 1024  # nats-py's default per-subscription pending limit

_Item = tuple[str, str | None, bytes, Mapping[str, str] | None]


class MemoryBroker:
    """Routes subjects to subscriptions (exact, wildcard, queue groups) and replies to requesters."""

    def __init__(self, *, pending_limit: int = PENDING_LIMIT) -> None:
        self.pending_limit = pending_limit
        self._exact: dict[str, list[Subscription]] = {}
        self._patterns: list[tuple[tuple[str, ...], Subscription]] = []
        self._inboxes: dict[str, asyncio.Future[Reply]] = {}
        self._turns: dict[str, int] = {}
        self._inbox_ids = itertools.count(1)
        self.messages = 0

    @property
    def subscriptions(self) -> int:
        return sum(len(v) for v in self._exact.values()) + len(self._patterns)

    def add(self, sub: Subscription) -> None:
        if is_pattern(sub.subject):
            self._patterns.append((tuple(sub.subject.split(".")), sub))
        else:
            self._exact.setdefault(sub.subject, []).append(sub)

    def remove(self, sub: Subscription) -> None:
        subs = self._exact.get(sub.subject)
        if subs is not None and sub in subs:
            subs.remove(sub)
            if not subs:
                del self._exact[sub.subject]
        self._patterns = [(p, s) for p, s in self._patterns if s is not sub]

    def targets(self, subject: str) -> list[Subscription]:
        """Every plain subscriber, plus one member of each queue group, matching `subject`."""
        subs = self._exact.get(subject, [])
        if self._patterns:
            tokens = subject.split(".")
            subs = subs + [s for p, s in self._patterns if matches(p, tokens)]
        return one_per_queue(subs, self._turns)

    def publish(self, subject: str, data: bytes, reply: str | None,
                headers: Mapping[str, str] | None) -> int:
        """Deliver to the matching subscriptions' queues; returns how many got it."""
        self.messages += 1
        waiter = self._inboxes.get(subject)
        if waiter is not None:  # an answer to a pending request
            if not waiter.done():
                waiter.set_result((data, headers))
            return 1
        targets = self.targets(subject)
        for sub in targets:
            sub.handle.push((subject, reply, data, headers))
        return len(targets)

    async def request(self, subject: str, data: bytes, timeout: float,
                      headers: Mapping[str, str] | None = None) -> Reply:
        inbox = f"_INBOX.{next(self._inbox_ids)}"
        waiter: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._inboxes[inbox] = waiter
        try:
            if self.publish(subject, data, inbox, headers) == 0:
                raise no_responders(subject)
            try:
                return await asyncio.wait_for(waiter, timeout)
            except TimeoutError:
                raise request_timeout(subject, timeout) from None
        finally:
            del self._inboxes[inbox]


class _Feed:
    """One subscription's queue and the task that hands its messages to `deliver`, one at a time."""

    def __init__(self, sub: Subscription, limit: int) -> None:
        self.sub = sub
        self.queue: asyncio.Queue[_Item | None] = asyncio.Queue(maxsize=limit)
        self.task = asyncio.get_running_loop().create_task(self._run(), name=f"bus:{sub.subject}")
        self._warned = False

    def push(self, item: _Item) -> None:
        try:
            self.queue.put_nowait(item)
            self._warned = False
        except asyncio.QueueFull:
            self.sub.bus.dropped += 1
            if not self._warned:  # once per burst, not once per message
                self._warned = True
                log.warning("bus: slow consumer on %s: %d messages pending, dropping new ones",
                            self.sub.subject, self.queue.qsize(), extra={"subject": self.sub.subject})

    async def _run(self) -> None:
        sub = self.sub
        while True:
            item = await self.queue.get()
            if item is None or not sub.active:
                return
            try:
                await sub.deliver(*item)
            except Exception:  # deliver handles handler errors; this is a bug, keep the feed alive
                log.exception("bus: delivery failed on %s", sub.subject)

    async def stop(self, *, wait: bool) -> None:
        # Wakes the task if it waits on an empty queue; if full, it is busy and sees `active` is
        # False at its next message.
        with contextlib.suppress(asyncio.QueueFull):
            self.queue.put_nowait(None)
        if wait and self.task is not asyncio.current_task():
            await self.task


class MemoryBus(Bus):
    """A bus over a `MemoryBroker` (a private one unless the project's is passed)."""

    driver = "memory"

    def __init__(self, broker: MemoryBroker | None = None, **options: Any) -> None:
        super().__init__(**options)
        self.broker = broker if broker is not None else MemoryBroker()

    async def _publish(self, subject: str, data: bytes, reply: str | None,
                       headers: Mapping[str, str] | None) -> None:
        self.broker.publish(subject, data, reply, headers)

    async def _subscribe(self, sub: Subscription) -> None:
        sub.handle = _Feed(sub, self.broker.pending_limit)
        self.broker.add(sub)

    async def _unsubscribe(self, sub: Subscription, *, wait: bool) -> None:
        self.broker.remove(sub)
        await sub.handle.stop(wait=wait)

    async def _request(self, subject: str, data: bytes, timeout: float,
                       headers: Mapping[str, str] | None = None) -> Reply:
        return await self.broker.request(subject, data, timeout, headers)

    def _driver_stats(self) -> dict[str, Any]:
        return {"broker_subscriptions": self.broker.subscriptions, "broker_messages": self.broker.messages}
