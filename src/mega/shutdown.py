"""The one shutdown registry of a process: named hooks run at shutdown, each time-boxed and logged.

    import mega

    mega.shutdown.register("flush-audit", audit.flush, order=50, timeout=2)

`mega start`, `mega worker` and `mega scheduler` run it once their work has drained (see
docs/reference/shutdown.md): hooks by ascending `order` (ties: registration order), then the
framework's own resources (adapters, locks, bus, ...) in reverse order of opening, adapters last.
A failing or hanging hook is logged and the next one runs. `reset()` forgets every hook (tests).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from mega.config._checks import parse_duration
from mega.errors import MegaError

__all__ = ["DEFAULT_ORDER", "DEFAULT_TIMEOUT", "Hook", "ShutdownRegistry", "names", "register", "registry",
           "reset", "unregister"]

log = logging.getLogger("mega.shutdown")

Hook = Callable[[], Awaitable[Any] | Any]
DEFAULT_ORDER = 100
DEFAULT_TIMEOUT = 5.0


@dataclass(frozen=True, slots=True)
class _Entry:
    name: str
    fn: Hook
    order: float
    timeout: float
    phase: int  # 0: ordered hooks; 1: the stages' resources (reverse registration order); 2: adapters
    seq: int

    def key(self) -> tuple[int, float, int]:
        return (self.phase, 0.0, -self.seq) if self.phase else (0, self.order, self.seq)


class ShutdownRegistry:
    """Named hooks; a name registered again replaces its hook. `run()` empties the registry."""

    def __init__(self) -> None:
        self._hooks: dict[str, _Entry] = {}
        self._seq = 0

    def register(self, name: str, fn: Hook, order: float = DEFAULT_ORDER,
                 timeout: float | str = DEFAULT_TIMEOUT) -> None:
        """Run `fn()` (sync or async) at shutdown, after in-flight work, by ascending `order`; a
        coroutine is cut after `timeout` seconds (a duration: 5, "500ms")."""
        _check_name(name)
        _check_fn(name, fn)
        if isinstance(order, bool) or not isinstance(order, int | float) or not math.isfinite(order):
            raise _invalid(f"shutdown hook '{name}': order must be a number, got {order!r}",
                           "order", "e.g. order=50 (lower runs earlier; the default is 100)")
        self._add(name, fn, float(order), _check_timeout(name, timeout), phase=0)

    def register_resource(self, name: str, fn: Hook, timeout: float | str = DEFAULT_TIMEOUT, *,
                          last: bool = False) -> None:
        """For the boot stages: close what a stage opened, after every ordered hook, in reverse order
        of registration; `last` (the adapters) after everything else."""
        _check_name(name)
        _check_fn(name, fn)
        self._add(name, fn, 0.0, _check_timeout(name, timeout), phase=2 if last else 1)

    def _add(self, name: str, fn: Hook, order: float, timeout: float, *, phase: int) -> None:
        self._seq += 1
        self._hooks.pop(name, None)
        self._hooks[name] = _Entry(name, fn, order, timeout, phase, self._seq)

    def unregister(self, name: str) -> bool:
        """Forget the hook named `name`; False when there was none."""
        return self._hooks.pop(name, None) is not None

    def reset(self) -> None:
        """Forget every hook (for tests)."""
        self._hooks.clear()

    @property
    def names(self) -> list[str]:
        """Hook names in the order `run()` calls them."""
        return [e.name for e in self._ordered()]

    def _ordered(self) -> list[_Entry]:
        return sorted(self._hooks.values(), key=_Entry.key)

    async def run(self) -> list[tuple[str, str]]:
        """Run and forget every hook; returns (name, outcome) pairs, outcome "ok" or why not. Never
        raises: a failing or hanging hook is logged and the next one runs."""
        hooks = self._ordered()
        self._hooks.clear()
        outcomes: list[tuple[str, str]] = []
        for entry in hooks:
            started = time.perf_counter()
            try:
                result = entry.fn()
                if inspect.isawaitable(result):
                    await asyncio.wait_for(_awaited(result), entry.timeout)
                outcome = "ok"
                elapsed = (time.perf_counter() - started) * 1000
                log.debug("shutdown hook %s done in %.1f ms", entry.name, elapsed)
            except TimeoutError:
                outcome = f"timed out after {entry.timeout:g}s"
                log.error("shutdown hook %s %s (cut; the next hook runs)", entry.name, outcome)
            except Exception as exc:
                outcome = f"failed: {exc!r}"
                log.error("shutdown hook %s failed (the next hook runs)", entry.name, exc_info=exc)
            outcomes.append((entry.name, outcome))
        return outcomes


async def _awaited(result: Awaitable[Any]) -> Any:
    return await result


def _check_name(name: Any) -> None:
    if not isinstance(name, str) or not name.strip():
        raise _invalid(f"a shutdown hook's name must be a non-empty string, got {name!r}", "name",
                       'e.g. mega.shutdown.register("flush-audit", fn)')


def _check_fn(name: str, fn: Any) -> None:
    if not callable(fn):
        raise _invalid(f"shutdown hook '{name}': fn must be a function, got {fn!r}", "fn",
                       "pass a function taking no arguments (sync or async)")


def _check_timeout(name: str, timeout: Any) -> float:
    seconds = None if isinstance(timeout, bool) else parse_duration(timeout)
    if seconds is None or not seconds > 0 or not math.isfinite(seconds):
        raise _invalid(f"shutdown hook '{name}': timeout must be a duration > 0 (seconds), got {timeout!r}",
                       "timeout", 'e.g. timeout=5 or "500ms"')
    return seconds


def _invalid(message: str, option: str, hint: str) -> MegaError:
    return MegaError("shutdown.invalid_hook", message, details={"option": option}, hint=hint)


registry = ShutdownRegistry()
"""The process's registry: `mega start`, `mega worker`, `mega scheduler` and `Runtime.close()` run it."""


def register(name: str, fn: Hook, order: float = DEFAULT_ORDER,
             timeout: float | str = DEFAULT_TIMEOUT) -> None:
    """Run `fn` at shutdown by ascending `order` (ties: registration order), cut after `timeout`.
    The same name again replaces the old hook; bad arguments raise `shutdown.invalid_hook`."""
    registry.register(name, fn, order, timeout)


def unregister(name: str) -> bool:
    """Forget the hook named `name`; False when there was none."""
    return registry.unregister(name)


def reset() -> None:
    """Forget every hook (for tests)."""
    registry.reset()


def names() -> list[str]:
    """Registered hook names, in the order they will run."""
    return registry.names
