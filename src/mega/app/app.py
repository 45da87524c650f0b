"""MegaApp: one app of a project (its routes, middleware, services, config) as an ASGI callable."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mega.app._services import ServiceRegistry
from mega.errors import MegaError
from mega.forms._settings import app_form_limits
from mega.http._dispatch import Dispatch, Respond, other_scope
from mega.http._pipeline import Endpoint, compile_route
from mega.http._routing.names import RouteNames
from mega.http._routing.pattern import parse_path
from mega.http._routing.trie import RouteTable
from mega.http._settings import AppSettings
from mega.http._wire import header_block, merge_secure_headers
from mega.http.request import DEFAULT_BODY_LIMIT, Request
from mega.http.response import Headers, encode_header
from mega.http.router import RouteDef, describe
from mega.i18n._i18n import OFF, I18n
from mega.observe.logging import request_logger
from mega.security._policy import AppSecurity
from mega.security._settings import security_settings
from mega.static._files import PublicFolder
from mega.static._serve import StaticFiles
from mega.static._settings import static_settings
from mega.views._engine import Views, load_views, no_views
from mega.views._error_pages import ErrorPages
from mega.views._settings import views_settings
from mega.ws._dispatch import WsDispatch
from mega.ws._settings import ws_settings
from mega.ws.presence._core import Presence

if TYPE_CHECKING:
    from mega.adapters._manager import AdapterManager
    from mega.adapters.sql.adapter import SqlAdapter
    from mega.app.ctx import Ctx
    from mega.asp._http import HttpAsp
    from mega.bus.contract import Bus
    from mega.cache.contract import Cache
    from mega.http.response import Response
    from mega.jobs._queue import JobQueue
    from mega.lock.contract import Lock
    from mega.observe.access import AccessLog
    from mega.observe.instruments import Instruments
    from mega.schedules._schedule import Schedules
    from mega.sessions._manager import SessionManager
    from mega.sessions.session import Session
    from mega.workers._registry import Workers
    from mega.ws.presence._core import Presence

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
        self.ws_routes: list[RouteDef] = []  # router.ws(...): compiled by mega.ws on compile()
        self._ws: WsDispatch | None = None  # the app's channels (router.ws), None without any
        self._presence: Presence | None = None  # built on first use (mega.ws.presence)
        self.table = RouteTable()
        self.constant_headers: Headers = []
        self.custom_headers: Headers = []  # the app's `headers`, without the secure ones
        self._global_chains: dict[str, list[Any]] = {k: [] for k in _CHAIN_KINDS}
        self._settings: AppSettings | None = None
        self._miss = _not_compiled
        # Set by compile(): the trie lookup and the dispatcher's answer when no endpoint takes a request;
        # the static files' prefix (None: no static files). "" until then: every path goes to _miss.
        self._dynamic = self.table.match_dynamic
        self._unmatched: Respond = _unmatched_not_compiled
        self._files_prefix: str | None = ""
        self._listed_extra: list[tuple[str, str]] = []  # (path, what) of compile()'s extra endpoints
        # Request-independent resources, set by the boot stages that own them.
        self.adapters: AdapterManager | None = None
        self.sessions: SessionManager | None = None
        self.asp: HttpAsp | None = None  # set by the apps stage when app_config.py turns ASP on
        self.instruments: Instruments | None = None  # set by the apps stage when metrics or tracing is on
        self._lock: Lock | None = None
        self._bus: Bus | None = None
        self._jobs: JobQueue | None = None
        self.schedules: Schedules | None = None  # set by the schedules stage
        self.workers: Workers | None = None  # the project's CPU pools (`workers`), set by the workers stage
        self.i18n: I18n = OFF  # the i18n stage gives an app with catalogs its Translator
        for name_, value in (self.config.get("headers") or {}).items():
            self.add_constant_header(name_, value)
        self.custom_headers = list(self.constant_headers)
        settings = security_settings(self.config, file=f"apps/{name}/app_config.py")  # bad keys: here
        self.security = AppSecurity(settings, app_name=name, hosts=self.hosts, adapters=lambda: self.adapters,
                                    asp=bool(self.config.get("asp")))
        self.constant_headers = merge_secure_headers(self.custom_headers, self.security.helmet)
        self.form_limits = app_form_limits(self.config, file=f"apps/{name}/app_config.py",
                                           root=directory.parent.parent if directory is not None else None)
        self.static_settings = static_settings(self.config, file=f"apps/{name}/app_config.py")
        self.ws_settings = ws_settings(self.config, file=f"apps/{name}/app_config.py")
        self.static_files: StaticFiles | None = None  # set by compile() when public/ is served
        self.views_settings = views_settings(self.config, file=f"apps/{name}/app_config.py")
        self.views: Views | None = None  # set by compile(), when the app has a views folder
        self.names = RouteNames((), app=name)
        for kind in _CHAIN_KINDS:
            for mw in (self.config.get("middleware") or {}).get(kind) or []:
                self.use(kind, mw)

    # -- resources (from boot stages) ------------------------------------------------------

    def db(self, alias: str | None = None) -> SqlAdapter:
        """The database adapter `alias` (default: the app's default database)."""
        adapter: SqlAdapter = self._adapters("db").db(alias, app=self)
        return adapter

    def cache(self, alias: str | None = None) -> Cache:
        return self._adapters("cache").cache(alias, app=self)

    @property
    def lock(self) -> Lock:
        """This app's lock (app `lock` config, else the global one, else memory); set by the locks stage."""
        if self._lock is None:
            raise self._not_booted("lock")
        return self._lock

    @lock.setter
    def lock(self, value: Lock) -> None:
        self._lock = value

    @property
    def bus(self) -> Bus:
        """This app's bus (app `bus` config, else the global one, else memory); set by the bus stage."""
        if self._bus is None:
            raise self._not_booted("bus")
        return self._bus

    @bus.setter
    def bus(self, value: Bus) -> None:
        self._bus = value

    @property
    def presence(self) -> Presence:
        """Who is connected to this app's channels; broadcast, direct messages (mega.ws.presence)."""
        if self._presence is None:
            self._presence = Presence(self.name)
        return self._presence

    @property
    def jobs(self) -> JobQueue:
        """This app's job queue (enqueue, events); set by the jobs stage."""
        if self._jobs is None:
            raise self._not_booted("jobs")
        return self._jobs

    @jobs.setter
    def jobs(self, value: JobQueue) -> None:
        self._jobs = value

    def session_for(self, req: Request | None) -> Session:
        """A request's Session (what `ctx.session` returns)."""
        if self.sessions is None:
            disabled = self.config.get("session") is False
            raise MegaError("session.disabled" if disabled else "app.not_initialized",
                            f"app '{self.name}' has no sessions" + (" (session = False)" if disabled else
                                                                   " yet"), status=500,
                            hint="remove session = False from app_config.py" if disabled
                            else "use ctx.session inside a request after boot")
        return self.sessions.session_for(req)

    def url_for(self, name: str, /, **params: Any) -> str:
        """The path of the route named `name` (`name=` on the route), with `params` filled in."""
        return self.names.url_for(name, **params)

    def render(self, ctx: Ctx, view: str, data: dict[str, Any] | None, *, status: int | None = None,
               headers: dict[str, str] | None = None, layout: str | None = None) -> Response:
        """What `ctx.render` returns (mega.views)."""
        if self.views is None:
            raise no_views(self.name, self.dir, self.views_settings)
        return self.views.response(ctx, view, data, status=status, headers=headers, layout=layout)

    def _adapters(self, what: str) -> AdapterManager:
        if self.adapters is None:
            raise self._not_booted(what)
        return self.adapters

    def _not_booted(self, what: str) -> MegaError:
        return MegaError("app.not_initialized", f"app '{self.name}' has no {what} yet",
                         hint="use it after boot (inside a handler, a hook, or after mega.boot_project)")

    # -- declaration (boot time) -------------------------------------------------------------

    def add_constant_header(self, name: str, value: str) -> None:
        """A header sent on every response, validated and serialised once, here at boot."""
        self._check_not_compiled("add a constant header")
        self.constant_headers.append(encode_header(name, value))

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

    def add_ws_routes(self, routes: list[RouteDef]) -> None:
        self._check_not_compiled("add WebSocket routes")
        self.ws_routes.extend(routes)

    def _check_not_compiled(self, what: str) -> None:
        if self._settings is not None:
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

    @property
    def settings(self) -> AppSettings:
        """What serving needs to know about this app, frozen by `compile()`."""
        if self._settings is None:
            raise MegaError("app.not_initialized", f"app '{self.name}' is not compiled yet",
                            hint="read it after boot (the apps stage compiles every app)")
        return self._settings

    def _freeze(self) -> AppSettings:
        pages = ErrorPages(self, self.views, self.log) if self.views_settings.error_pages else None
        return AppSettings(
            name=self.name, env=self.env, hosts=tuple(self.hosts), body_limit=self.body_limit,
            trailing_slash=self.trailing_slash,
            constant=(list(self.constant_headers), header_block(self.constant_headers)),
            custom_headers=list(self.custom_headers), security=self.security, access_log=self.access_log,
            log=self.log, pages=pages)

    def compile(self, extra: dict[tuple[str, str], Endpoint] | None = None) -> None:
        """Compile every route once; duplicate routes (or route names) fail here, naming both."""
        self.names = RouteNames(self.routes, app=self.name)
        self.views = load_views(self.dir, self.views_settings, app=self.name, env=self.env, log=self.log)
        settings = self._freeze()
        seen: dict[tuple[str, str], RouteDef] = {}
        for route in self.routes:
            pattern = parse_path(route.path, where=route.where)
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
            asp = self.asp if self.asp is not None and self.asp.covers(route) else None  # others pay nothing
            endpoint = compile_route(route, settings, chains, self, asp)
            if self.instruments is not None:  # metrics/tracing on: decided here, per route, at boot
                endpoint = self.instruments.wrap_route(self.name, route.method, route.path, endpoint)
            self.table.add(pattern)[route.method] = endpoint
        if self.asp is not None:
            extra = {**(extra or {}), **self.asp.extra_endpoints(settings.constant[0])}
        self._listed_extra = []
        for (method, path), endpoint in (extra or {}).items():
            self.table.static.setdefault(path, {}).setdefault(method, endpoint)
            listed = getattr(endpoint, "listed", None)  # endpoints `mega routes` shows (the OpenAPI ones)
            if listed is not None and listed not in self._listed_extra:
                self._listed_extra.append(listed)
        for table in [*self.table.static.values(), *self._dynamic_tables()]:
            if "GET" in table and "HEAD" not in table:
                table["HEAD"] = table["GET"]
        self.static_files = self._static_files(settings)
        unmatched = None if self.instruments is None else self.instruments.unmatched_wrapper(self.name)
        dispatch = Dispatch(self.table, settings, self.static_files, unmatched)
        self._miss = dispatch.miss
        self._unmatched = dispatch.respond
        self._dynamic = self.table.match_dynamic
        self._files_prefix = self.static_files.prefix if self.static_files is not None else None
        if self.ws_routes:
            self._ws = WsDispatch(self, [(r, self._route_chains(r)["before"]) for r in self.ws_routes])
        if self.asp is not None:
            self.asp.warn_unused()  # after the channels too: they mark the namespaces they use
        self._settings = settings

    def _static_files(self, settings: AppSettings) -> StaticFiles | None:
        """The public/ folder's server, or None (static off, or no public/ folder: nothing to pay)."""
        public = self.dir / "public" if self.dir is not None else None
        if not self.static_settings.enabled or public is None or not public.is_dir():
            return None
        prefix = self.static_settings.prefix
        for route in self.routes:
            if route.path.startswith(prefix):
                raise MegaError("static.route_conflict", f"route {route.method} {route.path} "
                                f"({route.handler_name}) is under the static prefix {prefix!r} of app "
                                f"'{self.name}', where files of public/ are served",
                                details={"route": route.path, "prefix": prefix},
                                hint="move the route, or set another prefix: static = {'prefix': '/assets/'} "
                                "in app_config.py")
        folder = PublicFolder(str(public), precompressed=self.static_settings.precompressed)
        return StaticFiles(folder, self.static_settings, settings)

    def static_url(self, path: str) -> str:
        """The URL of public/<path> with its content hash in the file name (served `immutable`).
        A missing file raises `static.not_found` outside production; in production it logs a warning
        and returns the URL without hash."""
        files = self.static_files
        if files is None:
            why = ("static = False in app_config.py" if not self.static_settings.enabled
                   else f"no folder {self.dir / 'public' if self.dir else 'public/'}"
                   if self._settings is not None else "the app is not compiled yet")
            raise MegaError("static.disabled", f"static_url({path!r}): app '{self.name}' serves no static "
                            f"files ({why})", status=500, details={"path": path},
                            hint="create apps/<name>/public/ and remove static = False, or build the URL "
                            "yourself")
        return files.url(path, strict=self.env != "production")

    def _dynamic_tables(self) -> list[dict[str, Any]]:
        out = []
        for route in self.routes:
            pattern = parse_path(route.path, where=route.where)
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
        for route in self.ws_routes:  # channels (router.ws): method WS, the channel class as handler
            chains = self._route_chains(route)
            befores = [describe(m) for m in chains["before"]]
            out.append({"app": self.name, "methods": ["WS"], "path": route.path,
                        "handler": route.handler_name, "middleware": {"before": befores} if befores else {}})
        for path, what in self._listed_extra:
            out.append({"app": self.name, "methods": ["GET", "HEAD"], "path": path, "handler": what,
                        "middleware": {}})
        if self.static_files is not None:  # the folder's mount, so that `mega routes` shows what it covers
            out.append({"app": self.name, "methods": ["GET", "HEAD"],
                        "path": self.static_files.prefix + "{path:path}",
                        "handler": f"static files of apps/{self.name}/public/", "middleware": {}})
        return out

    # -- serving ----------------------------------------------------------------------------

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """Static paths are answered here; everything else goes to `mega.http._dispatch`."""
        if scope["type"] != "http":
            if scope["type"] == "websocket" and self._ws is not None:
                await self._ws(scope, receive, send)
                return
            await other_scope(scope, receive, send)
            return
        path = scope["path"]
        table = self.table.static.get(path)
        if table is not None:
            endpoint = table.get(scope["method"])
            if endpoint is not None:
                await endpoint(scope, receive, send, None)
                return
        elif self._files_prefix is None or not path.startswith(self._files_prefix):
            # A path with parameters, or none: the trie, here (one coroutine frame less than `_miss`).
            try:
                found = self._dynamic(path)
            except Exception as exc:  # a converter that failed: the dispatcher answers it
                await self._unmatched(scope, receive, send, exc)
                return
            if found is not None:
                endpoint = found[0].get(scope["method"])
                if endpoint is not None:
                    await endpoint(scope, receive, send, found[1])
                    return
            await self._unmatched(scope, receive, send, found)
            return
        await self._miss(scope, receive, send)  # a static route without this method, or a static file

    def request_logger(self, rid: str) -> logging.LoggerAdapter[Any]:
        return request_logger(self.log, rid)

    def __repr__(self) -> str:
        return f"MegaApp({self.name!r}, routes={len(self.routes)})"


async def _unmatched_not_compiled(scope: dict[str, Any], receive: Any, send: Any, found: Any) -> int:
    await _not_compiled(scope, receive, send)
    return 500


async def _not_compiled(scope: dict[str, Any], receive: Any, send: Any) -> None:
    raise MegaError("app.not_initialized", f"{scope['method']} {scope['path']} reached an app that is "
                    "not compiled", hint="call app.compile() (the boot's apps stage does) before serving")
