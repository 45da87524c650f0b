"""The lock and bus contracts on the `cluster` drivers, against a `ClusterHost` started in the test.

Each lock or bus gets its own `ClusterClient` connection, as if each were another worker process;
`outage` closes the host (the primary gone), so the outage tests of both suites run here.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
import pytest_asyncio

from mega.bus.cluster import ClusterBus
from mega.bus.contract import Bus
from mega.cluster.ipc import ClusterClient, ClusterHost
from mega.lock.cluster import ClusterLock
from mega.lock.contract import Lock
from mega.testing.contracts.bus import BusContract
from mega.testing.contracts.lock import LockContract

Connect = Callable[[], Awaitable[ClusterClient]]


@pytest.fixture
def host(cluster_host: ClusterHost) -> ClusterHost:
    return cluster_host  # tests/conftest.py


@pytest_asyncio.fixture
async def clients(host: ClusterHost) -> AsyncIterator[Connect]:
    made: list[ClusterClient] = []

    async def connect() -> ClusterClient:
        client = ClusterClient(host.path)
        await client.connect()
        made.append(client)
        return client

    yield connect
    for client in made:
        await client.close()


class TestClusterLockContract(LockContract):
    @pytest_asyncio.fixture
    async def lock(self, clients: Connect) -> AsyncIterator[Lock]:
        lock = ClusterLock(await clients(), prefix=f"t{uuid.uuid4().hex[:10]}:")
        yield lock
        await lock.close()

    @pytest_asyncio.fixture
    async def peer(self, lock: ClusterLock, clients: Connect) -> AsyncIterator[Lock]:
        other = ClusterLock(await clients(), prefix=lock.prefix)
        yield other
        await other.close()

    @pytest_asyncio.fixture
    async def outage(self, host: ClusterHost) -> Callable[[], Awaitable[None]]:
        return host.close


@pytest_asyncio.fixture
async def bus_factory(clients: Connect) -> AsyncIterator[
        Callable[[str], Awaitable[Bus]]]:
    made: list[Bus] = []

    async def factory(prefix: str) -> Bus:
        made.append(ClusterBus(await clients(), prefix=prefix))  # one connection each: another worker
        return made[-1]

    yield factory
    for bus in made:
        await bus.close()


@pytest_asyncio.fixture
async def bus(bus_factory: Callable[[str], Awaitable[Bus]]) -> Bus:
    return await bus_factory(f"t{uuid.uuid4().hex[:10]}.")


class TestClusterBusContract(BusContract):
    @pytest_asyncio.fixture
    async def outage(self, host: ClusterHost) -> Callable[[], Awaitable[None]]:
        return host.close
