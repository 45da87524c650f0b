"""The NATS bus driver: core NATS pub/sub, queue groups and request/reply over a `NatsAdapter`.

The connection (and its reconnects) belongs to the adapter, shared by every app naming the alias; this
driver only maps the bus primitives onto it. Delivery is at most once: a message published while a
subscriber is cut off from the server is not kept for it (use jobs, on JetStream, for that).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nats.aio.msg import Msg

from mega.adapters.nats import NatsAdapter
from mega.bus.contract import Bus, Reply
from mega.bus.subscription import Subscription


class NatsBus(Bus):
    driver = "nats"

    def __init__(self, adapter: NatsAdapter, **options: Any) -> None:
        super().__init__(**options)
        self.adapter = adapter

    async def _publish(self, subject: str, data: bytes, reply: str | None,
                       headers: Mapping[str, str] | None) -> None:
        await self.adapter.publish(subject, data, reply=reply, headers=headers)

    async def _subscribe(self, sub: Subscription) -> None:
        deliver = sub.deliver

        async def on_message(msg: Msg) -> None:
            await deliver(msg.subject, msg.reply or None, msg.data, msg.headers)

        sub.handle = await self.adapter.subscribe(sub.subject, on_message, queue=sub.queue)

    async def _unsubscribe(self, sub: Subscription, *, wait: bool) -> None:
        await self.adapter.unsubscribe(sub.handle, wait=wait)

    async def _request(self, subject: str, data: bytes, timeout: float,
                       headers: Mapping[str, str] | None = None) -> Reply:
        msg = await self.adapter.request(subject, data, timeout=timeout, headers=headers)
        return msg.data, msg.headers

    def _driver_stats(self) -> dict[str, Any]:
        s = self.adapter.stats()
        keys = ("alias", "server", "state", "reconnects", "disconnects", "slow_consumer_drops", "in_msgs",
                "out_msgs", "in_bytes", "out_bytes")
        return {k: s[k] for k in keys}
