"""A `router.ws(...)` route compiled at boot: the upgrade (Origin check, `before` middleware, cookie
session), then the connection's receive loop dispatching `{type, payload}` frames to the channel."""

from __future__ import annotations

import inspect
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from mega._suggest import close_match
from mega.app.ctx import Ctx
from mega.errors import MegaError, ValidationError
from mega.http._host_field import host_name
from mega.http._pipeline import chain
from mega.http._public_error import error_body, shows_detail
from mega.http._wire import RID, request_id
from mega.http.reply import Reply
from mega.http.request import Request
from mega.http.response import Response
from mega.http.router import RouteDef, describe
from mega.security import rejections
from mega.ws._channel import Handler, compile_channel
from mega.ws._observe import WsObserver
from mega.ws._settings import WsSettings
from mega.ws._socket import WRITE_KEY, Socket
from mega.ws.presence._core import connected as presence_connected

if TYPE_CHECKING:
    from mega.app.app import MegaApp

__all__ = ["WsEndpoint", "compile_ws_route", "deny"]

log = logging.getLogger("mega.ws")
WsEndpoint = Callable[[dict[str, Any], Any, Any, "dict[str, Any] | None"], Awaitable[None]]
_DENIAL = "websocket.http.response"


async def deny(scope: dict[str, Any], send: Any, err: MegaError, *, development: bool,
               rid: bytes | None = None) -> None:
    """Refuse an upgrade without accepting it: the JSON error envelope with its status when the server
    supports the ASGI denial-response extension, else a close before accept (a bare HTTP 403)."""
    rid = rid if rid is not None else request_id(scope["headers"])
    if rejections.LISTENERS:  # ws.origin_refused, auth.required, ...: heard as HTTP refusals are
        rejections.report(err, {**scope, "method": "GET"}, rid)
    if _DENIAL in (scope.get("extensions") or {}):
        status, body = error_body(err, rid, development=development)
        await send({"type": "websocket.http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", b"%d" % len(body)), (RID, rid)]})
        await send({"type": "websocket.http.response.body", "body": body})
    else:
        await send({"type": "websocket.close", "code": 1008})


async def _deny_response(scope: dict[str, Any], send: Any, response: Response) -> None:
    """A `before` middleware answered (a redirect, a page): its status and headers, when supported."""
    if _DENIAL not in (scope.get("extensions") or {}):
        await send({"type": "websocket.close", "code": 1008})
        return
    await send({"type": "websocket.http.response.start", "status": response.status,
                "headers": [*response.head_headers(), *response.headers]})
    await send({"type": "websocket.http.response.body", "body": bytes(getattr(response, "body", b"") or b"")})


def origin_refusal(scope: dict[str, Any], hosts: list[str], settings: WsSettings) -> MegaError | None:
    """None when the upgrade's Origin is one of the app's hosts (any scheme and port) or listed in
    `ws.allowed_origins`; else 403 `ws.origin_refused`. An app without hosts accepts its own Host."""
    origin = None
    host = None
    for field, value in scope["headers"]:
        if field == b"origin":
            origin = value
        elif field == b"host":
            host = value
    if origin is None:
        if settings.allow_missing_origin:
            return None
        return _refused("", "the upgrade has no Origin header (browsers always send one; another "
                        "client sends an origin of the app's site, or the app sets ws.allow_missing_origin)",
                        hint=_NO_ORIGIN_HINT)
    text = origin.decode("latin-1").strip().lower()
    if text in settings.allowed_origins:
        return None
    if text != "null" and _same_site(text, hosts, host):
        return None
    return _refused(text[:200], f"origin '{text[:200]}' may not open this socket")


def _same_site(origin: str, hosts: list[str], host: bytes | None) -> bool:
    """The origin's host name is one of the app's hosts; without hosts, the name the client asked for."""
    try:
        name = urlsplit(origin).hostname
    except ValueError:
        return False
    if not name:
        return False
    if hosts:
        return name in hosts
    return bool(host) and name == host_name(host).decode("latin-1")  # type: ignore[arg-type]


_ORIGIN_HINT = ("open the socket from a page of one of the app's hosts, or add the origin to "
                "ws.allowed_origins in app_config.py")
_NO_ORIGIN_HINT = ("browsers always send an Origin: a client that is not a browser sends one of the app's "
                   "hosts as Origin, or the app sets ws.allow_missing_origin to True in app_config.py")


def _refused(origin: str, message: str, hint: str = _ORIGIN_HINT) -> MegaError:
    return MegaError("ws.origin_refused", message, status=403, details={"origin": origin}, hint=hint)


