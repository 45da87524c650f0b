"""Requests off the static fast path: routes with parameters, 405, OPTIONS and CORS preflights,
trailing-slash redirects, 404; and the non-HTTP scopes that reach an app directly."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from mega.errors import MegaError
from mega.http._lifespan import run_lifespan
from mega.http._routing.trie import RouteTable
from mega.http._settings import AppSettings
from mega.http._wire import send_empty, send_error
from mega.http.response import Headers


class Dispatch:
    """The slow half of an app's dispatch (the app's `__call__` answers static paths itself)."""

    __slots__ = ("_constant", "_cors", "_redirect", "_table")

    def __init__(self, table: RouteTable, settings: AppSettings) -> None:
        self._table = table
        self._constant = settings.constant
        self._cors = settings.security.cors
        self._redirect = settings.trailing_slash == "redirect"

    async def miss(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """An HTTP request whose path is not a static route with that method."""
        path: str = scope["path"]
        method: str = scope["method"]
        found = self._table.match(path)
        if found is not None:
            table, params = found
            endpoint = table.get(method)
            if endpoint is not None:
                await endpoint(scope, receive, send, params)
                return
            allow = ", ".join(sorted({*table, "OPTIONS"}))
            if method == "OPTIONS":
                await self._options(scope, send, table, allow)
                return
            err = MegaError("route.method_not_allowed", f"method {method} is not allowed on {path}",
                            details={"method": method, "allowed": allow.split(", ")}, status=405)
            await send_error(scope, send, err, [(b"allow", allow.encode())], self._constant)
            return
        if self._redirect and path != "/":
            other = path[:-1] if path.endswith("/") else path + "/"
            if self._table.match(other) is not None:
                query = scope.get("query_string", b"")
                location = quote(other, safe="/:@!$&'()*+,;=-._~") + ("?" + query.decode("latin-1")
                                                                       if query else "")
                await send_empty(scope, send, 308, [(b"location", location.encode("latin-1"))],
                                 self._constant[0])
                return
        err = MegaError("route.not_found", f"no route for {method} {path}",
                        details={"method": method, "path": path}, status=404)
        await send_error(scope, send, err, None, self._constant)

    async def _options(self, scope: dict[str, Any], send: Any, table: dict[str, Any], allow: str) -> None:
        """OPTIONS with no route of its own: a CORS preflight when the target route allows CORS,
        else 204 with Allow."""
        wanted = next((v for n, v in scope["headers"] if n == b"access-control-request-method"), None)
        has_origin = any(n == b"origin" for n, _ in scope["headers"])
        if wanted is not None and has_origin:
            target = table.get(wanted.decode("latin-1").upper())
            policy = getattr(target, "cors", None) if target is not None else self._cors
            if policy is not None:
                try:
                    headers: Headers = policy.preflight(scope["headers"])
                except MegaError as err:
                    await send_error(scope, send, err, None, self._constant)
                    return
                await send_empty(scope, send, 204, headers, self._constant[0])
                return
        await send_empty(scope, send, 204, [(b"allow", allow.encode())], self._constant[0])


async def other_scope(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Non-HTTP scopes reaching an app directly (no Host in front): lifespan, websocket."""
    if scope["type"] == "lifespan":
        await run_lifespan(receive, send)
    elif scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 1000})
