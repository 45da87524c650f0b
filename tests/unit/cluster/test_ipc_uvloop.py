"""The cluster drivers on uvloop, which `mega start` runs: its transports are not asyncio's classes and
its clock (`loop.time()`) is its own, so grant deadlines (sent as CLOCK_MONOTONIC) must convert.
A plain test running `uvloop.run`: pytest-asyncio's loop is asyncio's."""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

import pytest
import uvloop  # a base dependency of mega (pyproject.toml) wherever the cluster runs

from mega.bus.cluster import ClusterBus
from mega.cluster.ipc import ClusterClient, ClusterHost
from mega.errors import MegaError
from mega.lock.cluster import ClusterLock


async def scenario(path: Path) -> None:
    host = ClusterHost(path)
    await host.start()
    one, two = ClusterClient(path), ClusterClient(path)
    lock, peer = ClusterLock(one), ClusterLock(two)
    async with lock.hold("k", ttl=0.3, wait=0) as held:
        assert 0.2 < held.remaining <= 0.3  # the host's deadline, in uvloop's clock
        await asyncio.sleep(1.0)  # 3 ttls: kept by extension
        assert not held.lost
        with pytest.raises(MegaError) as err:
            await peer.acquire("k", ttl=1, wait=0.2)
        assert err.value.code == "lock.timeout"
    started = time.monotonic()
    again = await peer.acquire("k", ttl=1, wait=1)
    assert time.monotonic() - started < 0.2 and again.token > held.token
    await peer.release(again)
    responder, requester = ClusterBus(one, prefix="web."), ClusterBus(two, prefix="web.")
    await responder.on("add.*", lambda p: p + 1, queue="adders")
    assert await requester.request("add.one", 41) == 42
    for bus in (responder, requester):
        await bus.close()
    for closing in (lock, peer, one, two, host):
        await closing.close()


def test_the_cluster_drivers_on_uvloop() -> None:
    with tempfile.TemporaryDirectory(prefix="mega-ipc-", dir="/tmp") as folder:
        uvloop.run(scenario(Path(folder) / "s"))
