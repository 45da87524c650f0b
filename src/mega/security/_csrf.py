"""CSRF protection, on by default: an origin check for every unsafe request, a token for forms.

A browser lets any site make a user's browser send GET, a form POST (urlencoded, multipart,
text/plain) or a body-less fetch with the user's cookies; anything else (JSON) needs a CORS
preflight, which mega refuses unless `cors` allows it. So, for POST, PUT, PATCH and DELETE:

1. When the request says where it comes from (`Origin`, else `Referer`), that must be this app: the
   same scheme, host and port as the request itself (its scheme is X-Forwarded-Proto's when the peer
   is a trusted proxy; a missing port is 80 or 443), or one of the app's `hosts` with that scheme and
   port, or an origin its CORS policy allows. Otherwise 403 `csrf.origin_mismatch`.
   (`Origin: null`, sent by sandboxed frames and some redirects, fails.)
2. A form-encoded body (the kinds a cross-site form can send) must also carry the token: header
   `X-CSRF-Token`, query parameter `_csrf`, or field `_csrf` of a urlencoded or multipart body,
   matching the `mega_csrf` cookie (403 `csrf.token_missing` / `csrf.token_invalid`). The field is
   read from `req.form()`, which caches the form: the handler gets it without a second parse.
   `ctx.csrf_token()` returns a token and sets the cookie; a script may also send the cookie's own
   value in the header.
3. Other requests (JSON, no body) without Origin or Referer come from non-browser clients and pass.

A route whose body must be JSON (it declares a `body` schema) refuses any other body with 415
`body.unsupported_media_type` before these checks: a forged form would run nothing, and a client that
sent a form to a JSON API learns the real problem instead of hunting for a token it does not need.

Tokens are Django-style: the cookie holds a random secret; each token is that secret masked with a
fresh random pad (so compressed HTTPS responses do not leak it, BREACH). No server key is needed,
so every process and server accepts every other's tokens.
"""

from __future__ import annotations

import base64
import hmac
import secrets
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from mega.errors import ForbiddenError
from mega.http.request import is_json_media_type, not_json
from mega.security._client_ip import request_scheme

if TYPE_CHECKING:
    from mega.http.reply import Reply
    from mega.http.request import Request

__all__ = ["COOKIE", "CsrfPolicy", "JsonBodyCsrfPolicy", "mask_token", "new_secret", "renew_secret",
           "set_cookie"]

COOKIE = "mega_csrf"
FIELD = "_csrf"
HEADER = b"x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_SECRET_BYTES = 32
_FORM_TYPES = (b"application/x-www-form-urlencoded", b"multipart/form-data", b"text/plain")


def new_secret() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(_SECRET_BYTES)).rstrip(b"=").decode()


def set_cookie(reply: Reply, secret: str, *, production: bool) -> None:
    """The `mega_csrf` cookie: readable by the page's scripts (they echo it in a header), `Secure` in
    production like the session cookie (development and test clients speak plain http)."""
    reply.cookie(COOKIE, secret, httponly=False, samesite="lax", secure=production)


def renew_secret(state: dict[str, Any], reply: Reply | None, *, production: bool) -> str:
    """A new CSRF secret for this client (at login: a token seen before the login stops working).
    Sets the cookie on `reply` and stores the secret in `state` (the ctx's dict), which
    `ctx.csrf_token()` masks from then on."""
    secret = new_secret()
    if reply is not None:
        set_cookie(reply, secret, production=production)
    state["_csrf_secret"] = secret
    return secret


def _b64(raw: str) -> bytes | None:
    try:
        return base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
    except (ValueError, TypeError):
        return None


def mask_token(secret: str) -> str:
    """A fresh token for the cookie's secret: pad + (secret XOR pad), base64url."""
    raw = _b64(secret) or b""
    pad = secrets.token_bytes(len(raw))
    return base64.urlsafe_b64encode(pad + bytes(a ^ b for a, b in zip(raw, pad, strict=True))) \
        .rstrip(b"=").decode()


def _unmask(token: str) -> bytes | None:
    raw = _b64(token)
    if raw is None or len(raw) != 2 * _SECRET_BYTES:
        return None
    pad, masked = raw[:_SECRET_BYTES], raw[_SECRET_BYTES:]
    return bytes(a ^ b for a, b in zip(masked, pad, strict=True))


def valid_secret(value: str | None) -> bool:
    raw = _b64(value) if value else None
    return raw is not None and len(raw) == _SECRET_BYTES


def token_matches(token: str, secret: str) -> bool:
    """A masked token from ctx.csrf_token(), or the cookie's value itself (what a script that reads
    the cookie sends in X-CSRF-Token, as with Django's csrftoken)."""
    raw = _b64(secret)
    if raw is None:
        return False
    plain = _b64(token)
    if plain is not None and len(plain) == _SECRET_BYTES:
        return hmac.compare_digest(plain, raw)
    unmasked = _unmask(token)
    return unmasked is not None and hmac.compare_digest(unmasked, raw)


