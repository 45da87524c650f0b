"""Client addresses from trusted proxies are parsed, never used as written, and IPv6 clients are rate
limited per network (/64 by default)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx

from mega.testing import running, write_project

ROUTES = """
    async def whoami(req):
        return {"ip": req.ip}

    def routes(router):
        router.get("/whoami", whoami)
        router.get("/limited", whoami, rate_limit={"max": 3, "window": 60})
        router.get("/per-address", whoami, rate_limit={"max": 3, "window": 60, "ipv6_prefix": 128})
"""


@asynccontextmanager
async def behind_proxy(root: Path) -> AsyncIterator[httpx.AsyncClient]:
    write_project(root, {
        "mega_config.py": 'config = {"logger": {"level": "warning"}, '
                          '"server": {"trusted_proxies": ["10.0.0.0/8", "fd00::/8"]}}\n',
        "apps/web/routes/main.py": ROUTES,
    })
    async with running(root) as rt:
        transport = httpx.ASGITransport(app=rt.host, client=("10.0.0.5", 1234))  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http


async def test_forwarded_addresses_are_parsed(tmp_path: Path) -> None:
    cases = {
        "1.2.3.4:5678": "1.2.3.4",  # a port is not part of the client
        "[2001:DB8:0::1]:443": "2001:db8::1",  # bracketed IPv6 with a port, written canonically
        "[2001:db8::1]": "2001:db8::1",
        "2001:0db8:0000:0000::0001": "2001:db8::1",
        "::ffff:1.2.3.4": "1.2.3.4",  # IPv4-mapped: the IPv4 client
        "6.6.6.6, 1.2.3.4:80, 10.0.0.7": "1.2.3.4",  # past the trusted hop, port dropped
        "[fd00::2]:9, 1.2.3.4": "1.2.3.4",
        # Garbage where the client should be: the peer (the proxy), never the text.
        "evil": "10.0.0.5",
        "1.2.3.4 x": "10.0.0.5",
        "unknown, 10.0.0.7": "10.0.0.5",
        "a@evil.com": "10.0.0.5",
        "1.2.3.4:99999": "10.0.0.5",
        "<script>": "10.0.0.5",
    }
    async with behind_proxy(tmp_path) as http:
        for forwarded, client in cases.items():
            r = await http.get("/whoami", headers={"x-forwarded-for": forwarded})
            assert r.json()["data"]["ip"] == client, forwarded


async def test_ipv6_clients_are_limited_per_64(tmp_path: Path) -> None:
    async with behind_proxy(tmp_path) as http:
        # One host owns 2001:db8:1:2::/64: a new address for each request must not reset its count.
        xffs = [{"x-forwarded-for": f"2001:db8:1:2::{n}"} for n in range(1, 6)]
        statuses = [(await http.get("/limited", headers=xff)).status_code for xff in xffs]
        assert statuses == [200, 200, 200, 429, 429]
        other = await http.get("/limited", headers={"x-forwarded-for": "2001:db8:1:3::1"})
        assert other.status_code == 200  # another /64 is another client
        # Spellings of one IPv4 client are one bucket too.
        spelled = [(await http.get("/limited", headers={"x-forwarded-for": xff})).status_code
                   for xff in ("5.6.7.8", "5.6.7.8:1", "::ffff:5.6.7.8", "[::ffff:5.6.7.8]:2")]
        assert spelled == [200, 200, 200, 429]
        # ipv6_prefix=128 counts each address.
        each = [(await http.get("/per-address", headers={"x-forwarded-for": f"2001:db8:9::{n}"})).status_code
                for n in range(1, 6)]
        assert each == [200] * 5
