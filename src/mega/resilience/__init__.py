"""Resilience helpers: `retry` / `retrying` (on tenacity) and `CircuitBreaker`. State is per process.

Names are imported on first use: boot reaches the breakers' module without importing tenacity.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mega._lazy import lazy_getattr

_BREAKER = "mega.resilience._breaker"
_RETRY = "mega.resilience._retry"
_EXPORTS = {
    "STATES": _BREAKER,
    "BreakerEvent": _BREAKER,
    "BreakerOpenError": _BREAKER,
    "CircuitBreaker": _BREAKER,
    "attach_health": _BREAKER,
    "detach_health": _BREAKER,
    "get_breaker": _BREAKER,
    "observe_breakers": _BREAKER,
    "reset_breakers": _BREAKER,
    "FailedAttempt": _RETRY,
    "retry": _RETRY,
    "retrying": _RETRY,
}

__all__ = sorted(_EXPORTS)
__getattr__ = lazy_getattr(__name__, _EXPORTS)

if TYPE_CHECKING:
    from mega.resilience._breaker import STATES as STATES
    from mega.resilience._breaker import BreakerEvent as BreakerEvent
    from mega.resilience._breaker import BreakerOpenError as BreakerOpenError
    from mega.resilience._breaker import CircuitBreaker as CircuitBreaker
    from mega.resilience._breaker import attach_health as attach_health
    from mega.resilience._breaker import detach_health as detach_health
    from mega.resilience._breaker import get_breaker as get_breaker
    from mega.resilience._breaker import observe_breakers as observe_breakers
    from mega.resilience._breaker import reset_breakers as reset_breakers
    from mega.resilience._retry import FailedAttempt as FailedAttempt
    from mega.resilience._retry import retry as retry
    from mega.resilience._retry import retrying as retrying
