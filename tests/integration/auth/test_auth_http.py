"""mega.auth through a booted app, on the built-in file store and on memory, file and redis caches:
login rotates the id (the old cookie opens nothing), logout ends the session server-side,
logout_other_sessions ends the user's other sessions, ctx.auth, require_auth (401 for JSON, a redirect
with a safe `next` for browsers), the CSRF secret renewed at login, and flash messages read once."""

from __future__ import annotations

import asyncio
import re
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from mega.testing import make_client, running, write_project
from tests import services

pytestmark = [pytest.mark.integration, pytest.mark.service("redis")]

REDIS_URL = services.url("redis")
SECRET = "test-secret-0123456789abcdef"

ROUTES = """
    from mega import login, logout, logout_other_sessions, require_auth
    from mega.auth import authenticate, current_auth, safe_next
    from mega.errors import UnauthorizedError
    from mega.security import BruteForceGuard, Passwords

    PASSWORDS = Passwords(time_cost=1, memory_cost=1024, parallelism=1)
    USERS = {}

    def find(account):
        return USERS.get(account.casefold())

    async def register(req, reply, ctx):
        body = await req.json()
        key = body["email"].casefold()
        if key not in USERS:
            USERS[key] = (len(USERS) + 1, await PASSWORDS.hash(body["password"]))
        return {"id": USERS[key][0]}

    async def sign_in(req, reply, ctx):
        body = await req.json()
        guard = None if body.get("unguarded") else \
            BruteForceGuard(ctx.cache("mem"), max_failures=3, prefix=body.get("guard", "bf:"))
        user_id = await authenticate(ctx, body.get("email"), body.get("password"), find, guard=guard,
                                     hasher=PASSWORDS)
        if user_id is None:
            raise UnauthorizedError("auth.failed", "wrong email or password")
        auth = await login(ctx, user_id, user_name=body["email"])
        assert ctx.auth == auth
        return {"user_id": auth.user_id, "session_id": auth.session_id, "csrf": ctx.csrf_token()}

    async def sign_out(req, reply, ctx):
        await logout(ctx)
        return {"auth": ctx.auth}

    async def sign_out_others(req, reply, ctx):
        return {"ended": await logout_other_sessions(ctx)}

    async def me(req, reply, ctx):
        return {"auth": ctx.auth.as_dict(), "name": ctx.auth["user_name"]}

    async def whoami(req, reply, ctx):
        auth = await current_auth(ctx)
        return {"auth": auth.as_dict() if auth else None}

    async def peek(req, reply, ctx):
        return {"anonymous": ctx.auth is None}

    async def cart(req, reply, ctx):
        await ctx.session.set("cart", (await req.json())["cart"])
        return {"ok": True}

    async def items(req, reply, ctx):
        return await ctx.session.items()

    async def flash(req, reply, ctx):
        body = await req.json()
        await ctx.flash(body["kind"], body["text"])
        return {"ok": True}

    async def flashes(req, reply, ctx):
        first = await ctx.flashes()
        assert await ctx.flashes() == first  # one request reads the same list
        return first

    async def page(req, reply, ctx):
        if "load" in req.query:
            await ctx.flashes()
        return ctx.render("page.html")

    async def login_page(req, reply, ctx):
        return {"next": safe_next(req.query.get("next"), "/")}

    async def plain():
        return {"ok": True}

    def routes(router):
        router.post("/register", register)
        router.post("/login", sign_in)
        router.get("/login", login_page, name="login_page")
        router.post("/logout", sign_out)
        router.post("/logout-others", sign_out_others, before=[require_auth])
        router.get("/me", me, before=[require_auth])
        router.post("/me", me, before=[require_auth])
        router.get("/whoami", whoami)
        router.get("/peek", peek)
        router.post("/cart", cart)
        router.get("/items", items)
        router.post("/flash", flash)
        router.get("/flashes", flashes)
        router.get("/page", page)
        router.get("/guarded-page", page, before=[require_auth])
        router.get("/plain", plain)
"""

