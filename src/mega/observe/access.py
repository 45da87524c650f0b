"""The access log: one line per request, kept off the request path.

`record` only appends a tuple. A loop timer, armed when the first line of a batch arrives (so an
idle server does nothing), formats the batch and writes it to the stream in one call: a stdlib
`logger.info` line per request would halve throughput (figures: docs/adr/0009-logging.md).
"""

from __future__ import annotations

import asyncio
import logging
from time import time
from typing import TextIO

import orjson

from mega.errors import MegaError
from mega.observe import _colour as c
from mega.observe._time import PerSecond, local_hms, utc_seconds

__all__ = ["MAX_PENDING", "AccessLog"]

MAX_PENDING = 100_000  # lines kept while nothing flushes; beyond it lines are dropped and counted
_FORMATS = ("json", "pretty")
_JSON_MIDDLE = b'Z","level":"info","logger":"mega.access",'

log = logging.getLogger("mega.access")

# (time, method, path, status, duration_ms, request_id)
Line = tuple[float, str, str, int, float, str]


def _json_prefix(second: int) -> bytes:
    return b'{"ts":"' + utc_seconds(second).encode() + b"."


def _safe(text: str) -> str:
    """The path is percent-decoded: a `%0A` in it must not start a forged line in the pretty log."""
    return text if text.isprintable() else text.encode("unicode_escape").decode("ascii")


class AccessLog:
    """Batched access log lines to `stream`, in `fmt` "json" or "pretty".

    `record` must be called on the thread of the loop given to `start`. The stream is not closed by
    `close`: it belongs to the caller.
    """

    def __init__(self, stream: TextIO, *, fmt: str, flush_interval: float = 0.01,
                 max_pending: int = MAX_PENDING) -> None:
        if fmt not in _FORMATS:
            raise MegaError("config.invalid_value", f"logger.format must be one of {', '.join(_FORMATS)}, "
                            f"got {fmt!r}", details={"key": "logger.format", "value": fmt})
        if not flush_interval > 0 or max_pending < 1:
            raise MegaError("access_log.invalid_option", "flush_interval must be > 0 and max_pending >= 1, "
                            f"got {flush_interval!r} and {max_pending!r}")
        self.stream = stream
        self.fmt = fmt
        self.flush_interval = flush_interval
        self.max_pending = max_pending
        self.dropped = 0  # lines lost in total: over max_pending, or in a batch the stream refused
        self._pending: list[Line] = []
        self._overflow = 0  # dropped over max_pending since the last report
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._failing = False
        self._failed_lines = 0
        self._colour = fmt == "pretty" and c.wants_colour(stream)
        self._json_prefix = PerSecond(_json_prefix)
        self._hms = PerSecond(local_hms)

    @property
    def pending(self) -> int:
        return len(self._pending)

    # -- request path --------------------------------------------------------------------------

    def record(self, method: str, path: str, status: int, duration_ms: float, request_id: str) -> None:
        """Queue one line: a tuple append, no formatting and no I/O."""
        pending = self._pending
        size = len(pending)
        if size == 0:
            self._arm()
        elif size >= self.max_pending:
            self._overflow += 1
            return
        pending.append((time(), method, path, status, duration_ms, request_id))

    # -- loop side -----------------------------------------------------------------------------

    def start(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        """Flush from `loop` (default: the running loop); lines recorded before are kept."""
        if loop is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError as exc:
                raise MegaError("access_log.no_loop", "AccessLog.start() needs a running event loop",
                                hint="call it from async code or pass loop=", cause=exc) from exc
        self._cancel()
        self._loop = loop
        if self._pending:
            self._arm()

    async def close(self) -> None:
        """Stop the timer and write what is pending. Lines recorded later wait for `flush` or `start`."""
        self._cancel()
        self._loop = None
        self.flush()

    def _arm(self) -> None:
        if self._timer is None and self._loop is not None:
            try:
                self._timer = self._loop.call_later(self.flush_interval, self._on_timer)
            except RuntimeError:  # the loop is closed: keep the lines for flush() rather than fail a request
                self._loop = None

    def _cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _on_timer(self) -> None:
        self._timer = None
        self.flush()

    def flush(self) -> None:
        """Format and write everything pending in one `write`; never raises."""
        batch = self._pending
        if batch:
            self._pending = []
            self._write(batch)
        if self._overflow:
            count, self._overflow = self._overflow, 0
            self.dropped += count
            log.warning("access log: dropped %d lines: more than %d were waiting to be written",
                        count, self.max_pending)

    def _write(self, batch: list[Line]) -> None:
        try:
            text = self._format_json(batch) if self.fmt == "json" else self._format_pretty(batch)
            self.stream.write(text)
            self.stream.flush()
        except Exception as exc:  # a broken sink must not take the server down: drop the batch
            self.dropped += len(batch)
            self._failed_lines += len(batch)
            if not self._failing:
                self._failing = True
                log.error("access log: writing to %s failed, dropping lines until it works again: %s",
                          _describe(self.stream), exc, exc_info=exc)
            return
        if self._failing:
            self._failing = False
            log.warning("access log: %s works again; %d lines were dropped", _describe(self.stream),
                        self._failed_lines)
            self._failed_lines = 0

    # -- formats -------------------------------------------------------------------------------

    def _format_json(self, batch: list[Line]) -> str:
        prefix = self._json_prefix
        dumps = orjson.dumps
        out = []
        for at, method, path, status, duration, rid in batch:
            second = int(at)
            rest = dumps({"method": method, "path": path, "status": status,
                          "duration_ms": round(duration, 3), "request_id": rid})
            out.append(b"%s%03d%s%s" % (prefix(second), int((at - second) * 1000), _JSON_MIDDLE, rest[1:]))
        out.append(b"")
        return b"\n".join(out).decode()

    def _format_pretty(self, batch: list[Line]) -> str:
        hms = self._hms
        out = []
        for at, method, path, status, duration, rid in batch:
            if self._colour:
                shown = f"{c.status_colour(status)}{status}{c.RESET}"
                out.append(f"{hms(int(at))} {_safe(method)} {_safe(path)} {shown} {duration:.2f}ms "
                           f"{c.DIM}rid={_safe(rid)}{c.RESET}")
            else:
                out.append(f"{hms(int(at))} {_safe(method)} {_safe(path)} {status} {duration:.2f}ms "
                           f"rid={_safe(rid)}")
        out.append("")
        return "\n".join(out)


def _describe(stream: TextIO) -> str:
    name = getattr(stream, "name", None)
    return str(name) if name is not None else type(stream).__name__
