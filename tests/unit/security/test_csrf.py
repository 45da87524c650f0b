"""CSRF decisions for one request: origin checks, form tokens, what passes."""

from __future__ import annotations

from typing import Any

import pytest

from mega.config import ConfigError
from mega.errors import MegaError
from mega.http.request import Request
from mega.security._csrf import CsrfPolicy, JsonBodyCsrfPolicy, mask_token, new_secret, token_matches
from mega.security._settings import security_settings

WEB = "apps/web/app_config.py"

SECRET = new_secret()


def make(method: str = "POST", *, body: bytes = b"", query: bytes = b"",
         **headers: str) -> tuple[dict[str, Any], Request]:
    raw = [(k.replace("_", "-").encode(), v.encode()) for k, v in headers.items()]
    scope = {"type": "http", "method": method, "path": "/x", "headers": [(b"host", b"app.test:8000"), *raw],
             "query_string": query}
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return scope, Request(scope, receive, None, b"rid")


async def outcome(policy: CsrfPolicy, method: str = "POST", **kw: Any) -> str:
    scope, req = make(method, **kw)
    try:
        pending = policy.check(scope, req)
        if pending is not None:
            await pending
    except MegaError as exc:
        assert exc.status == (415 if exc.code == "body.unsupported_media_type" else 403)
        return exc.code
    return "ok"


POLICY = CsrfPolicy(["app.test", "www.app.test"], None)


async def test_safe_methods_and_non_browser_json_pass() -> None:
    for method in ("GET", "HEAD", "OPTIONS"):
        assert await outcome(POLICY, method, origin="https://evil.test") == "ok"
    assert await outcome(POLICY, content_type="application/json") == "ok"  # curl, server-to-server
    assert await outcome(POLICY, "DELETE") == "ok"


async def test_json_from_a_page_must_come_from_this_app() -> None:
    assert await outcome(POLICY, origin="http://app.test:8000", content_type="application/json") == "ok"
    assert await outcome(POLICY, origin="http://www.app.test:8000", content_type="application/json") == "ok"
    # Scheme and port count too, for the request's own host and for the app's other hosts.
    for other in ("https://www.app.test", "https://app.test:8000", "http://app.test", "http://app.test:9999"):
        assert await outcome(POLICY, origin=other, content_type="application/json") == "csrf.origin_mismatch"
    assert await outcome(POLICY, origin="https://evil.test", content_type="application/json") \
        == "csrf.origin_mismatch"
    assert await outcome(POLICY, origin="null", content_type="application/json") == "csrf.origin_mismatch"
    assert await outcome(POLICY, referer="https://evil.test/page", content_type="application/json") \
        == "csrf.origin_mismatch"
    assert await outcome(POLICY, referer="http://app.test:8000/form") == "ok"
    assert await outcome(POLICY, "DELETE", origin="https://app.test.evil.test") == "csrf.origin_mismatch"


async def test_a_cors_allowed_origin_counts_as_this_app() -> None:
    policy = CsrfPolicy([], lambda origin: origin == b"https://spa.test")
    assert await outcome(policy, origin="https://spa.test", content_type="application/json") == "ok"
    assert await outcome(policy, origin="https://other.test", content_type="application/json") \
        == "csrf.origin_mismatch"


async def test_forms_need_the_token_matching_the_cookie() -> None:
    form = "application/x-www-form-urlencoded"
    token = mask_token(SECRET)
    cookie = f"theme=dark; mega_csrf={SECRET}"
    assert await outcome(POLICY, content_type=form, body=b"a=1") == "csrf.token_missing"
    body = f"a=1&_csrf={token}".encode()
    assert await outcome(POLICY, content_type=form, cookie=cookie, body=body) == "ok"
    assert await outcome(POLICY, content_type=form, cookie=cookie, x_csrf_token=token) == "ok"
    assert await outcome(POLICY, content_type="multipart/form-data; boundary=x", cookie=cookie,
                         query=f"_csrf={token}".encode()) == "ok"
    multipart = "multipart/form-data; boundary=x"
    part = '--x\r\nContent-Disposition: form-data; name="{}"\r\n\r\n{}\r\n'
    without = (part.format("a", "1") + "--x--\r\n").encode()
    assert await outcome(POLICY, content_type=multipart, cookie=cookie, body=without) == "csrf.token_missing"
    carried = (part.format("a", "1") + part.format("_csrf", token) + "--x--\r\n").encode()
    assert await outcome(POLICY, content_type=multipart, cookie=cookie, body=carried) == "ok"
    no_cookie = await outcome(POLICY, content_type="text/plain", x_csrf_token=token)
    assert no_cookie == "csrf.token_invalid"
    other = mask_token(new_secret())
    for wrong in (other, "garbage"):
        got = await outcome(POLICY, content_type=form, cookie=cookie, x_csrf_token=wrong)
        assert got == "csrf.token_invalid"
    assert await outcome(POLICY, content_type=form, cookie=cookie, x_csrf_token=SECRET) == "ok"  # script


async def test_a_json_only_route_refuses_other_bodies_before_any_csrf_check() -> None:
    policy = JsonBodyCsrfPolicy(["app.test"], None)
    token = mask_token(SECRET)
    cookie = f"mega_csrf={SECRET}"
    for ctype in ("application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "text/plain"):
        assert await outcome(policy, content_type=ctype) == "body.unsupported_media_type"
        assert await outcome(policy, content_type=ctype, origin="https://evil.test") \
            == "body.unsupported_media_type"
        assert await outcome(policy, content_type=ctype, cookie=cookie, x_csrf_token=token) \
            == "body.unsupported_media_type"
    assert await outcome(policy) == "body.unsupported_media_type"  # no content type, as req.json() says
    assert await outcome(policy, "GET", content_type="text/plain") == "ok"  # safe methods: never checked
    assert await outcome(policy, content_type="application/json") == "ok"
    merge_patch = "application/merge-patch+json"
    assert await outcome(policy, content_type=merge_patch, origin="http://app.test:8000") == "ok"
    assert await outcome(policy, content_type="application/json", origin="https://evil.test") \
        == "csrf.origin_mismatch"


def test_tokens_are_fresh_each_time_and_all_match() -> None:
    tokens = {mask_token(SECRET) for _ in range(5)}
    assert len(tokens) == 5 and all(token_matches(t, SECRET) for t in tokens)
    assert not token_matches(mask_token(SECRET), new_secret())


def test_csrf_config() -> None:
    assert security_settings({}, file=WEB).csrf is True
    assert security_settings({"csrf": None}, file=WEB).csrf is True
    assert security_settings({"csrf": False}, file=WEB).csrf is False
    with pytest.raises(ConfigError) as info:
        security_settings({"csrf": {"on": True}}, file=WEB)
    [problem] = info.value.problems
    assert (problem.code, problem.key, problem.file) == ("config.invalid_type", "csrf", WEB)
    assert problem.message == f"{WEB}: csrf must be a boolean, got {{'on': True}} (dict)"