PAGE = "<ul>{% for f in flashes() %}<li class={{ f.kind }}>{{ f.text }}</li>{% endfor %}</ul>"


def project(root: Path, store: str, auth: str = "None") -> Path:
    prefix = f"authtest:{uuid.uuid4().hex[:8]}:"
    caches = (f'"sessions": {{"driver": "redis", "redis": "main", "prefix": "{prefix}"}}, '
              '"mem": {"driver": "memory"}, "files": {"driver": "file", "path": "var/cache"}')
    services_ = f'"services": {{"redis": {{"main": {{"url": "{REDIS_URL}"}}}}, "caches": {{{caches}}}}}, '
    session = {
        "file": f"{{'secret': '{SECRET}'}}",
        "redis": f"{{'secret': '{SECRET}', 'store': {{'cache': 'sessions', 'prefix': 'sess:'}}}}",
        "memory": f"{{'secret': '{SECRET}', 'store': {{'cache': 'mem'}}}}",
        "file cache": f"{{'secret': '{SECRET}', 'store': {{'cache': 'files'}}}}",
    }[store]
    return write_project(root, {
        "mega_config.py": f'config = {{{services_}"logger": {{"level": "warning"}}}}\n',
        "apps/web/app_config.py": f"config = {{'session': {session}, 'auth': {auth}}}\n",
        "apps/web/routes/main.py": ROUTES,
        "apps/web/views/page.html": PAGE,
    })


