"""`reply`: what a handler uses to set status, headers and cookies, or to answer another way."""

from __future__ import annotations

import os
from collections.abc import AsyncIterable, Iterable
from http.cookies import SimpleCookie
from typing import Literal

from mega.errors import MegaError
from mega.http.response import (
    FileResponse,
    Headers,
    RedirectResponse,
    Response,
    StreamResponse,
    encode_header,
)


class Reply:
    """Collects status, headers and cookies for the response the pipeline sends."""

    __slots__ = ("headers", "response", "status_code")

    def __init__(self) -> None:
        self.status_code = 200
        self.headers: Headers = []
        self.response: Response | None = None

    def status(self, code: int) -> Reply:
        if not isinstance(code, int) or not 100 <= code <= 599:
            raise MegaError("response.invalid_status", f"status must be an integer 100-599, got {code!r}")
        self.status_code = code
        return self

    code = status

    def header(self, name: str, value: str | int) -> Reply:
        self.headers.append(encode_header(name, value))
        return self

    def cookie(
        self,
        name: str,
        value: str,
        *,
        max_age: int | None = None,
        expires: str | None = None,
        path: str = "/",
        domain: str | None = None,
        secure: bool = False,
        httponly: bool = True,
        samesite: Literal["lax", "strict", "none"] | None = "lax",
    ) -> Reply:
        jar: SimpleCookie = SimpleCookie()
        jar[name] = value
        morsel = jar[name]
        morsel["path"] = path
        if max_age is not None:
            morsel["max-age"] = max_age
        if expires is not None:
            morsel["expires"] = expires
        if domain is not None:
            morsel["domain"] = domain
        if secure or samesite == "none":
            morsel["secure"] = True
        if httponly:
            morsel["httponly"] = True
        if samesite is not None:
            morsel["samesite"] = samesite.capitalize()
        self.headers.append(encode_header("set-cookie", morsel.OutputString()))
        return self

    def clear_cookie(self, name: str, *, path: str = "/", domain: str | None = None) -> Reply:
        return self.cookie(name, "", max_age=0, expires="Thu, 01 Jan 1970 00:00:00 GMT", path=path,
                           domain=domain)

    def redirect(self, url: str, status: int = 302, *, allow_external: bool = False) -> Response:
        """Redirect to a path of this site. Another host or scheme (`//evil`, `https://...`,
        `javascript:`) is refused with 400 `redirect.external` unless `allow_external=True`."""
        self.response = RedirectResponse(url, status, allow_external=allow_external)
        return self.response

    def send(self, body: bytes | str, *, media_type: str = "text/plain") -> Response:
        """Answer with a raw body (no envelope)."""
        self.response = Response(body, self.status_code, media_type=media_type)
        return self.response

    def stream(self, chunks: AsyncIterable[bytes | str] | Iterable[bytes | str], *,
               media_type: str = "application/octet-stream") -> Response:
        self.response = StreamResponse(chunks, self.status_code, media_type=media_type)
        return self.response

    def file(self, path: str | os.PathLike[str], *, root: str | os.PathLike[str] | None = None,
             filename: str | None = None, media_type: str | None = None) -> Response:
        """Answer with a file. With `root`, `path` is a name relative to that folder and must stay in it
        (no "..", absolute path, dotfile, backslash, NUL or symlink out: 404): use it whenever the
        name comes from the request. `filename` makes it a download saved under that name."""
        self.response = FileResponse(path, status=self.status_code, filename=filename, media_type=media_type,
                                     root=root)
        return self.response

    def __repr__(self) -> str:
        return f"Reply(status={self.status_code}, headers={len(self.headers)})"
