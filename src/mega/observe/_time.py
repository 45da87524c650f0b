"""Timestamps for log lines, rendered once per second and reused within it."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["PerSecond", "local_hms", "utc_seconds"]

T = TypeVar("T")


class PerSecond(Generic[T]):
    """Caches `render(second)`: formatting a time is slow; a hit is a comparison and a read."""

    __slots__ = ("_render", "_second", "_value")

    def __init__(self, render: Callable[[int], T]) -> None:
        self._render = render
        self._second = -1
        self._value: T | None = None

    def __call__(self, second: int) -> T:
        if second != self._second or self._value is None:
            self._value = self._render(second)
            self._second = second
        return self._value


def utc_seconds(second: int) -> str:
    """`2024-05-01T12:34:56`: the ISO 8601 UTC date and time, to the second."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))


def local_hms(second: int) -> str:
    """`12:34:56` in local time: what a developer reads next to their wall clock."""
    return time.strftime("%H:%M:%S", time.localtime(second))
