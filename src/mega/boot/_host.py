"""Host: the one ASGI callable a server runs; it routes each request to an app by Host header."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from time import perf_counter
from typing import Any

from mega.app.app import MegaApp
from mega.config._apps import app_file_label
from mega.errors import MegaError
from mega.http._lifespan import run_lifespan
from mega.http._public_error import shows_detail
from mega.http._wire import request_id, send_error

ASGIApp = Callable[[dict[str, Any], Any, Any], Awaitable[None]]
_HOST = b"host"


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

    @property
    def asgi(self) -> ASGIApp:
        """What a server should run: the app itself when there is one (one call frame less)."""
        return self._single if self._single is not None else self

    def app_for(self, host_header: bytes | None) -> MegaApp | None:
        """The app serving `host_header` (port ignored), else the default app, else None."""
        if host_header:
            name = host_header.lower()
            # An IPv6 literal keeps its brackets ([::1]:3000); otherwise drop the port.
            name = name.split(b"]", 1)[0] + b"]" if name.startswith(b"[") else name.rsplit(b":", 1)[0]
            app = self._by_host.get(name)
            if app is not None:
                return app
        return self.default

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        kind = scope["type"]
        if kind == "http" or kind == "websocket":
            single = self._single
            if single is not None:
                await single(scope, receive, send)
                return
            host = None
            for name, value in scope["headers"]:
                if name == _HOST:
                    host = value
                    break
            app = self.app_for(host)
            if app is not None:
                await app(scope, receive, send)
                return
            await self._unknown_host(scope, send, host)
        elif kind == "lifespan":  # booted before the server started (mega start): acknowledge only
            await run_lifespan(receive, send)

    async def _unknown_host(self, scope: dict[str, Any], send: Any, host: bytes | None) -> None:
        shown = host.decode("latin-1") if host else ""
        hosts = sorted(h for a in self.apps for h in a.hosts)
        err = MegaError("app.unknown_host", f"no app serves host '{shown}'", details={"host": shown},
                        dev_details={"hosts": hosts}, status=404)
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        access = self.apps[0].access_log
        started = perf_counter()
        rid = request_id(scope["headers"])
        status = await send_error(scope, send, err, None, ([], b""), development=self._development, rid=rid)
        if access is not None:
            access.record(scope["method"], scope["path"], status, (perf_counter() - started) * 1000.0,
                          rid.decode("latin-1"))
