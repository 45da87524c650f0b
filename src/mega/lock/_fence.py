"""Fencing tokens: strictly increasing per key, and still increasing after the backend forgot them.

A counter makes tokens strictly increasing while the backend remembers it; a counter that is
missing starts at the clock floor `now_ms << LOW_BITS`, larger than every token issued before it as
long as the clock did not step back and the old counter never ran ahead of the clock (fewer than
2**LOW_BITS tokens per ms on average). The redis driver does this in its acquire script; memory
uses `max(last + 1, floor)` (docs/adr/0004-lock-fencing.md).
"""

from __future__ import annotations

import time
from collections.abc import Callable

LOW_BITS = 10
"""Counter bits under the millisecond clock. Redis computes tokens in Lua, whose numbers are doubles:
ms since 1970 (41 bits) + 10 bits stays below 2**53, exact until the year 2248."""

MAX_TOKEN = 2**53


def token_floor(now_ms: int) -> int:
    """The smallest token the clock allows at `now_ms` (milliseconds since the epoch)."""
    return now_ms << LOW_BITS


def token_time(token: int) -> float:
    """When (epoch seconds, by the issuing clock) a token was issued, if its counter never ran ahead."""
    return (token >> LOW_BITS) / 1000.0


class TokenClock:
    """In-process token source: one per lock instance (tokens increase across every key it serves)."""

    __slots__ = ("_clock", "last")

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self.last = 0

    def next(self) -> int:
        floor = int(self._clock() * 1000) << LOW_BITS
        last = self.last + 1
        self.last = floor if floor > last else last
        return self.last
