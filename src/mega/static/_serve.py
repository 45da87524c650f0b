"""Answering a request for a file of an app's public folder: 200, 206, 304, 405, 416, HEAD.

Small files go out from memory in one write; larger ones through the server's zero-copy path when it
offers the ASGI `http.response.pathsend` extension (mega's own server), else in bounded chunks read
off the event loop.
"""

from __future__ import annotations

import asyncio
import os
from time import perf_counter
from typing import Any, Final

from mega.errors import MegaError
from mega.http._public_error import fallback_body, shows_detail
from mega.http._settings import AppSettings
from mega.http._wire import RAW_HEADERS, header_block, request_id, send_error, send_json
from mega.static._conditions import (
    UNSATISFIABLE,
    byte_range,
    choose_coding,
    if_range_holds,
    modified_since,
    none_match,
)
from mega.static._files import FileVersion, PublicFolder, hashed_name
from mega.static._settings import StaticSettings

__all__ = ["PATHSEND", "StaticFiles"]

PATHSEND: Final = "http.response.pathsend"
CHUNK: Final = 256 * 1024
IMMUTABLE: Final = b"cache-control: public, max-age=31536000, immutable\r\n"
_ALLOW: Final = [(b"allow", b"GET, HEAD")]
_WANTED: Final = frozenset({b"if-none-match", b"if-modified-since", b"range", b"if-range",
                            b"accept-encoding"})


def _pairs(head: bytes) -> list[tuple[bytes, bytes]]:
    """A raw header block as (name, value) pairs, for servers without mega's raw-header extension."""
    out = []
    for line in head.split(b"\r\n"):
        if line:
            name, _, value = line.partition(b": ")
            out.append((name, value))
    return out


