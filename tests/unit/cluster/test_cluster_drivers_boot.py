"""Cluster mode's choice of lock and bus drivers at boot (MEGA_CLUSTER_SOCKET set by the primary).

A `ClusterHost` runs in the test, as the primary would; the project boots as one worker would.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mega.boot.stages import BootError
from mega.bus.cluster import ClusterBus
from mega.bus.memory import MemoryBus
from mega.cluster.ipc import SOCKET_ENV, ClusterClient, ClusterHost
from mega.lock.cluster import ClusterLock
from mega.lock.memory import MemoryLock
from mega.testing import running, write_project
from tests import services


@pytest.fixture
def host(cluster_host: ClusterHost) -> ClusterHost:
    return cluster_host  # tests/conftest.py


def project(tmp_path: Path, glob: dict[str, Any] | None = None, web: dict[str, Any] | None = None) -> Path:
    return write_project(tmp_path, {
        "mega_config.py": f"config = {glob or {}!r}\n",
        "apps/web/app_config.py": f"config = {{'hosts': ['a.com'], **{web or {}!r}}}\n",
        "apps/admin/app_config.py": "config = {'hosts': ['b.com']}\n",
    })


async def settled(check: Callable[[], bool]) -> bool:
    for _ in range(100):
        if check():
            return True
        await asyncio.sleep(0.01)
    return check()


def cluster_env(host: ClusterHost) -> dict[str, str]:
    return {SOCKET_ENV: str(host.path), "MEGA_WORKER_ID": "1"}


async def test_apps_without_a_declared_backend_get_the_cluster_drivers(
        tmp_path: Path, host: ClusterHost, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):
        async with running(project(tmp_path), environ=cluster_env(host)) as rt:
            web, admin = rt.apps["web"], rt.apps["admin"]
            assert isinstance(web.lock, ClusterLock) and isinstance(admin.lock, ClusterLock)
            assert isinstance(web.bus, ClusterBus) and isinstance(admin.bus, ClusterBus)
            assert (await web.lock.stats())["driver"] == "cluster"
            assert (await web.bus.stats())["driver"] == "cluster"
            assert await settled(lambda: host.stats()["connections"] == 2)  # one for locks, one for buses

            # Another worker (its own connection) sees web's key held: one lock table for the node.
            other_worker = ClusterClient(host.path)
            peer = ClusterLock(other_worker, prefix="mega:lock:web:")
            held = await web.lock.acquire("invoice:1", wait=0)
            assert await peer.claim("invoice:1", ttl=1) is False
            assert await ClusterLock(other_worker, prefix="mega:lock:admin:").claim("invoice:1", ttl=1)
            await web.lock.release(held)
            assert await peer.claim("invoice:1", ttl=1) is True

            # ... and answers web's requests.
            from mega.bus.cluster import ClusterBus as Bus

            responder = Bus(other_worker, prefix="")
            await responder.on("price", lambda p: p * 2)
            assert await web.bus.request("price", 21) == 42
            await responder.close()
            await other_worker.close()
    stated = [r.getMessage() for r in caplog.records]
    for app in ("web", "admin"):
        assert f"app {app}: lock: cluster (single node)" in stated
        assert f"app {app}: bus: cluster (single node), prefix ''" in stated
    assert await settled(lambda: host.stats()["connections"] == 0)  # closed at shutdown


async def test_declared_redis_and_nats_stay(tmp_path: Path, host: ClusterHost) -> None:
    services.require("redis")
    services.require("nats")
    glob = {"services": {"redis": {"locks": {"url": services.url("redis")}},
                         "buses": {"events": {"driver": "nats", "url": services.url("nats")}}}}
    web = {"lock": {"redis": "locks"}, "bus": {"nats": "events"}}
    async with running(project(tmp_path, glob, web), environ=cluster_env(host)) as rt:
        assert (await rt.apps["web"].lock.stats())["driver"] == "redis"
        assert (await rt.apps["web"].bus.stats())["driver"] == "nats"
        assert (await rt.apps["admin"].lock.stats())["driver"] == "cluster"
        assert (await rt.apps["admin"].bus.stats())["driver"] == "cluster"


async def test_an_explicit_memory_driver_stays_with_a_warning(
        tmp_path: Path, host: ClusterHost, caplog: pytest.LogCaptureFixture) -> None:
    web = {"lock": {"driver": "memory"}, "bus": {"driver": "memory"}}
    with caplog.at_level(logging.WARNING):
        async with running(project(tmp_path, None, web), environ=cluster_env(host)) as rt:
            assert isinstance(rt.apps["web"].lock, MemoryLock) and isinstance(rt.apps["web"].bus, MemoryBus)
            assert isinstance(rt.apps["admin"].lock, ClusterLock)
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("app web: lock.driver is 'memory'" in m and "each worker has its own lock" in m
               for m in warned)
    assert any("app web: bus.driver is 'memory'" in m and "each worker has its own bus" in m for m in warned)


async def test_outside_cluster_mode_memory_stays_silently(tmp_path: Path,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):
        async with running(project(tmp_path, {"lock": {"driver": "memory"}}), environ={}) as rt:
            assert isinstance(rt.apps["web"].lock, MemoryLock) and isinstance(rt.apps["web"].bus, MemoryBus)
    assert not [r for r in caplog.records if "cluster" in r.getMessage()]


@pytest.mark.parametrize(("section", "code", "stage"), [("lock", "lock.cluster_unavailable", "locks"),
                                                         ("bus", "bus.cluster_unavailable", "bus")])
async def test_the_cluster_driver_outside_cluster_mode_fails_boot(tmp_path: Path, section: str, code: str,
                                                                  stage: str) -> None:
    with pytest.raises(BootError) as info:
        async with running(project(tmp_path, None, {section: {"driver": "cluster"}}), environ={}):
            pass
    assert info.value.stage == stage
    assert info.value.original.code == code
    assert "app 'web'" in info.value.original.message and "cluster mode" in info.value.original.message


async def test_an_unreachable_primary_fails_boot_with_backend_unavailable(tmp_path: Path) -> None:
    environ = {SOCKET_ENV: f"/tmp/mega-ipc-missing-{tmp_path.name}.sock"}
    with pytest.raises(BootError) as info:
        async with running(project(tmp_path), environ=environ):
            pass
    assert info.value.stage == "locks"
    assert info.value.original.code == "lock.backend_unavailable"
