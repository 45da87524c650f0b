"""The CSRF origin check compares scheme, host and port (an attack run found `http://example.com:9999`
accepted for `example.com`)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from mega.boot.stages import Runtime
from mega.testing import running, write_project

ROUTES = """
    async def create(req):
        return {"created": await req.json()}

    def routes(router):
        router.post("/items", create)
"""


def project(root: Path, server: str = "") -> Path:
    return write_project(root, {
        "mega_config.py": f'config = {{"logger": {{"level": "warning"}}{server}}}\n',
        "apps/web/app_config.py": "config = {'hosts': ['example.com', 'www.example.com']}\n",
        "apps/web/routes/main.py": ROUTES,
    })


async def post(rt: Runtime, base: str, origin: str, *, peer: str = "203.0.113.7", **headers: str) -> int:
    transport = httpx.ASGITransport(app=rt.host.asgi, client=(peer, 1234))  # type: ignore[union-attr,arg-type]
    async with httpx.AsyncClient(transport=transport, base_url=base) as http:
        r = await http.post("/items", json={"a": 1}, headers={"origin": origin, **headers})
        if r.status_code == 403:
            assert r.json()["error"]["code"] == "csrf.origin_mismatch"
        return r.status_code


@pytest.mark.parametrize(("base", "origin", "status"), [
    ("http://example.com", "http://example.com", 200),
    ("http://example.com", "http://example.com:80", 200),  # the default port, written out
    ("http://example.com", "http://EXAMPLE.com", 200),
    ("http://example.com", "http://www.example.com", 200),  # another of the app's hosts
    ("http://example.com", "http://example.com:9999", 403),  # the attack: another port
    ("http://example.com", "http://www.example.com:9999", 403),
    ("http://example.com", "https://example.com", 403),  # another scheme
    ("http://example.com", "ftp://example.com", 403),
    ("http://example.com", "http://user@example.com", 403),
    ("http://example.com", "http://evil.com", 403),
    ("http://example.com:8000", "http://example.com:8000", 200),
    ("http://example.com:8000", "http://example.com", 403),
    ("http://example.com:8000", "http://www.example.com:8000", 200),
    ("https://example.com", "https://example.com", 200),
    ("https://example.com", "https://example.com:443", 200),
    ("https://example.com", "http://example.com", 403),  # a page over plain HTTP may be anyone's
    ("https://example.com", "https://example.com:8443", 403),
])
async def test_origin_must_match_scheme_host_and_port(tmp_path: Path, base: str, origin: str,
                                                      status: int) -> None:
    async with running(project(tmp_path)) as rt:
        assert await post(rt, base, origin) == status


async def test_referer_is_held_to_the_same_rule(tmp_path: Path) -> None:
    async with running(project(tmp_path)) as rt:
        transport = httpx.ASGITransport(app=rt.host.asgi)  # type: ignore[union-attr,arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://example.com") as http:
            ok = await http.post("/items", json={}, headers={"referer": "http://example.com/form?x=1"})
            bad = await http.post("/items", json={}, headers={"referer": "http://example.com:9999/form"})
        assert (ok.status_code, bad.status_code) == (200, 403)


async def test_behind_a_trusted_proxy_the_forwarded_proto_is_the_scheme(tmp_path: Path) -> None:
    trusted = ', "server": {"trusted_proxies": ["10.0.0.0/8"]}'
    async with running(project(tmp_path, trusted)) as rt:
        https = {"x-forwarded-proto": "https"}
        assert await post(rt, "http://example.com", "https://example.com", peer="10.0.0.2", **https) == 200
        assert await post(rt, "http://example.com", "http://example.com", peer="10.0.0.2", **https) == 403
        assert await post(rt, "http://example.com", "http://example.com", peer="10.0.0.2") == 200
        # A client that is not the proxy cannot claim HTTPS.
        assert await post(rt, "http://example.com", "https://example.com", **https) == 403
