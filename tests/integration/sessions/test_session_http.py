"""ctx.session through a booted app: cookie, persistence, rotation, logout, forgery, on the built-in
file cache and on each kind of named cache (memory, file, redis)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mega.testing import make_client, running, write_project
from tests import services

pytestmark = [pytest.mark.integration, pytest.mark.service("redis")]  # every project declares a Redis cache

REDIS_URL = services.url("redis")
SECRET = "test-secret-0123456789abcdef"

ROUTES = """
    async def login(req, reply, ctx):
        await ctx.session.rotate()
        await ctx.session.set("user", (await req.json())["user"])
        return {"id_is_new": ctx.session.is_new}

    async def me(req, reply, ctx):
        return {"user": await ctx.session.get("user"), "visits": await bump(ctx)}

    async def bump(ctx):
        visits = await ctx.session.get("visits", 0) + 1
        await ctx.session.set("visits", visits)
        return visits

    async def peek(req, reply, ctx):
        return {"user": await ctx.session.get("user")}

    async def logout(req, reply, ctx):
        await ctx.session.destroy()
        return {"bye": True}

    async def untouched():
        return {"ok": True}

    def routes(router):
        router.post("/login", login)
        router.get("/me", me)
        router.get("/peek", peek)
        router.post("/logout", logout)
        router.get("/plain", untouched)
"""


def project(root: Path, session: str) -> Path:
    services = (f'"services": {{"redis": {{"main": {{"url": "{REDIS_URL}"}}}}, "caches": {{'
                '"sessions": {"driver": "redis", "redis": "main", "prefix": "test:"}, '
                '"mem": {"driver": "memory"}, "files": {"driver": "file", "path": "var/cache"}}}, ')
    return write_project(root, {
        "mega_config.py": f'config = {{{services}"logger": {{"level": "warning"}}}}\n',
        "apps/web/app_config.py": f"config = {{'session': {session}}}\n",
        "apps/web/routes/main.py": ROUTES,
    })


STORES = {
    "file": f"{{'secret': '{SECRET}'}}",
    "redis": f"{{'secret': '{SECRET}', 'store': {{'cache': 'sessions', 'prefix': 'sess:'}}}}",
    "memory": f"{{'secret': '{SECRET}', 'store': {{'cache': 'mem'}}}}",
    "file cache": f"{{'secret': '{SECRET}', 'store': {{'cache': 'files'}}}}",
}


@pytest.mark.parametrize("store", list(STORES))
async def test_login_visit_rotate_logout(tmp_path: Path, store: str) -> None:
    async with running(project(tmp_path, STORES[store])) as rt, make_client(rt) as http:
        plain = await http.get("/plain")
        assert "set-cookie" not in plain.headers  # no session used, no cookie
        anon = await http.get("/peek")
        assert anon.json()["data"] == {"user": None} and "set-cookie" not in anon.headers
        first = await http.post("/login", json={"user": "ann"})
        cookie = first.cookies["mega_sid"]
        assert "httponly" in first.headers["set-cookie"].lower() and "samesite=lax" in \
            first.headers["set-cookie"].lower()
        assert (await http.get("/me")).json()["data"] == {"user": "ann", "visits": 1}
        assert (await http.get("/me")).json()["data"] == {"user": "ann", "visits": 2}
        # Logging in again rotates the id: the old cookie no longer opens the session.
        await http.post("/login", json={"user": "ann"})
        rotated = http.cookies["mega_sid"]
        assert rotated != cookie
        http.cookies.set("mega_sid", cookie)
        assert (await http.get("/peek")).json()["data"] == {"user": None}
        http.cookies.set("mega_sid", rotated)
        assert (await http.get("/me")).json()["data"] == {"user": "ann", "visits": 3}  # data kept
        # A forged or altered cookie is ignored, never trusted.
        http.cookies.set("mega_sid", rotated[:-2] + "xx")
        assert (await http.get("/peek")).json()["data"] == {"user": None}
        http.cookies.set("mega_sid", rotated)
        bye = await http.post("/logout")
        assert "mega_sid=" in bye.headers["set-cookie"] and "max-age=0" in bye.headers["set-cookie"].lower()
        http.cookies.set("mega_sid", rotated)
        assert (await http.get("/peek")).json()["data"] == {"user": None}
    if store == "file":
        assert (tmp_path / "var" / "sessions").is_dir()


async def test_sessions_off_and_a_missing_secret_in_production(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, restore_logging: None) -> None:
    from mega.boot.stages import BootError

    async with running(project(tmp_path / "off", "False")) as rt, make_client(rt) as http:
        r = await http.get("/peek")
        assert r.status_code == 500 and r.json()["error"]["code"] == "session.disabled"
    monkeypatch.delenv("SESSION_SECRET", raising=False)
    monkeypatch.setenv("MEGA_ENV", "production")
    # The attack run's finding: production booted without a secret and failed at the first login.
    # Sessions are on by default, so production without a secret refuses to boot, saying the fix.
    with pytest.raises(BootError) as info:
        async with running(project(tmp_path / "prod", "None")):
            pass
    assert info.value.stage == "apps"
    error = info.value.original
    assert error.code == "session.no_secret" and "app 'web'" in error.message
    assert "SESSION_SECRET" in (error.hint or "") and "session = False" in (error.hint or "")
    # An app that says it uses no sessions boots without a secret.
    async with running(project(tmp_path / "prod-off", "False")) as rt, make_client(rt) as http:
        assert (await http.get("/plain")).status_code == 200


async def test_bad_session_config_fails_boot(tmp_path: Path) -> None:
    from mega.boot.stages import BootError

    with pytest.raises(BootError) as info:
        async with running(project(tmp_path, "{'secrt': 'x'}")):
            pass
    assert info.value.stage == "config"
    [problem] = info.value.original.problems
    assert problem.message == ("unknown key 'session.secrt' in apps/web/app_config.py — did you mean "
                               "'session.secret'?")
