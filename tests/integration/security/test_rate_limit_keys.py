"""Rate limits keyed by user or by a callable, the RateLimit headers, and the limit on 404/405."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest

from mega.boot.stages import BootError, Runtime
from mega.security._rate_limit import RedisRateLimiter
from mega.testing import running, write_project
from tests.integration.adapters._services import require_redis

SECRET = "k" * 40
ROUTES = """
    from mega.errors import MegaError

    async def login(req, reply, ctx):
        await ctx.session.set("_mega_auth", {"user_id": req.params["uid"], "user_name": None})
        return {"in": req.params["uid"]}

    async def hello():
        return {"hello": "world"}

    async def api_key(ctx):
        return ctx.req.headers.get("x-api-key", "")

    def broken(ctx):
        raise RuntimeError("no key here")

    def routes(router):
        router.post("/login/{uid}", login, csrf=False)
        router.get("/", hello)
        router.get("/mine", hello, rate_limit={"max": 2, "window": 60, "key": "user"})
        router.get("/counted", hello, rate_limit={"max": 3, "window": 60, "key": "user", "headers": True})
        router.get("/by-header", hello, rate_limit={"max": 2, "window": 60,
                                                    "key": lambda ctx: ctx.req.headers.get("x-api-key", "")})
        router.get("/by-async", hello, rate_limit={"max": 1, "window": 60, "key": api_key})
        router.get("/broken", hello, rate_limit={"max": 1, "window": 60, "key": broken})
        router.get("/number", hello, rate_limit={"max": 1, "window": 60, "key": lambda ctx: 42})
        router.get("/ip", hello, rate_limit={"max": 2, "window": 60, "headers": True})
        router.get("/quiet", hello, rate_limit={"max": 1, "window": 60})
        router.get("/item", hello, rate_limit=False)
"""
MIDDLEWARE = """
    def token_auth(req, reply, ctx):
        token = req.headers.get("authorization")
        if token:
            ctx.auth = {"user_id": token.removeprefix("Bearer "), "user_name": None}
