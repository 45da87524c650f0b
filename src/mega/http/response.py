"""Response objects: returned from a handler (or built by `reply`), they pass through untouched."""

from __future__ import annotations

import asyncio
import mimetypes
import os
import re
import unicodedata
from collections.abc import AsyncIterable, Iterable
from email.utils import formatdate
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from mega.errors import MegaError, NotFoundError
from mega.http._paths import confine, folder
from mega.http._wire import CL, CT, Headers
from mega.http.envelope import dumps

__all__ = ["FileResponse", "HTMLResponse", "Headers", "JSONResponse", "RedirectResponse", "Response",
           "StreamResponse", "TextResponse", "content_disposition", "encode_header", "safe_redirect_target"]

Send = Any

_HEADER_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_FILE_CHUNK = 64 * 1024
# Characters a Location never holds: controls (browsers skip tabs and newlines inside a URL, so
# "/\t/evil.com" becomes "//evil.com"; CR/LF would split the header).
_REDIRECT_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Kept as written in a Location (percent-encodings too); the rest is percent-encoded.
_PRINTABLE = "".join(chr(c) for c in range(0x21, 0x7f))
_FIRST_SEGMENT = re.compile(r"[/?#]")  # before the first of these, a ":" ends a scheme
# RFC 8187 attr-char besides ALPHA / DIGIT: what `filename*` may hold unencoded.
_ATTR_CHARS = "!#$&+-.^_`|~"


def encode_header(name: str, value: str | int | bytes) -> tuple[bytes, bytes]:
    """Validate and encode one header; CR/LF in a value would let a caller inject headers."""
    if not _HEADER_NAME.match(name):
        raise MegaError("response.invalid_header", f"invalid response header name {name!r}")
    raw = value if isinstance(value, bytes) else str(value).encode("latin-1")
    if b"\r" in raw or b"\n" in raw or b"\0" in raw:
        raise MegaError("response.invalid_header", f"response header {name!r} contains CR, LF or NUL",
                        hint="header values must be a single line")
    return name.lower().encode("ascii"), raw


class Response:
    """A complete response with a bytes body."""

    __slots__ = ("body", "headers", "media_type", "status")

    def __init__(
        self,
        body: bytes | str = b"",
        status: int = 200,
        headers: dict[str, str] | None = None,
        media_type: str | None = None,
    ) -> None:
        self.body = body.encode("utf-8") if isinstance(body, str) else body
        self.status = status
        self.media_type = media_type
        self.headers: Headers = [encode_header(k, v) for k, v in (headers or {}).items()]

    def header(self, name: str, value: str) -> Response:
        self.headers.append(encode_header(name, value))
        return self

    def head_headers(self) -> Headers:
        """Headers this response sends itself (content-type and length included)."""
        out: Headers = []
        if self.media_type is not None:
            ctype = self.media_type
            if ctype.startswith("text/") and "charset" not in ctype:
                ctype += "; charset=utf-8"
            out.append((CT, ctype.encode("latin-1")))
        out.append((CL, b"%d" % len(self.body)))
        return out

    async def send_body(self, send: Send) -> None:
        await send({"type": "http.response.body", "body": self.body})


class JSONResponse(Response):
    """A JSON body sent as given: no envelope."""

    __slots__ = ()

    def __init__(self, content: Any, status: int = 200, headers: dict[str, str] | None = None) -> None:
        super().__init__(dumps(content), status, headers, "application/json")


class HTMLResponse(Response):
    __slots__ = ()

    def __init__(self, content: str, status: int = 200, headers: dict[str, str] | None = None) -> None:
        super().__init__(content, status, headers, "text/html")


class TextResponse(Response):
    __slots__ = ()

    def __init__(self, content: str, status: int = 200, headers: dict[str, str] | None = None) -> None:
        super().__init__(content, status, headers, "text/plain")


class RedirectResponse(Response):
    """A redirect to a path of this site; another host or scheme needs `allow_external=True`."""

    __slots__ = ()

    def __init__(self, url: str, status: int = 302, headers: dict[str, str] | None = None, *,
                 allow_external: bool = False) -> None:
        if status not in (301, 302, 303, 307, 308):
            raise MegaError("response.invalid_redirect", f"redirect status must be 301/302/303/307/308, "
                            f"got {status}")
        location = safe_redirect_target(url, allow_external=allow_external)
        super().__init__(b"", status, headers)
        self.headers.append((b"location", location))


