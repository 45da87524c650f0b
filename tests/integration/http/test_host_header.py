"""The Host header: declared hosts are an allow-list; two Host fields or a malformed one are refused."""

from __future__ import annotations

from pathlib import Path

import httpx

from mega.testing import running, write_project

ROUTES = """
    async def whoami(req, reply, ctx):
        return {"app": ctx.app.name, "host": req.host}

    def routes(router):
        router.get("/", whoami)
"""


def project(root: Path, apps: dict[str, str]) -> Path:
    files = {"mega_config.py": 'config = {"logger": {"level": "warning"}}\n'}
    for name, config in apps.items():
        files[f"apps/{name}/app_config.py"] = config
        files[f"apps/{name}/routes/main.py"] = ROUTES
    return write_project(root, files)


async def send(rt: object, *hosts: bytes) -> httpx.Response:
    """GET / with these raw Host fields (httpx would send one, from the URL)."""
    async def app(scope: dict, receive: object, send_: object) -> None:
        kept = [(n, v) for n, v in scope["headers"] if n != b"host"]
        scope["headers"] = kept + [(b"host", h) for h in hosts]
        await rt.host(scope, receive, send_)  # type: ignore[attr-defined]

    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        return await http.get("/")


def code(r: httpx.Response) -> str:
    return r.json()["error"]["code"] if r.status_code >= 400 else "ok"


async def test_declared_hosts_are_an_allow_list(tmp_path: Path) -> None:
    root = project(tmp_path, {"web": 'config = {"hosts": ["shop.test", "www.shop.test"]}\n'})
    async with running(root) as rt:
        ok = await send(rt, b"shop.test")
        assert ok.json()["data"] == {"app": "web", "host": "shop.test"}
        assert code(await send(rt, b"WWW.Shop.Test:8443")) == "ok"  # any case, any port
        assert code(await send(rt, b"shop.test.")) == "ok"  # the same name in DNS
        # The attack: a reset link built from req.host pointed at the attacker's host.
        evil = await send(rt, b"evil.com")
        assert evil.status_code == 400 and code(evil) == "host.disallowed"
        assert evil.json()["error"]["details"]["host"] == "evil.com"
        assert code(await send(rt, b"shop.test.evil.com")) == "host.disallowed"
        assert code(await send(rt)) == "ok"  # no Host (HTTP/1.0): nothing to mislead


async def test_two_host_fields_or_a_malformed_one_are_refused(tmp_path: Path) -> None:
    # A single app without hosts takes any name, but never an ambiguous or malformed one.
    async with running(project(tmp_path, {"web": "config = {}\n"})) as rt:
        assert (await send(rt, b"anything.example")).json()["data"]["host"] == "anything.example"
        assert code(await send(rt, b"[::1]:3000")) == "ok"
        assert code(await send(rt, b"127.0.0.1:3000")) == "ok"
        for bad in ([b"evil.com", b"127.0.0.1"], [b"a.com", b"a.com"], [b"a@evil.com"], [b"evil.com x"],
                    [b"evil.com, 127.0.0.1"], [b"evil.com/path"], [b"a.com:80:80"], [b"a.com:port"],
                    [b"\xc3\xa9vil.com"], [b"[::1"]):
            r = await send(rt, *bad)
            assert r.status_code == 400 and code(r) == "host.invalid", bad


async def test_several_apps_keep_their_routing_and_their_lists(tmp_path: Path) -> None:
    apps = {"shop": 'config = {"hosts": ["shop.test"]}\n', "admin": 'config = {"hosts": ["admin.test"]}\n',
            "www": "config = {}\n"}  # the catch-all
    async with running(project(tmp_path, apps)) as rt:
        assert (await send(rt, b"admin.test")).json()["data"]["app"] == "admin"
        assert (await send(rt, b"elsewhere.test")).json()["data"]["app"] == "www"
        assert code(await send(rt, b"admin.test", b"shop.test")) == "host.invalid"
    # A default: True app with hosts takes other names by choice (it says so).
    chosen = {"shop": 'config = {"hosts": ["shop.test"], "default": True}\n',
              "admin": 'config = {"hosts": ["admin.test"]}\n'}
    async with running(project(tmp_path / "chosen", chosen)) as rt:
        assert (await send(rt, b"elsewhere.test")).json()["data"]["app"] == "shop"
