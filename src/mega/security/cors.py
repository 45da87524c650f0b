"""CORS: which other sites' pages may read this app's responses. Off by default.

`cors` in app_config.py (or as a route option, which replaces the app's value, never merges):

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
from collections.abc import Iterable, Mapping
from difflib import get_close_matches
from urllib.parse import SplitResult, urlsplit

from mega.errors import ForbiddenError, MegaError
from mega.http.response import Headers

__all__ = ["DEFAULT_HEADERS", "DEFAULT_METHODS", "KEYS", "METHODS", "CorsPolicy", "parse_cors"]

KEYS = ("origins", "methods", "headers", "expose_headers", "credentials", "max_age")
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
DEFAULT_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
DEFAULT_HEADERS = ("content-type", "authorization", "x-request-id", "x-csrf-token")
DEFAULT_EXPOSE = ("x-request-id",)
DEFAULT_MAX_AGE = 600
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
_SCHEME = re.compile(r"^[a-z][a-z0-9+.\-]*$")
_DEFAULT_PORTS = {"http": 80, "https": 443}
_LOCAL = ("localhost", "127.0.0.1")
_EXAMPLE = "{'origins': ['https://app.example.com']}"


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
        """Values as parse_cors normalises them; `origins=None` = any, `headers=None` = reflect."""
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


# -- config ----------------------------------------------------------------------------------------


def _error(where: str, message: str, hint: str, key: str | None = None) -> MegaError:
    return MegaError("cors.invalid_config", f"{where}: cors: {message}", hint=hint, status=500,
                     details={"where": where, "key": key})


def parse_cors(cfg: object, *, where: str) -> CorsPolicy | None:
    """None or False -> None (CORS off); a dict (only `origins` required) -> the policy.

    Raises MegaError `cors.invalid_config` (500) naming `where` and the offending key."""
    if cfg is None or cfg is False:
        return None
    if not isinstance(cfg, Mapping):
        raise _error(where, f"must be None, False or a dict, got {cfg!r}",
                     f"e.g. cors = {_EXAMPLE}; cors=False (or no cors key) turns CORS off")
    for key in cfg:
        if key not in KEYS:
            near = get_close_matches(str(key), KEYS, n=1)
            maybe = f"did you mean {near[0]!r}? " if near else ""
            raise _error(where, f"unknown key {key!r}", f"{maybe}valid keys: {', '.join(KEYS)}", key)
    if "origins" not in cfg:
        raise _error(where, "origins: missing", f"list the sites allowed, e.g. cors = {_EXAMPLE}, "
                     "or origins='*' for any site", "origins")
    credentials = cfg.get("credentials", False)
    if not isinstance(credentials, bool):
        raise _error(where, f"credentials: must be True or False, got {credentials!r}",
                     "True lets the listed origins send cookies and read the answers", "credentials")
    origins = _parse_origins(cfg["origins"], where)
    if origins is None and credentials:
        raise _error(where, "origins: '*' cannot be used with credentials=True (browsers reject it)",
                     "list the origins allowed to send cookies, e.g. origins=['https://app.example.com']",
                     "origins")
    max_age = cfg.get("max_age", DEFAULT_MAX_AGE)
    if type(max_age) is not int or max_age < 0:
        raise _error(where, f"max_age: must be an int >= 0 (seconds), got {max_age!r}",
                     f"seconds a browser may reuse a preflight answer; default {DEFAULT_MAX_AGE}",
                     "max_age")
    headers = cfg.get("headers", DEFAULT_HEADERS)
    return CorsPolicy(
        origins=origins,
        methods=_parse_methods(cfg.get("methods", DEFAULT_METHODS), where),
        headers=None if headers == "*" else _parse_names(headers, "headers", where),
        expose_headers=_parse_names(cfg.get("expose_headers", DEFAULT_EXPOSE), "expose_headers", where),
        credentials=credentials,
        max_age=max_age,
    )


def _as_list(value: object, key: str, where: str, example: str) -> list[object]:
    if not isinstance(value, list | tuple):
        raise _error(where, f"{key}: must be a list, got {value!r}", f"e.g. {key}={example}", key)
    return list(value)


def _parse_origins(value: object, where: str) -> list[str] | None:
    if value == "*":
        return None
    items = _as_list(value, "origins", where, "['https://app.example.com'] (or '*' for any site)")
    if not items:
        raise _error(where, "origins: empty list", "list at least one origin, or set cors=False", "origins")
    return list(dict.fromkeys(_parse_origin(item, where) for item in items))


def _parse_origin(value: object, where: str) -> str:
    """One origin as a browser sends it: lowercase `scheme://host[:port]`, no default port."""
    if not isinstance(value, str) or not value:
        raise _error(where, f"origins: {value!r} is not an origin",
                     "an origin is a string like 'https://app.example.com'", "origins")
    problem = _shape_problem(value)
    if problem is None:
        try:
            parts = urlsplit(value)
            port = parts.port
        except ValueError as exc:
            problem = (f"is not a valid origin ({exc})", "write scheme://host[:port]")
        else:
            problem = _parts_problem(value, parts)
    if problem is not None:
        raise _error(where, f"origins: {value!r} {problem[0]}", problem[1], "origins")
    scheme, netloc = parts.scheme.lower(), parts.netloc.lower()
    if port is not None and _DEFAULT_PORTS.get(scheme) == port:
        netloc = netloc.rpartition(":")[0]  # browsers leave the default port out
    return f"{scheme}://{netloc}"


def _shape_problem(value: str) -> tuple[str, str] | None:
    """What is wrong with an origin before it is split into parts: (problem, hint), or None."""
    if value == "*":
        return "inside a list", "write origins='*' (not a list) to allow any site"
    if value.lower() == "null":
        return "is refused", ("'null' is the origin of sandboxed frames and file:// pages, which any site "
                              "can produce; list real origins")
    if any(c.isspace() for c in value):
        return "has spaces", "write scheme://host[:port], e.g. https://app.example.com"
    if "://" not in value:
        host = value.split("/")[0]
        scheme = "http" if host.split(":")[0] in _LOCAL else "https"
        return "has no scheme", f"write {scheme}://{host}"
    return None


def _parts_problem(value: str, parts: SplitResult) -> tuple[str, str] | None:
    scheme, netloc = parts.scheme.lower(), parts.netloc.lower()
    if not _SCHEME.match(scheme) or not parts.hostname or netloc.endswith(":"):
        return "is not a valid origin", "write scheme://host[:port], e.g. https://app.example.com"
    if parts.path or parts.query or parts.fragment or value.endswith(("?", "#")):
        return "has a path or query", f"an origin has none: write {scheme}://{netloc}"
    if "@" in netloc:
        return "has a user name", f"write {scheme}://{netloc.rpartition('@')[2]}"
    if "*" in netloc:
        return "has a wildcard", "list each origin, e.g. ['https://a.example.com', 'https://b.example.com']"
    if not netloc.isascii():
        try:
            ascii_host = parts.hostname.encode("idna").decode("ascii")
        except UnicodeError:
            ascii_host = "xn--..."
        return "is not ASCII", f"browsers send the punycode form: {scheme}://{ascii_host}"
    return None


def _parse_methods(value: object, where: str) -> list[str]:
    items = _as_list(value, "methods", where, str(list(DEFAULT_METHODS)))
    if not items:
        raise _error(where, "methods: empty list", f"list some of {', '.join(METHODS)}", "methods")
    out: list[str] = []
    for item in items:
        method = item.upper() if isinstance(item, str) else item
        if method not in METHODS:
            raise _error(where, f"methods: unknown method {item!r}", f"use {', '.join(METHODS)}", "methods")
        out.append(str(method))
    return list(dict.fromkeys(out))


def _parse_names(value: object, key: str, where: str) -> list[str]:
    example = "['content-type', 'authorization']" + (" or '*' (any the browser asks for)"
                                                       if key == "headers" else "")
    out: list[str] = []
    for item in _as_list(value, key, where, example):
        if not isinstance(item, str) or not _TOKEN.match(item):
            raise _error(where, f"{key}: {item!r} is not a header name",
                         "header names are letters, digits and dashes", key)
        out.append(item.lower())
    return list(dict.fromkeys(out))
