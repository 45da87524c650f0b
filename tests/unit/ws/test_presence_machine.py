"""The presence state machine (tests/unit/ws/presence_machine.py) over an in-process bus with a fake
clock: 500 examples of 50 steps on three instances."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

from mega.ws.presence._cluster import MemoryHub, Wire
from tests.unit.ws.presence_machine import PresenceMachine

EXAMPLES = int(os.environ.get("MEGA_PRESENCE_EXAMPLES", "500"))


class MemoryPresenceMachine(PresenceMachine):
    def __init__(self) -> None:
        self.hub = MemoryHub()
        super().__init__()

    def make_wire(self) -> Wire:
        return self.hub.wire()


MemoryPresenceMachine.TestCase.settings = settings(
    max_examples=EXAMPLES, stateful_step_count=50, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
test_presence_invariants_over_three_instances = MemoryPresenceMachine.TestCase
