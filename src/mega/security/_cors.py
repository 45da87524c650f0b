"""CORS: which other sites' pages may read this app's responses. Off by default.

`cors` in app_config.py (or as a route option, which replaces the app's value, never merges;
declared in `mega.security._settings`):

    cors = None                                     # off (also when the key is absent, or False)
    cors = {"origins": ["https://a.com"]}           # pages of a.com may call the API
    cors = {"origins": "*"}                         # any site, without cookies
    cors = {"origins": ["https://a.com", "http://localhost:5173"], "credentials": True,
            "headers": "*", "expose_headers": ["x-request-id", "etag"], "max_age": 3600}

A dict replaces the defaults below entirely; only `origins` is required. Every header value is built
at boot: per request the policy scans the request headers once for `origin`, looks it up in a dict
and returns a prebuilt list. Origins compare exactly as browsers send them (`scheme://host[:port]`,
lowercase, no default port).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from mega.errors import ForbiddenError, MegaError
from mega.http.response import Headers
from mega.security._settings import (
    DEFAULT_EXPOSE,
    DEFAULT_HEADERS,
    DEFAULT_MAX_AGE,
    DEFAULT_METHODS,
    METHODS,
    CorsSettings,
)

__all__ = ["DEFAULT_HEADERS", "DEFAULT_METHODS", "METHODS", "CorsPolicy", "cors_policy"]
# ASP's headers (mega.asp wire format): a page on another origin sends the request ones and must be able
# to read the response ones, so an app with ASP on allows and exposes them (when its cors lists headers).
ASP_REQUEST_HEADERS = ("x-mega-asp", "x-mega-asp-ts", "x-mega-asp-nonce", "x-mega-asp-tag")
ASP_RESPONSE_HEADERS = ("x-mega-asp", "x-mega-asp-nonce", "x-mega-asp-tag")
# Browsers may send these without asking; allowing them always avoids refusing an odd Accept-Language.
SAFELISTED = ("accept", "accept-language", "content-language", "content-type")

_ACAO = b"access-control-allow-origin"
_ACAC = b"access-control-allow-credentials"
_ACEH = b"access-control-expose-headers"
_ACAM = b"access-control-allow-methods"
_ACAH = b"access-control-allow-headers"
_ACMA = b"access-control-max-age"
_ACRM = b"access-control-request-method"
_ACRH = b"access-control-request-headers"
_VARY = (b"vary", b"origin")
_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")


class CorsPolicy:
    """Built once at boot from config. Off by default (the app gives no CORS headers at all, so
    browsers refuse cross-origin reads)."""

    __slots__ = ("_allow_headers", "_allow_headers_value", "_any", "_by_origin", "_methods",
                 "_preflight_tail", "allow_credentials", "allow_headers", "expose_headers", "max_age",
                 "methods", "origins")

    origins: frozenset[bytes] | None
    allow_credentials: bool

    def __init__(self, *, origins: Iterable[str] | None, methods: Iterable[str] = DEFAULT_METHODS,
                 headers: Iterable[str] | None = DEFAULT_HEADERS,
                 expose_headers: Iterable[str] = DEFAULT_EXPOSE, credentials: bool = False,
                 max_age: int = DEFAULT_MAX_AGE) -> None:
        """Values as the `cors` settings hold them; `origins=None` = any, `headers=None` = reflect."""
        if origins is None and credentials:
            raise MegaError("cors.invalid_config", "cors: origins '*' cannot allow credentials", status=500,
                            hint="list the origins allowed to send cookies")
        self.origins = None if origins is None else frozenset(o.encode("ascii") for o in origins)
        self.methods = tuple(methods)
        self.allow_headers = None if headers is None else tuple(headers)
        self.expose_headers = tuple(expose_headers)
        self.allow_credentials = credentials
        self.max_age = max_age

        tail: Headers = []
        if credentials:
            tail.append((_ACAC, b"true"))
        if self.expose_headers:
            tail.append((_ACEH, ", ".join(self.expose_headers).encode("ascii")))
        # Actual requests: the whole answer for each allowed origin, ready to return.
        self._any: Headers | None = [(_ACAO, b"*"), *tail] if self.origins is None else None
        self._by_origin = {o: [(_ACAO, o), _VARY, *tail] for o in self.origins or ()}

        self._methods = frozenset(m.encode("ascii") for m in self.methods)
        self._allow_headers: frozenset[bytes] | None = None
        self._allow_headers_value = b""
        if self.allow_headers is not None:
            names = list(dict.fromkeys((*self.allow_headers, *SAFELISTED)))
            self._allow_headers = frozenset(n.encode("ascii") for n in names)
            self._allow_headers_value = ", ".join(names).encode("ascii")
        self._preflight_tail: Headers = [(_ACAM, ", ".join(self.methods).encode("ascii")),
                                         (_ACMA, b"%d" % max_age)]
        if credentials:
            self._preflight_tail.append((_ACAC, b"true"))

    def __repr__(self) -> str:
        origins = "*" if self.origins is None else sorted(o.decode() for o in self.origins)
        return f"CorsPolicy(origins={origins!r}, credentials={self.allow_credentials})"

    def allows(self, origin: bytes) -> bool:
        """Whether pages of `origin` may read responses (any origin when configured with "*")."""
        return self.origins is None or origin in self.origins

    def is_preflight(self, method: str, headers: Headers) -> bool:
        """OPTIONS with both an Origin and an Access-Control-Request-Method header."""
        if method != "OPTIONS":
            return False
        origin = wanted = False
        for name, _ in headers:
            if name == b"origin":
                origin = True
            elif name == _ACRM:
                wanted = True
        return origin and wanted

    def response_headers(self, headers: Headers) -> Headers:
        """CORS headers for an actual (non-preflight) request; [] when it has no allowed Origin.
        The list is shared between requests: extend another list with it, never mutate it."""
        for name, value in headers:
            if name == b"origin":
                if self._any is not None:
                    return self._any
                return self._by_origin.get(value) or []
        return []

    def preflight(self, headers: Headers) -> Headers:
        """Headers for the 204 answer to an allowed preflight; 403 `cors.*_denied` otherwise."""
        origin = method = requested = None
        for name, value in headers:
            if name == b"origin":
                origin = value
            elif name == _ACRM:
                method = value
            elif name == _ACRH:
                requested = value if requested is None else requested + b"," + value
        if origin is None or not self.allows(origin):
            raise _origin_denied(origin)
        if method is None or method not in self._methods:
            raise ForbiddenError("cors.method_denied", f"CORS does not allow method {_text(method)!r}",
                                 details={"method": _text(method), "allowed": list(self.methods)},
                                 hint="add the method to cors.methods, or use one of the allowed ones")
        names = _header_names(requested)
        allowed = self._allow_headers
        refused = [n for n in names if not _TOKEN.match(n)] if allowed is None else \
            [n for n in names if n.encode("latin-1") not in allowed]
        if refused:
            raise ForbiddenError("cors.headers_denied", f"CORS does not allow request header(s) "
                                 f"{', '.join(refused)[:200]}", details={"headers": refused[:20]},
                                 hint="add them to cors.headers (or set headers='*'), or stop sending them")
        out: Headers = [(_ACAO, b"*")] if self.origins is None else [(_ACAO, origin), _VARY]
        out.extend(self._preflight_tail)
        if allowed is not None:
            out.append((_ACAH, self._allow_headers_value))
        elif names:
            out.append((_ACAH, ", ".join(names).encode("latin-1")))
        return out


def _text(value: bytes | None) -> str:
    return "" if value is None else value.decode("latin-1")[:200]


def _header_names(raw: bytes | None) -> list[str]:
    """`Access-Control-Request-Headers` as lowercase names (a comma list, spaces allowed)."""
    if not raw:
        return []
    names = (part.strip().lower() for part in raw.decode("latin-1").split(","))
    return list(dict.fromkeys(n for n in names if n))


def _origin_denied(origin: bytes | None) -> ForbiddenError:
    if origin is None:
        return ForbiddenError("cors.origin_denied", "CORS preflight without an Origin header",
                              details={"origin": None}, hint="a browser sends Origin on every preflight")
    return ForbiddenError("cors.origin_denied", f"CORS does not allow origin {_text(origin)!r}",
                          details={"origin": _text(origin)},
                          hint="add the origin (scheme://host[:port]) to cors.origins in app_config.py")


def cors_policy(settings: CorsSettings | None, *, asp: bool = False) -> CorsPolicy | None:
    """The policy of `cors` settings (None: CORS off). With `asp` (the app turns ASP on), ASP's request
    headers are allowed and its response headers exposed besides the configured ones."""
    if settings is None:
        return None
    headers, expose = settings.headers, settings.expose_headers
    if asp:
        if headers is not None:
            headers = tuple(dict.fromkeys((*headers, *ASP_REQUEST_HEADERS)))
        expose = tuple(dict.fromkeys((*expose, *ASP_RESPONSE_HEADERS)))
    return CorsPolicy(origins=settings.origins, methods=settings.methods, headers=headers,
                      expose_headers=expose, credentials=settings.credentials, max_age=settings.max_age)