class CsrfPolicy:
    """The check for one route: which origins count as this app's own."""

    __slots__ = ("allowed_origin", "hosts")

    def __init__(self, hosts: list[str], allowed_origin: Callable[[bytes], bool] | None) -> None:
        self.hosts = frozenset(h.lower() for h in hosts)
        self.allowed_origin = allowed_origin  # the route's CORS policy, when it has one

    def check(self, scope: dict[str, Any], req: Request) -> Awaitable[None] | None:
        """None when the request passes at once; an awaitable when the body must be read (a
        urlencoded or multipart form with no token elsewhere). Raises 403 otherwise."""
        if scope["method"] in SAFE_METHODS:
            return None
        return self._check(scope, req, False)

    def _check(self, scope: dict[str, Any], req: Request, json_only: bool) -> Awaitable[None] | None:
        """The checks of an unsafe method, from one pass over the headers; `json_only`: any body but
        JSON is refused with 415 first."""
        origin = referer = host = ctype = token = cookie = None
        for name, value in scope["headers"]:
            if name == b"origin":
                origin = value
            elif name == b"referer":
                referer = value
            elif name == b"host":
                host = value
            elif name == b"content-type":
                ctype = value
            elif name == HEADER:
                token = value
            elif name == b"cookie":  # HTTP/2 may split it into several headers
                cookie = value if cookie is None else cookie + b";" + value
        if json_only:
            media = ctype.decode("latin-1") if ctype is not None else ""
            if not is_json_media_type(media):
                raise not_json(media)
        source = origin if origin is not None else referer
        if source is not None and not self._same_site(source, host, origin is not None, scope):
            raise ForbiddenError("csrf.origin_mismatch", "cross-site request refused",
                                 details={"origin": source.decode("latin-1")[:200]},
                                 hint="send the request from the app's own pages, or allow the origin "
                                      "with the cors option")
        if ctype is None or not ctype.lower().startswith(_FORM_TYPES):
            return None
        return _check_token(scope, req, ctype, token, cookie)

    def _same_site(self, source: bytes, host: bytes | None, is_origin: bool, scope: dict[str, Any]) -> bool:
        """The request's own origin is its scheme (X-Forwarded-Proto from a trusted proxy), its Host
        and that Host's port (80/443 when none): `source` must match all three, or name one of the
        app's `hosts` with the same scheme and port."""
        if is_origin and self.allowed_origin is not None and self.allowed_origin(source):
            return True
        try:
            parts = urlsplit(source.decode("latin-1"))
            port = parts.port
        except ValueError:
            return False
        scheme = parts.scheme.lower()
        if not parts.netloc or scheme not in _ORIGIN_PORTS or "@" in parts.netloc:
            return False  # "null", opaque origins, garbage
        own = request_scheme(scope)
        if scheme != own:
            return False
        if port is None:
            port = _ORIGIN_PORTS[scheme]
        name = (parts.hostname or "").rstrip(".")
        own_name, own_port = _host_and_port(host.decode("latin-1") if host is not None else "", own)
        if port != own_port:
            return False
        return name == own_name or name in self.hosts


_ORIGIN_PORTS = {"http": 80, "https": 443}


def _host_and_port(host: str, scheme: str) -> tuple[str, int]:
    """A Host value as (lowercase name, port): `[::1]:8000`, `example.com`, `Example.com.:443`."""
    host = host.strip().lower()
    if host.startswith("["):
        name, _, rest = host[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    else:
        name, _, port = host.partition(":")
    number = int(port) if port.isascii() and port.isdigit() else _ORIGIN_PORTS[scheme] if not port else -1
    return name.rstrip("."), number


class JsonBodyCsrfPolicy(CsrfPolicy):
    """The check for a route whose body must be JSON: any other body gets 415 before the CSRF checks."""

    __slots__ = ()

    def check(self, scope: dict[str, Any], req: Request) -> Awaitable[None] | None:
        if scope["method"] in SAFE_METHODS:
            return None
        return self._check(scope, req, True)


def _check_token(scope: dict[str, Any], req: Request, ctype: bytes, token: bytes | None,
                 cookie: bytes | None) -> Awaitable[None] | None:
    secret = _cookie_value(cookie)
    if token is not None:
        _verify(token.decode("latin-1"), secret)
        return None
    query = parse_qs(scope.get("query_string", b"").decode("latin-1")).get(FIELD)
    if query:
        _verify(query[0], secret)
        return None
    if ctype.lower().startswith(_FORM_TYPES[:2]):
        return _verify_form(req, secret)
    raise ForbiddenError("csrf.token_missing", "this form needs its CSRF token",
                         hint=f"send the token from ctx.csrf_token() as header X-CSRF-Token, "
                              f"query parameter {FIELD}, or a form field {FIELD}")


def _cookie_value(header: bytes | None) -> str | None:
    if header is None:
        return None
    found = None
    for part in header.decode("latin-1").split(";"):
        name, _, value = part.strip().partition("=")
        if name == COOKIE:
            if found is not None and value.strip() != found:  # one planted by a sibling (sub)domain?
                raise ForbiddenError("csrf.token_invalid", f"two {COOKIE} cookies with different values",
                                     hint="clear this site's cookies and load the form again")
            found = value.strip()
    return found


def _verify(token: str, secret: str | None) -> None:
    if secret is None or not valid_secret(secret):
        raise ForbiddenError("csrf.token_invalid", "the CSRF cookie is missing or damaged",
                             hint="load the form again: ctx.csrf_token() sets the mega_csrf cookie")
    if not token_matches(token, secret):
        raise ForbiddenError("csrf.token_invalid", "the CSRF token does not match",
                             hint="send the token from ctx.csrf_token() of the page that holds the form")


async def _verify_form(req: Request, secret: str | None) -> None:
    token = (await req.form()).get(FIELD)  # cached on the request: the handler's req.form() reuses it
    if not isinstance(token, str) or not token:
        raise ForbiddenError("csrf.token_missing", "this form needs its CSRF token",
                             hint=f"add <input type=hidden name={FIELD} value=...> with ctx.csrf_token()")
    _verify(token, secret)
