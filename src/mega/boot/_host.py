"""Host: the one ASGI callable a server runs; it routes each request to an app by Host header."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from mega.app.app import MegaApp
from mega.errors import MegaError
from mega.http._lifespan import run_lifespan
from mega.http._wire import send_error

ASGIApp = Callable[[dict[str, Any], Any, Any], Awaitable[None]]
_HOST = b"host"


class Host:
    """Multi-app dispatch. With one app every host goes to it and no header is scanned."""

    def __init__(self, apps: list[MegaApp]) -> None:
        if not apps:
            raise MegaError("app.none", "Host needs at least one app")
        self.apps = apps
        self._by_host: dict[bytes, MegaApp] = {}
        defaults = [a for a in apps if a.config.get("default")]
        self.default: MegaApp | None = apps[0] if len(apps) == 1 else (defaults[0] if defaults else None)
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
        known = sorted(h for a in self.apps for h in a.hosts)
        err = MegaError("app.unknown_host", f"no app serves host '{shown}'",
                        details={"host": shown, "hosts": known}, status=404)
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        await send_error(scope, send, err, None, ([], b""))
