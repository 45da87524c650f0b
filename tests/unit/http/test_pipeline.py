"""The per-route pipeline: envelope, errors, request ids, middleware chains, reply, ctx."""

from __future__ import annotations

import asyncio
import logging
import threading

import pytest

import mega
from mega import Envelope, JSONResponse, MegaError, NotFoundError, Response
from mega.app.ctx import Ctx
from mega.errors import ConflictError, ForbiddenError, UnauthorizedError, ValidationError
from tests.conftest import asgi_client, build_app


async def test_plain_values_are_enveloped_exactly_once(make_client):
    def declare(r):
        r.get("/dict", lambda: {"a": 1})
        r.get("/looks", lambda: {"ok": True, "data": 5})
        r.get("/list", lambda: [1, 2])
        r.get("/none", lambda: None)
        r.get("/str", lambda: "x")

    async with make_client(declare) as http:
        assert (await http.get("/dict")).json() == {"ok": True, "data": {"a": 1}}
        assert (await http.get("/looks")).json() == {"ok": True, "data": {"ok": True, "data": 5}}
        assert (await http.get("/list")).json() == {"ok": True, "data": [1, 2]}
        assert (await http.get("/none")).json() == {"ok": True, "data": None}
        r = await http.get("/str")
        assert r.json() == {"ok": True, "data": "x"}
        assert r.headers["content-type"] == "application/json"


async def test_response_and_envelope_pass_through(make_client):
    def declare(r):
        r.get("/resp", lambda: Response("plain", 202, media_type="text/plain"))
        r.get("/json", lambda: JSONResponse({"raw": True}))
        r.get("/env", lambda: Envelope.ok({"x": 1}, status=201))
        r.get("/enverr", lambda: Envelope.error("custom.thing", "nope", status=418))

    async with make_client(declare) as http:
        r = await http.get("/resp")
        assert (r.status_code, r.text) == (202, "plain")
        assert r.headers["content-type"] == "text/plain; charset=utf-8"
        assert (await http.get("/json")).json() == {"raw": True}
        r = await http.get("/env")
        assert r.status_code == 201 and r.json() == {"ok": True, "data": {"x": 1}}
        r = await http.get("/enverr")
        assert r.status_code == 418
        assert r.json() == {"ok": False, "error": {"code": "custom.thing", "message": "nope", "details": {}}}


@pytest.mark.parametrize("exc, status, code", [
    (MegaError("thing.broken", "it broke", status=503), 503, "thing.broken"),
    (NotFoundError("user.not_found", "no user 5", details={"id": 5}), 404, "user.not_found"),
    (ConflictError(message="taken"), 409, "conflict"),
    (UnauthorizedError(message="login"), 401, "auth.unauthorized"),
    (ForbiddenError(message="no"), 403, "auth.forbidden"),
    (ValidationError(message="bad", details=[{"in": "body", "path": "/a", "message": "x"}]), 400,
     "validation.failed"),
    (mega.RateLimitedError(message="slow down"), 429, "rate.limited"),
])
async def test_mega_errors_map_to_status_and_envelope(make_client, exc, status, code):
    async def handler():
        raise exc

    async with make_client(lambda r: r.get("/", handler)) as http:
        r = await http.get("/")
    assert r.status_code == status
    body = r.json()
    assert body["ok"] is False
    assert body["error"]["code"] == code
    assert body["error"]["message"] == exc.message
    assert body["error"]["details"] == exc.details


async def test_unknown_exception_is_500_without_internals(make_client, caplog):
    async def handler():
        raise RuntimeError("db password is hunter2")

    with caplog.at_level(logging.ERROR, logger="mega"):
        async with make_client(lambda r: r.get("/", handler)) as http:
            r = await http.get("/", headers={"x-request-id": "trace-123"})
    assert r.status_code == 500
    body = r.json()
    assert body["error"]["code"] == "internal"
    assert "hunter2" not in r.text and "RuntimeError" not in r.text
    assert body["error"]["details"] == {"request_id": "trace-123"}
    logged = [rec for rec in caplog.records if "hunter2" in rec.getMessage() or
              (rec.exc_info and "hunter2" in str(rec.exc_info[1]))]
    assert logged and logged[0].request_id == "trace-123" and logged[0].exc_info


