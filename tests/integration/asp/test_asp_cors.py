"""CORS and ASP: a page on another origin must send ASP's request headers and read its response headers,
so an app with ASP on allows and exposes them (decided at boot); an app without ASP exposes nothing more."""

from __future__ import annotations

from pathlib import Path

from mega.asp import Client, _wire
from mega.security._cors import ASP_REQUEST_HEADERS, ASP_RESPONSE_HEADERS
from mega.testing import make_client, running, write_project

SECRET = "cors-asp-secret-0123456789abcdefghijklmnop"
SPA = "https://spa.test"

ROUTES = """
    async def echo(req):
        return {"echo": await req.json()}

    def routes(router):
        router.post("/secure/echo", echo)
        router.post("/own/echo", echo, cors={"origins": ["https://spa.test"], "expose_headers": ["etag"]})
"""


def project(root: Path, asp: bool) -> Path:
    asp_config = f"'asp': {{'secret': {SECRET!r}, 'paths': ['/secure/*', '/own/*']}}, " if asp else ""
    return write_project(root, {
        "mega_config.py": 'config = {"logger": {"level": "warning"}}\n',
        "apps/web/app_config.py":
            f"config = {{{asp_config}'csrf': False, 'cors': {{'origins': [{SPA!r}]}}}}\n",
        "apps/web/routes/main.py": ROUTES,
    })


def listed(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def test_the_names_are_the_wire_formats() -> None:
    sent = {_wire.SIGNAL, _wire.TIMESTAMP, _wire.NONCE, _wire.TAG}
    assert {h.encode() for h in ASP_REQUEST_HEADERS} == sent
    assert {h.encode() for h in ASP_RESPONSE_HEADERS} == sent - {_wire.TIMESTAMP}


async def test_a_cross_origin_client_may_send_and_read_the_asp_headers(tmp_path: Path) -> None:
    async with running(project(tmp_path, asp=True)) as rt, make_client(rt) as http:
        pre = await http.options("/secure/echo", headers={
            "origin": SPA, "access-control-request-method": "POST",
            "access-control-request-headers": "content-type, x-mega-asp, x-mega-asp-ts, x-mega-asp-nonce, "
                                              "x-mega-asp-tag"})
        assert pre.status_code == 204, pre.text
        allowed = listed(pre.headers["access-control-allow-headers"])
        assert set(ASP_REQUEST_HEADERS) <= set(allowed)

        client = Client(SECRET)
        for path, also in (("/secure/echo", "x-request-id"), ("/own/echo", "etag")):
            sealed = client.seal("POST", path, b'{"n": 1}')
            r = await http.post(path, content=sealed.body, headers={"origin": SPA,
                                "content-type": "application/json", **sealed.headers})
            assert r.status_code == 200 and r.headers["access-control-allow-origin"] == SPA
            exposed = listed(r.headers["access-control-expose-headers"])
            assert exposed == [also, *ASP_RESPONSE_HEADERS], path  # the app's own first, then ASP's
            assert all(r.headers.get(name) for name in ASP_RESPONSE_HEADERS)
            opened = client.open(200, r.headers, r.content, sealed.nonce)
            assert opened == b'{"ok":true,"data":{"echo":{"n":1}}}'


async def test_without_asp_nothing_more_is_exposed(tmp_path: Path) -> None:
    async with running(project(tmp_path, asp=False)) as rt, make_client(rt) as http:
        r = await http.post("/secure/echo", json={"n": 1}, headers={"origin": SPA})
        assert r.status_code == 200 and listed(r.headers["access-control-expose-headers"]) == ["x-request-id"]