"""


def project(root: Path, app_config: str = "", logger: str = '"level": "warning"', services: str = "") -> Path:
    return write_project(root, {
        "mega_config.py": f'config = {{"logger": {{{logger}}}{services}}}\n',
        "apps/web/app_config.py": f"config = {{'session': {{'secret': '{SECRET}'}}{app_config}}}\n",
        "apps/web/routes/main.py": ROUTES,
        "apps/web/middlewares/token_auth.py": MIDDLEWARE,
    })


@asynccontextmanager
async def client(rt: Runtime, ip: str = "10.1.2.3") -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=rt.host.asgi, client=(ip, 1234))  # type: ignore[union-attr,arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


def codes(responses: list[httpx.Response]) -> list[int]:
    return [r.status_code for r in responses]


async def test_user_key_counts_each_user_apart_and_anonymous_clients_by_ip(tmp_path: Path) -> None:
    async with running(project(tmp_path)) as rt, client(rt) as ann, client(rt) as bob, \
            client(rt) as anon, client(rt) as anon2, client(rt, "10.9.9.9") as far:
        assert (await ann.post("/login/ann")).status_code == 200
        assert (await bob.post("/login/bob")).status_code == 200
        # Two users from one IP: two counts.
        assert codes([await ann.get("/mine") for _ in range(3)]) == [200, 200, 429]
        assert codes([await bob.get("/mine") for _ in range(3)]) == [200, 200, 429]
        # Anonymous: counted by IP, so two clients of one address share a count; another address does not.
        first = await anon.get("/mine")
        assert first.status_code == 200 and "set-cookie" not in first.headers  # no session made
        assert codes([await anon2.get("/mine"), await anon.get("/mine")]) == [200, 429]
        assert (await far.get("/mine")).status_code == 200
        limited = await ann.get("/mine")
        assert limited.json()["error"]["code"] == "rate_limit.exceeded"
        assert 1 <= int(limited.headers["retry-after"]) <= 60
        assert limited.headers["ratelimit-policy"] == '"default";q=2;w=60'  # on a 429 always
        assert limited.headers["ratelimit"].startswith('"default";r=0;t=')


async def test_user_key_sees_ctx_auth_set_by_a_before_middleware(tmp_path: Path) -> None:
    config = ", 'middleware': {'before': ['token_auth']}"
    async with running(project(tmp_path, config)) as rt, client(rt) as http:
        ann = {"authorization": "Bearer ann"}
        bob = {"authorization": "Bearer bob"}
        assert codes([await http.get("/mine", headers=ann) for _ in range(3)]) == [200, 200, 429]
        assert codes([await http.get("/mine", headers=bob) for _ in range(2)]) == [200, 200]
        assert codes([await http.get("/mine") for _ in range(3)]) == [200, 200, 429]  # anonymous: the IP


async def test_a_callable_key_sync_or_async(tmp_path: Path) -> None:
    async with running(project(tmp_path)) as rt, client(rt) as http:
        one, two = {"x-api-key": "one"}, {"x-api-key": "two"}
        assert codes([await http.get("/by-header", headers=one) for _ in range(3)]) == [200, 200, 429]
        assert codes([await http.get("/by-header", headers=two) for _ in range(2)]) == [200, 200]
        assert codes([await http.get("/by-async", headers=one) for _ in range(2)]) == [200, 429]
        assert (await http.get("/by-async", headers=two)).status_code == 200


async def test_a_key_function_that_raises_or_returns_no_string_is_a_500_with_its_code(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async with running(project(tmp_path)) as rt, client(rt) as http:
        with caplog.at_level(logging.ERROR, logger="mega"):
            broken = await http.get("/broken")
            number = await http.get("/number")
        assert broken.status_code == 500 and number.status_code == 500
        assert broken.json()["error"]["code"] == number.json()["error"]["code"] == "rate_limit.key_failed"
        logged = [r for r in caplog.records if r.levelno >= logging.ERROR]
        text = "\n".join(r.getMessage() + str(getattr(r, "exc_info", "")) for r in logged)
        assert "rate_limit.key_failed" in text or any(
            getattr(r.exc_info[1], "code", None) == "rate_limit.key_failed" for r in logged if r.exc_info)
        assert "RuntimeError" in text and "returned int 42" in text


async def test_ratelimit_headers_only_when_opted_in(tmp_path: Path) -> None:
    async with running(project(tmp_path)) as rt, client(rt) as http:
        first = await http.get("/ip")
        assert first.headers["ratelimit-policy"] == '"default";q=2;w=60'
        state = first.headers["ratelimit"]
        assert state.startswith('"default";r=1;t=') and 1 <= int(state.rpartition("=")[2]) <= 60
        assert (await http.get("/ip")).headers["ratelimit"].startswith('"default";r=0;t=')
        refused = await http.get("/ip")
        assert refused.status_code == 429 and refused.headers["ratelimit"].startswith('"default";r=0;t=')
        assert refused.headers["retry-after"] == refused.headers["ratelimit"].rpartition("=")[2]
        counted = await http.get("/counted")  # by user, anonymous here
        assert counted.headers["ratelimit"].startswith('"default";r=2;t=')
        for path in ("/", "/quiet", "/mine"):  # not opted in: none on success
            plain = await http.get(path)
            assert plain.status_code == 200 and "ratelimit" not in plain.headers
            assert "ratelimit-policy" not in plain.headers
        quiet = await http.get("/quiet")  # ... but on its 429
        assert quiet.status_code == 429 and quiet.headers["ratelimit-policy"] == '"default";q=1;w=60'


async def test_app_wide_headers_switch_and_bad_keys_refused_at_boot(tmp_path: Path) -> None:
    config = ", 'rate_limit': {'max': 5, 'window': '1m', 'headers': True}"
    async with running(project(tmp_path, config)) as rt, client(rt) as http:
        r = await http.get("/")
        assert r.headers["ratelimit-policy"] == '"default";q=5;w=60'
        assert r.headers["ratelimit"].startswith('"default";r=4;t=')
    for bad in ("'key': 'usr'", "'key': 3", "'headers': 'maybe'"):
        root = tmp_path / f"bad{len(bad)}"
        with pytest.raises(BootError) as info:
            async with running(project(root, f", 'rate_limit': {{'max': 5, 'window': 60, {bad}}}")):
                pass
        [problem] = info.value.original.problems  # type: ignore[attr-defined]
        assert problem.code.startswith("config.invalid_") and problem.key.startswith("rate_limit.")


async def test_404_and_405_count_against_the_apps_limit_and_are_logged(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    root = project(tmp_path, ", 'rate_limit': {'max': 4, 'window': 60}",
                   logger='"level": "info", "access_log": False')
    async with running(root) as rt, client(rt) as http:
        with caplog.at_level(logging.INFO, logger="mega.http.misses"):
            scans = [await http.get("/wp-login.php"), await http.get("/.env%0Aforged"),
                     await http.post("/", json={})]
            assert codes(scans) == [404, 404, 405]
            assert (await http.get("/")).status_code == 200  # the same count as the routes'
            refused = await http.get("/admin")
            assert refused.status_code == 429 and refused.json()["error"]["code"] == "rate_limit.exceeded"
            assert refused.headers["x-content-type-options"] == "nosniff" and "retry-after" in refused.headers
            assert (await http.get("/")).status_code == 429
            assert (await http.get("/item")).status_code == 200  # a route with its limit off
        lines = [r.getMessage() for r in caplog.records if r.name == "mega.http.misses"]
        assert lines == ["404 GET /wp-login.php from 10.1.2.3", "404 GET /.env\\nforged from 10.1.2.3",
                         "405 POST / from 10.1.2.3"]


async def test_keys_by_user_counted_in_redis(tmp_path: Path) -> None:
    url = require_redis()
    services = f', "services": {{"redis": {{"rate": {{"url": {url!r}}}}}}}'
    ann, bob = (f"u-{uuid.uuid4().hex[:10]}" for _ in range(2))
    ip = f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}"
    async with running(project(tmp_path, services=services)) as rt, client(rt, ip) as a, \
            client(rt, ip) as b, client(rt, ip) as anon:
        try:
            assert (await a.post(f"/login/{ann}")).status_code == 200
            assert (await b.post(f"/login/{bob}")).status_code == 200
            assert codes([await a.get("/mine") for _ in range(3)]) == [200, 200, 429]
            assert codes([await b.get("/mine") for _ in range(3)]) == [200, 200, 429]
            assert codes([await anon.get("/mine") for _ in range(3)]) == [200, 200, 429]
            counted = await b.get("/counted")
            assert counted.headers["ratelimit"].startswith('"default";r=2;t=')
            limiters = rt.apps["web"].security.limiters.values()
            assert limiters and all(isinstance(x, RedisRateLimiter) for x in limiters)
        finally:
            client_ = rt.adapters.redis("rate")
            for limiter in rt.apps["web"].security.limiters.values():
                assert isinstance(limiter, RedisRateLimiter)
                for who in (ann, bob, ip):
                    keys = [k async for k in client_.scan_iter(match=f"{limiter.prefix}*{who}*")]
                    if keys:
                        await client_.delete(*keys)
