"""NatsAdapter against a real server: fast boot failure, health, stats, closing twice."""

from __future__ import annotations

import time

import pytest
from nats_control import URL

from mega.adapters.nats import NatsAdapter
from mega.bus.nats import NatsBus
from mega.errors import MegaError

pytestmark = [pytest.mark.integration, pytest.mark.service("nats")]


async def test_a_refused_connect_fails_at_once_naming_alias_and_host() -> None:
    adapter = NatsAdapter("events", {"url": "nats://app:s3cret@127.0.0.1:1"})
    started = time.perf_counter()
    with pytest.raises(MegaError) as err:
        await adapter.connect()
    assert time.perf_counter() - started < 10  # not nats-py's retry loop (60 tries, 2 s apart)
    assert err.value.code == "adapter.connect_failed"
    assert "bus 'events'" in err.value.message and "127.0.0.1:1" in err.value.message
    assert "s3cret" not in err.value.message
    assert not adapter.connected


async def test_health_stats_and_closing() -> None:
    adapter = NatsAdapter("events", {"url": URL, "name": "mega-it"})
    await adapter.connect()
    health = await adapter.health()
    assert health["ok"] is True and health["state"] == "connected" and health["rtt_ms"] > 0
    bus = NatsBus(adapter, prefix="itadapter.")
    await bus.on("x", lambda p: p)
    assert await bus.request("x", {"a": 1}) == {"a": 1}
    stats = adapter.stats()
    assert stats["server"] == URL and stats["state"] == "connected"
    assert stats["out_msgs"] >= 1 and stats["in_msgs"] >= 2 and stats["out_bytes"] > 0
    await adapter.native.close()  # closed under our feet (as after a fatal server error)
    assert (await adapter.health())["ok"] is False
    with pytest.raises(MegaError) as err:
        await bus.emit("x", 1)
    assert err.value.code == "bus.unavailable"
    await adapter.disconnect()  # no drain on a closed connection, no error
    await adapter.disconnect()
