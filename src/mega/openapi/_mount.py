"""Serve an app's document at `openapi.path` and the docs page (with its assets) at `openapi.docs_path`.

Everything is built here, at boot: the document's bytes, the page, each response's headers and ETag.
The assets ship in the wheel (`mega/openapi/_assets`) under content-hashed URLs, so they are cached
for a year; the page and the document are revalidated with their ETag. The page has a CSP of its own
that allows those assets and nothing else.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import html
from collections.abc import Iterable
from importlib import resources
from time import perf_counter
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from mega.errors import MegaError
from mega.http._routing.converters import CONVERTERS, MISS
from mega.http._routing.pattern import PathPattern, parse_path
from mega.http._wire import CL, CT, RID, request_id
from mega.http.envelope import dumps
from mega.http.router import RouteDef
from mega.openapi._document import RouteSecurity, build_document
from mega.openapi._settings import OpenApiSettings, default_settings
from mega.security._csrf import SAFE_METHODS

if TYPE_CHECKING:
    from mega.app.app import MegaApp
    from mega.http._pipeline import Endpoint
    from mega.observe.access import AccessLog

__all__ = ["docs_csp", "openapi_endpoints"]

_ASSETS = ("swagger-ui/swagger-ui-bundle.js", "swagger-ui/swagger-ui.css", "docs.js")
_MEDIA = {"js": b"text/javascript; charset=utf-8", "css": b"text/css; charset=utf-8"}
_IMMUTABLE = b"public, max-age=31536000, immutable"
_REVALIDATE = b"no-cache"
_CSP = b"content-security-policy"
_GZIP_FROM = 1024  # smaller bodies are not worth compressing


def openapi_endpoints(app: MegaApp, settings: OpenApiSettings | None) -> dict[tuple[str, str], Endpoint]:
    """The static endpoints of `app`'s document and docs page, keyed by (method, path); none when off.

    A route of the app on one of these paths fails boot (`openapi.path_conflict`)."""
    settings = settings or default_settings(app.env)
    if not settings.enabled:
        return {}
    document = build_document(app.name, settings, app.routes, functools.partial(_route_security, app))
    constant = list(app.constant_headers)
    access = app.access_log
    endpoints: dict[str, Endpoint] = {
        settings.path: _Resource(dumps(document), b"application/json", _REVALIDATE, constant, access,
                                 listed=(settings.path, "openapi: the OpenAPI document")),
    }
    if settings.docs_path is not None:
        endpoints.update(_docs(settings.docs_path, settings.path, settings.title or app.name,
                               docs_csp(settings), constant, access))
    _check_conflicts(app, settings, endpoints)
    return {("GET", path): endpoint for path, endpoint in endpoints.items()}


def _route_security(app: MegaApp, route: RouteDef) -> RouteSecurity:
    _cors, csrf, rate = app.security.route_settings(route)
    return RouteSecurity(csrf=csrf and route.method not in SAFE_METHODS, rate_limited=rate is not None)


def docs_csp(settings: OpenApiSettings) -> str:
    """The docs page's CSP: its own scripts and styles, the document, and the servers it lists."""
    origins = sorted({f"{p.scheme}://{p.netloc}" for url, _ in settings.servers
                      if (p := urlsplit(url)).scheme in ("http", "https") and p.netloc})
    connect = " ".join(["'self'", *origins])
    return ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
            f"connect-src {connect}; base-uri 'none'; form-action 'none'; frame-ancestors 'self'")


def _docs(docs_path: str, json_path: str, title: str, csp: str, constant: list[tuple[bytes, bytes]],
          access: AccessLog | None) -> dict[str, Endpoint]:
    out: dict[str, Endpoint] = {}
    urls: dict[str, str] = {}
    assets = (f"{docs_path}/assets/{{asset}}", "openapi: the docs page's scripts and styles")
    for name in _ASSETS:
        body = _asset(name)
        stem, _, ext = name.rpartition("/")[2].rpartition(".")
        url = f"{docs_path}/assets/{stem}.{hashlib.sha256(body).hexdigest()[:12]}.{ext}"
        out[url] = _Resource(body, _MEDIA[ext], _IMMUTABLE, constant, access, listed=assets)
        urls[stem] = url
    page = _asset("docs.html").decode().format(
        title=html.escape(f"{title} · API docs"), json=html.escape(json_path), css=urls["swagger-ui"],
        bundle=urls["swagger-ui-bundle"], init=urls["docs"])
    own = [(n, v) for n, v in constant if n != _CSP] + [(_CSP, csp.encode())]
    page_resource = _Resource(page.encode(), b"text/html; charset=utf-8", _REVALIDATE, own, access,
                              listed=(docs_path, "openapi: the API docs page"))
    return {docs_path: page_resource, **out}


