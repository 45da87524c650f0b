"""The presence state machine (tests/unit/ws/presence_machine.py) over the real NATS: 50 examples of
50 steps, three instances each on its own connection; a crash closes an instance's connection."""

from __future__ import annotations

import asyncio
import secrets

import pytest
from hypothesis import HealthCheck, settings

from mega.adapters.nats import NatsAdapter
from mega.ws.presence._cluster import NatsWire, Wire
from tests.integration.bus.nats_control import URL
from tests.unit.ws.presence_machine import PresenceMachine

pytestmark = [pytest.mark.integration, pytest.mark.service("nats")]


class NatsPresenceMachine(PresenceMachine):
    eventual = True

    def __init__(self) -> None:
        self.prefix = f"t{secrets.token_hex(5)}.ws"
        self.adapters: list[NatsAdapter] = []
        super().__init__()

    def subject_prefix(self) -> str:
        return self.prefix

    async def open_wire(self) -> Wire:
        adapter = NatsAdapter(f"m{len(self.adapters)}", {"url": URL})
        self.adapters.append(adapter)
        await adapter.connect()
        return NatsWire(adapter)

    async def flush(self) -> None:
        await super().flush()
        await asyncio.sleep(0.005)

    def crash_wire(self, wire: Wire) -> None:
        assert isinstance(wire, NatsWire)
        self.run(wire.adapter.native.close())  # as a kill: no goodbye, nothing more sent or received

    async def close_wires(self) -> None:
        for adapter in self.adapters:
            try:
                await adapter.disconnect()
            except Exception as exc:  # the crashed ones are closed already
                print("disconnect:", exc)


NatsPresenceMachine.TestCase.settings = settings(
    max_examples=50, stateful_step_count=50, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
test_presence_invariants_over_nats = NatsPresenceMachine.TestCase