class StaticFiles:
    """The files under an app's public folder, served under `prefix`."""

    __slots__ = ("_access", "_constant", "_cors", "_cut", "_development", "_log", "_plain", "_warned",
                 "folder", "prefix")

    def __init__(self, folder: PublicFolder, settings: StaticSettings, app: AppSettings) -> None:
        self.folder = folder
        self.prefix = settings.prefix
        self._cut = len(settings.prefix)
        self._plain = (b"cache-control: public, max-age=%d\r\n" % settings.max_age if settings.max_age
                       else b"cache-control: no-cache\r\n")
        self._constant = app.constant
        self._cors = app.security.cors  # the app's CORS policy: fonts and scripts read from other origins
        self._access = app.access_log
        self._development = shows_detail(app.env)
        self._log = app.log
        self._warned: set[str] = set()

    def url(self, path: str, *, strict: bool) -> str:
        """The URL of the file at `path` (relative to the public folder) with its content hash in the
        name. A missing file raises `static.not_found` when `strict`, else gives the plain URL and logs
        one warning per path."""
        rel = path.lstrip("/")
        version = self.folder.find(rel)
        try:
            digest = self.folder.content_hash(version) if version is not None else None
        except OSError:
            digest = None  # gone since the stat
        if digest is None:
            if strict:
                raise MegaError("static.not_found", f"static_url({path!r}): there is no file {rel!r} under "
                                f"{self.folder.root}", status=500, details={"path": path},
                                hint="check the name (dotfiles are never served), or add the file to public/")
            if rel not in self._warned:
                self._warned.add(rel)
                self._log.warning("static_url(%r): no such file under %s; serving the URL unhashed", path,
                                  self.folder.root)
            return self.prefix + rel
        return self.prefix + hashed_name(rel, digest)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> bool:
        """Answer a request under the prefix; False (nothing sent) when no file is there."""
        found = self.folder.find_hashed(scope["path"][self._cut:])
        if found is None:
            return False
        access = self._access
        started = perf_counter() if access is not None else 0.0
        rid = request_id(scope["headers"])
        status = 500
        try:
            status = await self._answer(scope, send, rid, found[0], found[1])
        except _Streaming as exc:
            # The head is out: returning with the body unfinished makes the server close the connection.
            status = exc.status
            self._log.error("%s %s failed while streaming: %s", scope["method"], scope["path"], exc.__cause__,
                            exc_info=exc.__cause__, extra={"request_id": rid.decode("latin-1")})
        except Exception as exc:
            self._log.error("%s %s failed: %s", scope["method"], scope["path"], exc, exc_info=exc,
                            extra={"request_id": rid.decode("latin-1")})
            await send_json(scope, send, 500, fallback_body(rid), rid, None, self._constant)
        if access is not None:
            access.record(scope["method"], scope["path"], status, (perf_counter() - started) * 1000.0,
                          rid.decode("latin-1"))
        return True

    async def _answer(self, scope: dict[str, Any], send: Any, rid: bytes, version: FileVersion,
                      immutable: bool) -> int:
        method = scope["method"]
        if method != "GET" and method != "HEAD":
            err = MegaError("route.method_not_allowed", f"method {method} is not allowed on {scope['path']}",
                            details={"method": method, "allowed": ["GET", "HEAD"]}, status=405)
            return await send_error(scope, send, err, _ALLOW, self._constant, development=self._development,
                                    rid=rid)
        asked: dict[bytes, bytes] = {name: value for name, value in scope["headers"] if name in _WANTED}
        ranged = b"range" in asked
        if version.encoded and not ranged and b"accept-encoding" in asked:
            pick = choose_coding(asked[b"accept-encoding"], tuple(coding for coding, _ in version.encoded))
            if pick >= 0:
                version = version.encoded[pick][1]
        head = version.head + (IMMUTABLE if immutable else self._plain)
        if self._cors is not None:
            allowed = self._cors.response_headers(scope["headers"])
            if allowed:
                head += header_block(allowed)
        if b"if-none-match" in asked:  # it wins over If-Modified-Since
            if none_match(asked[b"if-none-match"], version.etag):
                return await self._send(scope, send, 304, head, rid)
        elif b"if-modified-since" in asked and not modified_since(asked[b"if-modified-since"], version.mtime):
            return await self._send(scope, send, 304, head, rid)
        size = version.size
        if ranged and (b"if-range" not in asked
                       or if_range_holds(asked[b"if-range"], version.etag, version.mtime)):
            span = byte_range(asked[b"range"], size)
            if span == UNSATISFIABLE:
                head += b"content-range: bytes */%d\r\ncontent-length: 0\r\n" % size
                return await self._send(scope, send, 416, head, rid)
            if span is not None:
                first, last = span
                head += b"content-range: bytes %d-%d/%d\r\n" % (first, last, size)
                return await self._send(scope, send, 206, head, rid, version, first, last - first + 1)
        head += b"accept-ranges: bytes\r\n"
        return await self._send(scope, send, 200, head, rid, version, 0, size)

    async def _send(self, scope: dict[str, Any], send: Any, status: int, head: bytes, rid: bytes,
                    version: FileVersion | None = None, offset: int = 0, length: int = 0) -> int:
        """The response: head (header lines) plus the request id, content-length and the app's constant
        headers, then `length` bytes of `version` from `offset` (none for HEAD)."""
        if version is not None:
            head += b"content-length: %d\r\n" % length
        head += b"x-request-id: " + rid + b"\r\n" + self._constant[1]
        extensions = scope.get("extensions") or {}
        raw = RAW_HEADERS in extensions
        if version is None or scope["method"] == "HEAD" or length == 0:
            await self._start(send, status, head, raw)
            await send({"type": "http.response.body", "body": b""})
        elif version.body is not None:
            await self._start(send, status, head, raw)
            body = version.body
            await send({"type": "http.response.body",
                        "body": body if length == version.size else body[offset:offset + length]})
        elif length == version.size and PATHSEND in extensions:
            await self._start(send, status, head, raw)
            # "mega.length": mega's server never sends more than announced, should the file grow meanwhile.
            await send({"type": PATHSEND, "path": version.path, "mega.length": length})
        else:
            await self._stream(send, status, head, version.path, offset, length)
        return status

    @staticmethod
    async def _start(send: Any, status: int, head: bytes, raw: bool) -> None:
        if raw:
            await send({"type": "http.response.start", "status": status, "headers": (), RAW_HEADERS: head})
        else:
            await send({"type": "http.response.start", "status": status, "headers": _pairs(head)})

    async def _stream(self, send: Any, status: int, head: bytes, path: str, offset: int, length: int) -> None:
        loop = asyncio.get_running_loop()
        fd = await loop.run_in_executor(None, os.open, path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            # Started only once the file is open: a file gone since the lookup is still a clean 500.
            await self._start(send, status, head, False)
            try:
                while length > 0:
                    chunk = await loop.run_in_executor(None, os.pread, fd, min(CHUNK, length), offset)
                    if not chunk:
                        raise OSError(f"{path} is shorter than the {length} bytes announced")
                    offset += len(chunk)
                    length -= len(chunk)
                    await send({"type": "http.response.body", "body": chunk, "more_body": length > 0})
            except Exception as exc:
                raise _Streaming(status) from exc
        finally:
            os.close(fd)


class _Streaming(Exception):
    """A failure after the response head was sent."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status