STORES = ["file", "memory", "file cache", "redis"]
JSON = {"accept": "application/json"}
HTML = {"accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


def client(rt: Any, cookie: str | None = None) -> httpx.AsyncClient:
    return make_client(rt, cookies={"mega_sid": cookie} if cookie else None)


async def register_and_login(http: httpx.AsyncClient, email: str = "ann@x.io") -> dict[str, Any]:
    await http.post("/register", json={"email": email, "password": "s3cret"})
    r = await http.post("/login", json={"email": email, "password": "s3cret"})
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()["data"]
    return data


@pytest.mark.parametrize("store", STORES)
async def test_login_rotates_the_id_and_logout_ends_the_session_server_side(tmp_path: Path,
                                                                            store: str) -> None:
    async with running(project(tmp_path, store)) as rt, client(rt) as http:
        assert (await http.get("/whoami")).json()["data"] == {"auth": None}
        await http.post("/cart", json={"cart": ["book"]})  # an anonymous session with data
        before = http.cookies["mega_sid"]
        logged = await register_and_login(http)
        after = http.cookies["mega_sid"]
        assert after != before and logged["session_id"] not in before
        me = (await http.get("/me")).json()["data"]
        assert me == {"auth": {"user_id": 1, "session_id": logged["session_id"], "user_name": "ann@x.io"},
                      "name": "ann@x.io"}
        # the cart survives the login; the framework's keys are hidden from items()
        assert (await http.get("/items")).json()["data"] == {"cart": ["book"]}
        # no fixation: the cookie from before the login opens nothing, not even the cart
        async with client(rt, before) as old:
            assert (await old.get("/whoami")).json()["data"] == {"auth": None}
            assert (await old.get("/items")).json()["data"] == {}
        # logout: the session is gone from the store, whoever still holds the cookie
        bye = await http.post("/logout")
        assert bye.json()["data"] == {"auth": None}
        assert "max-age=0" in bye.headers["set-cookie"].lower()
        async with client(rt, after) as stolen:
            assert (await stolen.get("/whoami")).json()["data"] == {"auth": None}
            assert (await stolen.get("/me", headers=JSON)).status_code == 401


@pytest.mark.parametrize("store", STORES)
async def test_logout_other_sessions_ends_every_other_session_of_the_user(tmp_path: Path,
                                                                          store: str) -> None:
    async with (running(project(tmp_path, store)) as rt, client(rt) as laptop, client(rt) as phone,
                client(rt) as tablet, client(rt) as bob):
        await register_and_login(laptop)
        for other in (phone, tablet):
            r = await other.post("/login", json={"email": "ann@x.io", "password": "s3cret"})
            assert r.status_code == 200
        await register_and_login(bob, "bob@x.io")
        ended = (await laptop.post("/logout-others")).json()["data"]
        assert ended == {"ended": 2}
        assert (await laptop.get("/me")).status_code == 200
        for other in (phone, tablet):
            assert (await other.get("/whoami")).json()["data"] == {"auth": None}
            assert (await other.get("/me", headers=JSON)).json()["error"]["code"] == "auth.required"
        assert (await bob.get("/me")).status_code == 200  # another user's sessions stay
        assert (await laptop.post("/logout-others")).json()["data"] == {"ended": 0}
        # a logout removes the session from the index: logging in again elsewhere counts 1
        await phone.post("/login", json={"email": "ann@x.io", "password": "s3cret"})
        await phone.post("/logout")
        await tablet.post("/login", json={"email": "ann@x.io", "password": "s3cret"})
        assert (await laptop.post("/logout-others")).json()["data"] == {"ended": 1}


async def test_the_user_index_forgets_sessions_that_expired(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    # an indexed id missing from the store is kept for a grace period (its login request may not have
    # saved it yet): none here, as if the logins were long ago
    monkeypatch.setattr("mega.sessions.cache._INDEX_GRACE", 0.0)
    async with running(project(tmp_path, "redis")) as rt, client(rt) as laptop, client(rt) as phone:
        await register_and_login(laptop)
        phone_login = await register_and_login(phone)
        manager = rt.apps["web"].sessions
        assert set(await manager.user_sessions(1)) == {
            phone_login["session_id"], (await laptop.get("/whoami")).json()["data"]["auth"]["session_id"]}
        await manager.store.destroy(phone_login["session_id"])  # as the ttl would
        assert phone_login["session_id"] not in await manager.user_sessions(1)
        assert (await laptop.post("/logout-others")).json()["data"] == {"ended": 0}


@pytest.mark.parametrize("store", ["memory", "redis"])
async def test_the_index_outlives_a_rolling_session(tmp_path: Path, store: str) -> None:
    """A rolling session lives as long as it is used; the user's index must not expire before it."""
    async with running(project(tmp_path, store)) as rt, client(rt) as laptop, client(rt) as phone:
        await register_and_login(laptop)
        await register_and_login(phone)
        manager = rt.apps["web"].sessions
        cache = manager.store.cache
        key = f"{manager.store.prefix}u:{manager.user_key(1)}"
        left = await cache.ttl(key)
        assert left is not None and left > manager.ttl  # 1.25 times the session ttl
        await cache.expire(key, 5)  # as if the last refresh were long ago
        manager._index_seen.clear()
        assert (await laptop.get("/me")).status_code == 200  # a request of a logged-in session
        left = await cache.ttl(key)
        assert left is not None and left > manager.ttl
        await cache.delete(key)  # lost altogether: the next request recreates it with its session
        manager._index_seen.clear()
        assert (await phone.get("/me")).status_code == 200
        assert (await laptop.post("/logout-others")).json()["data"] == {"ended": 1}


async def test_logging_in_as_another_user_drops_the_first_users_data(tmp_path: Path) -> None:
    async with running(project(tmp_path, "memory")) as rt, client(rt) as http:
        await register_and_login(http, "ann@x.io")
        await http.post("/cart", json={"cart": ["ann's"]})
        await register_and_login(http, "bob@x.io")
        assert (await http.get("/items")).json()["data"] == {}
        assert (await http.get("/me")).json()["data"]["auth"]["user_id"] == 2


async def test_require_auth_answers_json_with_401_and_browsers_with_a_redirect(tmp_path: Path) -> None:
    async with running(project(tmp_path, "memory")) as rt, client(rt) as http:
        r = await http.get("/me", headers=JSON)
        assert r.status_code == 401 and r.json()["error"]["code"] == "auth.required"
        assert "set-cookie" not in r.headers  # refusing costs no session
        r = await http.get("/me")  # no Accept: not a browser
        assert r.status_code == 401
        r = await http.get("/me?tab=orders&x=%2F", headers=HTML)
        assert r.status_code == 302
        assert r.headers["location"] == "/login?next=/me%3Ftab%3Dorders%26x%3D%252F"
        # the login page hands the next back only when it is safe
        back = await http.get(r.headers["location"])
        assert back.json()["data"] == {"next": "/me?tab=orders&x=%2F"}
        # a form post is redirected without next (303: the browser GETs the login page)
        r = await http.post("/me", headers={**HTML, "content-type": "application/json"}, content=b"{}")
        assert r.status_code == 303 and r.headers["location"] == "/login"
        # logged in: through
        await register_and_login(http)
        assert (await http.get("/me", headers=HTML)).status_code == 200


@pytest.mark.parametrize("attack", [
    "//evil.com", "///evil.com", "/\\evil.com", "\\\\evil.com", "https://evil.com", "javascript:alert(1)",
    "%2f%2fevil.com", "/%2fevil.com", "/%5cevil.com", "%2F%2Fevil.com", "/%252f%252fevil.com",
    "/\t/evil.com", "/%09/evil.com", "/\n/evil.com", "/%0d%0a/evil.com", "evil.com", "",
])
async def test_the_login_page_refuses_every_open_redirect_form(tmp_path: Path, attack: str) -> None:
    async with running(project(tmp_path, "memory")) as rt, client(rt) as http:
        r = await http.get("/login", params={"next": attack})
        assert r.json()["data"] == {"next": "/"}


async def test_the_login_route_by_name_and_its_next_parameter(tmp_path: Path) -> None:
    auth = "{'login_route': 'login_page', 'next_param': 'back'}"
    async with running(project(tmp_path, "memory", auth)) as rt, client(rt) as http:
        r = await http.get("/guarded-page", headers=HTML)
        assert r.status_code == 302 and r.headers["location"] == "/login?back=/guarded-page"


async def test_a_bad_auth_section_fails_boot(tmp_path: Path) -> None:
    from mega.boot.stages import BootError

    with pytest.raises(BootError) as info:
        async with running(project(tmp_path, "memory", "{'login_path': '//evil.com'}")):
            pass
    [problem] = info.value.original.problems
    assert "auth.login_path" in problem.message and "must be a path on this site" in problem.message


async def test_login_gives_the_csrf_cookie_a_new_secret(tmp_path: Path) -> None:
    async with running(project(tmp_path, "memory")) as rt, client(rt) as http:
        await http.get("/page")  # a page without a token does not set the cookie
        form_headers = {"content-type": "application/x-www-form-urlencoded", "origin": "http://testserver"}
        # a token from before the login (a page rendered with ctx.csrf_token())
        await http.post("/register", json={"email": "ann@x.io", "password": "s3cret"})
        r = await http.post("/login", json={"email": "ann@x.io", "password": "s3cret"})
        secret_after = http.cookies["mega_csrf"]
        token_after = r.json()["data"]["csrf"]
        assert "mega_csrf=" in r.headers.get("set-cookie", "")
        r2 = await http.post("/login", json={"email": "ann@x.io", "password": "s3cret"})
        assert http.cookies["mega_csrf"] != secret_after  # renewed at every login
        # the token minted before this last login no longer matches the cookie
        stale = await http.post("/me", headers=form_headers, content=f"_csrf={token_after}")
        assert stale.status_code == 403 and stale.json()["error"]["code"] == "csrf.token_invalid"
        fresh = await http.post("/me", headers=form_headers, content=f"_csrf={r2.json()['data']['csrf']}")
        assert fresh.status_code == 200


async def test_authenticate_refuses_bad_accounts_and_passwords_with_400(tmp_path: Path) -> None:
    async with running(project(tmp_path, "memory")) as rt, client(rt) as http:
        await http.post("/register", json={"email": "ann@x.io", "password": "s3cret"})
        for body, code in [({"email": "ann@x.io", "password": 5}, "password.invalid"),
                           ({"email": "ann@x.io", "password": None}, "password.invalid"),
                           ({"email": "", "password": "x"}, "auth.invalid_account"),
                           ({"email": "  ", "password": "x"}, "auth.invalid_account"),
                           ({"email": 7, "password": "x"}, "auth.invalid_account"),
                           ({"password": "x"}, "auth.invalid_account")]:
            r = await http.post("/login", json=body)
            assert (r.status_code, r.json()["error"]["code"]) == (400, code), body
        r = await http.post("/login", json={"email": "nobody@x.io", "password": "x"})
        assert r.json()["error"]["code"] == "auth.failed"


async def test_authenticate_counts_failures_in_the_brute_force_guard(tmp_path: Path) -> None:
    async with running(project(tmp_path, "memory")) as rt, client(rt) as http:
        await http.post("/register", json={"email": "ann@x.io", "password": "s3cret"})
        guard = f"bf{uuid.uuid4().hex[:6]}:"
        wrong = {"email": "ann@x.io", "password": "nope", "guard": guard}
        answers = await asyncio.gather(*(http.post("/login", json=wrong) for _ in range(10)))
        codes = sorted(r.json()["error"]["code"] for r in answers)
        assert codes == ["auth.failed"] * 3 + ["auth.locked"] * 7  # exactly 3 checked, in parallel
        right = {"email": "ann@x.io", "password": "s3cret", "guard": guard}
        assert (await http.post("/login", json=right)).status_code == 429
        # an unknown account is counted like a known one (the guard does not reveal which exist)
        ghost = {"email": "ghost@x.io", "password": "x", "guard": guard}
        for _ in range(3):
            assert (await http.post("/login", json=ghost)).json()["error"]["code"] == "auth.failed"
        assert (await http.post("/login", json=ghost)).json()["error"]["code"] == "auth.locked"


async def test_ctx_auth_without_a_loaded_session_says_so(tmp_path: Path) -> None:
    async with running(project(tmp_path, "memory")) as rt, client(rt) as http:
        assert (await http.get("/peek")).json()["data"] == {"anonymous": True}  # no cookie: no I/O
        await register_and_login(http)
        r = await http.get("/peek")
        assert r.status_code == 500 and r.json()["error"]["code"] == "auth.not_loaded"


@pytest.mark.parametrize("store", ["memory", "redis"])
async def test_flash_is_read_once_by_the_next_request_that_reads(tmp_path: Path, store: str) -> None:
    async with running(project(tmp_path, store)) as rt, client(rt) as http:
        await http.post("/flash", json={"kind": "notice", "text": "Saved"})
        await http.post("/flash", json={"kind": "alert", "text": "Almost full"})
        assert (await http.get("/plain")).status_code == 200  # a request that does not read them
        r = await http.get("/flashes")
        assert r.json()["data"] == [{"kind": "notice", "text": "Saved"},
                                    {"kind": "alert", "text": "Almost full"}]
        assert (await http.get("/flashes")).json()["data"] == []
        # in a view
        await http.post("/flash", json={"kind": "notice", "text": "<b>Hi</b>"})
        page = await http.get("/page?load=1")
        assert page.text == "<ul><li class=notice>&lt;b&gt;Hi&lt;/b&gt;</li></ul>"
        assert (await http.get("/page?load=1")).text == "<ul></ul>"


async def test_flash_writes_nothing_for_requests_that_do_not_use_it(tmp_path: Path) -> None:
    async with running(project(tmp_path, "memory")) as rt, client(rt) as http:
        for path in ("/plain", "/flashes", "/page"):
            r = await http.get(path)
            assert r.status_code == 200 and "set-cookie" not in r.headers, path
        assert (await http.get("/flashes")).json()["data"] == []
        # a template reading flashes() of a session nobody loaded: a clear error, not a wrong []
        await http.post("/flash", json={"kind": "notice", "text": "Saved"})
        r = await http.get("/page", headers=JSON)
        assert r.status_code == 500 and r.json()["error"]["code"] == "flash.not_loaded"
        # a guarded page has its session loaded by require_auth: flashes() works there (the unread
        # flash survived the failed page and the login)
        await register_and_login(http)
        await http.post("/flash", json={"kind": "notice", "text": "Welcome"})
        assert (await http.get("/guarded-page")).text == \
            "<ul><li class=notice>Saved</li><li class=notice>Welcome</li></ul>"
        assert (await http.get("/guarded-page")).text == "<ul></ul>"


@pytest.mark.parametrize(("body", "code"), [
    ({"kind": "Notice!", "text": "x"}, "flash.invalid_kind"),
    ({"kind": "", "text": "x"}, "flash.invalid_kind"),
    ({"kind": 3, "text": "x"}, "flash.invalid_kind"),
    ({"kind": "notice", "text": ""}, "flash.invalid_text"),
    ({"kind": "notice", "text": 5}, "flash.invalid_text"),
    ({"kind": "notice", "text": "x" * 4001}, "flash.invalid_text"),
])
async def test_flash_validates_kind_and_text(tmp_path: Path, body: dict[str, Any], code: str) -> None:
    async with running(project(tmp_path, "memory")) as rt, client(rt) as http:
        r = await http.post("/flash", json=body)
        assert r.status_code == 500 and r.json()["error"]["code"] == code
        assert "set-cookie" not in r.headers


def test_the_rate_limit_contract_key() -> None:
    """Another feature (the rate limit's key "user") reads the login from this exact session key."""
    from mega.sessions.session import AUTH

    assert AUTH == "_mega_auth"
    assert re.fullmatch(r"_mega_\w+", AUTH)


async def test_require_auth_guards_a_websocket_upgrade_from_ctx_and_request_alone(tmp_path: Path) -> None:
    """The upgrade of a socket has no Accept to redirect and cannot follow a redirect: always 401; with
    the session cookie of a login it passes."""
    from mega import Ctx, Request, require_auth
    from mega.errors import UnauthorizedError

    async with running(project(tmp_path, "redis")) as rt, client(rt) as http:
        app = rt.apps["web"]

        def upgrade(cookie: str | None) -> Ctx:
            headers = [(b"host", b"testserver"), (b"accept", b"text/html")]
            if cookie:
                headers.append((b"cookie", f"mega_sid={cookie}".encode()))
            scope = {"type": "websocket", "path": "/ws", "query_string": b"", "headers": headers,
                     "scheme": "ws", "client": ("127.0.0.1", 5000)}
            return Ctx(app, Request(scope, None, None, b"rid-ws"), None)

        ctx = upgrade(None)
        with pytest.raises(UnauthorizedError) as info:
            await require_auth(ctx.req, None, ctx)
        assert info.value.code == "auth.required"
        await register_and_login(http)
        ctx = upgrade(http.cookies["mega_sid"])
        assert await require_auth(ctx.req, None, ctx) is None
        assert ctx.auth is not None and ctx.auth.user_id == 1


async def test_require_auth_refusals_reach_the_rejection_hook(tmp_path: Path) -> None:
    from mega.security import Rejection, on_rejection

    heard: list[Rejection] = []
    stop = on_rejection(heard.append)
    try:
        async with running(project(tmp_path, "memory")) as rt, client(rt) as http:
            await http.get("/me", headers=JSON)
            await http.get("/me", headers=HTML)
            await http.get("/plain")
    finally:
        stop()
    assert [(r.reason, r.status, r.path) for r in heard] == [("auth.required", 401, "/me")] * 2


def shared_project(root: Path, prefix: str, lock: bool) -> Path:
    """A project whose sessions (and lock, when `lock`) are on one Redis prefix: two boots of it are two
    processes of one deployment."""
    caches = (f'"sessions": {{"driver": "redis", "redis": "main", "prefix": "{prefix}"}}, '
              '"mem": {"driver": "memory"}')
    lock_cfg = f'"lock": {{"driver": "redis", "redis": "main", "prefix": "{prefix}lock:"}}, ' if lock else ""
    services_ = f'"services": {{"redis": {{"main": {{"url": "{REDIS_URL}"}}}}, "caches": {{{caches}}}}}, '
    session = f"{{'secret': '{SECRET}', 'store': {{'cache': 'sessions', 'prefix': 'sess:'}}}}"
    return write_project(root, {
        "mega_config.py": f'config = {{{services_}{lock_cfg}"logger": {{"level": "warning"}}}}\n',
        "apps/web/app_config.py": f"config = {{'session': {session}}}\n",
        "apps/web/routes/main.py": ROUTES,
        "apps/web/views/page.html": PAGE,
    })


LOGINS_SCRIPT = """
import asyncio, sys, time
from mega.testing import make_client, running

async def main(root, n, start):
    async with running(root) as rt:
        clients = [make_client(rt) for _ in range(n)]
        await clients[0].post("/register", json={"email": "ann@x.io", "password": "s3cret"})
        await asyncio.sleep(max(0.0, start - time.time()))  # both processes log in at the same moment
        answers = await asyncio.gather(*(
            c.post("/login", json={"email": "ann@x.io", "password": "s3cret", "unguarded": True})
            for c in clients))
        print("ok", sum(r.status_code == 200 for r in answers))
        for c in clients:
            await c.aclose()

asyncio.run(main(sys.argv[1], int(sys.argv[2]), float(sys.argv[3])))
"""


async def logins_in_two_processes(root: Path, n: int) -> None:
    import sys
    import time

    start = str(time.time() + 4.0)
    procs = [await asyncio.create_subprocess_exec(
        sys.executable, "-c", LOGINS_SCRIPT, str(root), str(n), start,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE) for _ in range(2)]
    for proc in procs:
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 0 and f"ok {n}" in out.decode().splitlines(), (out + err).decode()[-2000:]


async def test_logins_on_two_processes_at_once_are_all_indexed_with_a_redis_lock(tmp_path: Path) -> None:
    """Two processes log one user in 10 times each at the same moment: the app's redis lock makes
    their index changes one at a time, so logout_other_sessions finds all 20."""
    root = shared_project(tmp_path, f"authtest:{uuid.uuid4().hex[:8]}:", lock=True)
    await logins_in_two_processes(root, 10)
    async with running(root) as rt, client(rt) as http:
        await register_and_login(http)
        assert (await http.post("/logout-others")).json()["data"] == {"ended": 20}


@pytest.mark.parametrize("store", ["file", "redis"])
async def test_a_session_dropped_from_the_index_adds_itself_back(tmp_path: Path, store: str) -> None:
    """Without a shared lock, two processes' index writes can cross and drop an id: the session puts
    itself back at its next request in a process (then every ttl/8), so logout_other_sessions finds it."""
    async with running(project(tmp_path, store)) as rt, client(rt) as laptop, client(rt) as phone:
        await register_and_login(laptop)
        phone_sid = (await register_and_login(phone))["session_id"]
        manager = rt.apps["web"].sessions
        await manager.index_logout(1, [phone_sid])  # what a crossed write does
        assert phone_sid not in await manager.user_sessions(1)
        manager._index_seen.clear()  # as in another process, or ttl/8 later
        assert (await phone.get("/me")).status_code == 200
        assert phone_sid in await manager.user_sessions(1)
        assert (await laptop.post("/logout-others")).json()["data"] == {"ended": 1}
        assert (await phone.get("/whoami")).json()["data"] == {"auth": None}