@functools.cache
def _asset(name: str) -> bytes:
    """A file shipped in mega/openapi/_assets, read once per process."""
    return resources.files("mega.openapi").joinpath("_assets", *name.split("/")).read_bytes()


def _check_conflicts(app: MegaApp, settings: OpenApiSettings, paths: Iterable[str]) -> None:
    patterns = [(route, parse_path(route.path, where=route.where)) for route in app.routes]
    for path in paths:
        for route, pattern in patterns:
            if _matches(pattern, path):
                what = "document" if path == settings.path else "docs page"
                key = "path" if path == settings.path else "docs_path"
                raise MegaError(
                    "openapi.path_conflict", f"app '{app.name}': {route.where} answers {path}, where "
                    f"openapi serves its {what}", details={"path": path, "route": route.where},
                    hint=f"move the route, or set openapi = {{'{key}': '/another/path'}} (or "
                         "{'enabled': False}) in apps/" + f"{app.name}/app_config.py")


def _matches(pattern: PathPattern, path: str) -> bool:
    parts = path[1:].split("/")
    segments = pattern.segments
    for i, segment in enumerate(segments):
        if segment.conv == "path" and segment.name is not None:
            return i < len(parts) and bool("/".join(parts[i:]))
        if i >= len(parts):
            return False
        if segment.literal is not None:
            if segment.literal != parts[i]:
                return False
        elif CONVERTERS[segment.conv](parts[i]) is MISS:
            return False
    return len(parts) == len(segments)


class _Resource:
    """One fixed body: ETag, Cache-Control, 304 on a matching If-None-Match, gzip when asked, HEAD."""

    def __init__(self, body: bytes, media_type: bytes, cache_control: bytes,
                 constant: list[tuple[bytes, bytes]], access: AccessLog | None, *,
                 listed: tuple[str, str] | None = None) -> None:
        self.listed = listed  # (path, what) as `mega routes` shows it
        digest = hashlib.sha256(body).hexdigest()[:24].encode()
        self.body = body
        self.etag = b'"' + digest + b'"'
        self.gzip_etag = b'"' + digest + b'-gz"'
        self.common = [(b"cache-control", cache_control), (b"vary", b"accept-encoding"), *constant]
        self.media_type = media_type
        self.access = access
        self._gzipped: bytes | None = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any, params: Any) -> None:
        started = perf_counter() if self.access is not None else 0.0
        rid = request_id(scope["headers"])
        match = accept = b""
        for name, value in scope["headers"]:
            if name == b"if-none-match":
                match = value
            elif name == b"accept-encoding":
                accept = value
        gz = len(self.body) >= _GZIP_FROM and _accepts_gzip(accept)
        etag = self.gzip_etag if gz else self.etag
        if match and (match.strip() == b"*" or etag in [t.strip().removeprefix(b"W/")
                                                        for t in match.split(b",")]):
            status, body, headers = 304, b"", [(b"etag", etag), (RID, rid), *self.common]
        else:
            body = self.gzipped() if gz else self.body
            status = 200
            headers = [(CT, self.media_type), (CL, b"%d" % len(body)), (b"etag", etag), (RID, rid),
                       *self.common]
            if gz:
                headers.append((b"content-encoding", b"gzip"))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body})
        if self.access is not None:
            self.access.record(scope["method"], scope["path"], status, (perf_counter() - started) * 1000.0,
                               rid.decode("latin-1"))

    def gzipped(self) -> bytes:
        if self._gzipped is None:  # compressed on first use: a docs page nobody opens costs nothing
            self._gzipped = gzip.compress(self.body, compresslevel=6, mtime=0)
        return self._gzipped


def _accepts_gzip(accept: bytes) -> bool:
    for item in accept.lower().split(b","):
        coding, _, q = item.strip().partition(b";")
        if coding.strip() in (b"gzip", b"*"):
            return q.strip().replace(b" ", b"") not in (b"q=0", b"q=0.0", b"q=0.00", b"q=0.000")
    return False
