"""Resilience helpers: `retry` / `retrying` (on tenacity) and `CircuitBreaker`. State is per process."""

from __future__ import annotations

from mega.resilience._breaker import (
    STATES,
    BreakerEvent,
    BreakerOpenError,
    CircuitBreaker,
    attach_health,
    detach_health,
    get_breaker,
    observe_breakers,
    reset_breakers,
)
from mega.resilience._retry import FailedAttempt, retry, retrying

__all__ = [
    "STATES",
    "BreakerEvent",
    "BreakerOpenError",
    "CircuitBreaker",
    "FailedAttempt",
    "attach_health",
    "detach_health",
    "get_breaker",
    "observe_breakers",
    "reset_breakers",
    "retry",
    "retrying",
]
