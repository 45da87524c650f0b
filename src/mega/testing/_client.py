"""`AppClient`: the httpx client over ASGI that `make_client` and the `client` fixtures give, with
`websocket_connect` for channels (a live server of the same runtime, started on first use)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING, Any

import httpx

from mega.testing._live import LiveServer, live_server

if TYPE_CHECKING:
    from websockets.asyncio.client import ClientConnection

    from mega.boot.stages import Runtime

__all__ = ["AppClient"]


class AppClient(httpx.AsyncClient):
    """HTTP requests go in-process over ASGI; `websocket_connect` needs a real socket, so the first
    call serves the runtime with `live_server` until the client is closed."""

    def __init__(self, runtime: Runtime, *, host: str, **kwargs: Any) -> None:
        transport = httpx.ASGITransport(app=runtime.host)  # type: ignore[arg-type]
        super().__init__(transport=transport, base_url=f"http://{host}", **kwargs)
        self._runtime = runtime
        self._host = host
        self._live: LiveServer | None = None
        self._stack = AsyncExitStack()

    @asynccontextmanager
    async def websocket_connect(self, path: str, *, host: str | None = None,
                                cookies: Mapping[str, str] | None = None, origin: str | None = None,
                                **kwargs: Any) -> AsyncIterator[ClientConnection]:
        """`async with client.websocket_connect("/ws/chat", origin="http://testserver") as ws:` — a
        `websockets` client connection (`await ws.send(text)`, `await ws.recv()`).

        `host` defaults to the client's; `cookies` to the client's cookies for that host (so a login
        made with this client carries over); `origin=None` sends no Origin header. A refused upgrade
        raises `websockets.exceptions.InvalidStatus` (its `.response` holds status and body)."""
        host = host or self._host
        if self._live is None:
            self._live = await self._stack.enter_async_context(live_server(self._runtime))
        jar = self._cookies_for(host) if cookies is None else cookies
        from websockets.exceptions import InvalidStatus

        try:
            async with self._live.websocket_connect(path, host=host, cookies=jar, origin=origin,
                                                    **kwargs) as ws:
                yield ws
        except InvalidStatus as exc:  # the message shows only the status: add mega's error to the report
            exc.add_note(refusal_note(exc))
            raise

    def _cookies_for(self, host: str) -> dict[str, str]:
        found: dict[str, str] = {}
        for cookie in self.cookies.jar:
            domain = cookie.domain.lstrip(".")
            if not domain or host == domain or host.endswith("." + domain) or domain == f"{host}.local":
                found[cookie.name] = cookie.value or ""
        return found

    async def aclose(self) -> None:
        try:
            await self._stack.aclose()
        finally:
            self._live = None
            await super().aclose()

    async def __aexit__(self, *exc: Any) -> None:
        try:
            await self._stack.aclose()
        finally:
            self._live = None
            await super().__aexit__(*exc)


_NEXT_STEP = {
    "auth.required": "log in with this client first (its cookies go with the socket)",
    "ws.origin_refused": "pass origin='http://<the app's host>' (browsers always send one)",
    "route.not_found": "check the path against `mega routes` (WS rows)",
}


def refusal_note(exc: Any) -> str:
    """'mega refused the upgrade: 401 auth.required: ...' from the JSON error envelope of the answer."""
    import json

    status = exc.response.status_code
    try:
        error = json.loads(exc.response.body)["error"]
        code, message = error["code"], error["message"]
    except (ValueError, KeyError, TypeError):
        return f"mega refused the upgrade with HTTP {status}"
    step = _NEXT_STEP.get(code)
    return f"mega refused the upgrade: {status} {code}: {message}" + (f"; {step}" if step else "")
