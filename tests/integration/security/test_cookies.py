"""One malformed cookie must not take the session and CSRF cookies with it; two CSRF cookies that
disagree are refused."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mega.testing import make_client, running, write_project

ROUTES = """
    async def login(req, reply, ctx):
        await ctx.session.set("user", "ann")
        return {"token": ctx.csrf_token()}

    async def me(req, reply, ctx):
        return {"user": await ctx.session.get("user"), "cookies": sorted(req.cookies)}

    async def post_form(req):
        return {"ok": True}

    def routes(router):
        router.post("/login", login, csrf=False)
        router.get("/me", me)
        router.post("/form", post_form)
"""

# What the attack run set beside the real cookies (by a script, a sibling site or a proxy).
BAD_PAIRS = ['a=b c', 'prefs={"a":1}', 'q="unterminated', 'back=sl\\ash', 'name=caf\u00e9', 'x"y=1',
             'flag', '=nameless']


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_project(tmp_path, {
        "mega_config.py": 'config = {"logger": {"level": "warning"}}\n',
        "apps/web/app_config.py": "config = {'session': {'secret': 'cookie-test-secret-0123456789'}}\n",
        "apps/web/routes/main.py": ROUTES,
    })


@pytest.mark.parametrize("bad", BAD_PAIRS)
async def test_a_malformed_pair_skips_only_itself(project: Path, bad: str) -> None:
    async with running(project) as rt, make_client(rt) as http:
        token = (await http.post("/login")).json()["data"]["token"]
        sid, csrf = http.cookies["mega_sid"], http.cookies["mega_csrf"]
        http.cookies.clear()
        header = f"{bad}; mega_sid={sid}; {bad}; mega_csrf={csrf}; theme=dark".encode()
        me = await http.get("/me", headers={"cookie": header})  # type: ignore[dict-item]
        data = me.json()["data"]
        assert data["user"] == "ann", bad  # the session survived the bad pair
        assert {"mega_sid", "mega_csrf", "theme"} <= set(data["cookies"])
        form = await http.post("/form", data={"_csrf": token}, headers={"cookie": header})  # type: ignore[dict-item]
        assert form.status_code == 200, form.text  # and so did the CSRF secret


async def test_two_csrf_cookies_that_disagree_are_refused(project: Path) -> None:
    async with running(project) as rt, make_client(rt) as http:
        token = (await http.post("/login")).json()["data"]["token"]
        csrf = http.cookies["mega_csrf"]
        http.cookies.clear()
        planted = "A" * len(csrf)  # a sibling subdomain's cookie with the attacker's own secret
        for header in (f"mega_csrf={planted}; mega_csrf={csrf}", f"mega_csrf={csrf}; mega_csrf={planted}"):
            r = await http.post("/form", data={"_csrf": token}, headers={"cookie": header})
            assert r.status_code == 403 and r.json()["error"]["code"] == "csrf.token_invalid", header
        same = await http.post("/form", data={"_csrf": token},
                               headers={"cookie": f"mega_csrf={csrf}; mega_csrf={csrf}"})
        assert same.status_code == 200


@pytest.mark.parametrize(("env", "secure"), [("development", False), ("production", True)])
async def test_the_csrf_cookie_is_secure_in_production(project: Path, env: str, secure: bool) -> None:
    environ = {**os.environ, "MEGA_ENV": env, "SESSION_SECRET": "s" * 32}
    async with running(project, environ=environ) as rt, make_client(rt) as http:
        r = await http.post("/login")
        csrf = next(c for c in r.headers.get_list("set-cookie") if c.startswith("mega_csrf="))
        assert ("Secure" in csrf) is secure, csrf
        assert "HttpOnly" not in csrf  # the page's scripts echo it in X-CSRF-Token
