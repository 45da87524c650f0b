"""The one hook point for security rejections: CSRF, rate limit, CORS, ASP and auth refusals reach an
installed listener with their reason code; other errors and served requests do not; a failing listener
never changes the answer."""

from __future__ import annotations

from pathlib import Path

import pytest

from mega.asp import Client
from mega.security import Rejection, on_rejection
from mega.testing import make_client, running, write_project

SECRET = "hook-asp-secret-0123456789abcdefghijklmnopq"

ROUTES = """
    from mega import MegaError, NotFoundError


    async def hello():
        return {"hello": "world"}

    async def create(req):
        return {"created": await req.json()}

    async def guarded():
        raise MegaError("auth.locked", "too many failed logins", status=429)

    async def missing():
        raise NotFoundError("thing.not_found", "no such thing")

    def routes(router):
        router.get("/", hello)
        router.post("/items", create)
        router.get("/limited", hello, rate_limit={"max": 1, "window": 60})
        router.post("/api/items", create, cors={"origins": ["https://spa.test"]})
        router.post("/secure/items", create)
        router.post("/login", guarded)
        router.get("/missing", missing)
"""


async def test_each_kind_of_rejection_reaches_the_listener_with_its_code(
        tmp_path: Path, heard: list[Rejection]) -> None:
    root = write_project(tmp_path, {
        "mega_config.py": 'config = {"logger": {"level": "warning"}}\n',
        "apps/web/app_config.py": f"config = {{'asp': {{'secret': {SECRET!r}, 'paths': ['/secure/*']}}}}\n",
        "apps/web/routes/main.py": ROUTES,
    })
    async with running(root) as rt, make_client(rt) as http:
        assert (await http.get("/")).status_code == 200
        assert (await http.get("/missing")).status_code == 404
        assert (await http.get("/nowhere")).status_code == 404
        assert heard == []  # served requests and ordinary errors are not rejections

        await http.post("/items", json={}, headers={"origin": "https://evil.test"})
        await http.get("/limited")
        await http.get("/limited")
        await http.options("/api/items", headers={"origin": "https://evil.test",
                                                  "access-control-request-method": "POST"})
        await http.post("/secure/items", json={})
        asp = Client(SECRET)
        sealed = asp.seal("POST", "/secure/items", b"{}")
        for _ in range(2):
            await http.post("/secure/items", content=sealed.body,
                            headers={"content-type": "application/json", **sealed.headers})
        await http.post("/login", json={})

    assert [(r.reason, r.status, r.method, r.path) for r in heard] == [
        ("csrf.origin_mismatch", 403, "POST", "/items"),
        ("rate_limit.exceeded", 429, "GET", "/limited"),
        ("cors.origin_denied", 403, "OPTIONS", "/api/items"),
        ("asp.signal", 400, "POST", "/secure/items"),
        ("asp.replay", 401, "POST", "/secure/items"),
        ("auth.locked", 429, "POST", "/login"),
    ]
    assert all(r.request_id and r.ip == "127.0.0.1" for r in heard)


async def test_a_failing_listener_is_logged_and_the_refusal_still_sent(
        tmp_path: Path, heard: list[Rejection], caplog: pytest.LogCaptureFixture) -> None:
    def broken(rejection: Rejection) -> None:
        raise RuntimeError("listener bug")

    remove = on_rejection(broken)
    root = write_project(tmp_path, {
        "mega_config.py": 'config = {"logger": {"level": "warning"}}\n',
        "apps/web/app_config.py": "config = {}\n",
        "apps/web/routes/main.py": ROUTES,
    })
    try:
        async with running(root) as rt, make_client(rt) as http:
            r = await http.post("/items", json={}, headers={"origin": "https://evil.test"})
    finally:
        remove()
    assert r.status_code == 403 and r.json()["error"]["code"] == "csrf.origin_mismatch"
    assert [x.reason for x in heard] == ["csrf.origin_mismatch"]  # the other listener still heard it
    assert "rejection listener" in caplog.text and "listener bug" in caplog.text


def test_a_listener_must_be_callable() -> None:
    from mega.errors import MegaError

    with pytest.raises(MegaError) as caught:
        on_rejection("counter")  # type: ignore[arg-type]
    assert caught.value.code == "security.invalid_listener"
