"""Host: the one ASGI callable a server runs; it routes each request to an app by Host header.

It also guards the header itself (RFC 9112 §3.2): two `Host` fields, or one whose value is not
`name[:port]` (`a@evil.com`, `evil.com x`), get 400 `host.invalid`; and an app's declared `hosts`
are an allow-list: a request that reaches an app with hosts under another name gets 400
`host.disallowed` (as Django's ALLOWED_HOSTS), so `req.host` and the links built from it are one of
them. An app without `hosts` (the catch-all), or with `default: True` (it says it takes every host
no app claims), takes any well-formed name.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from time import perf_counter
from typing import Any

from mega.app.app import MegaApp
from mega.config._apps import app_file_label
from mega.errors import MegaError
from mega.http._host_field import HOST_VALUE, host_name
from mega.http._lifespan import run_lifespan
from mega.http._public_error import shows_detail
from mega.http._wire import header_block, request_id, send_error
from mega.security import rejections
from mega.security._headers import shared_headers

ASGIApp = Callable[[dict[str, Any], Any, Any], Awaitable[None]]
_HOST = b"host"
_NAMES_MAX = 1024  # a bound on the cache of parsed Host values (client-chosen)


def default_app(apps: list[MegaApp]) -> MegaApp | None:
    """The app for a Host no app claims: the only app; else the one with `default: True`; else the
    only app without `hosts`. An app left with no way to be reached fails boot (`app.unreachable`)."""
    if len(apps) == 1:
        return apps[0]
    chosen = [a for a in apps if a.config.get("default")]
    catch_all = [a for a in apps if not a.hosts]
    default = chosen[0] if chosen else (catch_all[0] if len(catch_all) == 1 else None)
    unreachable = [a for a in catch_all if a is not default]
    if unreachable:
        raise _unreachable(unreachable, default)
    return default


def _unreachable(apps: list[MegaApp], default: MegaApp | None) -> MegaError:
    names = [a.name for a in apps]
    details = {"apps": names, "default": default.name if default is not None else None}
    if default is not None:
        [app] = apps
        return MegaError(
            "app.unreachable",
            f"app '{app.name}' cannot be reached: it has no hosts, and app '{default.name}' takes every "
            f"host no app claims (default: True)",
            details=details,
            hint=f"give '{app.name}' its hosts in {app_file_label(app.name)} "
                 f"(\"hosts\": [\"{app.name}.example.com\"]), or move default: True to it",
        )
    listed = ", ".join(f"'{n}'" for n in names)
    return MegaError(
        "app.unreachable",
        f"apps {listed} cannot be reached: none of them has hosts, and only one app can take the hosts "
        "no app claims",
        details=details,
        hint=f"give hosts to all of them but one (\"hosts\" in {', '.join(map(app_file_label, names))}); the "
             "one left without hosts takes every other host",
    )


class Host:
    """Multi-app dispatch. With one app every host goes to it and no header is scanned."""

    def __init__(self, apps: list[MegaApp]) -> None:
        if not apps:
            raise MegaError("app.none", "Host needs at least one app")
        self.apps = apps
        self._by_host: dict[bytes, MegaApp] = {}
        self.default: MegaApp | None = default_app(apps)
        # Which hosts exist helps while developing; elsewhere it would map the deployment for anyone.
        self._development = shows_detail(apps[0].env)
        for app in apps:
            for host in app.hosts:
                self._by_host[host.encode("idna" if not host.isascii() else "ascii")] = app
        self._single = apps[0] if len(apps) == 1 else None
        # Per app: its declared hosts as the allow-list, or None: no hosts (the catch-all), or
        # `default: True`, which says the app takes every host no app claims.
        self._allowed: dict[MegaApp, frozenset[bytes] | None] = {
            app: None if app.config.get("default") else frozenset(self._by_host_names(app)) or None
            for app in apps}
        self._names: dict[bytes, bytes] = {}  # Host value -> its name (lowercased, port dropped)
        # Answers given before an app is chosen carry the secure headers all apps send (boot-time block).
        self.secure_headers = shared_headers([app.security.helmet for app in apps])
        self._secure = (self.secure_headers, header_block(self.secure_headers))

    def _by_host_names(self, app: MegaApp) -> list[bytes]:
        return [name for name, owner in self._by_host.items() if owner is app]

    @property
    def asgi(self) -> ASGIApp:
        """What a server should run: the app itself when there is one that takes any host (one call
        frame less; mega's server protocol refuses two or malformed Host fields itself)."""
        single = self._single
        return single if single is not None and self._allowed[single] is None else self

    def app_for(self, host_header: bytes | None) -> MegaApp | None:
        """The app serving `host_header` (port ignored), else the default app, else None."""
        if host_header:
            app = self._by_host.get(host_name(host_header))
            if app is not None:
                return app
        return self.default

    def _name(self, host: bytes) -> bytes | None:
        """The host name of a Host value, None when the value is malformed."""
        name = self._names.get(host)
        if name is None:
            if not HOST_VALUE.fullmatch(host):
                return None
            name = host_name(host)
            if len(self._names) >= _NAMES_MAX:
                self._names.clear()
            self._names[host] = name
        return name

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        kind = scope["type"]
        if kind == "http" or kind == "websocket":
            host = None
            for field, value in scope["headers"]:
                if field == _HOST:
                    if host is not None:
                        await self._refuse(scope, send, _invalid_host("two Host header fields"))
                        return
                    host = value
            name = None
            if host:
                name = self._name(host)
                if name is None:
                    await self._refuse(scope, send, _invalid_host("a Host that is not name[:port]"))
                    return
            app = self._single
            if app is None:
                app = self._by_host.get(name) if name is not None else None
                if app is None:
                    app = self.default
            if app is None:
                await self._unknown_host(scope, send, host)
                return
            allowed = self._allowed[app]
            if allowed is not None and name is not None and name not in allowed:
                await self._disallowed(scope, send, app, name)
                return
            await app(scope, receive, send)
        elif kind == "lifespan":  # booted before the server started (mega start): acknowledge only
            await run_lifespan(receive, send)

    async def _unknown_host(self, scope: dict[str, Any], send: Any, host: bytes | None) -> None:
        shown = host.decode("latin-1") if host else ""
        hosts = sorted(h for a in self.apps for h in a.hosts)
        err = MegaError("app.unknown_host", f"no app serves host '{shown}'", details={"host": shown},
                        dev_details={"hosts": hosts}, status=404)
        await self._refuse(scope, send, err)

    async def _disallowed(self, scope: dict[str, Any], send: Any, app: MegaApp, name: bytes) -> None:
        shown = name.decode("latin-1")[:200]
        err = MegaError("host.disallowed", f"host '{shown}' is not one of this site's hosts",
                        details={"host": shown}, dev_details={"hosts": app.hosts}, status=400,
                        hint=f"add it to hosts in {app_file_label(app.name)}" if self._development else None)
        await self._refuse(scope, send, err)

    async def _refuse(self, scope: dict[str, Any], send: Any, err: MegaError) -> None:
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        access = self.apps[0].access_log
        started = perf_counter()
        rid = request_id(scope["headers"])
        if rejections.LISTENERS:  # refused before any route's error boundary: the hook hears it here
            rejections.report(err, scope, rid)
        status = await send_error(scope, send, err, None, self._secure, development=self._development,
                                  rid=rid)
        if access is not None:
            access.record(scope["method"], scope["path"], status, (perf_counter() - started) * 1000.0,
                          rid.decode("latin-1"))


def _invalid_host(problem: str) -> MegaError:
    return MegaError("host.invalid", f"bad request: {problem}", status=400,
                     hint="send one Host header: a host name or address, and an optional port")
