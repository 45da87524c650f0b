"""`cluster` bus: the workers of one node publish and subscribe through the primary's `ClusterHost`.

The host routes every message to every matching subscription of every worker (NATS wildcards, queue
groups taking turns across workers, the first answer of a request back to its requester, and
`no_responders` at once when nothing matches). In each worker, a subscription has its own queue and
task, as on the memory driver. The host unreachable is `bus.backend_unavailable`; subscriptions are
renewed when the worker reconnects (messages published meanwhile are not kept: at most once, as on
NATS). Single node only: across machines, use NATS.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mega.bus._errors import backend_unavailable, no_responders, request_timeout
from mega.bus.contract import Bus, Reply
from mega.bus.memory import PENDING_LIMIT, _Feed
from mega.bus.subscription import Subscription
from mega.cluster.ipc.client import ClusterClient, IpcDown

__all__ = ["ClusterBus"]


class ClusterBus(Bus):
    driver = "cluster"

    def __init__(self, client: ClusterClient, *, pending_limit: int = PENDING_LIMIT, **options: Any) -> None:
        super().__init__(**options)
        self.client = client
        self.pending_limit = pending_limit

    async def _publish(self, subject: str, data: bytes, reply: str | None,
                       headers: Mapping[str, str] | None) -> None:
        try:
            await self.client.send(["pub", subject, reply, headers], data)
        except IpcDown as exc:
            raise backend_unavailable(self.driver, "publish", subject, exc) from exc

    async def _subscribe(self, sub: Subscription) -> None:
        feed = _Feed(sub, self.pending_limit)
        push = feed.push

        def on_message(subject: str, reply: str | None, data: bytes, headers: Any) -> None:
            push((subject, reply, data, headers))

        try:
            sid = await self.client.subscribe(sub.subject, sub.queue, on_message)
        except IpcDown as exc:
            await feed.stop(wait=False)
            raise backend_unavailable(self.driver, "subscribe", sub.subject, exc) from exc
        except BaseException:
            await feed.stop(wait=False)
            raise
        sub.handle = (sid, feed)

    async def _unsubscribe(self, sub: Subscription, *, wait: bool) -> None:
        sid, feed = sub.handle
        self.client.unsubscribe(sid)
        await feed.stop(wait=wait)

    async def _request(self, subject: str, data: bytes, timeout: float,
                       headers: Mapping[str, str] | None = None) -> Reply:
        try:
            answer = await self.client.request(subject, data, timeout, headers)
        except TimeoutError:
            raise request_timeout(subject, timeout) from None
        except IpcDown as exc:
            raise backend_unavailable(self.driver, "request", subject, exc) from exc
        if answer is None:
            raise no_responders(subject)
        return answer

    def _driver_stats(self) -> dict[str, Any]:
        return {"socket": self.client.path, "connected": self.client.connected,
                "reconnects": self.client.reconnects}