def _error_frame(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"type": "error", "payload": {"code": code, "message": message, "details": details}}


async def _call(fn: Callable[..., Any], *args: Any) -> None:
    """Sync hooks and handlers run inline (keep them short); async ones are awaited."""
    result = fn(*args)
    if inspect.isawaitable(result):
        await result


@dataclass(frozen=True)
class _Route:
    """What one channel route's connections share, decided at boot."""

    app: MegaApp
    channel: type[Any]
    table: dict[str, Handler]
    befores: list[Callable[..., Awaitable[Any]]]
    settings: WsSettings
    development: bool
    path: str
    observer: WsObserver | None  # metrics on: counts connections and closes (frames: see _observed)


def compile_ws_route(route: RouteDef, befores: list[Any], app: MegaApp, settings: WsSettings) -> WsEndpoint:
    """Build the endpoint of one `router.ws(path, Channel)` route; checks the channel at boot."""
    channel: type[Any] = route.handler  # type: ignore[assignment]  # router.ws stores the class
    table = compile_channel(channel, where=route.where)
    observer = _observer(app, route.path)
    shared = _Route(app, channel, table, chain(befores, "before"), settings, shows_detail(app.env),
                    route.path, observer)
    asp = _asp(app, route.path)
    accept = _accept_message(settings)

    async def endpoint(scope: dict[str, Any], receive: Any, send: Any, params: dict[str, Any] | None) -> None:
        first = await receive()
        if first["type"] != "websocket.connect":
            return
        write_now = _write_now(scope, observer, asp)
        if observer is not None:  # metrics on: the frames are counted on the wire (decided at boot)
            receive, send = observer.wrap(receive, send)
        if asp is not None:  # asp.websocket.namespaces: frames decrypted in, encrypted out
            receive, send = asp.wrap(scope, receive, send)
        ctx = await _upgrade(shared, scope, receive, send, params)
        if ctx is not None:
            await send(accept)
            await _connection(shared, receive, send, ctx, write_now)

    endpoint.__qualname__ = f"ws_endpoint[{route.path}]"
    endpoint.observer = observer  # type: ignore[attr-defined]  # None when metrics are off (introspection)
    return endpoint


def _accept_message(settings: WsSettings) -> dict[str, Any]:
    """`websocket.accept`, naming the app's permessage-deflate when `ws.compression` is on (mega's uvicorn
    protocol negotiates it then; other servers ignore the key). Never changed after boot."""
    comp = settings.compression
    if not comp.enabled:
        return {"type": "websocket.accept"}
    from mega.ws._deflate import ACCEPT_KEY, app_extensions  # imports websockets: only when it is on

    return {"type": "websocket.accept",
            ACCEPT_KEY: app_extensions(comp.threshold, comp.window_bits, settings.max_message_bytes)}


def _observer(app: MegaApp, path: str) -> WsObserver | None:
    """The "ws" hooks' observer of this route (metrics), None when there are none: then nothing is
    wrapped or counted."""
    hooks = app.instruments.hooks("ws") if app.instruments is not None else []
    observers: list[WsObserver] = [hook(app.name, path) for hook in hooks]
    if not observers:
        return None
    return observers[0] if len(observers) == 1 else _Observers(observers)


class _Observers:
    """Several "ws" hooks' observers as one."""

    def __init__(self, observers: list[WsObserver]) -> None:
        self.observers = observers

    def opened(self) -> None:
        for observer in self.observers:
            observer.opened()

    def closed(self, code: int) -> None:
        for observer in self.observers:
            observer.closed(code)

    def wrap(self, receive: Any, send: Any) -> tuple[Any, Any]:
        for observer in self.observers:
            receive, send = observer.wrap(receive, send)
        return receive, send

    def wrap_write_now(self, write: Any) -> Any:
        for observer in self.observers:
            wrap = getattr(observer, "wrap_write_now", None)
            if wrap is None:
                return None
            write = wrap(write)
        return write


def _asp(app: MegaApp, path: str) -> Any:
    """The route's WsAsp when ASP covers its namespace (decided at boot), else None."""
    if app.asp is None:
        return None
    hooks = app.instruments.hooks("ws_rejection") if app.instruments is not None else ()
    return app.asp.websocket(path, hooks)


