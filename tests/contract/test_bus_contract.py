"""The bus contract (mega.testing.contracts.bus) on every built-in driver: memory and nats."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
import pytest_asyncio

from mega.bus.contract import Bus
from mega.bus.memory import MemoryBroker, MemoryBus
from mega.testing.contracts.bus import BusContract
from tests import services

NATS_URL = services.url("nats")


@pytest_asyncio.fixture(params=["memory", "nats"])
async def bus_factory(request: pytest.FixtureRequest) -> AsyncIterator[Callable[[str], Awaitable[Bus]]]:
    made: list[Bus] = []
    closers: list[Callable[[], Awaitable[None]]] = []
    if request.param == "memory":
        broker = MemoryBroker()

        async def factory(prefix: str) -> Bus:
            made.append(MemoryBus(broker, prefix=prefix))
            return made[-1]
    else:
        services.require("nats")
        from mega.adapters.nats import NatsAdapter
        from mega.bus.nats import NatsBus

        async def factory(prefix: str) -> Bus:
            # One connection per bus, as if each were another process.
            adapter = NatsAdapter("contract", {"url": NATS_URL})
            await adapter.connect()
            closers.append(adapter.disconnect)
            made.append(NatsBus(adapter, prefix=prefix))
            return made[-1]

    yield factory
    for bus in made:
        await bus.close()
    for close in closers:
        await close()


@pytest_asyncio.fixture
async def bus(bus_factory: Callable[[str], Awaitable[Bus]]) -> Bus:
    return await bus_factory(f"t{uuid.uuid4().hex[:10]}.")


class TestBusContract(BusContract):
    pass