async def test_request_id_accepted_sanitised_or_generated(make_client):
    async with make_client(lambda r: r.get("/", lambda req: req.request_id)) as http:
        r = await http.get("/", headers={"x-request-id": "abc-123"})
        assert r.headers["x-request-id"] == "abc-123" and r.json()["data"] == "abc-123"
        r = await http.get("/", headers={"x-request-id": "bad id<script>"})
        assert r.headers["x-request-id"] == "badidscript"
        r = await http.get("/", headers={"x-request-id": "x" * 500})
        assert r.headers["x-request-id"] == "x" * 128
        r1 = await http.get("/")
        r2 = await http.get("/", headers={"x-request-id": "!!!"})
        assert r1.headers["x-request-id"] != r2.headers["x-request-id"]
        assert r1.headers["x-request-id"] == r1.json()["data"]


async def test_handler_signatures_detected_at_boot(make_client):
    async def zero():
        return 0

    async def one(req):
        return req.method

    async def two(req, reply):
        reply.status(202)
        return 2

    async def three(req, reply, ctx):
        return type(ctx).__name__

    def declare(r):
        r.get("/0", zero)
        r.get("/1", one)
        r.get("/2", two)
        r.get("/3", three)

    async with make_client(declare) as http:
        assert (await http.get("/0")).json()["data"] == 0
        assert (await http.get("/1")).json()["data"] == "GET"
        r = await http.get("/2")
        assert r.status_code == 202 and r.json()["data"] == 2
        assert (await http.get("/3")).json()["data"] == "Ctx"


def test_handler_with_too_many_arguments_fails_at_boot():
    async def four(req, reply, ctx, extra):
        return 1

    with pytest.raises(MegaError) as info:
        build_app(lambda r: r.get("/", four))
    assert info.value.code == "route.invalid_handler"
    assert "four" in info.value.message


async def test_sync_handlers_run_in_a_thread(make_client):
    main_thread = threading.get_ident()

    def blocking(req):
        return threading.get_ident() != main_thread

    async with make_client(lambda r: r.get("/", blocking)) as http:
        assert (await http.get("/")).json()["data"] is True


async def test_ctx_is_shared_by_middleware_and_handler(make_client):
    seen = []

    async def auth(req, reply, ctx):
        ctx.user = {"id": 7}
        seen.append(ctx)

    async def handler(req, reply, ctx):
        seen.append(ctx)
        return ctx.user

    async def after(req, reply, ctx):
        seen.append(ctx)

    async with make_client(lambda r: r.get("/", handler, before=[auth], after=[after])) as http:
        assert (await http.get("/")).json()["data"] == {"id": 7}
    assert len(seen) == 3 and seen[0] is seen[1] is seen[2]


async def test_ctx_is_not_built_for_handlers_that_do_not_take_it(make_client, monkeypatch):
    built = []
    original = Ctx.__init__

    def spy(self, *args):
        built.append(1)
        original(self, *args)

    monkeypatch.setattr(Ctx, "__init__", spy)
    def declare(r):
        r.get("/a", lambda req: 1)
        r.get("/b", lambda req, reply, ctx: 2)

    async with make_client(declare) as http:
        await http.get("/a")
        assert built == []
        await http.get("/b")
        assert built == [1]


async def test_ctx_log_carries_request_id(make_client, caplog):
    async def handler(req, reply, ctx):
        ctx.log.info("hello from handler")
        return ctx.log is ctx.log

    with caplog.at_level(logging.INFO, logger="mega"):
        async with make_client(lambda r: r.get("/", handler)) as http:
            r = await http.get("/", headers={"x-request-id": "rid-9"})
    assert r.json()["data"] is True
    rec = next(rec for rec in caplog.records if rec.getMessage() == "hello from handler")
    assert rec.request_id == "rid-9"


async def test_before_can_short_circuit_and_transform_rewrites(make_client):
    calls = []

    async def gate(req, reply, ctx):
        if req.query.get("deny"):
            reply.status(403)
            return {"denied": True}
        return None

    def upper(data):
        return {k.upper(): v for k, v in data.items()}

    async def handler(req):
        calls.append(1)
        return {"a": 1}

    async with make_client(lambda r: r.get("/", handler, before=[gate], transform=[upper])) as http:
        r = await http.get("/", params={"deny": "1"})
        assert r.status_code == 403 and r.json()["data"] == {"denied": True}
        assert calls == []
        assert (await http.get("/")).json()["data"] == {"A": 1}


