"""The request object handed to handlers: thin, lazy, built on the ASGI scope."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

import orjson

from mega._digits import ascii_digits
from mega.errors import BadRequestError, MegaError
from mega.http._cookies import parse_cookies
from mega.security._client_ip import client_ip

if TYPE_CHECKING:
    from mega.forms import Form, FormLimits
    from mega.forms._files import Spool

DEFAULT_BODY_LIMIT = 1024 * 1024


class BodyTooLargeError(MegaError):
    status = 413
    default_code = "body.too_large"


class UnsupportedMediaTypeError(MegaError):
    status = 415
    default_code = "body.unsupported_media_type"


def is_json_media_type(content_type: str) -> bool:
    if content_type == "application/json":  # what nearly every client sends
        return True
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def not_json(content_type: str) -> UnsupportedMediaTypeError:
    """The 415 for a body that had to be JSON."""
    return UnsupportedMediaTypeError(
        message=f"expected a JSON body (content-type application/json), got {content_type or 'none'!r}",
        details={"content_type": content_type},
    )


def parse_query(raw: bytes) -> dict[str, str]:
    """`dict(parse_qsl(..., keep_blank_values=True))` of a query string; plain ASCII with no escapes
    (`%`, `+`), the usual case, is split directly at a fifth of parse_qsl's cost."""
    if not raw:
        return {}
    text = raw.decode("latin-1")
    if not raw.isascii() or "%" in text or "+" in text or ";" in text:
        return dict(parse_qsl(text, keep_blank_values=True))
    out: dict[str, str] = {}
    for pair in text.split("&"):
        if pair:
            name, _, value = pair.partition("=")
            out[name] = value
    return out


