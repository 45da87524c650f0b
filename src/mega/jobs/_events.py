"""Job events: a whitelist, listeners isolated (a raising one is logged, the others still run)."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from typing import Any

from mega.jobs._errors import JobError

log = logging.getLogger("mega.jobs")

EVENTS = ("dispatch", "start", "done", "retry", "fail", "dlq")
PHASES = ("run", "decode", "dlq-publish", "dlq-orphan", "max-deliver", "consume-loop", "abandoned-run")

Listener = Callable[[dict[str, Any]], Any]


class Events:
    def __init__(self) -> None:
        self._listeners: dict[str, list[Listener]] = {name: [] for name in EVENTS}

    def on(self, name: str, fn: Listener) -> Callable[[], None]:
        """Call `fn(event)` (sync or async) on each `name` event; returns a function that removes it."""
        if name not in self._listeners:
            raise JobError(
                "job.unknown_event",
                f"no job event named {name!r}",
                details={"event": name},
                hint=f"events: {', '.join(EVENTS)}",
            )
        self._listeners[name].append(fn)
        return lambda: self._listeners[name].remove(fn) if fn in self._listeners[name] else None

    def wants(self, name: str) -> bool:
        return bool(self._listeners[name])

    async def emit(self, name: str, event: dict[str, Any]) -> None:
        for fn in list(self._listeners[name]):
            try:
                result = fn(event)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                log.exception(
                    "job event %r listener %r failed",
                    name,
                    getattr(fn, "__name__", fn),
                    extra={"subject": event.get("subject")},
                )
