"""HTML error pages: a browser gets `views/errors/<status>.html` when the app has it, else the built-in
page; JSON clients keep the envelope; a broken error template falls back to the built-in page."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import httpx
import pytest

from mega.testing import make_client, running, write_project

BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
HOSTILE = "<script>alert(1)</script>"

ROUTES = """
    from pydantic import BaseModel

    from mega import NotFoundError, UnprocessableError


    class Item(BaseModel):
        name: str


    async def hello(req, reply, ctx):
        return "hi"

    async def gone(req, reply, ctx):
        raise NotFoundError("item.not_found", "no item <script>alert(1)</script>")

    async def crash(req, reply, ctx):
        raise RuntimeError("boom at 10.0.0.7")

    async def refuse(req, reply, ctx):
        raise UnprocessableError("order.closed", "the order is closed", details={"order": 7})

    async def create(req, reply, ctx):
        return req.validated["body"]

    def routes(router):
        router.get("/", hello, name="home")
        router.get("/gone", gone)
        router.get("/crash", crash)
        router.get("/limited", hello, rate_limit={"max": 1, "window": 60})
        router.post("/items", create, body=Item, csrf=False)
        router.get("/refuse", refuse)
"""

LAYOUT = """\
    <html><head><title>{% block title %}{% endblock %}</title></head><body>
    <nav><a href="{{ url_for('home') }}">{{ t('Home') }}</a></nav>
    {% block content %}{% endblock %}</body></html>
"""
NOT_FOUND = """\
    {% extends layout %}{% block title %}Lost{% endblock %}
    {% block content %}<h1>Lost ({{ status }})</h1><p id=m>{{ message }}</p><p id=c>{{ code }}</p>
    <p id=r>{{ request_id }}</p>{% endblock %}