async def test_global_middleware_runs_first_and_routes_can_opt_out(make_client):
    order = []

    async def glob(req, reply, ctx):
        order.append("global")

    async def local(req, reply, ctx):
        order.append("local")

    def declare(r):
        r.get("/", lambda: 1, before=[local])
        r.get("/bare", lambda: 2, before=[local], global_middleware=False)

    app = build_app(declare, config={"middleware": {"before": [glob]}})
    async with asgi_client(app) as http:
        await http.get("/")
        assert order == ["global", "local"]
        order.clear()
        await http.get("/bare")
        assert order == ["local"]


async def test_after_runs_after_response_and_failures_are_logged(make_client, caplog):
    statuses = []

    async def after(req, reply, ctx):
        statuses.append(reply.status_code)
        raise RuntimeError("after broke")

    async def handler():
        raise NotFoundError("x.missing", "missing")

    with caplog.at_level(logging.ERROR, logger="mega"):
        async with make_client(lambda r: r.get("/", handler, after=[after])) as http:
            r = await http.get("/")
    assert r.status_code == 404 and statuses == [404]
    assert any("after middleware" in rec.getMessage() for rec in caplog.records)


async def test_unknown_named_middleware_fails_at_boot():
    with pytest.raises(MegaError) as info:
        build_app(lambda r: r.get("/", lambda: 1, before=["auth"]))
    assert info.value.code == "middleware.not_found"
    assert "'auth'" in info.value.message


async def test_reply_headers_cookies_redirect_stream_file(make_client, tmp_path):
    f = tmp_path / "report.txt"
    f.write_text("file body")

    async def headers(req, reply):
        reply.header("x-custom", "1").cookie("sid", "abc", max_age=60)
        return "ok"

    async def gen():
        for part in ("a", "b", "c"):
            await asyncio.sleep(0)
            yield part

    def declare(r):
        r.get("/h", headers)
        r.get("/redirect", lambda req, reply: reply.redirect("/h", 303))
        r.get("/stream", lambda req, reply: reply.stream(gen(), media_type="text/plain"))
        r.get("/file", lambda req, reply: reply.file(f, filename="r.txt"))
        r.get("/missing", lambda req, reply: reply.file(tmp_path / "nope"))
        r.get("/send", lambda req, reply: reply.status(201).send("<b>x</b>", media_type="text/html"))

    async with make_client(declare) as http:
        r = await http.get("/h")
        assert r.headers["x-custom"] == "1"
        assert "sid=abc" in r.headers["set-cookie"] and "HttpOnly" in r.headers["set-cookie"]
        assert "Max-Age=60" in r.headers["set-cookie"] and "SameSite=Lax" in r.headers["set-cookie"]
        r = await http.get("/redirect")
        assert r.status_code == 303 and r.headers["location"] == "/h"
        r = await http.get("/stream")
        assert r.text == "abc" and "content-length" not in r.headers
        r = await http.get("/file")
        assert r.text == "file body" and r.headers["content-type"].startswith("text/plain")
        assert r.headers["content-disposition"] == 'attachment; filename="r.txt"'
        r = await http.get("/missing")
        assert r.status_code == 404 and r.json()["error"]["code"] == "file.not_found"
        r = await http.get("/send")
        assert r.status_code == 201 and r.text == "<b>x</b>"


async def test_header_injection_is_refused(make_client):
    async def handler(req, reply):
        reply.header("x-evil", "a\r\nset-cookie: pwned=1")

    async with make_client(lambda r: r.get("/", handler)) as http:
        r = await http.get("/")
    assert r.status_code == 500
    assert r.json()["error"]["code"] == "response.invalid_header"
    assert "pwned" not in r.headers.get("set-cookie", "")


async def test_constant_headers_on_every_response():
    app = build_app(lambda r: r.get("/", lambda: 1), config={"headers": {"X-Frame-Options": "DENY"}})
    async with asgi_client(app) as http:
        assert (await http.get("/")).headers["x-frame-options"] == "DENY"
        assert (await http.get("/missing")).headers["x-frame-options"] == "DENY"


async def test_serialization_of_common_types(make_client):
    import datetime
    import decimal
    import uuid

    from pydantic import BaseModel

    class User(BaseModel):
        name: str

    value = {
        "when": datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC),
        "id": uuid.UUID(int=1),
        "price": decimal.Decimal("1.50"),
        "tags": {"a"},
        "user": User(name="ann"),
    }
    async with make_client(lambda r: r.get("/", lambda: value)) as http:
        data = (await http.get("/")).json()["data"]
    assert data == {"when": "2026-01-02T03:04:05+00:00", "id": str(uuid.UUID(int=1)), "price": "1.50",
                    "tags": ["a"], "user": {"name": "ann"}}
