"""What a server started by `mega start --watch` does when its boot fails: answer 503 on its port.

A refused connection says nothing; a 503 whose envelope carries the boot error (in development)
says what to fix, in the browser tab or the client the developer already has open. The page lasts
until the watcher stops this process to restart the server after the next change.
"""

from __future__ import annotations

import signal
import socket
import socketserver
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import Any

import orjson

from mega._digits import ascii_digits
from mega.errors import MegaError

_BODY_LIMIT = 1_048_576  # bytes of a request body read before answering (then the connection closes)
_BRIEF = {"code": "boot.failed", "message": "the server failed to boot: its log says why", "details": {}}


def error_body(exc: BaseException, *, details: bool) -> bytes:
    """The envelope: the boot error's code (its cause's), message, stage, hint and details, or a brief one."""
    if not details:
        return orjson.dumps({"ok": False, "error": _BRIEF})
    cause = getattr(exc, "original", exc)
    code = cause.code if isinstance(cause, MegaError) else "boot.failed"
    info: dict[str, Any] = {"stage": getattr(exc, "stage", None)}
    if isinstance(cause, MegaError):
        info.update(cause.details or {})
    hint = getattr(exc, "hint", None)
    if hint:
        info["hint"] = hint
    message = exc.message if isinstance(exc, MegaError) else f"{type(exc).__name__}: {exc}"
    error = {"code": code, "message": message, "details": info}
    return orjson.dumps({"ok": False, "error": error}, default=str)


def serve_error(host: str, port: int, body: bytes) -> int:
    """Answer every request on host:port with 503 and `body` until SIGTERM or SIGINT; returns 1."""

    class Handler(_ErrorHandler):
        payload = body

    server = _Server((host, port), Handler)
    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 1


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        super().__init__(address, handler)

    def server_bind(self) -> None:
        # HTTPServer's own looks the host's name up (getfqdn), which can stall on a resolver.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = str(self.server_address[0]), int(self.server_address[1])


class _ErrorHandler(BaseHTTPRequestHandler):
    payload = b""
    server_version = "mega"
    sys_version = ""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("do_"):  # every method gets the same answer
            return self._answer
        raise AttributeError(name)

    def _answer(self) -> None:
        length = self.headers.get("content-length", "")
        # Read what was sent: closing over unread bytes would reset the connection. ASCII digits only
        # and short, as Request.body() takes them.
        if ascii_digits(length) and len(length) <= 18:
            self.rfile.read(min(int(length), _BODY_LIMIT))
        self.send_response(503)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(self.payload)))
        self.send_header("cache-control", "no-store")
        self.send_header("connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(self.payload)
        self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the boot error was printed once; a line per request would bury it."""


def _stop(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt
