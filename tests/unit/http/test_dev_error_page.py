"""The development error page: a browser gets the traceback, the request and the route of a server
error, escaped; JSON clients keep the envelope; outside development nobody gets the page."""

from __future__ import annotations

from typing import Any

import pytest

from mega import MegaError, NotFoundError
from mega.http._debug_page import prefers_html
from tests.conftest import asgi_client, build_app

BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8"
HOSTILE = "<script>alert(1)</script>"


async def crash(req: Any) -> None:
    await req.json()
    raise RuntimeError(f"boom {HOSTILE}")


async def unavailable() -> None:
    raise MegaError("billing.down", "billing is down at 10.0.0.7", status=503, hint="start billing",
                    dev_details={"hosts": ["10.0.0.7"]})


async def missing() -> None:
    raise NotFoundError("thing.not_found", "no thing")


def declare(r: Any) -> None:
    r.post("/items/{id:int}", crash)
    r.get("/down", unavailable)
    r.get("/missing", missing)


async def test_a_browser_gets_the_page_in_development() -> None:
    async with asgi_client(build_app(declare, env="development")) as http:
        r = await http.post(f"/items/7?q={HOSTILE}", json={"note": HOSTILE},
                            headers={"accept": BROWSER, "x-request-id": "rid-page",
                                     "authorization": "Bearer s3cret", "x-note": HOSTILE})
    assert r.status_code == 500
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    assert r.headers["x-request-id"] == "rid-page" and r.headers["cache-control"] == "no-store"
    page = r.text
    assert "RuntimeError" in page and "raise RuntimeError(f&quot;boom {HOSTILE}&quot;)" in page  # traceback
    assert "POST /items/{id:int}" in page and "test_dev_error_page.crash" in page  # the route, handler
    assert "/items/7" in page and "rid-page" in page and "{&#x27;id&#x27;: 7}" in page  # the request
    assert HOSTILE not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page  # everything escaped
    assert "s3cret" not in page
    assert page.count("&lt;script&gt;") >= 4  # message, query, header, body


async def test_a_server_megaerror_shows_its_code_hint_and_dev_details() -> None:
    async with asgi_client(build_app(declare, env="development")) as http:
        r = await http.get("/down", headers={"accept": BROWSER})
    assert (r.status_code, r.headers["content-type"]) == (503, "text/html; charset=utf-8")
    assert "billing.down" in r.text and "start billing" in r.text and "10.0.0.7" in r.text


@pytest.mark.parametrize("accept", ["*/*", "application/json", "application/json, text/html",
                                    "text/html;q=0.5, application/json", "text/html;q=0", None])
async def test_json_clients_keep_the_envelope(accept: str | None) -> None:
    headers = {"accept": accept} if accept is not None else {}
    async with asgi_client(build_app(declare, env="development")) as http:
        r = await http.post("/items/7", json={}, headers=headers)
    assert (r.status_code, r.headers["content-type"]) == (500, "application/json")
    assert r.json()["error"]["code"] == "internal"


async def test_client_errors_get_the_error_page_not_the_traceback() -> None:
    async with asgi_client(build_app(declare, env="development")) as http:
        r = await http.get("/missing", headers={"accept": BROWSER})
    assert (r.status_code, r.headers["content-type"]) == (404, "text/html; charset=utf-8")
    assert "no thing" in r.text and "Traceback" not in r.text


@pytest.mark.parametrize("env", ["test", "production"])
async def test_never_outside_development(env: str) -> None:
    async with asgi_client(build_app(declare, env=env)) as http:
        crashed = await http.post("/items/7", json={}, headers={"accept": BROWSER})
        down = await http.get("/down", headers={"accept": BROWSER})
    for r in (crashed, down):  # the built-in error page (mega.views), which shows no internals
        assert r.headers["content-type"] == "text/html; charset=utf-8"
        assert "Traceback" not in r.text and "boom" not in r.text and "10.0.0.7" not in r.text


@pytest.mark.parametrize("accept, html", [
    (BROWSER, True), ("text/html", True), ("application/xhtml+xml", True), ("*/*", False),
    ("application/json;q=0.9, text/html", True), ("text/html;q=abc", False), ("", False),
    ("application/problem+json, text/html;q=0.9", False),
])
def test_prefers_html(accept: str, html: bool) -> None:
    assert prefers_html([(b"accept", accept.encode())]) is html
