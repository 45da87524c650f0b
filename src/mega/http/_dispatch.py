"""Requests no route answers at once: static files, 405, OPTIONS and CORS preflights, trailing-slash
redirects, 404; and the non-HTTP scopes that reach an app directly. (The app's `__call__` finds the
route itself, static paths by a dict and the rest through the trie, and hands a miss to `respond`.)"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from time import perf_counter
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from mega.errors import MegaError
from mega.http._debug_page import prefers_html
from mega.http._lifespan import run_lifespan
from mega.http._public_error import client_error_body, fallback_body, shows_detail
from mega.http._routing.trie import RouteTable
from mega.http._settings import AppSettings
from mega.http._wire import request_id, send_empty, send_error, send_json
from mega.http.request import Request
from mega.http.response import Headers
from mega.security import rejections
from mega.security._client_ip import client_ip
from mega.security._policy import rate_limited

if TYPE_CHECKING:
    from mega.static._serve import StaticFiles

Respond = Callable[[dict[str, Any], Any, Any, Any], Awaitable[int]]
"""(scope, receive, send, found) -> the status sent, for a request no route answers."""


_misses = logging.getLogger("mega.http.misses")  # 404 and 405 answers when the access log is off


def _printable(path: str) -> str:
    """A percent-decoded path may hold a newline: never let it start a forged log line."""
    path = path[:300]
    return path if path.isprintable() else path.encode("unicode_escape").decode("ascii")


class Dispatch:
    """The slow half of an app's dispatch (the app's `__call__` finds the routes itself).

    Every answer it gives itself gets its access line; nothing here lets an exception reach the
    server (which would answer a bare text/plain 500 and log no access line)."""

    __slots__ = ("_access", "_body_limit", "_constant", "_cors", "_development", "_limit", "_log", "_pages",
                 "_rate", "_redirect", "_respond", "_static", "_static_prefix", "_table")

    def __init__(self, table: RouteTable, settings: AppSettings, static: StaticFiles | None = None,
                 wrap_unmatched: Callable[[Respond], Respond] | None = None) -> None:
        self._table = table
        # Metrics/tracing wrap the answers no route gives (404, 405, ...); None when both are off.
        self._respond: Respond = self._answer_unmatched if wrap_unmatched is None else \
            wrap_unmatched(self._answer_unmatched)
        # Static files answer first under their prefix (routes cannot live there: a boot error).
        self._static = static
        self._static_prefix = static.prefix if static is not None else ""
        self._constant = settings.constant
        self._cors = settings.security.cors
        self._redirect = settings.trailing_slash == "redirect"
        self._access = settings.access_log
        self._development = shows_detail(settings.env)
        self._log = settings.log
        self._pages = settings.pages
        self._body_limit = settings.body_limit
        # The app's rate limit, per IP, on what is answered here: scans of unknown paths are limited.
        self._rate = settings.security.rate
        self._limit = settings.security.unmatched_limit()

    @property
    def respond(self) -> Respond:
        """What answers a request no endpoint takes, given the route table's verdict (a method table
        and its parameters, None, or the exception the match raised)."""
        return self._respond

    async def miss(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """An HTTP request whose path is not a static route with that method."""
        static = self._static
        if static is not None and scope["path"].startswith(self._static_prefix) and await static(
                scope, receive, send):
            return
        try:
            found = self._table.match(scope["path"])
        except Exception as exc:
            await self._respond(scope, receive, send, exc)
            return
        if found is not None:
            endpoint = found[0].get(scope["method"])
            if endpoint is not None:
                await endpoint(scope, receive, send, found[1])  # logs its own access line
                return
        await self._respond(scope, receive, send, found)

    async def _answer_unmatched(self, scope: dict[str, Any], receive: Any, send: Any,
                                found: tuple[dict[str, Any], dict[str, Any]] | Exception | None) -> int:
        """Answer a request no endpoint takes, and log its access line."""
        access = self._access
        started = perf_counter() if access is not None else 0.0
        rid = request_id(scope["headers"])
        try:
            if isinstance(found, Exception):
                raise found
            limit = self._limit
            retry = limit(scope) if limit is not None else 0.0
            if retry.__class__ is not float:
                retry = await retry  # type: ignore[misc]  # counted in Redis
            if retry:
                status = await self._limited(scope, send, rid, retry)
            else:
                status = await self._answer(scope, receive, send, rid, found)
        except Exception as exc:
            status = 500
            self._log.error("%s %s failed: %s", scope["method"], scope["path"], exc, exc_info=exc,
                            extra={"request_id": rid.decode("latin-1")})
            await send_json(scope, send, 500, fallback_body(rid), rid, None, self._constant)
        if access is not None:
            access.record(scope["method"], scope["path"], status, (perf_counter() - started) * 1000.0,
                          rid.decode("latin-1"))
        elif (status == 404 or status == 405) and _misses.isEnabledFor(logging.INFO):
            # No access log (production's default): scans must not go unseen. Bounded by the limit.
            _misses.info("%d %s %s from %s", status, scope["method"], _printable(scope["path"]),
                         client_ip(scope), extra={"request_id": rid.decode("latin-1")})
        return status

    async def _limited(self, scope: dict[str, Any], send: Any, rid: bytes, retry: float) -> int:
        err = rate_limited(retry, self._rate)
        if rejections.LISTENERS:
            rejections.report(err, scope, rid)
        return await send_error(scope, send, err, err.headers, self._constant, development=self._development,
                                rid=rid)

    async def _answer(self, scope: dict[str, Any], receive: Any, send: Any, rid: bytes,
                      found: tuple[dict[str, Any], dict[str, Any]] | None) -> int:
        """405, OPTIONS, a trailing-slash redirect or 404; returns the status sent."""
        path: str = scope["path"]
        method: str = scope["method"]
        if found is not None:
            table = found[0]
            allow = ", ".join(sorted({*table, "OPTIONS"}))
            if method == "OPTIONS":
                return await self._options(scope, send, rid, table, allow)
            status, body = client_error_body(405, "route.method_not_allowed",
                                             f"method {method} is not allowed on {path}",
                                             {"method": method, "allowed": allow.split(", ")}, rid)
            return await self._error(scope, receive, send, status, body, [(b"allow", allow.encode())], rid)
        if self._redirect and path != "/":
            other = path[:-1] if path.endswith("/") else path + "/"
            if self._table.match(other) is not None:
                query = scope.get("query_string", b"")
                location = quote(other, safe="/:@!$&'()*+,;=-._~") + ("?" + query.decode("latin-1")
                                                                       if query else "")
                await send_empty(scope, send, 308, [(b"location", location.encode("latin-1"))],
                                 self._constant[0], rid)
                return 308
        status, body = client_error_body(404, "route.not_found", f"no route for {method} {path}",
                                         {"method": method, "path": path}, rid)
        return await self._error(scope, receive, send, status, body, None, rid)

    async def _error(self, scope: dict[str, Any], receive: Any, send: Any, status: int, body: bytes,
                     extra: Headers | None, rid: bytes) -> int:
        """A 404 or 405: the app's HTML error page for a browser, else the JSON envelope."""
        if self._pages is not None and prefers_html(scope["headers"]):
            req = Request(scope, receive, None, rid, self._body_limit)
            await self._pages.send(send, status, body, req, extra, self._constant[0])
        else:
            await send_json(scope, send, status, body, rid, extra, self._constant)
        return status

    async def _options(self, scope: dict[str, Any], send: Any, rid: bytes, table: dict[str, Any],
                       allow: str) -> int:
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
                    if rejections.LISTENERS:  # a refused CORS preflight is a security rejection
                        rejections.report(err, scope, rid)
                    return await send_error(scope, send, err, None, self._constant,
                                            development=self._development, rid=rid)
                await send_empty(scope, send, 204, headers, self._constant[0], rid)
                return 204
        await send_empty(scope, send, 204, [(b"allow", allow.encode())], self._constant[0], rid)
        return 204


async def other_scope(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Non-HTTP scopes reaching an app directly (no Host in front): lifespan, websocket."""
    if scope["type"] == "lifespan":
        await run_lifespan(receive, send)
    elif scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 1000})
