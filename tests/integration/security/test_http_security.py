"""Security defaults through a booted app: secure headers, CSRF, rate limit, CORS, client IP."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

from mega.testing import make_client, running, write_project

ROUTES = """
    async def hello():
        return {"hello": "world"}

    async def create(req):
        return {"created": await req.json()}

    async def form_page(req, reply, ctx):
        return {"token": ctx.csrf_token()}

    async def form_post(req):
        return {"body": (await req.body()).decode()}

    async def whoami(req):
        return {"ip": req.ip}

    def routes(router):
        router.get("/", hello)
        router.get("/whoami", whoami)
        router.post("/items", create)
        router.get("/form", form_page)
        router.post("/form", form_post)
        router.post("/hook", create, csrf=False)
        router.get("/limited", hello, rate_limit={"max": 3, "window": 60})
        router.get("/framed", hello, helmet={"x-frame-options": "DENY"})
        router.get("/bare", hello, helmet=False)
        router.post("/api/items", create, cors={"origins": ["https://spa.test"], "credentials": True})
"""


def project(root: Path, app_config: str = "config = {}\n", server: str = "") -> Path:
    return write_project(root, {
        "mega_config.py": f'config = {{"logger": {{"level": "warning"}}{server}}}\n',
        "apps/web/app_config.py": app_config,
        "apps/web/routes/main.py": ROUTES,
    })


async def test_secure_headers_by_default_and_per_route(tmp_path: Path) -> None:
    async with running(project(tmp_path)) as rt, make_client(rt) as http:
        r = await http.get("/")
        assert r.headers["x-frame-options"] == "SAMEORIGIN"
        assert r.headers["x-content-type-options"] == "nosniff"
        assert "default-src 'self'" in r.headers["content-security-policy"]
        missing = await http.get("/nope")  # errors carry them too
        assert missing.status_code == 404 and missing.headers["x-content-type-options"] == "nosniff"
        framed = await http.get("/framed")
        assert framed.headers["x-frame-options"] == "DENY" and "content-security-policy" in framed.headers
        bare = await http.get("/bare")
        assert "x-frame-options" not in bare.headers and "content-security-policy" not in bare.headers


async def test_app_headers_win_over_secure_ones_and_helmet_can_be_off(tmp_path: Path) -> None:
    config = 'config = {"headers": {"x-frame-options": "DENY"}, "helmet": {"referrer-policy": False}}\n'
    async with running(project(tmp_path, config)) as rt, make_client(rt) as http:
        r = await http.get("/")
        assert r.headers.get_list("x-frame-options") == ["DENY"] and "referrer-policy" not in r.headers
    off = tmp_path / "off"
    async with running(project(off, 'config = {"helmet": False}\n')) as rt, make_client(rt) as http:
        assert "x-frame-options" not in (await http.get("/")).headers


async def test_csrf_refuses_cross_site_json_and_tokenless_forms(tmp_path: Path) -> None:
    async with running(project(tmp_path)) as rt, make_client(rt) as http:
        assert (await http.post("/items", json={"a": 1})).status_code == 200  # no Origin: not a browser
        same = await http.post("/items", json={"a": 1}, headers={"origin": "http://testserver"})
        assert same.status_code == 200
        evil = await http.post("/items", json={"a": 1}, headers={"origin": "https://evil.test"})
        assert evil.status_code == 403 and evil.json()["error"]["code"] == "csrf.origin_mismatch"
        assert evil.headers["x-content-type-options"] == "nosniff"
        hook = await http.post("/hook", json={"a": 1}, headers={"origin": "https://evil.test"})
        assert hook.status_code == 200  # csrf=False on that route
        nope = await http.post("/form", data={"name": "ann"})
        assert nope.status_code == 403 and nope.json()["error"]["code"] == "csrf.token_missing"
        page = await http.get("/form")
        token = page.json()["data"]["token"]
        assert "mega_csrf=" in page.headers["set-cookie"]
        posted = await http.post("/form", data={"name": "ann", "_csrf": token})
        assert posted.status_code == 200 and posted.json()["data"]["body"].startswith("name=ann")
        again = (await http.get("/form")).json()["data"]["token"]
        assert again != token  # masked afresh; the cookie is reused
        assert (await http.post("/form", data={"_csrf": again})).status_code == 200


async def test_rate_limit_default_and_per_route_with_retry_after(tmp_path: Path) -> None:
    async with running(project(tmp_path)) as rt, make_client(rt) as http:
        for _ in range(3):
            assert (await http.get("/limited")).status_code == 200
        limited = await http.get("/limited")
        assert limited.status_code == 429
        assert limited.json()["error"]["code"] == "rate_limit.exceeded"
        assert 1 <= int(limited.headers["retry-after"]) <= 60
        assert (await http.get("/")).status_code == 200  # the app's own limit counts apart
    tight = tmp_path / "tight"
    async with running(project(tight, 'config = {"rate_limit": {"max": 2, "window": "1 minute"}}\n')) as rt, \
            make_client(rt) as http:
        assert [(await http.get("/")).status_code for _ in range(3)] == [200, 200, 429]
    off = tmp_path / "off"
    async with running(project(off, 'config = {"rate_limit": False}\n')) as rt, make_client(rt) as http:
        assert {(await http.get("/")).status_code for _ in range(50)} == {200}


async def test_cors_preflight_and_actual_request(tmp_path: Path) -> None:
    async with running(project(tmp_path)) as rt, make_client(rt) as http:
        pre = await http.options("/api/items", headers={
            "origin": "https://spa.test", "access-control-request-method": "POST",
            "access-control-request-headers": "content-type"})
        assert pre.status_code == 204
        assert pre.headers["access-control-allow-origin"] == "https://spa.test"
        assert pre.headers["access-control-allow-credentials"] == "true"
        denied = await http.options("/api/items", headers={
            "origin": "https://evil.test", "access-control-request-method": "POST"})
        assert denied.status_code == 403 and denied.json()["error"]["code"] == "cors.origin_denied"
        actual = await http.post("/api/items", json={"a": 1}, headers={"origin": "https://spa.test"})
        assert actual.status_code == 200  # a CORS-allowed origin passes the CSRF origin check
        assert actual.headers["access-control-allow-origin"] == "https://spa.test"
        # No CORS on other routes: the preflight is a plain OPTIONS answer without CORS headers.
        plain = await http.options("/items", headers={
            "origin": "https://spa.test", "access-control-request-method": "POST"})
        assert plain.status_code == 204 and "access-control-allow-origin" not in plain.headers


async def test_client_ip_behind_trusted_proxies(tmp_path: Path) -> None:
    forged = {"x-forwarded-for": "6.6.6.6"}
    async with running(project(tmp_path)) as rt:
        transport = httpx.ASGITransport(app=rt.host, client=("10.0.0.5", 1234))  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            assert (await http.get("/whoami", headers=forged)).json()["data"]["ip"] == "10.0.0.5"
    trusted = tmp_path / "trusted"
    async with running(project(trusted, server=', "server": {"trusted_proxies": ["10.0.0.0/8"]}')) as rt:
        transport = httpx.ASGITransport(app=rt.host, client=("10.0.0.5", 1234))  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            assert (await http.get("/whoami", headers=forged)).json()["data"]["ip"] == "6.6.6.6"


TODO_ROUTES = """
    RAN = []

    async def create(req):
        RAN.append(req.data)
        return {"created": req.data}

    async def new_form(req, reply, ctx):
        return {"token": ctx.csrf_token()}

    async def post_form(req):
        RAN.append("form")
        return {"body": (await req.body()).decode()}

    async def ran():
        return len(RAN)

    def routes(router):
        router.post("/todos", create, body={"type": "object", "required": ["title"],
                                           "properties": {"title": {"type": "string"}}})
        router.get("/todos/new", new_form)
        router.post("/todos/form", post_form)
        router.get("/ran", ran)
