"""Named shutdown hooks, run in order at shutdown, each time-boxed and logged."""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from mega.errors import MegaError

log = logging.getLogger("mega.shutdown")

Hook = Callable[[], Awaitable[Any] | Any]


@dataclass
class _Entry:
    name: str
    fn: Hook
    timeout: float


class ShutdownRegistry:
    """Hooks run last-registered first (resources close in reverse order of opening)."""

    def __init__(self, default_timeout: float = 5.0) -> None:
        self.default_timeout = default_timeout
        self._hooks: list[_Entry] = []

    def register(self, name: str, fn: Hook, *, timeout: float | None = None) -> None:
        if any(e.name == name for e in self._hooks):
            raise MegaError("shutdown.duplicate_hook",
                            f"a shutdown hook named '{name}' is already registered",
                            hint="unregister it first or pick another name")
        self._hooks.append(_Entry(name, fn, timeout if timeout is not None else self.default_timeout))

    def unregister(self, name: str) -> bool:
        before = len(self._hooks)
        self._hooks = [e for e in self._hooks if e.name != name]
        return len(self._hooks) != before

    @property
    def names(self) -> list[str]:
        return [e.name for e in reversed(self._hooks)]

    async def run(self) -> list[tuple[str, str]]:
        """Run every hook (reverse order); returns (name, outcome) pairs. Never raises."""
        outcomes: list[tuple[str, str]] = []
        hooks, self._hooks = list(reversed(self._hooks)), []
        for entry in hooks:
            started = time.perf_counter()
            try:
                result = entry.fn()
                if inspect.isawaitable(result):
                    await asyncio.wait_for(result, entry.timeout)
                outcome = "ok"
                log.debug("shutdown hook %s done in %.1f ms", entry.name,
                         (time.perf_counter() - started) * 1000)
            except TimeoutError:
                outcome = f"timed out after {entry.timeout:g}s"
                log.error("shutdown hook %s %s", entry.name, outcome)
            except Exception as exc:
                outcome = f"failed: {exc!r}"
                log.error("shutdown hook %s failed", entry.name, exc_info=exc)
            outcomes.append((entry.name, outcome))
        return outcomes
