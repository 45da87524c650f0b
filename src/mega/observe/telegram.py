"""A logging handler that sends error records to a Telegram chat: batched, rate-limited, off the request path.

`emit` formats the record and puts the line on a bounded queue; it never waits. One daemon thread
takes lines off the queue, joins up to `batch_size` of them (waiting at most `flush_interval` for
more once the first arrives) into one message, and posts it at most once per `min_interval`.
A full queue drops the line and counts it. A failed post is logged on `mega.observe.telegram` once,
at warning level (never seen by this handler), and again only after a post has succeeded.
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import threading
import time
import urllib.error
import urllib.request

__all__ = ["AlertFormatter", "TelegramHandler"]

_MAX_TEXT = 4096  # Telegram's limit for one message, in characters
_STOP = object()
log = logging.getLogger("mega.observe.telegram")


class AlertFormatter(logging.Formatter):
    """`ERROR mega.app.billing: message (request <id>)`, then the traceback if any."""

    def __init__(self) -> None:
        super().__init__("%(levelname)s %(name)s: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        line = super().formatMessage(record)
        request_id = getattr(record, "request_id", None)
        return f"{line} (request {request_id})" if request_id else line


class TelegramHandler(logging.Handler):
    """Posts batches of formatted records to `{api_url}/bot{token}/sendMessage` for `chat_id`."""

    def __init__(
        self,
        token: str,
        chat_id: str,
        *,
        api_url: str = "https://api.telegram.org",
        level: int = logging.ERROR,
        title: str | None = None,
        batch_size: int = 20,
        flush_interval: float = 2.0,
        min_interval: float = 3.0,
        queue_size: int = 1000,
        timeout: float = 10.0,
    ) -> None:
        super().__init__(level)
        self.setFormatter(AlertFormatter())
        self.url = f"{api_url.rstrip('/')}/bot{token}/sendMessage"
        self.chat_id = chat_id
        self.title = title
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.min_interval = min_interval
        self.timeout = timeout
        self.dropped = 0  # lines lost to a full queue
        self.sent = 0  # messages posted
        self.failed = 0  # messages whose post failed (their lines are lost)
        self._queue: queue.Queue[object] = queue.Queue(queue_size)
        self._failing = False
        self._last_post = 0.0
        self._thread = threading.Thread(target=self._run, name="mega-telegram-sink", daemon=True)
        self._thread.start()

    def filter(self, record: logging.LogRecord) -> bool:
        # Its own failures stay local (no loop through Telegram). A filter, so the check runs before
        # `handle` takes the handler's lock: the sender thread logging while `close` holds it and
        # waits for that thread would otherwise deadlock.
        if record.name == log.name:
            return False
        return bool(super().filter(record))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception:
            self.handleError(record)
            return
        try:
            self._queue.put_nowait(line)
        except queue.Full:
            self.dropped += 1

    def stats(self) -> dict[str, int]:
        return {
            "queued": self._queue.qsize(),
            "sent": self.sent,
            "failed": self.failed,
            "dropped": self.dropped,
        }

    def close(self, timeout: float = 5.0) -> None:
        """Send what is queued (within `timeout` seconds), then stop the thread."""
        if self._thread.is_alive():
            with contextlib.suppress(queue.Full):
                self._queue.put(_STOP, timeout=timeout)
            self._thread.join(timeout)
        super().close()

    # -- the sender thread ------------------------------------------------------------------

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is _STOP:
                return
            lines, stopping = self._batch(str(first))
            wait = self._last_post + self.min_interval - time.monotonic()
            if wait > 0 and not stopping:
                time.sleep(wait)
            self._post(lines)

    def _batch(self, first: str) -> tuple[list[str], bool]:
        lines = [first]
        deadline = time.monotonic() + self.flush_interval
        while len(lines) < self.batch_size:
            remaining = deadline - time.monotonic()
            try:
                item = (
                    self._queue.get(timeout=max(remaining, 0.0))
                    if remaining > 0
                    else self._queue.get_nowait()
                )
            except queue.Empty:
                break
            if item is _STOP:
                return lines, True
            lines.append(str(item))
        return lines, False

    def _text(self, lines: list[str]) -> str:
        head = f"{self.title}\n" if self.title else ""
        text = head + "\n\n".join(lines)
        return text if len(text) <= _MAX_TEXT else text[: _MAX_TEXT - 1] + "…"

    def _post(self, lines: list[str]) -> None:
        body = json.dumps(
            {"chat_id": self.chat_id, "text": self._text(lines), "disable_web_page_preview": True}
        ).encode()
        request = urllib.request.Request(
            self.url, data=body, method="POST", headers={"Content-Type": "application/json"}
        )
        self._last_post = time.monotonic()
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                response.read()
        except Exception as exc:  # the network, Telegram's 4xx/5xx: counted, logged once per outage
            self.failed += 1
            self._retry_after(exc)
            if not self._failing:
                self._failing = True
                log.warning(
                    "telegram sink: post failed, %d line(s) lost: %s (further failures are "
                    "not logged until a post succeeds)",
                    len(lines),
                    _describe(exc, self.url),
                )
            return
        self.sent += 1
        if self._failing:
            self._failing = False
            log.info("telegram sink: posting again (%d message(s) failed meanwhile)", self.failed)

    def _retry_after(self, exc: Exception) -> None:
        """Telegram's 429 says how long to wait: the next post waits that long."""
        if isinstance(exc, urllib.error.HTTPError) and exc.code == 429:
            try:
                seconds = float(json.loads(exc.read())["parameters"]["retry_after"])
            except Exception:
                return
            self._last_post = time.monotonic() + min(seconds, 300.0) - self.min_interval


def _describe(exc: Exception, url: str) -> str:
    text = f"HTTP {exc.code}" if isinstance(exc, urllib.error.HTTPError) else f"{type(exc).__name__}: {exc}"
    token_part = url.split("/bot", 1)[-1].split("/", 1)[0]
    return text.replace(token_part, "<token>") if token_part else text
