"""The `router` object a routes file receives: `routes(router)` declares, boot compiles."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from mega.errors import MegaError

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
ROUTE_OPTIONS = frozenset({
    "before", "transform", "after", "params", "query", "headers", "body", "response",
    "body_limit", "name", "summary", "description", "tags", "status", "global_middleware",
    "helmet", "cors", "csrf", "rate_limit",
})


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


class Router:
    """Collects route declarations for one app. `group(prefix)` shares the same list."""

    def __init__(self, prefix: str = "", *, source: str = "", defaults: dict[str, Any] | None = None,
                 _routes: list[RouteDef] | None = None) -> None:
        if prefix and (not prefix.startswith("/") or prefix.endswith("/")):
            raise MegaError("route.invalid_prefix", f"group prefix must start with '/' and not end with "
                            f"'/', got {prefix!r}")
        self.prefix = prefix
        self.source = source
        self.defaults = dict(defaults or {})
        self.routes: list[RouteDef] = _routes if _routes is not None else []

    def route(self, methods: str | Sequence[str], path: str, handler: Callable[..., Any],
              **options: Any) -> None:
        wanted = [methods] if isinstance(methods, str) else list(methods)
        _check_options(options, path)
        if not callable(handler):
            raise MegaError("route.invalid_handler", f"handler for '{path}' is not callable: {handler!r}")
        merged = {**self.defaults, **options}
        full = self.prefix + path if path != "/" or not self.prefix else self.prefix
        for method in wanted:
            upper = method.upper()
            if upper not in METHODS:
                raise MegaError("route.invalid_method", f"unknown HTTP method {method!r} for '{path}'",
                                hint=f"use one of {', '.join(METHODS)} (HEAD is answered from GET)")
            self.routes.append(RouteDef(upper, full, handler, merged, self.source))

    def get(self, path: str, handler: Callable[..., Any], **options: Any) -> None:
        self.route("GET", path, handler, **options)

    def post(self, path: str, handler: Callable[..., Any], **options: Any) -> None:
        self.route("POST", path, handler, **options)

    def put(self, path: str, handler: Callable[..., Any], **options: Any) -> None:
        self.route("PUT", path, handler, **options)

    def patch(self, path: str, handler: Callable[..., Any], **options: Any) -> None:
        self.route("PATCH", path, handler, **options)

    def delete(self, path: str, handler: Callable[..., Any], **options: Any) -> None:
        self.route("DELETE", path, handler, **options)

    def options(self, path: str, handler: Callable[..., Any], **options: Any) -> None:
        self.route("OPTIONS", path, handler, **options)

    def group(self, prefix: str, **defaults: Any) -> Router:
        """Routes declared on the returned router get `prefix` and these default options."""
        _check_options(defaults, prefix)
        return Router(self.prefix + prefix, source=self.source, defaults={**self.defaults, **defaults},
                      _routes=self.routes)


def _check_options(options: dict[str, Any], path: str) -> None:
    for key in options:
        if key not in ROUTE_OPTIONS:
            close = difflib.get_close_matches(key, ROUTE_OPTIONS, n=1)
            suggestion = f" — did you mean '{close[0]}'?" if close else ""
            raise MegaError("route.invalid_option", f"unknown route option '{key}' for '{path}'{suggestion}",
                            hint=f"valid options: {', '.join(sorted(ROUTE_OPTIONS))}")