"""


def project(root: Path, files: dict[str, str] | None = None, app_config: str = "config = {}\n") -> Path:
    return write_project(root / "project", {
        "mega_config.py": "config = {}\n",
        "apps/main/app_config.py": app_config,
        "apps/main/routes/pages.py": ROUTES,
        "apps/main/views/layouts/main.html": LAYOUT,
        **(files or {}),
    })


def is_page(r: httpx.Response, status: int) -> bool:
    return r.status_code == status and r.headers["content-type"] == "text/html; charset=utf-8" \
        and r.headers["cache-control"] == "no-store" and r.text.startswith(("<!doctype html>", "<html>"))


async def test_the_apps_own_404_page_for_an_unknown_path_and_a_handler_404(tmp_path: Path) -> None:
    async with running(project(tmp_path, {"apps/main/views/errors/404.html": NOT_FOUND})) as rt, \
            make_client(rt) as http:
        unknown = await http.get("/nowhere", headers={"accept": BROWSER, "x-request-id": "rid-404"})
        raised = await http.get("/gone", headers={"accept": BROWSER})
    assert is_page(unknown, 404) and is_page(raised, 404)
    assert "<h1>Lost (404)</h1>" in unknown.text and '<a href="/">Home</a>' in unknown.text  # layout, helpers
    assert "<p id=c>route.not_found</p>" in unknown.text and "<p id=r>rid-404</p>" in unknown.text
    assert "<p id=m>no item &lt;script&gt;alert(1)&lt;/script&gt;</p>" in raised.text  # escaped
    assert HOSTILE not in raised.text
    assert unknown.headers["x-request-id"] == "rid-404" and unknown.headers["x-frame-options"] == "SAMEORIGIN"


async def test_built_in_pages_for_405_429_400_422_and_500(tmp_path: Path) -> None:
    async with running(project(tmp_path)) as rt, make_client(rt) as http:
        wrong = await http.delete("/", headers={"accept": BROWSER})
        await http.get("/limited")
        limited = await http.get("/limited", headers={"accept": BROWSER})
        invalid = await http.post("/items", json={"name": 5}, headers={"accept": BROWSER})
        crashed = await http.get("/crash", headers={"accept": BROWSER, "x-request-id": "rid-500"})
        refused = await http.get("/refuse", headers={"accept": BROWSER})
    assert is_page(refused, 422) and "<h1>422 Unprocessable " in refused.text  # Entity/Content: by Python
    assert "<p>the order is closed</p>" in refused.text and "&quot;order&quot;: 7" in refused.text
    assert is_page(wrong, 405) and "<h1>405 Method Not Allowed</h1>" in wrong.text
    assert wrong.headers["allow"] == "GET, HEAD, OPTIONS"  # the error's own headers are kept
    assert is_page(limited, 429) and "<h1>429 Too Many Requests</h1>" in limited.text
    assert "rate_limit.exceeded" in limited.text and "retry-after" in limited.headers
    assert is_page(invalid, 400) and "validation.failed" in invalid.text
    assert "&quot;/name&quot;" in invalid.text  # the details, as the envelope has them, escaped
    assert is_page(crashed, 500) and "<h1>500 Internal Server Error</h1>" in crashed.text
    assert "rid-500" in crashed.text and "boom" not in crashed.text and "10.0.0.7" not in crashed.text


@pytest.mark.parametrize("accept", [None, "*/*", "application/json", "application/json, text/html;q=0.5"])
async def test_json_clients_keep_the_envelope(tmp_path: Path, accept: str | None) -> None:
    headers = {"accept": accept} if accept is not None else {}
    async with running(project(tmp_path, {"apps/main/views/errors/404.html": NOT_FOUND})) as rt, \
            make_client(rt) as http:
        unknown = await http.get("/nowhere", headers={**headers, "x-request-id": "rid-j"})
        crashed = await http.get("/crash", headers={**headers, "x-request-id": "rid-j"})
        wrong = await http.delete("/", headers=headers)
    assert (unknown.status_code, unknown.json()) == (404, {"ok": False, "error": {
        "code": "route.not_found", "message": "no route for GET /nowhere",
        "details": {"method": "GET", "path": "/nowhere"}}})
    assert (crashed.status_code, crashed.json()) == (500, {"ok": False, "error": {
        "code": "internal", "message": "Internal server error", "details": {"request_id": "rid-j"}}})
    assert (wrong.status_code, wrong.headers["content-type"]) == (405, "application/json")


async def test_a_broken_error_template_falls_back_to_the_built_in_page(tmp_path: Path, caplog: Any) -> None:
    files = {"apps/main/views/errors/500.html": "{% extends layout %}{% block content %}{{ nope() }}"
                                                "{% endblock %}",
             "apps/main/views/errors/404.html": "{% if %}"}
    with caplog.at_level(logging.ERROR, logger="mega"):
        async with running(project(tmp_path, files)) as rt, make_client(rt) as http:
            crashed = await http.get("/crash", headers={"accept": BROWSER})
            unknown = await http.get("/nowhere", headers={"accept": BROWSER})
    assert is_page(crashed, 500) and "<h1>500 Internal Server Error</h1>" in crashed.text
    assert is_page(unknown, 404) and "<h1>404 Not Found</h1>" in unknown.text
    said = [rec.getMessage() for rec in caplog.records]
    assert any("error page errors/500.html failed" in m and "apps/main/views/errors/500.html:1" in m
               for m in said)


async def test_development_keeps_the_traceback_page_for_server_errors(tmp_path: Path) -> None:
    async with running(project(tmp_path, {"apps/main/views/errors/500.html": "<html>custom</html>"}),
                       environ={**os.environ, "MEGA_ENV": "development"}) as rt, make_client(rt) as http:
        crashed = await http.get("/crash", headers={"accept": BROWSER})
        unknown = await http.get("/nowhere", headers={"accept": BROWSER})
    assert crashed.status_code == 500 and "Traceback" in crashed.text and "boom at 10.0.0.7" in crashed.text
    assert is_page(unknown, 404) and "no route for GET /nowhere" in unknown.text


async def test_custom_500_page_outside_development(tmp_path: Path) -> None:
    page = "<html>{{ status }} {{ code }} {{ message }} {{ request_id }}</html>"
    async with running(project(tmp_path, {"apps/main/views/errors/500.html": page})) as rt, \
            make_client(rt) as http:
        crashed = await http.get("/crash", headers={"accept": BROWSER, "x-request-id": "rid-c"})
    assert crashed.text == "<html>500 internal Internal server error rid-c</html>"


async def test_error_pages_can_be_turned_off(tmp_path: Path) -> None:
    root = project(tmp_path, app_config="config = {'views': {'error_pages': False}}\n")
    async with running(root) as rt, make_client(rt) as http:
        unknown = await http.get("/nowhere", headers={"accept": BROWSER})
        crashed = await http.get("/crash", headers={"accept": BROWSER})
    assert unknown.headers["content-type"] == crashed.headers["content-type"] == "application/json"
