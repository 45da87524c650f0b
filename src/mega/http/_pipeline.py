"""One compiled pipeline per route: request id, ASP (on the routes it covers: mega.asp._http), the guard
(rate limit by IP, CSRF, CORS), validation, before, the rate limit keyed by user or a callable, handler,
transform, envelope, send, access log, after. Everything that can be decided at boot is decided in
`compile_route`; the per-request function only runs what the route actually uses.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
from collections.abc import Awaitable, Callable
from time import perf_counter
from typing import TYPE_CHECKING, Any

from mega._signature import positional
from mega.app.ctx import Ctx
from mega.errors import MegaError
from mega.forms._schema import compile_form
from mega.forms._settings import route_form_limits
from mega.http._failure import Failure
from mega.http._public_error import shows_detail
from mega.http._settings import AppSettings
from mega.http._validation import PARTS, compile_part, response_validator
from mega.http._wire import (
    CL,
    CT,
    JSON,
    JSON_HEAD,
    RAW_HEADERS,
    RID,
    RSGI,
    header_block,
    merge_secure_headers,
    request_id,
    send_json,
)
from mega.http.envelope import Envelope, dumps, ok_body
from mega.http.reply import Reply
from mega.http.request import Request
from mega.http.response import Headers, Response
from mega.http.router import RouteDef, describe

if TYPE_CHECKING:
    from mega.app.app import MegaApp
    from mega.asp._http import HttpAsp

__all__ = ["RAW_HEADERS", "Endpoint", "as_async", "chain", "compile_route", "positional_arity", "request_id"]

Endpoint = Callable[[dict[str, Any], Any, Any, "dict[str, Any] | None"], Awaitable[Any]]
"""(scope, receive, send, params); a compiled route's endpoint returns the status it sent."""

log = logging.getLogger("mega.http")
_SPECIAL = (Response, Envelope)


def positional_arity(fn: Callable[..., Any], *, most: int, what: str) -> int:
    """How many positional arguments `fn` takes (checked at boot; `*args` counts as `most`)."""
    shape = positional(fn)
    if shape is None or shape.star:
        return most
    count = shape.count
    if shape.keyword_required is not None:
        raise MegaError("route.invalid_handler", f"{what} {describe(fn)} has a required keyword-only "
                        f"argument '{shape.keyword_required}'", hint="take (req, reply, ctx) positionally")
    if count > most:
        raise MegaError("route.invalid_handler", f"{what} {describe(fn)} takes {count} arguments, at most "
                        f"{most} are passed", hint="handlers take (req, reply, ctx) or a prefix of it")
    return count


def as_async(fn: Callable[..., Any]) -> Callable[..., Awaitable[Any]]:
    """Sync callables run in the default thread pool so they never block the event loop."""
    if inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(getattr(fn, "__call__", None)):  # noqa: B004
        return fn

    async def run_in_thread(*args: Any) -> Any:
        result = await asyncio.to_thread(functools.partial(fn, *args))
        if inspect.isawaitable(result):  # a sync wrapper (e.g. a lambda) that returned a coroutine
            result = await result
        return result

    run_in_thread.__qualname__ = getattr(fn, "__qualname__", "handler")
    return run_in_thread


def _full_args(fn: Callable[..., Any], arity: int, extra: int = 0) -> Callable[..., Awaitable[Any]]:
    """Adapt a middleware taking a prefix of (req, reply, ctx[, data]) to the full signature."""
    afn = as_async(fn)
    if arity == 3 + extra:
        return afn
    if extra and arity == 1:
        return lambda req, reply, ctx, data: afn(data)
    return lambda req, reply, ctx, *data: afn(*(req, reply, ctx)[:arity])


def chain(fns: list[Any], kind: str) -> list[Callable[..., Awaitable[Any]]]:
    out = []
    for fn in fns:
        if kind == "transform":
            arity = positional_arity(fn, most=4, what="transform middleware")
            if arity not in (1, 4):
                raise MegaError("route.invalid_middleware", f"transform {describe(fn)} must take (data) or "
                                f"(req, reply, ctx, data), it takes {arity} arguments")
            out.append(_full_args(fn, arity, extra=1))
        else:
            out.append(_full_args(fn, positional_arity(fn, most=3, what=f"{kind} middleware")))
    return out