async def _upgrade(route: _Route, scope: dict[str, Any], receive: Any, send: Any,
                   params: dict[str, Any] | None) -> Ctx | None:
    """The upgrade's checks: Origin, then the `before` middleware. None when refused (answered)."""
    rid = request_id(scope["headers"])
    development = route.development
    refusal = origin_refusal(scope, route.app.hosts, route.settings)
    if refusal is not None:
        await deny(scope, send, refusal, development=development, rid=rid)
        return None
    req = Request(scope, receive, params, rid, route.app.body_limit)
    reply = Reply()
    ctx = Ctx(route.app, req, reply)
    try:
        for before in route.befores:
            result = await before(req, reply, ctx)
            if result is None:
                continue
            if isinstance(result, Response):
                await _deny_response(scope, send, result)
            else:
                await deny(scope, send, MegaError("ws.refused", "the upgrade was refused", status=403),
                           development=development, rid=rid)
            return None
    except MegaError as exc:
        await deny(scope, send, exc, development=development, rid=rid)
        return None
    except Exception as exc:
        log.error("upgrade of %s failed in its before middleware", route.path, exc_info=exc,
                  extra={"request_id": rid.decode("latin-1")})
        await deny(scope, send, MegaError("internal", "internal error", status=500), development=development,
                   rid=rid)
        return None
    return ctx


def _write_now(scope: dict[str, Any], observer: Any, asp: Any) -> Callable[[str], bool] | None:
    """The server's synchronous frame write (mega's uvicorn protocol offers one), counted by the observer
    like `send`; None with ASP (every frame is encrypted on the way out), an observer that cannot count
    it, or a server without one: then every frame goes through the writer task."""
    write = (scope.get("extensions") or {}).get(WRITE_KEY)
    if write is None or asp is not None:
        return None
    if observer is not None:
        wrap = getattr(observer, "wrap_write_now", None)
        return wrap(write) if wrap is not None else None
    return write  # type: ignore[no-any-return]


async def _connection(route: _Route, receive: Any, send: Any, ctx: Ctx,
                      write_now: Callable[[str], bool] | None = None) -> None:
    """An accepted socket: hooks, then frames until the disconnect."""
    limit = route.settings.max_message_bytes
    sock = Socket(send, limit=route.settings.send_buffer_bytes, path=route.path, write_now=write_now)
    presence = route.app.presence
    presence_connected(presence, sock, ctx)
    instance = route.channel()
    code = 1005
    observer = route.observer
    if observer is not None:
        observer.opened()
    try:
        try:
            await _call(instance.on_connect, sock, ctx)
        except Exception as exc:
            log.error("on_connect of %s failed", describe(route.channel), exc_info=exc)
            sock.fail(1011, "internal error")
        while True:
            message = await receive()
            kind = message["type"]
            if kind == "websocket.disconnect":
                code = int(message.get("code") or 1005)
                break
            if kind != "websocket.receive" or sock.closed:
                continue
            text = message.get("text")
            if text is None:
                sock.fail(1003, "binary frames are not accepted")
            elif len(text) > limit or (not text.isascii() and len(text.encode("utf-8")) > limit):
                sock.fail(1009, f"message over {limit} bytes")
            else:
                await _dispatch(text, sock, instance, route.table, ctx)
    finally:
        await sock.finish()
        if observer is not None:
            observer.closed(sock.close_code or code)
        presence.disconnected(sock)  # before on_disconnect: the roster no longer lists this socket
        try:
            await _call(instance.on_disconnect, sock, ctx, sock.close_code or code)
        except Exception as exc:
            log.error("on_disconnect of %s failed", describe(route.channel), exc_info=exc)


async def _dispatch(text: str, sock: Socket, instance: Any, table: dict[str, Handler], ctx: Ctx) -> None:
    try:
        data = json.loads(text)
    except ValueError as exc:
        sock.send(_error_frame("ws.invalid_json", f"the frame is not JSON: {exc}"))
        return
    type_ = data.get("type") if isinstance(data, dict) else None
    if not isinstance(type_, str) or not type_:
        sock.send(_error_frame("ws.invalid_envelope", 'a frame is an object {"type": "...", "payload": ...}'))
        return
    handler = table.get(type_)
    if handler is None:
        meant = close_match(type_[:100], table)
        also = f": did you mean '{meant}'?" if meant else ""
        sock.send(_error_frame("ws.unknown_type", f"no handler for message type '{type_[:100]}'{also}",
                               {"type": type_[:100]}))
        return
    payload = data.get("payload")
    if handler.validate is not None:
        try:
            payload = handler.validate(payload)
        except ValidationError as exc:
            sock.send(_error_frame("ws.validation_failed", exc.message, exc.details))
            return
    try:
        await _call(getattr(instance, handler.name), sock, payload, ctx)
    except Exception as exc:
        log.error("handler of '%s' failed", type_[:100], exc_info=exc)
        sock.send(_error_frame("internal", "internal error"))