class Request:
    """One HTTP request. Headers, query, cookies and body are parsed on first access only."""

    __slots__ = (
        "_body",
        "_cookies",
        "_form",
        "_headers",
        "_json",
        "_query",
        "_rid",
        "_spool",
        "_state",
        "_validated",
        "body_limit",
        "form_limits",
        "params",
        "receive",
        "scope",
    )

    def __init__(self, scope: dict[str, Any], receive: Any, params: dict[str, Any] | None,
                 rid: bytes, body_limit: int = DEFAULT_BODY_LIMIT,
                 form_limits: FormLimits | None = None) -> None:
        # Only what every request needs is set here; the caches below are slots filled on first use
        # (reading an unset slot raises AttributeError, which the properties catch).
        self.scope = scope
        self.receive = receive
        self.params = params if params is not None else {}
        self._rid = rid
        self.body_limit = body_limit
        self.form_limits = form_limits
        self._spool: Spool | None = None  # a multipart form's temp files, discarded when the request ends
        self._headers: dict[str, str] | None = None  # a slot read per header lookup: None, not unset

    @property
    def request_id(self) -> str:
        return self._rid.decode("latin-1")

    @property
    def state(self) -> dict[str, Any]:
        """Free-form per-request storage for middleware."""
        try:
            return self._state
        except AttributeError:
            self._state: dict[str, Any] = {}
            return self._state

    @property
    def validated(self) -> dict[str, Any]:
        """Validated parts by name ('params', 'query', 'headers', 'body')."""
        try:
            return self._validated
        except AttributeError:
            self._validated: dict[str, Any] = {}
            return self._validated

    @property
    def data(self) -> Any:
        """The validated body, or form for a `form=` route (a pydantic model instance when the route
        declares one)."""
        validated = self.validated
        return validated["body"] if "body" in validated else validated.get("form")

    @property
    def method(self) -> str:
        return str(self.scope["method"])

    @property
    def path(self) -> str:
        return str(self.scope["path"])

    @property
    def query_string(self) -> str:
        return bytes(self.scope.get("query_string", b"")).decode("latin-1")

    @property
    def headers(self) -> dict[str, str]:
        """Lower-cased names; a repeated header keeps its values joined by ', ' (RFC 9110)."""
        found = self._headers
        if found is not None:
            return found
        out: dict[str, str] = {}
        for name, value in self.scope["headers"]:
            key = name.decode("latin-1")
            text = value.decode("latin-1")
            out[key] = f"{out[key]}, {text}" if key in out else text
        self._headers = out
        return out

    def header(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name.lower(), default)

    @property
    def query(self) -> dict[str, str]:
        """The query string as a dict; a repeated key keeps its last value (see `query_list`)."""
        try:
            return self._query
        except AttributeError:
            self._query: dict[str, str] = parse_query(self.scope.get("query_string", b""))
            return self._query

    def query_list(self, name: str) -> list[str]:
        return [v for k, v in parse_qsl(self.query_string, keep_blank_values=True) if k == name]

    @property
    def cookies(self) -> dict[str, str]:
        try:
            return self._cookies
        except AttributeError:
            # One malformed pair is skipped, never the whole header (mega.http._cookies).
            raw = [value for name, value in self.scope["headers"] if name == b"cookie"]
            self._cookies: dict[str, str] = parse_cookies(raw) if raw else {}
            return self._cookies

    @property
    def ip(self) -> str | None:
        """The client's address: X-Forwarded-For only from `server.trusted_proxies`, else the peer."""
        return client_ip(self.scope)

    @property
    def client(self) -> str | None:
        client = self.scope.get("client")
        return client[0] if client else None

    @property
    def host(self) -> str:
        return self.headers.get("host", "").rsplit(":", 1)[0].lower() if "host" in self.headers else ""

    @property
    def content_type(self) -> str:
        return self._header(b"content-type") or ""

    def _header(self, name: bytes) -> str | None:
        """One header by its lower-case name, without building `headers` (repeats joined as there)."""
        if self._headers is not None:
            return self._headers.get(name.decode("latin-1"))
        found = None
        for key, value in self.scope["headers"]:
            if key == name:
                text = value.decode("latin-1")
                found = text if found is None else f"{found}, {text}"
        return found

    async def body(self) -> bytes:
        """The whole body, at most `body_limit` bytes (413 `body.too_large` beyond)."""
        try:
            return self._body
        except AttributeError:
            pass
        if self._spool is not None or hasattr(self, "_form"):
            raise MegaError("body.consumed", "the body was already read by req.form()",
                            hint="use `await req.form()` (cached) instead of req.body() on this request")
        return await self._read(self._header(b"content-length"))

    async def _read(self, declared: str | None) -> bytes:
        """Read the body (`declared`: the Content-Length field, checked against the limit first, before
        the first receive() lets the server send 100 Continue)."""
        limit = self.body_limit
        # ASCII digits only, and short (int() refuses 4,300+ digits); a bad value is the server's to
        # refuse, the limit below still holds while reading.
        if declared is not None and limit and ascii_digits(declared) and \
                (len(declared) > 18 or int(declared) > limit):
            raise BodyTooLargeError(message=f"request body of {declared} bytes exceeds the limit of "
                                    f"{limit} bytes", details={"limit": limit})
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                raise BadRequestError("body.disconnected", "client disconnected while sending the body")
            chunk = message.get("body", b"")
            size += len(chunk)
            if limit and size > limit:
                raise BodyTooLargeError(message=f"request body exceeds the limit of {limit} bytes",
                                        details={"limit": limit})
            if not message.get("more_body", False):
                if not chunks:  # the whole body in one message: no copy
                    self._body: bytes = bytes(chunk) if type(chunk) is not bytes else chunk
                    return self._body
                chunks.append(chunk)
                break
            chunks.append(chunk)
        self._body = b"".join(chunks)
        return self._body

    async def json(self) -> Any:
        """The body parsed as JSON (415 when not JSON, 400 `body.invalid_json` when malformed)."""
        try:
            return self._json
        except AttributeError:
            pass
        try:
            raw = self._body
        except AttributeError:
            raw = None
        if raw is None and self._headers is None and self._spool is None:
            # The usual first read: content-type and content-length from one pass over the raw head.
            ctype_found = declared = None
            for key, value in self.scope["headers"]:
                if key == b"content-type":
                    text = value.decode("latin-1")
                    ctype_found = text if ctype_found is None else f"{ctype_found}, {text}"
                elif key == b"content-length":
                    text = value.decode("latin-1")
                    declared = text if declared is None else f"{declared}, {text}"
            ctype = ctype_found or ""
            if not is_json_media_type(ctype):
                raise not_json(ctype)
            raw = await self._read(declared) if not hasattr(self, "_form") else await self.body()
        else:
            ctype = self.content_type
            if not is_json_media_type(ctype):
                raise not_json(ctype)
            raw = await self.body()
        if not raw.strip():
            raise BadRequestError("body.invalid_json", "request body is empty; expected JSON")
        try:
            self._json: Any = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise BadRequestError("body.invalid_json", f"request body is not valid JSON: {exc}",
                                  details={"position": exc.pos}) from None
        return self._json

    async def form(self) -> Form:
        """The body parsed as a form (urlencoded or multipart), within the route's form limits;
        parsed once, the same object on every call. See docs/reference/forms.md."""
        try:
            cached = self._form
        except AttributeError:
            pass
        else:
            if isinstance(cached, MegaError):  # the body is gone: the same answer again
                raise cached
            return cached
        from mega.forms._parse import read_form  # python-multipart: loaded by the first form only

        try:
            form = await read_form(self)
        except MegaError as exc:
            self._form: Form | MegaError = exc
            raise
        self._form = form
        return form
