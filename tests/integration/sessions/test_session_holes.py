"""What the attack run found in sessions: concurrent writes lost, no absolute lifetime, the cookie
without `__Host-` over HTTPS; and the ids are at least 128 bits."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path

import httpx
import pytest

from mega.testing import make_client, running, write_project
from tests import services

pytestmark = [pytest.mark.integration, pytest.mark.service("redis")]

REDIS_URL = services.url("redis")
SECRET = "holes-secret-0123456789abcdef"

ROUTES = """
    import asyncio

    async def start(req, reply, ctx):
        await ctx.session.set("started", True)
        return {"id": ctx.session.id}

    async def slow_write(req, reply, ctx):
        await ctx.session.load()                 # both requests load the same data first
        await asyncio.sleep(0.3)                 # the other request loads meanwhile
        await ctx.session.set(req.query["key"], req.query["value"])
        return {"ok": True}

    async def slow_drop(req, reply, ctx):
        await ctx.session.load()
        await asyncio.sleep(0.3)
        await ctx.session.pop("started")
        return {"ok": True}

    async def peek(req, reply, ctx):
        return await ctx.session.items()

    def routes(router):
        router.post("/start", start, csrf=False)
        router.post("/write", slow_write, csrf=False)
        router.post("/drop", slow_drop, csrf=False)
        router.get("/peek", peek)
"""

STORES = {
    "memory": "{'cache': 'mem'}",
    "file": "{'cache': 'files'}",
    "redis": "{'cache': 'sessions', 'prefix': 'holes-sess:'}",
}


def project(root: Path, store: str = "{}", extra: str = "", server: str = "") -> Path:
    caches = (f'"services": {{"redis": {{"main": {{"url": "{REDIS_URL}"}}}}, "caches": {{'
              '"sessions": {"driver": "redis", "redis": "main", "prefix": "test:"}, '
              '"mem": {"driver": "memory"}, "files": {"driver": "file", "path": "var/cache"}}}, ')
    return write_project(root, {
        "mega_config.py": f'config = {{{caches}"logger": {{"level": "warning"}}{server}}}\n',
        "apps/web/app_config.py":
            f"config = {{'session': {{'secret': '{SECRET}', 'store': {store}{extra}}}}}\n",
        "apps/web/routes/main.py": ROUTES,
    })


@pytest.mark.parametrize("store", list(STORES))
async def test_two_concurrent_writers_are_both_kept(tmp_path: Path, store: str) -> None:
    async with running(project(tmp_path, STORES[store])) as rt, make_client(rt) as http:
        await http.post("/start")
        # Two tabs write different keys at once; before the merge the last save dropped the other's.
        a, b, c = await asyncio.gather(http.post("/write", params={"key": "cart", "value": "apples"}),
                                       http.post("/write", params={"key": "theme", "value": "dark"}),
                                       http.post("/drop"))
        assert a.status_code == b.status_code == c.status_code == 200
        assert (await http.get("/peek")).json()["data"] == {"cart": "apples", "theme": "dark"}
        # The same key: the last writer wins.
        await asyncio.gather(http.post("/write", params={"key": "theme", "value": "light"}),
                             http.post("/write", params={"key": "theme", "value": "light"}))
        assert (await http.get("/peek")).json()["data"]["theme"] == "light"


async def test_an_absolute_lifetime_ends_an_active_session(tmp_path: Path) -> None:
    async with running(project(tmp_path, extra=", 'absolute_ttl': 1.2")) as rt, make_client(rt) as http:
        first = await http.post("/start")
        assert "max-age=2;" in first.headers["set-cookie"].lower()  # the cookie lives no longer either
        # The server decides, whatever the client does with Max-Age (a stolen cookie is replayed as is).
        cookie = {"cookie": f"mega_sid={http.cookies['mega_sid']}"}
        http.cookies.clear()
        for _ in range(3):  # active every 0.3 s: the rolling ttl (14 days) never runs out
            await asyncio.sleep(0.3)
            assert (await http.get("/peek", headers=cookie)).json()["data"] == {"started": True}
        await asyncio.sleep(0.5)
        assert (await http.get("/peek", headers=cookie)).json()["data"] == {}  # 1.4 s after creation


async def test_the_cookie_is_host_prefixed_over_https(tmp_path: Path) -> None:
    async with running(project(tmp_path)) as rt:
        transport = httpx.ASGITransport(app=rt.host)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as http:
            started = await http.post("/start")
            cookie = started.headers["set-cookie"]
            assert cookie.startswith("__Host-mega_sid=") and "Secure" in cookie and "Path=/" in cookie
            assert "Domain" not in cookie
            assert (await http.get("/peek")).json()["data"] == {"started": True}
            # A plain cookie (what a sibling subdomain or plain HTTP could plant) is not read over HTTPS.
            sid = http.cookies["__Host-mega_sid"]
            http.cookies.clear()
            http.cookies.set("mega_sid", sid)
            assert (await http.get("/peek")).json()["data"] == {}
        async with make_client(rt) as http:  # plain HTTP: the plain name (a browser refuses __Host- there)
            assert (await http.post("/start")).headers["set-cookie"].startswith("mega_sid=")
    # Behind a trusted proxy, its X-Forwarded-Proto says how the client came.
    proxied = project(tmp_path / "proxied", server=', "server": {"trusted_proxies": ["10.0.0.0/8"]}')
    async with running(proxied) as rt:
        transport = httpx.ASGITransport(app=rt.host, client=("10.0.0.5", 1234))  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            r = await http.post("/start", headers={"x-forwarded-proto": "https"})
            assert r.headers["set-cookie"].startswith("__Host-mega_sid=")
        untrusted = httpx.ASGITransport(app=rt.host, client=("8.8.8.8", 1234))  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=untrusted, base_url="http://testserver") as http:
            r = await http.post("/start", headers={"x-forwarded-proto": "https"})
            assert r.headers["set-cookie"].startswith("mega_sid=")  # anyone can send the header
    # With a Domain the prefix is impossible: the configured name is kept.
    domain = project(tmp_path / "domain", extra=", 'cookie': {'domain': 'testserver'}")
    async with running(domain) as rt:
        transport = httpx.ASGITransport(app=rt.host)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as http:
            assert (await http.post("/start")).headers["set-cookie"].startswith("mega_sid=")


async def test_session_ids_carry_at_least_128_bits(tmp_path: Path) -> None:
    async with running(project(tmp_path)) as rt, make_client(rt) as http:
        ids = set()
        for _ in range(5):
            http.cookies.clear()  # a new visitor each time: a new session
            await http.post("/start")
            ids.add(http.cookies["mega_sid"].rsplit(".", 1)[0])  # the cookie is "<id>.<signature>"
    assert len(ids) == 5
    for sid in ids:
        assert len(base64.urlsafe_b64decode(sid + "=" * (-len(sid) % 4))) * 8 >= 128
