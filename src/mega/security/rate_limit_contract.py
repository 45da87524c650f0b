"""The rate limiter contract: one ABC every limiter implements.

    retry = limiter.hit(client_ip)            # a float, or an awaitable of one (see `local`)
    if retry:                                 # 0.0: allowed; else seconds until the window ends
        raise rate_limited(retry)

Every limiter counts the same windows: fixed windows of `policy.window` seconds aligned to the clock
(Unix time), so window n covers [n * window, (n + 1) * window) whichever process or store counts it,
and a key's count starts again at each boundary, not a window after its first request. Within a
window a key gets `policy.max` requests; the next ones are refused with the seconds left in the
window. Keys are independent. The suite is `mega.testing.contracts.rate_limit`.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from mega.security._rate_limit import RateLimitPolicy

__all__ = ["Clock", "RateLimiter", "window_start"]

Clock = Callable[[], float]
"""Seconds of Unix time (`time.time`); tests pass one they move by hand."""

DEFAULT_CLOCK: Clock = time.time


def window_start(now: float, window: float) -> float:
    """The start of the window `now` falls in: floor(now / window) * window."""
    return (now // window) * window


class RateLimiter(ABC):
    """Counts requests per key in clock-aligned fixed windows of `policy.window` seconds."""

    store: ClassVar[str]
    # True: `hit` answers at once with a float (no IO); False: it returns an awaitable.
    local: ClassVar[bool]
    policy: RateLimitPolicy

    @abstractmethod
    def hit(self, key: str) -> float | Awaitable[float]:
        """Count one request for `key`: 0.0 when allowed, else the seconds until its window ends."""

    def start(self) -> None:  # noqa: B027 - only limiters with background work override it
        """Start background work (needs a running loop); idempotent."""

    def close(self) -> None:  # noqa: B027
        """Stop it; idempotent. The limiter still answers afterwards."""

    @abstractmethod
    def stats(self) -> dict[str, Any]:
        """At least `store`, `max`, `window`, `allowed` and `limited`."""
