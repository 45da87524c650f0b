"""MegaApp: one app of a project (its routes, middleware, services, config) as an ASGI callable."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from mega.app.services import ServiceRegistry
from mega.errors import MegaError
from mega.http.envelope import error_body
from mega.http.pipeline import RAW_HEADERS, Endpoint, compile_route, request_id
from mega.http.request import DEFAULT_BODY_LIMIT, Request
from mega.http.response import Headers, encode_header
from mega.http.router import RouteDef, describe
from mega.http.routing.trie import RouteTable, parse_path

if TYPE_CHECKING:
    from mega.observe.access import AccessLog

_CT = b"content-type"
_CL = b"content-length"
_RID = b"x-request-id"
_JSON = b"application/json"
_JSON_HEAD = b"content-type: application/json\r\ncontent-length: %d\r\nx-request-id: %s\r\n"
_CHAIN_KINDS = ("before", "transform", "after")



class MegaApp:
    """A booted app. Request-independent resources only: name, config, log, services."""

    def __init__(
        self,
        name: str,
        *,
        directory: Path | None = None,
        config: dict[str, Any] | None = None,
        env: str = "development",
        access_log: AccessLog | None = None,
        body_limit: int = DEFAULT_BODY_LIMIT,
        trailing_slash: str = "redirect",
    ) -> None:
        self.name = name
        self.dir = directory
        self.config = dict(config or {})
        self.env = env
        self.log = logging.getLogger(f"mega.app.{name}")
        self.access_log = access_log
        self.body_limit = body_limit
        self.trailing_slash = trailing_slash
        self.hosts: list[str] = [h.lower() for h in self.config.get("hosts") or []]
        self.services = ServiceRegistry()
        self.middlewares: dict[str, Callable[..., Any]] = {}
        self.routes: list[RouteDef] = []
        self.table = RouteTable()
        self.constant_headers: Headers = []
        self.raw_block = b""
        self.custom_headers: Headers = []  # the app's `headers`, without the secure ones
        self._global_chains: dict[str, list[Any]] = {k: [] for k in _CHAIN_KINDS}
        self._compiled = False
        # Request-independent resources, set by the boot stages that own them.
        self.adapters: Any = None  # mega.adapters.manager.AdapterManager
        self.lock_manager: Any = None
        self.bus_manager: Any = None
        self.sessions: Any = None  # mega.sessions.manager.SessionManager, set by the apps stage
        for name_, value in (self.config.get("headers") or {}).items():
            self.add_constant_header(name_, value)
        self.custom_headers = list(self.constant_headers)
        from mega.security._settings import security_settings  # bad helmet/cors/csrf/rate_limit: here
        from mega.security.policy import AppSecurity

        settings = security_settings(self.config, file=f"apps/{name}/app_config.py")
        self.security = AppSecurity(settings, app_name=name, hosts=self.hosts, adapters=lambda: self.adapters)
        self._add_secure_headers(self.security.helmet)
        for kind in _CHAIN_KINDS:
            for mw in (self.config.get("middleware") or {}).get(kind) or []:
                self.use(kind, mw)

    # -- resources (from boot stages) ------------------------------------------------------

    def db(self, alias: str | None = None) -> Any:
        """The database adapter `alias` (default: the app's default database)."""
        return self._resource("adapters", "db").db(alias, app=self)

    def cache(self, alias: str | None = None) -> Any:
        return self._resource("adapters", "cache").cache(alias, app=self)

    @property
    def lock(self) -> Any:
        """This app's lock manager (app `lock` config, else the global one, else memory)."""
        return self._resource("lock_manager", "lock")

    @property
    def bus(self) -> Any:
        """This app's bus manager (app `bus` config, else the global one, else memory)."""
        return self._resource("bus_manager", "bus")

    def session_for(self, req: Request | None) -> Any:
        """A request's Session (what `ctx.session` returns)."""
        if self.sessions is None:
            disabled = self.config.get("session") is False
            raise MegaError("session.disabled" if disabled else "app.not_initialized",
                            f"app '{self.name}' has no sessions" + (" (session = False)" if disabled else
                                                                   " yet"), status=500,
                            hint="remove session = False from app_config.py" if disabled
                            else "use ctx.session inside a request after boot")
        return self.sessions.session_for(req)

    def _resource(self, attr: str, what: str) -> Any:
        value = getattr(self, attr)
        if value is None:
            raise MegaError("app.not_initialized", f"app '{self.name}' has no {what} yet",
                            hint="use it after boot (inside a handler, a hook, or after mega.boot_project)")
        return value

    # -- declaration (boot time) -------------------------------------------------------------

    def add_constant_header(self, name: str, value: str) -> None:
        """A header sent on every response, validated and serialised once, here at boot."""
        self._check_not_compiled("add a constant header")
        pair = encode_header(name, value)
        self.constant_headers.append(pair)
        self.raw_block += pair[0] + b": " + pair[1] + b"\r\n"

    def _add_secure_headers(self, headers: Headers) -> None:
        merged = self.merge_secure_headers(self.custom_headers, headers)
        for name_, value in merged[len(self.custom_headers):]:
            self.constant_headers.append((name_, value))
            self.raw_block += name_ + b": " + value + b"\r\n"

    @staticmethod
    def merge_secure_headers(custom: Headers, secure: Headers) -> Headers:
        """The app's own headers, then the secure ones it did not set itself (its own win)."""
        own = {n for n, _ in custom}
        return [*custom, *((n, v) for n, v in secure if n not in own)]

    def use(self, kind: str, middleware: Callable[..., Any] | str) -> None:
        """Add an app-wide middleware: kind is 'before', 'transform' or 'after'."""
        self._check_not_compiled("add middleware")
        if kind not in _CHAIN_KINDS:
            raise MegaError("middleware.invalid_kind", f"middleware kind must be one of "
                            f"{', '.join(_CHAIN_KINDS)}, got {kind!r}")
        self._global_chains[kind].append(middleware)

    def add_routes(self, routes: list[RouteDef]) -> None:
        self._check_not_compiled("add routes")
        self.routes.extend(routes)

    def _check_not_compiled(self, what: str) -> None:
        if self._compiled:
            raise MegaError("app.frozen", f"cannot {what} on app '{self.name}' after boot",
                            hint="declare it in routes(), app_config.py or a boot hook")

    def resolve_middleware(self, mw: Callable[..., Any] | str, *, where: str) -> Callable[..., Any]:
        if callable(mw):
            return mw
        if isinstance(mw, str) and mw in self.middlewares:
            return self.middlewares[mw]
        known = ", ".join(sorted(self.middlewares)) or "(none)"
        raise MegaError("middleware.not_found", f"middleware {mw!r} used by {where} is not defined in app "
                        f"'{self.name}'", hint=f"defined middlewares: {known}; add "
                        f"apps/{self.name}/middlewares/{mw}.py")

    # -- compile ----------------------------------------------------------------------------

    def compile(self, extra: dict[tuple[str, str], Endpoint] | None = None) -> None:
        """Compile every route once; duplicate routes fail here, naming both handlers."""
        seen: dict[tuple[str, str], RouteDef] = {}
        for route in self.routes:
            pattern = parse_path(route.path)
            key = (route.method, pattern.shape)
            if key in seen:
                first = seen[key]
                raise MegaError("route.duplicate", f"duplicate route {route.method} {route.path} in app "
                                f"'{self.name}': {first.handler_name} and {route.handler_name}",
                                details={"method": route.method, "path": route.path,
                                         "handlers": [first.handler_name, route.handler_name]},
                                hint="remove one of them or give it another path")
            seen[key] = route
            chains = self._route_chains(route)
            endpoint = compile_route(route, self, chains)
            self.table.add(pattern)[route.method] = endpoint
        for (method, path), endpoint in (extra or {}).items():
            self.table.static.setdefault(path, {}).setdefault(method, endpoint)
        for table in [*self.table.static.values(), *self._dynamic_tables()]:
            if "GET" in table and "HEAD" not in table:
                table["HEAD"] = table["GET"]
        self._compiled = True

    def _dynamic_tables(self) -> list[dict[str, Any]]:
        out = []
        for route in self.routes:
            pattern = parse_path(route.path)
            if not pattern.is_static:
                out.append(self.table.add(pattern))
        return out

    def _route_chains(self, route: RouteDef) -> dict[str, list[Any]]:
        where = f"route {route.method} {route.path}"
        use_global = route.options.get("global_middleware", True)
        chains: dict[str, list[Any]] = {}
        for kind in _CHAIN_KINDS:
            local = route.options.get(kind) or []
            if callable(local) or isinstance(local, str):
                local = [local]
            combined = ([*self._global_chains[kind]] if use_global else []) + list(local)
            chains[kind] = [self.resolve_middleware(m, where=where) for m in combined]
        return chains

    def describe_routes(self) -> list[dict[str, Any]]:
        """What `mega routes` lists."""
        out = []
        for route in self.routes:
            chains = self._route_chains(route)
            out.append({
                "app": self.name,
                "methods": [route.method, "HEAD"] if route.method == "GET" else [route.method],
                "path": route.path,
                "handler": route.handler_name,
                "middleware": {k: [describe(m) for m in v] for k, v in chains.items() if v},
            })
        return out

    # -- serving ----------------------------------------------------------------------------

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self._other(scope, receive, send)
            return
        table = self.table.static.get(scope["path"])
        if table is not None:
            endpoint = table.get(scope["method"])
            if endpoint is not None:
                await endpoint(scope, receive, send, None)
                return
        await self._miss(scope, receive, send)

    async def _other(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """Non-HTTP scopes reaching an app directly (no Host in front): lifespan, websocket."""
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                kind = message["type"].replace("lifespan.", "")
                await send({"type": f"lifespan.{kind}.complete"})
                if kind == "shutdown":
                    return
        elif scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1000})

    async def _miss(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """Everything off the static fast path: parameters, 404, 405, OPTIONS, trailing slash."""
        path: str = scope["path"]
        method: str = scope["method"]
        found = self.table.match(path)
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
            await self._send_error(scope, send, err, [(b"allow", allow.encode())])
            return
        if self.trailing_slash == "redirect" and path != "/":
            other = path[:-1] if path.endswith("/") else path + "/"
            if self.table.match(other) is not None:
                query = scope.get("query_string", b"")
                location = quote(other, safe="/:@!$&'()*+,;=-._~") + ("?" + query.decode("latin-1")
                                                                       if query else "")
                await self._send_empty(scope, send, 308, [(b"location", location.encode("latin-1"))])
                return
        err = MegaError("route.not_found", f"no route for {method} {path}",
                        details={"method": method, "path": path}, status=404)
        await self._send_error(scope, send, err, [])

    async def _options(self, scope: dict[str, Any], send: Any, table: dict[str, Any], allow: str) -> None:
        """OPTIONS with no route of its own: a CORS preflight when the target route allows CORS,
        else 204 with Allow."""
        wanted = next((v for n, v in scope["headers"] if n == b"access-control-request-method"), None)
        has_origin = any(n == b"origin" for n, _ in scope["headers"])
        if wanted is not None and has_origin:
            target = table.get(wanted.decode("latin-1").upper())
            policy = getattr(target, "cors", None) if target is not None else self.security.cors
            if policy is not None:
                try:
                    headers = policy.preflight(scope["headers"])
                except MegaError as err:
                    await self._send_error(scope, send, err, [])
                    return
                await self._send_empty(scope, send, 204, headers)
                return
        await self._send_empty(scope, send, 204, [(b"allow", allow.encode())])

    async def _send_error(self, scope: dict[str, Any], send: Any, err: MegaError, extra: Headers) -> None:
        await self.send_json(scope, send, err.status, error_body(err), request_id(scope["headers"]), extra)

    async def _send_empty(self, scope: dict[str, Any], send: Any, status: int, extra: Headers) -> None:
        rid = request_id(scope["headers"])
        headers = [(_CL, b"0"), (_RID, rid), *self.constant_headers, *extra]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": b""})

    async def send_json(self, scope: dict[str, Any], send: Any, status: int, body: bytes, rid: bytes,
                        extra: Headers | None, constant: tuple[Headers, bytes] | None = None) -> None:
        """Send a JSON body; on mega's own server the headers go as one pre-validated block.
        `constant`: a route's own (headers, block) when it overrides the app's secure headers."""
        const_headers, raw_block = constant or (self.constant_headers, self.raw_block)
        ext = scope.get("extensions")
        if ext is not None and RAW_HEADERS in ext:
            head = _JSON_HEAD % (len(body), rid) + raw_block
            if extra:
                head += b"".join(n + b": " + v + b"\r\n" for n, v in extra)
            await send({"type": "http.response.start", "status": status, "headers": (),
                        RAW_HEADERS: head})
        else:
            headers = [(_CT, _JSON), (_CL, b"%d" % len(body)), (_RID, rid), *const_headers]
            if extra:
                headers.extend(extra)
            await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def error_response(self, exc: Exception, req: Request) -> tuple[int, bytes]:
        """Map any exception to (status, error envelope); unknown ones are logged, never leaked."""
        if isinstance(exc, MegaError):
            if exc.status >= 500:
                self.log.error("%s %s failed: %s", req.method, req.path, exc, exc_info=exc,
                               extra={"request_id": req.request_id})
            return exc.status, error_body(exc)
        self.log.error("unhandled %s in %s %s: %s", type(exc).__name__, req.method, req.path, exc,
                       exc_info=exc, extra={"request_id": req.request_id})
        internal = MegaError("internal", "Internal server error", details={"request_id": req.request_id})
        return 500, error_body(internal)

    def request_logger(self, rid: str) -> logging.LoggerAdapter[Any]:
        from mega.observe.logging import request_logger

        return request_logger(self.log, rid)

    def __repr__(self) -> str:
        return f"MegaApp({self.name!r}, routes={len(self.routes)})"
