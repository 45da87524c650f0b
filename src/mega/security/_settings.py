"""The app sections `helmet`, `cors`, `csrf` and `rate_limit`, and the settings they become.

Each is a key of app_config.py and also a route option, which replaces the app's value for that
route (never merged with it); both are checked by the same specs, so they fail the same way.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import SplitResult, urlsplit

from mega.config import _checks as c
from mega.config._specs import Context, Entries, Leaf, Section, Switch, const
from mega.config.sections import APP, Resolve, register_section, section_settings
from mega.errors import MegaError

__all__ = [
    "SECURITY_KEYS",
    "CorsSettings",
    "RateLimitSettings",
    "SecuritySettings",
    "route_security",
    "security_settings",
]

SECURITY_KEYS = ("helmet", "cors", "csrf", "rate_limit")

# -- helmet ------------------------------------------------------------------------------------------

# helmet 7's defaults, in its order, except referrer-policy: with `no-referrer` a browser sends
# `Origin: null` on a same-origin form POST, which the CSRF origin check must refuse; `same-origin`
# keeps the origin for the site itself and sends nothing to others.
DEFAULT_HELMET: dict[str, str] = {
    "content-security-policy": (
        "default-src 'self';base-uri 'self';font-src 'self' https: data:;form-action 'self';"
        "frame-ancestors 'self';img-src 'self' data:;object-src 'none';script-src 'self';"
        "script-src-attr 'none';style-src 'self' https: 'unsafe-inline';upgrade-insecure-requests"
    ),
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
    "origin-agent-cluster": "?1",
    "referrer-policy": "same-origin",
    "strict-transport-security": "max-age=31536000; includeSubDomains",
    "x-content-type-options": "nosniff",
    "x-dns-prefetch-control": "off",
    "x-download-options": "noopen",
    "x-frame-options": "SAMEORIGIN",
    "x-permitted-cross-domain-policies": "none",
    "x-xss-protection": "0",
}

HelmetSettings = tuple[tuple[str, str], ...]  # the secure headers, lowercase names


def _helmet_value(value: Any) -> str | bool:
    if value is False or value is None:
        return False
    if isinstance(value, str) and value:
        return c.header_value(value)
    raise c.Invalid(c.INVALID_VALUE, f"must be a non-empty string (the header's value) or False (drop it), "
                    f"got {value!r}", hint="e.g. {'x-frame-options': 'DENY'}")


HELMET = Switch(
    Entries(Leaf(_helmet_value, None), c.header_name),
    const({}),
    "None, False or a dict of header overrides",
    hint="e.g. {'x-frame-options': 'DENY', 'content-security-policy': False}",
)


def helmet_settings(value: Any, resolve: Resolve) -> HelmetSettings:
    if value is False:
        return ()
    headers = dict(DEFAULT_HELMET)
    for name, given in value.items():
        if given is False:
            headers.pop(name.lower(), None)
        else:
            headers[name.lower()] = given
    return tuple(headers.items())


# -- cors --------------------------------------------------------------------------------------------

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
DEFAULT_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
DEFAULT_HEADERS = ("content-type", "authorization", "x-request-id", "x-csrf-token")
DEFAULT_EXPOSE = ("x-request-id",)
DEFAULT_MAX_AGE = 600
_SCHEME = re.compile(r"^[a-z][a-z0-9+.\-]*$")
_DEFAULT_PORTS = {"http": 80, "https": 443}
_LOCAL = ("localhost", "127.0.0.1")
_EXAMPLE = "{'origins': ['https://app.example.com']}"


@dataclass(frozen=True)
class CorsSettings:
    origins: tuple[str, ...] | None  # None: any origin ("*")
    methods: tuple[str, ...] = DEFAULT_METHODS
    headers: tuple[str, ...] | None = DEFAULT_HEADERS  # None: reflect what the browser asks for
    expose_headers: tuple[str, ...] = DEFAULT_EXPOSE
    credentials: bool = False
    max_age: int = DEFAULT_MAX_AGE


def _origin(value: Any) -> str:
    """One origin as a browser sends it: lowercase `scheme://host[:port]`, no default port."""
    if not isinstance(value, str) or not value:
        raise c.Invalid(c.INVALID_VALUE, f"{value!r} is not an origin",
                        hint="an origin is a string like 'https://app.example.com'")
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
        raise c.Invalid(c.INVALID_VALUE, f"{value!r} {problem[0]}", hint=problem[1])
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
    if any(ch.isspace() for ch in value):
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
            ascii_host = (parts.hostname or "").encode("idna").decode("ascii")
        except UnicodeError:
            ascii_host = "xn--..."
        return "is not ASCII", f"browsers send the punycode form: {scheme}://{ascii_host}"
    return None


def _non_empty(check: c.Check, what: str) -> c.Check:
    def checked(value: Any) -> list[Any]:
        items: list[Any] = list(dict.fromkeys(check(value)))
        if not items:
            raise c.Invalid(c.INVALID_VALUE, "is an empty list", hint=f"list at least one {what}")
        return items

    return checked


def _star_or(check: c.Check) -> c.Check:
    return lambda value: "*" if value == "*" else check(value)


def _method(value: Any) -> str:
    method = value.upper() if isinstance(value, str) else value
    if method not in METHODS:
        raise c.Invalid(c.INVALID_VALUE, f"has an unknown method {value!r}", hint=f"use {', '.join(METHODS)}")
    return str(method)


def _header_names(value: Any) -> list[str]:
    names = c.list_of(c.header_name, "a list of header names")(value)
    return list(dict.fromkeys(name.lower() for name in names))


def _origins_rule(value: dict[str, Any], key: str, ctx: Context) -> None:
    if value["origins"] == "*" and value["credentials"] is True:
        where = f"{key}.origins"
        ctx.report(c.INVALID_VALUE, where, f"{ctx.file}: {where} '*' cannot be used with credentials=True "
                   "(browsers reject it)",
                   "list the origins allowed to send cookies, e.g. origins=['https://app.example.com']")


CORS = Switch(
    Section(
        {
            "origins": Leaf(_star_or(_non_empty(c.list_of(_origin, "a list of origins or '*'"), "origin")),
                            None, required_hint=f"list the sites allowed, e.g. cors = {_EXAMPLE}, or "
                                                "origins='*' for any site"),
            "methods": Leaf(_non_empty(c.list_of(_method, "a list of methods"), "method"),
                            const(list(DEFAULT_METHODS))),
            "headers": Leaf(_star_or(_header_names), const(list(DEFAULT_HEADERS))),
            "expose_headers": Leaf(_header_names, const(list(DEFAULT_EXPOSE))),
            "credentials": Leaf(c.boolean, const(False)),
            "max_age": Leaf(c.whole_seconds(c.duration(zero_ok=True)), const(DEFAULT_MAX_AGE)),
        },
        after=_origins_rule,
    ),
    const(False),
    "None, False or a dict",
    hint=f"e.g. cors = {_EXAMPLE}; cors=False (or no cors key) turns CORS off",
)


def cors_settings(value: Any, resolve: Resolve) -> CorsSettings | None:
    if value is False or value["origins"] is None:  # None: missing, reported as required
        return None
    origins, headers = value["origins"], value["headers"]
    return CorsSettings(
        origins=None if origins == "*" else tuple(origins),
        methods=tuple(value["methods"]),
        headers=None if headers == "*" else tuple(headers),
        expose_headers=tuple(value["expose_headers"]),
        credentials=value["credentials"],
        max_age=value["max_age"],
    )


# -- csrf --------------------------------------------------------------------------------------------

CSRF = Leaf(c.on_off(True), const(True))


def csrf_settings(value: Any, resolve: Resolve) -> bool:
    return bool(value)


# -- rate_limit --------------------------------------------------------------------------------------

MAX_WINDOW = 366 * 86400.0  # longer is a typo, and Redis refuses such expiry times
RATE_REDIS_ALIAS = "rate"  # services.redis.rate, when declared, makes counting shared
_RATE_EXAMPLE = "e.g. {'max': 100, 'window': '1 minute'} (window: seconds, or '30s', '5m', '1h')"
RATE_KEYS = ("ip", "user")  # or a callable: key(ctx) -> str (or an awaitable of one)
RateKey = str | Callable[..., Any]


def _rate_key(value: Any) -> RateKey:
    if value in RATE_KEYS or (callable(value) and not isinstance(value, str | type)):
        return value  # type: ignore[no-any-return]
    raise c.Invalid(c.INVALID_VALUE, f"must be 'ip', 'user' or a function of ctx returning a string, "
                    f"got {value!r}", hint="e.g. 'key': 'user' (the logged-in user, else the IP), or "
                    "'key': lambda ctx: ctx.req.headers.get('x-api-key', '')")


@dataclass(frozen=True, slots=True)
class RateLimitSettings:
    """How many requests one client may make per window; `redis` names a services.redis alias."""

    max: int
    window: float
    redis: str | None = None
    # IPv6 clients are counted per network of this prefix length: one host gets a whole /64, so
    # counting per address would give it 2**64 buckets. 128 counts each address.
    ipv6_prefix: int = 64
    # Whom a request is counted for: "ip" (the client's address), "user" (the logged-in user's id,
    # the IP when anonymous) or a callable of ctx returning a string (sync or async).
    key: RateKey = "ip"
    # The RateLimit-Policy and RateLimit response headers on every response (always on a 429).
    headers: bool = False

    def __post_init__(self) -> None:
        # Policies built in code get the config's checks (a number of seconds only: no unit strings).
        checks = (("max", c.integer(1)), ("window", _window_seconds), ("redis", c.optional(c.alias)),
                  ("ipv6_prefix", c.integer(1, 128)), ("key", _rate_key), ("headers", c.boolean))
        for name, check in checks:
            try:
                check(getattr(self, name))
            except c.Invalid as exc:
                raise MegaError("rate_limit.invalid_policy", f"RateLimitPolicy: {name!r} {exc.text}",
                                hint=exc.hint, status=500) from None


def _window_seconds(value: Any) -> float:
    if isinstance(value, str):
        raise c.wrong_type("a number of seconds", value)
    seconds: float = c.duration(most=MAX_WINDOW)(value)
    return seconds


DEFAULT_RATE_LIMIT = RateLimitSettings(max=1000, window=60.0)

_REPLACES = f"a dict replaces the default entirely: give both 'max' and 'window', {_RATE_EXAMPLE}"
RATE_LIMIT = Switch(
    Section(
        {
            "max": Leaf(c.integer(1), None, required_hint=_REPLACES),
            "window": Leaf(c.duration(most=MAX_WINDOW), None, required_hint=_REPLACES),
            "redis": Leaf(c.optional(c.alias), const(None)),
            "ipv6_prefix": Leaf(c.integer(1, 128), const(DEFAULT_RATE_LIMIT.ipv6_prefix)),
            "key": Leaf(_rate_key, const(DEFAULT_RATE_LIMIT.key)),
            "headers": Leaf(c.boolean, const(DEFAULT_RATE_LIMIT.headers)),
        }
    ),
    const({"max": DEFAULT_RATE_LIMIT.max, "window": DEFAULT_RATE_LIMIT.window, "redis": None,
           "ipv6_prefix": DEFAULT_RATE_LIMIT.ipv6_prefix, "key": DEFAULT_RATE_LIMIT.key,
           "headers": DEFAULT_RATE_LIMIT.headers}),
    "None (the default, 1,000 requests a minute), False (off) or a dict",
    hint=f"use None for the default or a dict: {_RATE_EXAMPLE}",
)


def rate_limit_settings(value: Any, resolve: Resolve) -> RateLimitSettings | None:
    if value is False:
        return None
    alias = value["redis"]
    if alias is not None and not resolve.alias(
        "redis", alias, "redis", example="{'url': 'redis://127.0.0.1:6379/0'}"
    ):
        alias = None
    if value["max"] is None or value["window"] is None:  # reported as required
        return DEFAULT_RATE_LIMIT
    return RateLimitSettings(value["max"], value["window"], alias, value["ipv6_prefix"], value["key"],
                             value["headers"])


register_section("helmet", HELMET, scope=APP, settings=helmet_settings)
register_section("cors", CORS, scope=APP, settings=cors_settings)
register_section("csrf", CSRF, scope=APP, settings=csrf_settings)
register_section("rate_limit", RATE_LIMIT, scope=APP, settings=rate_limit_settings)


# -- the four together -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SecuritySettings:
    """An app's (or a route's) helmet, cors, csrf and rate_limit settings."""

    helmet: HelmetSettings = tuple(DEFAULT_HELMET.items())
    cors: CorsSettings | None = None
    csrf: bool = True
    rate_limit: RateLimitSettings | None = DEFAULT_RATE_LIMIT

    @classmethod
    def of(cls, settings: Mapping[str, Any]) -> SecuritySettings:
        """From an AppConfig's `settings` (what the config loader resolved)."""
        return cls(**{key: settings[key] for key in SECURITY_KEYS if key in settings})


def security_settings(config: Mapping[str, Any], *, file: str) -> SecuritySettings:
    """The four sections of an app config dict (raw, or as the loader validated it)."""
    return _checked(config, SecuritySettings(), file, SECURITY_KEYS)


def route_security(options: Mapping[str, Any], base: SecuritySettings, *, file: str) -> SecuritySettings:
    """`base` with the keys a route's options give replaced (never merged): checked as config is."""
    return _checked(options, base, file, tuple(key for key in SECURITY_KEYS if key in options))


def _checked(config: Mapping[str, Any], base: SecuritySettings, file: str,
             keys: tuple[str, ...]) -> SecuritySettings:
    # Route options cannot see services, so a redis alias is checked when its limiter is built.
    return replace(base, **section_settings(config, keys, file=file))