def compile_route(  # noqa: C901 - one closure per route on purpose: every branch is a boot-time choice
    route: RouteDef, settings: AppSettings, chains: dict[str, list[Any]], ctx_app: MegaApp,
    asp: HttpAsp | None = None,
) -> Endpoint:
    """Build the per-request function for one route. `ctx_app` is only handed to each `Ctx`; `asp`: the
    app's ASP when it covers this route (its checks run first, its sealing wraps every answer)."""
    opts = route.options
    where = f"{route.method} {route.path}"
    handler = as_async(route.handler)
    arity = positional_arity(route.handler, most=3, what="handler")
    befores = chain(chains["before"], "before")
    transforms = chain(chains["transform"], "transform")
    afters = chain(chains["after"], "after")
    validators = {p: compile_part(p, opts[p], route=where) for p in PARTS if opts.get(p) is not None}
    check_response = response_validator(opts["response"], route=where) if opts.get("response") else None
    body_limit = int(opts.get("body_limit", settings.body_limit))
    form_limits = route_form_limits(opts.get("form_limits"), ctx_app.form_limits, route=route.where)
    if opts.get("form") is not None:
        if "body" in validators:
            raise MegaError("route.invalid_option", f"route {where} declares both body= and form=",
                            hint="a body is JSON (body=) or a form (form=): keep one")
        validators["form"] = compile_form(opts["form"], route=where)
    success_status = int(opts.get("status", 200))
    has_chains = bool(befores or transforms or afters)
    guard, route_cors, guard_needs_req = settings.security.guard_for(route)
    keyed = settings.security.keyed_limit_for(route)  # rate limit by user or a callable: needs ctx
    own_secure = settings.security.route_helmet(route)
    constant = settings.constant
    if own_secure is not None:  # the route replaces the app's secure headers
        merged = merge_secure_headers(settings.custom_headers, own_secure)
        constant = (merged, header_block(merged))
    needs_req = arity >= 1 or has_chains or bool(validators) or guard_needs_req or keyed is not None or \
        asp is not None
    needs_reply = arity >= 2 or has_chains
    needs_ctx = arity >= 3 or has_chains or keyed is not None
    access = settings.access_log
    failure = Failure(settings.log, development=shows_detail(settings.env), constant=constant,
                      cors=route_cors, route=where, handler=route.handler_name, app=settings.name,
                      pages=settings.pages)
    const_headers, raw_block = constant
    asp_fresh = asp.first_use_now if asp is not None else None
    # A JSON body as the only validated part (the usual POST): validated inline, without the loop.
    body_check = validators["body"] if list(validators) == ["body"] else None

    # The hot path, kept in one function: each helper call would cost a frame per request.
    async def endpoint(  # noqa: C901
        scope: dict[str, Any], receive: Any, send: Any, params: dict[str, Any] | None
    ) -> int:
        rid = request_id(scope["headers"])
        started = perf_counter() if access is not None else 0.0
        req = Request(scope, receive, params, rid, body_limit, form_limits) if needs_req else None
        reply = Reply() if needs_reply else None
        ctx = Ctx(ctx_app, req, reply) if needs_ctx else None
        status = success_status
        sending = False
        guarded: list[tuple[bytes, bytes]] | None = None
        sealed: bytes | None = None  # ASP: the request's nonce once it decrypted; every answer is sealed then
        try:
            if asp is not None:  # signal, timestamp, decrypt, replay: before anything else of the route
                head = asp.check(scope)
                req._body = asp.open(scope, head, await req.body())  # type: ignore[union-attr]
                sealed = head[2]
                if not (asp_fresh(head[0]) if asp_fresh is not None  # type: ignore[arg-type]
                        else await asp.replay.first_use(head[0])):  # type: ignore[arg-type]
                    raise asp.replayed()
            if guard is not None:  # rate limit, CSRF, CORS: what this route's settings ask for
                checked = guard(scope, req)
                if checked is not None:
                    guarded = checked if type(checked) is list else await checked  # type: ignore[misc]
            if body_check is not None:
                req._validated = {"body": body_check(await req.json())}  # type: ignore[union-attr]
            elif validators:
                await _validate(req, validators)  # type: ignore[arg-type]
            result = None
            if befores:  # a boolean test, not an empty loop, on the routes without
                for before in befores:
                    result = await before(req, reply, ctx)
                    if result is not None:
                        break
            if result is None:  # no `before` answered
                if keyed is not None:  # after the `before` middleware: it may have set ctx.auth
                    counted = await keyed(scope, ctx)  # type: ignore[arg-type]
                    if counted:
                        guarded = guarded + counted if guarded else counted
                if arity == 0:
                    result = await handler()
                elif arity == 1:
                    result = await handler(req)
                elif arity == 2:
                    result = await handler(req, reply)
                else:
                    result = await handler(req, reply, ctx)
                if transforms:
                    for transform in transforms:
                        result = await transform(req, reply, ctx, result)
            if ctx is not None:
                session = ctx._session
                if session is not None and hasattr(session, "commit"):  # used: save it, set the cookie
                    await session.commit(reply)
            if type(result) is not dict and isinstance(result, _SPECIAL):
                encoded = _encode_envelope(result, where)
                sending = True
                status = await _send_special(result, encoded, scope, send if sealed is None else
                                             asp.sealing(send, sealed),  # type: ignore[union-attr]
                                             rid, reply, guarded, constant)
            elif reply is not None and reply.response is not None:
                sending = True
                status = await _send_special(reply.response, None, scope, send if sealed is None else
                                             asp.sealing(send, sealed),  # type: ignore[union-attr]
                                             rid, reply, guarded, constant)
            else:
                if check_response is not None:
                    result = check_response(result)
                extra = None
                if reply is not None:
                    extra = reply.headers
                    if reply.status_code != 200:
                        status = reply.status_code
                if guarded:
                    extra = extra + guarded if extra else guarded
                if status == 204 or status == 304:  # no body and no length, whatever was returned (RFC 9110)
                    sending = True
                    await _send_bodiless(send if sealed is None else asp.sealing(send, sealed),  # type: ignore[union-attr]
                                         status, rid, const_headers, extra)
                else:
                    try:
                        body = ok_body(result)
                    except TypeError as exc:
                        raise not_serializable(where, exc) from exc
                    sending = True
                    asp_block = None
                    if sealed is not None:  # GCM keeps the length: Content-Length holds for the ciphertext
                        body, asp_block = asp.seal(body, status, sealed)  # type: ignore[union-attr]
                    # Inlined from wire.send_json: this is the path nearly every request takes.
                    ext = scope.get("extensions")
                    if ext is not None and RAW_HEADERS in ext:
                        block = JSON_HEAD % (len(body), rid) + raw_block
                        if extra:
                            block += b"".join(n + b": " + v + b"\r\n" for n, v in extra)
                        if asp_block is not None:
                            block += asp_block
                        await send({"type": "http.response.start", "status": status, "headers": (),
                                    RAW_HEADERS: block})
                        await send({"type": "http.response.body", "body": body})
                    elif ext is not None and ext.get(RSGI) is send:  # granian's RSGI: one call
                        send.json(status, body, rid, constant, extra, asp_block)
                    else:
                        headers = [(CT, JSON), (CL, b"%d" % len(body)), (RID, rid), *const_headers]
                        if extra:
                            headers.extend(extra)
                        if asp_block is not None:
                            headers.extend(_block_pairs(asp_block))
                        await send({"type": "http.response.start", "status": status, "headers": headers})
                        await send({"type": "http.response.body", "body": body})
        except Exception as exc:  # the error boundary: every failure becomes an error envelope
            if req is None:
                req = Request(scope, receive, params, rid, body_limit)
            if sending:  # the response already started: the server can only drop the connection
                log.error("%s %s failed while sending the response", scope["method"], scope["path"],
                          exc_info=exc, extra={"request_id": req.request_id})
                if access is not None:
                    access.record(scope["method"], scope["path"], status, (perf_counter() - started) * 1000.0,
                                  rid.decode("latin-1"))
                raise
            status = await failure.send(scope, send if sealed is None else asp.sealing(send, sealed),  # type: ignore[union-attr]
                                        exc, req)
        finally:
            if req is not None and req._spool is not None:  # uploads: gone once the response is sent
                req._spool.discard()
        if access is not None:
            access.record(scope["method"], scope["path"], status, (perf_counter() - started) * 1000.0,
                          rid.decode("latin-1"))
        if afters:
            assert reply is not None and req is not None
            reply.status_code = status
            for after in afters:
                try:
                    await after(req, reply, ctx)
                except Exception:
                    log.exception("after middleware %s failed", describe(after),
                                  extra={"request_id": req.request_id})
        return status

    endpoint.__qualname__ = f"endpoint[{where}]" + ("[asp]" if asp is not None else "")
    endpoint.cors = route_cors  # type: ignore[attr-defined]  # read by the CORS preflight
    endpoint.failure = failure  # type: ignore[attr-defined]  # how a wrapper answers its refusals
    endpoint.returns_status = True  # type: ignore[attr-defined]  # read by mega.observe's wrappers
    return endpoint