def safe_redirect_target(url: str, *, allow_external: bool = False) -> bytes:
    """The Location value for `url`: a path of this site (`/a`, `a/b`, `?page=2`), non-ASCII and
    spaces percent-encoded. Refused with 400: an empty target, a control character, a leading space
    (browsers strip it: " //evil" is "//evil") (`redirect.invalid`); another host or scheme
    (`//evil`, `/\\evil`, `https://evil`, `javascript:`) unless `allow_external`
    (`redirect.external`)."""
    if not isinstance(url, str) or not url or url[0] == " " or _REDIRECT_CONTROL.search(url):
        raise MegaError("redirect.invalid", "redirect target is empty, holds a control character or "
                        "starts with a space", status=400, details={"url": str(url)[:200]},
                        hint="redirect to a path like '/account'")
    if not allow_external:
        parts = urlsplit(url)
        # A backslash is read as "/" in http(s) URLs: "/\\evil.com" is "//evil.com", another host.
        if url.startswith("//") or "\\" in url or parts.scheme or parts.netloc \
                or ":" in _FIRST_SEGMENT.split(url, 1)[0]:
            raise MegaError("redirect.external", "redirect to another site or scheme refused",
                            status=400, details={"url": url[:200]},
                            hint="redirect to a path of this site ('/account'); for a link you chose "
                                 "yourself, pass allow_external=True")
    return quote(url, safe=_PRINTABLE).encode("ascii")


def content_disposition(filename: str) -> bytes:
    """`attachment; filename="..."` (RFC 6266): an ASCII fallback, and `filename*` with the exact name
    (UTF-8, percent-encoded) when the name holds anything else. Control characters become "_"."""
    if not isinstance(filename, str) or not filename.strip():
        raise MegaError("response.invalid_filename", f"filename must be a non-empty string, got {filename!r}",
                        hint="pass the name the browser should save the file as, or leave filename out")
    name = "".join("_" if ch < " " or ch == "\x7f" else ch for ch in filename)
    fallback = "".join(ch if " " <= ch < "\x7f" and ch not in '"\\%' else "_"
                       for ch in unicodedata.normalize("NFKD", name) if not unicodedata.combining(ch))
    value = f'attachment; filename="{fallback}"'
    if fallback != name:
        value += "; filename*=UTF-8''" + quote(name, safe=_ATTR_CHARS)
    return value.encode("ascii")


class StreamResponse(Response):
    """A body produced chunk by chunk (sent with chunked transfer encoding)."""

    __slots__ = ("chunks",)

    def __init__(
        self,
        chunks: AsyncIterable[bytes | str] | Iterable[bytes | str],
        status: int = 200,
        headers: dict[str, str] | None = None,
        media_type: str = "application/octet-stream",
    ) -> None:
        super().__init__(b"", status, headers, media_type)
        self.chunks = chunks

    def head_headers(self) -> Headers:
        return [(CT, self.media_type.encode("latin-1"))] if self.media_type else []

    async def send_body(self, send: Send) -> None:
        if isinstance(self.chunks, AsyncIterable):
            async for chunk in self.chunks:
                await send({"type": "http.response.body", "body": _as_bytes(chunk), "more_body": True})
        else:
            for chunk in self.chunks:
                await send({"type": "http.response.body", "body": _as_bytes(chunk), "more_body": True})
        await send({"type": "http.response.body", "body": b""})


class FileResponse(Response):
    """A file from disk, read in chunks off the event loop."""

    __slots__ = ("path", "size")

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        status: int = 200,
        headers: dict[str, str] | None = None,
        media_type: str | None = None,
        filename: str | None = None,
        root: str | os.PathLike[str] | None = None,
    ) -> None:
        # Everything is checked here, before the response starts: a bad name is an error answer, never a
        # connection dropped halfway through the headers.
        disposition = content_disposition(filename) if filename is not None else None
        if root is not None:
            real = confine(folder(root), os.fspath(path))
            if real is None:  # "..", an absolute path, a symlink out, NUL: as if it did not exist
                raise NotFoundError("file.not_found", "file not found")
            path = real
        self.path = Path(path)
        try:
            stat = self.path.stat()
        except (OSError, ValueError):  # ValueError: a NUL in the name
            raise NotFoundError("file.not_found", "file not found") from None
        if not self.path.is_file():
            raise NotFoundError("file.not_found", "file not found")
        guessed = media_type or mimetypes.guess_type(self.path.name)[0] or "application/octet-stream"
        super().__init__(b"", status, headers, guessed)
        self.size = stat.st_size
        self.headers.append((b"last-modified", formatdate(stat.st_mtime, usegmt=True).encode()))
        if disposition is not None:
            self.headers.append((b"content-disposition", disposition))

    def head_headers(self) -> Headers:
        out = super().head_headers()
        out[-1] = (CL, b"%d" % self.size)
        return out

    async def send_body(self, send: Send) -> None:
        with self.path.open("rb") as fh:
            while True:
                chunk = await asyncio.to_thread(fh.read, _FILE_CHUNK)
                more = len(chunk) == _FILE_CHUNK
                await send({"type": "http.response.body", "body": chunk, "more_body": more})
                if not more:
                    return


def _as_bytes(chunk: bytes | str) -> bytes:
    return chunk.encode("utf-8") if isinstance(chunk, str) else chunk
