"""The `router` object a routes file receives: `routes(router)` declares, boot compiles."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, NotRequired, TypeAlias, TypedDict, Unpack

from mega._suggest import close_match
from mega.errors import MegaError
from mega.http._routing.pattern import parse_path

if TYPE_CHECKING:  # pydantic is imported only by routes that validate
    from pydantic import BaseModel, TypeAdapter

__all__ = ["METHODS", "ROUTE_OPTIONS", "CorsOptions", "FormLimitOptions", "RateLimitOptions", "RouteDef",
           "RouteOptions", "Router"]

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")

Middleware = Callable[..., Any] | str
"""A middleware function, or the name of one in apps/<app>/middlewares/."""
Chain = Middleware | Sequence[Middleware]
Schema: TypeAlias = "dict[str, Any] | type[BaseModel] | TypeAdapter[Any]"
"""A JSON Schema dict or a pydantic model (or TypeAdapter)."""
Names = list[str] | tuple[str, ...]


class CorsOptions(TypedDict):
    """`cors=`: which other sites may read the answers (docs/reference/security.md)."""

    origins: Names | Literal["*"]
    methods: NotRequired[Names]
    headers: NotRequired[Names | Literal["*"]]
    expose_headers: NotRequired[Names]
    credentials: NotRequired[bool]
    max_age: NotRequired[int]


class RateLimitOptions(TypedDict):
    """`rate_limit=`: `max` requests per `window` (seconds, or a duration such as "1 minute"), counted
    per `key` ("ip", "user" or a function of ctx returning a string); `headers` sends RateLimit-Policy
    and RateLimit on every response."""

    max: int
    window: float | str
    redis: NotRequired[str | None]
    ipv6_prefix: NotRequired[int]
    key: NotRequired[str | Callable[..., Any]]
    headers: NotRequired[bool]


class FormLimitOptions(TypedDict, total=False):
    """`form_limits=`: this route's limits for `req.form()`, over the app's `forms` section."""

    max_file_size: int | str
    max_files: int
    max_fields: int
    max_field_size: int | str
    max_body: int | str
    temp_dir: str | None


class RouteOptions(TypedDict, total=False):
    """The keyword options of `router.get/post/...` and `router.group` (all optional)."""

    before: Chain
    transform: Chain
    after: Chain
    params: Schema
    query: Schema
    headers: Schema
    body: Schema
    form: Schema
    response: Schema
    body_limit: int
    form_limits: FormLimitOptions
    name: str
    summary: str
    description: str
    tags: Names
    status: int
    global_middleware: bool
    helmet: Mapping[str, str | Literal[False] | None] | Literal[False] | None
    cors: CorsOptions | Literal[False] | None
    csrf: bool | None
    rate_limit: RateLimitOptions | Literal[False] | None
    operation_id: str
    deprecated: bool
    openapi: bool
    responses: Mapping[int, Schema | None]


# Checked at boot too, for projects that do not run a type checker.
ROUTE_OPTIONS = frozenset(RouteOptions.__annotations__)


def describe(fn: Any) -> str:
    """`module.Qualname` of a handler or middleware, for listings and error messages."""
    module = getattr(fn, "__module__", None) or "?"
    name = getattr(fn, "__qualname__", None) or type(fn).__qualname__
    return f"{module}.{name}"


@dataclass
class RouteDef:
    method: str
    path: str
    handler: Callable[..., Any]
    options: dict[str, Any] = field(default_factory=dict)
    source: str = ""

    @property
    def handler_name(self) -> str:
        return describe(self.handler)

    @property
    def where(self) -> str:
        """`apps/web/routes/users.py (route GET /users/{id})`, how messages name the route."""
        return _where(self.source, self.method, self.path)


def _where(source: str, method: str, path: object) -> str:
    route = f"route {method} {path}"
    return f"{source} ({route})" if source else route


class Router:
    """Collects route declarations for one app. `group(prefix)` shares the same list."""

    def __init__(self, prefix: str = "", *, source: str = "", defaults: dict[str, Any] | None = None,
                 _routes: list[RouteDef] | None = None, _ws: list[RouteDef] | None = None) -> None:
        if prefix and (not prefix.startswith("/") or prefix.endswith("/")):
            raise MegaError("route.invalid_prefix", f"group prefix must start with '/' and not end with "
                            f"'/', got {prefix!r}")
        self.prefix = prefix
        self.source = source
        self.defaults = dict(defaults or {})
        self.routes: list[RouteDef] = _routes if _routes is not None else []
        self.ws_routes: list[RouteDef] = _ws if _ws is not None else []  # method "WS"; see mega.ws

    def route(self, methods: str | Sequence[str], path: str, handler: Callable[..., Any],
              **options: Unpack[RouteOptions]) -> None:
        wanted = [methods] if isinstance(methods, str) else list(methods)
        _check_options(options, path)
        if not callable(handler):
            raise MegaError("route.invalid_handler", f"handler for '{path}' is not callable: {handler!r}")
        merged = {**self.defaults, **options}
        # Checked here, where the loader can name the line: the path as written, then the full one.
        label = ", ".join(str(m).upper() for m in wanted)
        if not isinstance(path, str) or not (path.startswith("/") or (path == "" and self.prefix)):
            parse_path(path, where=_where(self.source, label, path))  # raises
        full = self.prefix + path if path != "/" or not self.prefix else self.prefix
        parse_path(full, where=_where(self.source, label, full))
        for method in wanted:
            upper = method.upper()
            if upper not in METHODS:
                raise MegaError("route.invalid_method", f"unknown HTTP method {method!r} for '{path}'",
                                hint=f"use one of {', '.join(METHODS)} (HEAD is answered from GET)")
            self.routes.append(RouteDef(upper, full, handler, merged, self.source))

    def get(self, path: str, handler: Callable[..., Any], **options: Unpack[RouteOptions]) -> None:
        self.route("GET", path, handler, **options)

    def post(self, path: str, handler: Callable[..., Any], **options: Unpack[RouteOptions]) -> None:
        self.route("POST", path, handler, **options)

    def put(self, path: str, handler: Callable[..., Any], **options: Unpack[RouteOptions]) -> None:
        self.route("PUT", path, handler, **options)

    def patch(self, path: str, handler: Callable[..., Any], **options: Unpack[RouteOptions]) -> None:
        self.route("PATCH", path, handler, **options)

    def delete(self, path: str, handler: Callable[..., Any], **options: Unpack[RouteOptions]) -> None:
        self.route("DELETE", path, handler, **options)

    def options(self, path: str, handler: Callable[..., Any], **options: Unpack[RouteOptions]) -> None:
        self.route("OPTIONS", path, handler, **options)

    def group(self, prefix: str, **defaults: Unpack[RouteOptions]) -> Router:
        """Routes declared on the returned router get `prefix` and these default options."""
        _check_options(defaults, prefix)
        return Router(self.prefix + prefix, source=self.source, defaults={**self.defaults, **defaults},
                      _routes=self.routes, _ws=self.ws_routes)

    def ws(self, path: str, channel: type[Any], *, before: Chain | None = None,
           global_middleware: bool | None = None) -> None:
        """Mount a WebSocket channel (a `mega.ws.WebSocketController` subclass) at `path`.

        `before` middleware (and the app's global ones, unless `global_middleware=False`) run on the
        upgrade request; the path is the channel's namespace. See docs/reference/websockets.md."""
        full = self.prefix + path if path != "/" or not self.prefix else self.prefix
        parse_path(full, where=_where(self.source, "WS", full))
        if not isinstance(channel, type):
            raise MegaError("ws.invalid_channel", f"router.ws('{path}', ...) needs a channel class, got "
                            f"{channel!r}",
                            hint="class ChatChannel(WebSocketController): ...; router.ws(path, ChatChannel)")
        options: dict[str, Any] = {}
        chosen = before if before is not None else self.defaults.get("before")
        if chosen is not None:
            options["before"] = chosen
        use_global = global_middleware
        if use_global is None:
            use_global = self.defaults.get("global_middleware")
        if use_global is not None:
            options["global_middleware"] = use_global
        self.ws_routes.append(RouteDef("WS", full, channel, options, self.source))


def _check_options(options: Mapping[str, object], path: str) -> None:
    for key in options:
        if key not in ROUTE_OPTIONS:
            close = close_match(key, ROUTE_OPTIONS)
            suggestion = f" — did you mean '{close}'?" if close else ""
            raise MegaError("route.invalid_option", f"unknown route option '{key}' for '{path}'{suggestion}",
                            hint=f"valid options: {', '.join(sorted(ROUTE_OPTIONS))}")
