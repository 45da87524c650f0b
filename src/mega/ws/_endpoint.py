"""A `router.ws(...)` route compiled at boot: the upgrade (Origin check, `before` middleware, cookie
session), then the connection's receive loop dispatching `{type, payload}` frames to the channel."""

from __future__ import annotations

import inspect
import json
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

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
from mega.ws._channel import Handler, compile_channel
from mega.ws._settings import WsSettings
from mega.ws._socket import Socket

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
    if _DENIAL in (scope.get("extensions") or {}):
        rid = rid if rid is not None else request_id(scope["headers"])
        status, body = error_body(err, rid, development=development)
        await send({"type": "websocket.http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body)),
                                (RID, rid)]})
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
        return _refused("", "the upgrade has no Origin header")
    text = origin.decode("latin-1").strip().lower()
    if text in settings.allowed_origins:
        return None
    if text != "null":
        try:
            name = urlsplit(text).hostname
        except ValueError:
            name = None
        if name:
            if hosts:
                if name in hosts:
                    return None
            elif host and name == host_name(host).decode("latin-1"):
                return None
    return _refused(text[:200], f"origin '{text[:200]}' may not open this socket")


def _refused(origin: str, message: str) -> MegaError:
    return MegaError("ws.origin_refused", message, status=403, details={"origin": origin},
                     hint="open the socket from a page of one of the app's hosts, or add the origin to "
                          "ws.allowed_origins in app_config.py")


def _error_frame(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"type": "error", "payload": {"code": code, "message": message, "details": details}}


async def _call(fn: Callable[..., Any], *args: Any) -> None:
    """Sync hooks and handlers run inline (keep them short); async ones are awaited."""
    result = fn(*args)
    if inspect.isawaitable(result):
        await result


def compile_ws_route(route: RouteDef, befores_raw: list[Any], app: MegaApp, settings: WsSettings) -> WsEndpoint:
    """Build the endpoint of one `router.ws(path, Channel)` route; checks the channel at boot."""
    where = f"{route.where}"
    channel = route.handler
    table: dict[str, Handler] = compile_channel(channel, where=where)
    befores = chain(befores_raw, "before")
    development = shows_detail(app.env)
    limit = settings.max_message_bytes
    hosts = app.hosts
    path = route.path
    body_limit = app.body_limit

    async def endpoint(scope: dict[str, Any], receive: Any, send: Any, params: dict[str, Any] | None) -> None:
        first = await receive()
        if first["type"] != "websocket.connect":
            return
        rid = request_id(scope["headers"])
        refusal = origin_refusal(scope, hosts, settings)
        if refusal is not None:
            await deny(scope, send, refusal, development=development, rid=rid)
            return
        req = Request(scope, receive, params, rid, body_limit)
        reply = Reply()
        ctx = Ctx(app, req, reply)
        try:
            for before in befores:
                result = await before(req, reply, ctx)
                if result is not None:
                    if isinstance(result, Response):
                        await _deny_response(scope, send, result)
                    else:
                        await deny(scope, send, MegaError("ws.refused", "the upgrade was refused", status=403),
                                   development=development, rid=rid)
                    return
        except MegaError as exc:
            await deny(scope, send, exc, development=development, rid=rid)
            return
        except Exception as exc:
            log.error("upgrade of %s failed in its before middleware", path, exc_info=exc,
                      extra={"request_id": rid.decode("latin-1")})
            await deny(scope, send, MegaError("internal", "internal error", status=500), development=development,
                       rid=rid)
            return
        await send({"type": "websocket.accept"})
        sock = Socket(send, limit=settings.send_buffer_bytes, path=path)
        instance = channel()
        code = 1005
        try:
            try:
                await _call(instance.on_connect, sock, ctx)
            except Exception as exc:
                log.error("on_connect of %s failed", describe(channel), exc_info=exc)
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
                    continue
                if len(text) > limit or (not text.isascii() and len(text.encode("utf-8")) > limit):
                    sock.fail(1009, f"message over {limit} bytes")
                    continue
                await _dispatch(text, sock, instance, table, ctx)
        finally:
            await sock.finish()
            try:
                await _call(instance.on_disconnect, sock, ctx, sock.close_code or code)
            except Exception as exc:
                log.error("on_disconnect of %s failed", describe(channel), exc_info=exc)

    endpoint.__qualname__ = f"ws_endpoint[{path}]"
    return endpoint


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
        sock.send(_error_frame("ws.unknown_type", f"no handler for message type '{type_[:100]}'",
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
