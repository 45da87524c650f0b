"""An app's WebSocket routes: the `websocket` ASGI scope goes to the channel mounted at its path."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mega.errors import MegaError
from mega.http._public_error import shows_detail
from mega.http._routing.pattern import parse_path
from mega.http._routing.trie import RouteTable
from mega.http.router import RouteDef
from mega.ws._endpoint import compile_ws_route, deny

if TYPE_CHECKING:
    from mega.app.app import MegaApp

__all__ = ["WsDispatch"]


class WsDispatch:
    """Compiled at boot from the app's `router.ws(...)` declarations."""

    def __init__(self, app: MegaApp, routes: list[tuple[RouteDef, list[Any]]]) -> None:
        self._table = RouteTable()
        self._development = shows_detail(app.env)
        first: dict[str, RouteDef] = {}
        for route, befores in routes:
            pattern = parse_path(route.path, where=route.where)
            methods = self._table.add(pattern)
            if "WS" in methods:
                other = first[pattern.shape]
                raise MegaError("route.duplicate", f"two channels at WS {route.path} in app '{app.name}': "
                                f"{other.handler_name} ({other.source or '?'}) and {route.handler_name} "
                                f"({route.source or '?'})",
                                details={"method": "WS", "path": route.path,
                                         "handlers": [other.handler_name, route.handler_name]},
                                hint="mount one channel per path: remove one router.ws(...) or give it "
                                     "another path")
            first[pattern.shape] = route
            methods["WS"] = compile_ws_route(route, befores, app, app.ws_settings)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        found = self._table.match(scope["path"])
        if found is None or "WS" not in found[0]:
            await receive()  # websocket.connect
            err = MegaError("route.not_found", f"no channel at {scope['path'][:200]}",
                            details={"method": "WS", "path": scope["path"][:200]}, status=404)
            await deny(scope, send, err, development=self._development)
            return
        await found[0]["WS"](scope, receive, send, found[1])