def _block_pairs(block: bytes) -> Headers:
    """A raw header block as (name, value) pairs, for servers without mega's raw-header path."""
    lines = (line.partition(b": ") for line in block.split(b"\r\n") if line)
    return [(name, value) for name, _, value in lines]


async def _send_bodiless(send: Any, status: int, rid: bytes, constant: Headers,
                         extra: Headers | None) -> None:
    headers = [(RID, rid), *constant, *(extra or ())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b""})


async def _validate(req: Request, validators: dict[str, Callable[[Any], Any]]) -> None:
    for part, validate in validators.items():
        if part == "params":
            req.validated[part] = req.params = validate(req.params)
        elif part == "query":
            req.validated[part] = validate(req.query)
        elif part == "headers":
            req.validated[part] = validate(req.headers)
        elif part == "form":
            req.validated[part] = validate(await req.form())
        else:
            req.validated[part] = validate(await req.json())


def not_serializable(where: str, exc: TypeError) -> MegaError:
    """A handler result the JSON encoder refuses (an unknown type, an integer beyond 64 bits)."""
    reason = str(exc)
    kind = reason.rpartition(": ")[2] if reason.startswith("Type is not JSON serializable") else \
        ("int" if reason.startswith("Integer") else "?")
    return MegaError("response.not_serializable", f"{where} returned a value JSON cannot encode: {reason}",
                     details={"route": where, "type": kind},
                     hint="return dicts, lists, str, int, float, bool, None, dates, UUIDs, Decimals, "
                          "dataclasses or pydantic models (or give the object a to_dict())")


def _encode_envelope(result: Response | Envelope, where: str) -> bytes | None:
    """An explicit Envelope's body, encoded before anything is sent (a Response carries its bytes)."""
    if not isinstance(result, Envelope):
        return None
    try:
        return dumps(result.body)
    except TypeError as exc:
        raise not_serializable(where, exc) from exc


async def _send_special(result: Response | Envelope, encoded: bytes | None, scope: dict[str, Any], send: Any,
                        rid: bytes, reply: Reply | None, guarded: Headers | None,
                        constant: tuple[Headers, bytes]) -> int:
    extra = reply.headers if reply is not None else None
    if guarded:
        extra = [*(extra or ()), *guarded]
    if isinstance(result, Envelope):
        await send_json(scope, send, result.status, encoded if encoded is not None else result.encode(), rid,
                        extra, constant)
        return result.status
    headers = [*result.head_headers(), (RID, rid), *constant[0], *result.headers]
    if extra:
        headers.extend(extra)
    await send({"type": "http.response.start", "status": result.status, "headers": headers})
    await result.send_body(send)
    return result.status
