"""One slot of the cluster: the worker process in it, and its restart history."""

from __future__ import annotations

import asyncio
import signal
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from mega.cluster._settings import ClusterSettings

__all__ = ["Slot", "Worker", "exit_status"]


@dataclass
class Worker:
    """A worker process and the primary's end of its control channel."""

    slot: int
    proc: asyncio.subprocess.Process
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    started: float = field(default_factory=time.monotonic)
    ready: bool = False
    families: list[dict[str, Any]] | None = None  # its last metrics, as collected
    boot_failure: tuple[str, str] | None = None  # (stage, message) it reported
    pending: dict[int, asyncio.Future[None]] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        return self.proc.pid


@dataclass
class Slot:
    """A numbered place for one worker; it keeps its number across restarts."""

    number: int
    worker: Worker | None = None
    restarts: int = 0
    served: bool = False  # a worker of this slot has been ready once
    crashes: deque[float] = field(default_factory=deque)
    backoff: float = 0.0  # the delay before the next restart once in a crash loop (0: none yet)

    def next_delay(self, uptime: float, settings: ClusterSettings, now: float | None = None) -> float:
        """Record an unexpected exit; the delay before the replacement starts (0: at once)."""
        now = time.monotonic() if now is None else now
        if uptime >= settings.crash_loop_window:  # it was up long enough: a fresh start
            self.crashes.clear()
            self.backoff = 0.0
        self.crashes.append(now)
        while self.crashes and now - self.crashes[0] > settings.crash_loop_window:
            self.crashes.popleft()
        if len(self.crashes) <= settings.crash_loop_restarts:  # the first N exits: replaced at once
            return 0.0
        self.backoff = 1.0 if self.backoff == 0 else min(self.backoff * 2, settings.backoff_max)
        return self.backoff


def exit_status(code: int) -> str:
    """'exit code 3' or 'killed by SIGKILL'."""
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"
