"""The OTLP exporter's way out for a plain `http://` collector: one kept-alive stdlib connection.

OpenTelemetry's client sends each batch through a `requests` session, which looks up proxies, netrc
and CA files in the environment on every call: about 3 µs a span of the server's CPU in
`bench/observe/tracing_micro.py`, against 0.4 µs this way. Only the ordinary case goes here: a 2xx
answer. Anything else (an error status, a connection that fails twice) returns False and the exporter
hands the same bytes to OpenTelemetry's client, whose retries, backoff and logging then apply.
"""

from __future__ import annotations

import http.client
import os
import threading
from collections.abc import Mapping
from urllib.parse import urlsplit

__all__ = ["KeepAlivePost"]


class KeepAlivePost:
    """POSTs to one `http://` URL over a connection kept between calls (reopened when it closes)."""

    def __init__(self, url: str, headers: Mapping[str, str], timeout: float) -> None:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"not a plain http:// URL: {url!r}")
        self.host, self.port = parts.hostname, parts.port or 80
        self.target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.headers = dict(headers)
        self.timeout = timeout
        self._conn: http.client.HTTPConnection | None = None
        self._lock = threading.Lock()  # one request at a time on the one connection
        self._pid = os.getpid()

    def post(self, body: bytes) -> bool:
        """True when the collector answered 2xx; False otherwise (nothing raised)."""
        if self._pid != os.getpid():  # a forked worker: its own connection (and lock), never the parent's
            self._conn, self._lock, self._pid = None, threading.Lock(), os.getpid()
        with self._lock:
            for _ in range(2):  # a kept-alive connection the collector closed meanwhile: reopen once
                conn = self._conn or http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
                try:
                    conn.request("POST", self.target, body, self.headers)
                    response = conn.getresponse()
                    response.read()
                except (OSError, http.client.HTTPException):
                    conn.close()
                    self._conn = None
                    continue
                self._conn = None if response.will_close else conn
                if response.will_close:
                    conn.close()
                return 200 <= response.status < 300
            return False

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