"""


@pytest.mark.usefixtures("restore_logging")
async def test_a_json_route_refuses_form_bodies_with_415_before_csrf(tmp_path: Path) -> None:
    root = write_project(tmp_path, {
        "mega_config.py": 'config = {"logger": {"level": "warning"}}\n',
        "apps/web/app_config.py": 'config = {"hosts": ["todo.test"]}\n',
        "apps/web/routes/todos.py": TODO_ROUTES,
    })
    environ = {**os.environ, "MEGA_ENV": "production", "SESSION_SECRET": "s" * 32}
    async with running(root, environ=environ) as rt, make_client(rt, host="todo.test") as http:
        assert rt.env == "production"
        forms = [  # what `curl -d`, `curl -F` and a cross-site <form enctype=text/plain> send
            {"data": {"title": "x"}},
            {"files": {"title": (None, "x")}},
            {"content": b'{"title": "x"}', "headers": {"content-type": "text/plain"}},
            {"data": {"title": "x"}, "headers": {"origin": "https://evil.test"}},
        ]
        for form in forms:
            r = await http.post("/todos", **form)  # type: ignore[arg-type]
            assert r.status_code == 415, form
            assert r.json()["error"]["code"] == "body.unsupported_media_type"
        # JSON still goes through CSRF: same-site and non-browser pass, cross-site is refused.
        assert (await http.post("/todos", json={"title": "x"})).status_code == 200
        same = await http.post("/todos", json={"title": "y"}, headers={"origin": "http://todo.test"})
        assert same.status_code == 200
        other_scheme = await http.post("/todos", json={"title": "y"}, headers={"origin": "https://todo.test"})
        assert other_scheme.status_code == 403  # scheme, host and port must all match
        evil = await http.post("/todos", json={"title": "z"}, headers={"origin": "https://evil.test"})
        assert evil.status_code == 403 and evil.json()["error"]["code"] == "csrf.origin_mismatch"
        # A route that takes forms keeps the token check first.
        missing = await http.post("/todos/form", data={"title": "x"})
        assert missing.status_code == 403 and missing.json()["error"]["code"] == "csrf.token_missing"
        plain = await http.post("/todos/form", content=b"x", headers={"content-type": "text/plain"})
        assert plain.status_code == 403 and plain.json()["error"]["code"] == "csrf.token_missing"
        new = await http.get("/todos/new")
        token = new.json()["data"]["token"]
        # Production's mega_csrf cookie is Secure: this plain-http client would not send it back.
        secret = new.cookies["mega_csrf"]
        posted = await http.post("/todos/form", data={"title": "x", "_csrf": token},
                                 headers={"cookie": f"mega_csrf={secret}"})
        assert posted.status_code == 200
        assert (await http.get("/ran")).json()["data"] == 3  # two JSON creates and one form
