"""CORS: config parsing, origin checks, preflight answers and the headers of actual requests."""

from __future__ import annotations

import pytest

from mega.config import ConfigError, ConfigProblem
from mega.errors import MegaError
from mega.security._cors import DEFAULT_HEADERS, DEFAULT_METHODS, SAFELISTED, CorsPolicy, cors_policy
from mega.security._settings import security_settings

WHERE = "apps/web/app_config.py"
A = "https://a.com"


def parse(cfg: object) -> CorsPolicy | None:
    return cors_policy(security_settings({"cors": cfg}, file=WHERE).cors)


def policy(**cfg: object) -> CorsPolicy:
    cfg.setdefault("origins", [A])
    result = parse(cfg)
    assert result is not None
    return result


def req(origin: str | None = A, **more: str) -> list[tuple[bytes, bytes]]:
    headers = [(b"host", b"api.example.com"), (b"accept", b"*/*")]
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    headers += [(name.replace("_", "-").encode(), value.encode()) for name, value in more.items()]
    return headers


Raw = list[tuple[bytes, bytes]]


def pre(origin: str | None = A, method: str | None = "PUT", hdrs: str | None = None) -> Raw:
    more = {}
    if method is not None:
        more["access_control_request_method"] = method
    if hdrs is not None:
        more["access_control_request_headers"] = hdrs
    return req(origin, **more)


def denied(p: CorsPolicy, headers: list[tuple[bytes, bytes]]) -> MegaError:
    with pytest.raises(MegaError) as info:
        p.preflight(headers)
    assert info.value.status == 403
    return info.value


# -- config ---------------------------------------------------------------------------------------


def test_off_by_default() -> None:
    assert parse(None) is None
    assert parse(False) is None


def test_defaults_for_everything_but_origins() -> None:
    p = policy()
    assert p.origins == frozenset({b"https://a.com"}) and p.allow_credentials is False
    assert p.methods == DEFAULT_METHODS and p.allow_headers == DEFAULT_HEADERS
    assert p.expose_headers == ("x-request-id",) and p.max_age == 600


def test_every_key_given() -> None:
    p = policy(origins=("https://a.com", "http://localhost:5173"), methods=["get", "POST", "GET"],
               headers=["X-Custom", "content-type"], expose_headers=["ETag"], credentials=True, max_age=0)
    assert p.origins == frozenset({b"https://a.com", b"http://localhost:5173"})
    assert p.methods == ("GET", "POST")  # upper-cased, duplicates dropped
    assert p.allow_headers == ("x-custom", "content-type") and p.expose_headers == ("etag",)
    assert p.allow_credentials is True and p.max_age == 0


def test_any_origin_and_reflected_headers() -> None:
    p = policy(origins="*", headers="*", expose_headers=[])
    assert p.origins is None and p.allow_headers is None and p.expose_headers == ()


@pytest.mark.parametrize("given, stored", [
    ("HTTPS://A.com", b"https://a.com"),           # browsers send lowercase
    ("https://a.com:443", b"https://a.com"),       # and leave the default port out
    ("http://a.com:80", b"http://a.com"),
    ("https://a.com:8443", b"https://a.com:8443"),
    ("http://[::1]:3000", b"http://[::1]:3000"),
    ("chrome-extension://abcdef", b"chrome-extension://abcdef"),
])
def test_origins_are_stored_as_browsers_send_them(given: str, stored: bytes) -> None:
    assert policy(origins=[given]).origins == frozenset({stored})


def refusal(cfg: object) -> ConfigProblem:
    with pytest.raises(ConfigError) as info:
        parse(cfg)
    assert len(info.value.problems) == 1, info.value.problems
    problem = info.value.problems[0]
    assert problem.file == WHERE and WHERE in problem.message
    return problem


@pytest.mark.parametrize("cfg, key, fragment, hint", [
    (True, "cors", "cors must be None, False or a dict, got True (bool)", "origins"),
    ("*", "cors", "must be None, False or a dict", "origins"),
    ({}, "cors.origins", "cors.origins is required", "origins='*'"),
    ({"origins": "https://a.com"}, "cors.origins", "must be a list of origins or '*', got 'https://a.com'",
     ""),
    ({"origins": []}, "cors.origins", "cors.origins is an empty list", "at least one origin"),
    ({"origins": "*", "credentials": True}, "cors.origins", "cannot be used with credentials",
     "list the origins"),
    ({"origins": ["a.com"]}, "cors.origins[0]", "cors.origins[0] 'a.com' has no scheme", "https://a.com"),
    ({"origins": ["localhost:3000"]}, "cors.origins[0]", "has no scheme", "http://localhost:3000"),
    ({"origins": ["https://a.com/"]}, "cors.origins[0]", "has a path or query", "write https://a.com"),
    ({"origins": ["https://a.com/app"]}, "cors.origins[0]", "has a path or query", "write https://a.com"),
    ({"origins": ["https://a.com?x=1"]}, "cors.origins[0]", "has a path or query", "write https://a.com"),
    ({"origins": ["https://u@a.com"]}, "cors.origins[0]", "has a user name", "write https://a.com"),
    ({"origins": ["https://*.a.com"]}, "cors.origins[0]", "has a wildcard", "list each origin"),
    ({"origins": [A, "*"]}, "cors.origins[1]", "inside a list", "origins='*'"),
    ({"origins": ["null"]}, "cors.origins[0]", "is refused", "sandboxed"),
    ({"origins": ["https://a.com "]}, "cors.origins[0]", "has spaces", "scheme://host"),
    ({"origins": ["https://a.com:99999"]}, "cors.origins[0]", "is not a valid origin", "scheme://host"),
    ({"origins": ["https://"]}, "cors.origins[0]", "is not a valid origin", "scheme://host"),
    ({"origins": ["https://bücher.de"]}, "cors.origins[0]", "is not ASCII", "https://xn--bcher-kva.de"),
    ({"origins": [1]}, "cors.origins[0]", "1 is not an origin", "https://app.example.com"),
    ({"origins": [A], "methods": "GET"}, "cors.methods", "must be a list of methods, got 'GET'", ""),
    ({"origins": [A], "methods": ["GET", "FETCH"]}, "cors.methods[1]", "unknown method 'FETCH'", "PATCH"),
    ({"origins": [A], "methods": []}, "cors.methods", "cors.methods is an empty list", "method"),
    ({"origins": [A], "headers": "content-type"}, "cors.headers", "must be a list of header names", ""),
    ({"origins": [A], "headers": ["bad header"]}, "cors.headers[0]", "invalid HTTP header name 'bad header'",
     "no spaces"),
    ({"origins": [A], "expose_headers": "*"}, "cors.expose_headers", "must be a list of header names", ""),
    ({"origins": [A], "credentials": "yes"}, "cors.credentials", "must be a boolean, got 'yes'", "True"),
    ({"origins": [A], "max_age": -1}, "cors.max_age", "must be a duration >= 0", "'30s'"),
    ({"origins": [A], "max_age": True}, "cors.max_age", "must be a duration >= 0", "'30s'"),
])
def test_bad_config_is_refused_naming_the_key(cfg: object, key: str, fragment: str, hint: str) -> None:
    problem = refusal(cfg)
    assert problem.key == key
    assert fragment in problem.message and hint in (problem.hint or "")


def test_max_age_is_a_duration_in_whole_seconds() -> None:
    assert policy(max_age="10m").max_age == 600
    assert policy(max_age=1.4).max_age == 1


def test_unknown_key_gets_a_did_you_mean() -> None:
    problem = refusal({"origins": [A], "allow_credentials": True})
    assert problem.code == "config.unknown_key"
    assert problem.message == (f"unknown key 'cors.allow_credentials' in {WHERE} — did you mean "
                               "'cors.credentials'?")
    assert problem.hint == ("valid keys under cors: credentials, expose_headers, headers, max_age, methods, "
                            "origins")
    problem = refusal({"origins": [A], "zzz": 1})
    assert "did you mean" not in problem.message


def test_any_origin_with_credentials_cannot_be_built_directly() -> None:
    with pytest.raises(MegaError) as info:
        CorsPolicy(origins=None, credentials=True)
    assert info.value.code == "cors.invalid_config"


# -- allows / is_preflight ------------------------------------------------------------------------


def test_allows_exact_origins_only() -> None:
    p = policy(origins=["https://a.com", "http://localhost:3000"])
    assert p.allows(b"https://a.com") and p.allows(b"http://localhost:3000")
    assert not p.allows(b"http://a.com")            # other scheme
    assert not p.allows(b"https://a.com:8443")      # other port
    assert not p.allows(b"https://evil.a.com")      # subdomain
    assert not p.allows(b"https://a.com.evil.net")  # suffix
    assert not p.allows(b"null")
    assert policy(origins="*").allows(b"https://anything.net")


def test_is_preflight_needs_options_origin_and_requested_method() -> None:
    p = policy()
    assert p.is_preflight("OPTIONS", pre())
    assert not p.is_preflight("GET", pre())
    assert not p.is_preflight("OPTIONS", pre(origin=None))
    assert not p.is_preflight("OPTIONS", pre(method=None))


# -- preflight ------------------------------------------------------------------------------------


def test_allowed_preflight_echoes_the_origin() -> None:
    answer = policy().preflight(pre(hdrs="content-type"))
    assert answer[:2] == [(b"access-control-allow-origin", b"https://a.com"), (b"vary", b"origin")]
    got = dict(answer)
    assert got[b"access-control-allow-methods"] == b"GET, HEAD, POST, PUT, PATCH, DELETE"
    assert got[b"access-control-allow-headers"] == b", ".join(
        n.encode() for n in dict.fromkeys((*DEFAULT_HEADERS, *SAFELISTED)))
    assert got[b"access-control-max-age"] == b"600"
    assert b"access-control-allow-credentials" not in got
    assert len(answer) == len(got)  # no header twice


def test_preflight_from_an_unknown_origin_is_denied() -> None:
    p = policy()
    err = denied(p, pre(origin="https://evil.net"))
    assert err.code == "cors.origin_denied" and err.details == {"origin": "https://evil.net"}
    assert "'https://evil.net'" in err.message
    assert denied(p, pre(origin=None)).code == "cors.origin_denied"


def test_preflight_for_a_method_not_listed_is_denied() -> None:
    p = policy(methods=["GET", "POST"])
    err = denied(p, pre(method="DELETE"))
    assert err.code == "cors.method_denied"
    assert err.details == {"method": "DELETE", "allowed": ["GET", "POST"]}
    assert denied(p, pre(method="post")).code == "cors.method_denied"  # methods compare exactly
    assert denied(p, pre(method=None)).details["method"] == ""
    assert dict(p.preflight(pre(method="POST")))[b"access-control-allow-methods"] == b"GET, POST"


def test_requested_headers_are_a_case_insensitive_comma_list() -> None:
    p = policy(headers=["X-Custom", "authorization"])
    assert p.preflight(pre(hdrs="Authorization,X-CUSTOM"))
    assert p.preflight(pre(hdrs=" authorization ,  x-custom,,content-type , accept-language"))
    assert p.preflight(pre(hdrs=""))
    err = denied(p, pre(hdrs="authorization, X-Secret, x-other"))
    assert err.code == "cors.headers_denied" and err.details == {"headers": ["x-secret", "x-other"]}
    assert "x-secret, x-other" in err.message


def test_headers_requested_on_two_lines_are_all_checked() -> None:
    p = policy(headers=["x-a"])
    headers = [*pre(hdrs="x-a"), (b"access-control-request-headers", b"x-b")]
    assert denied(p, headers).details == {"headers": ["x-b"]}


def test_checks_run_origin_then_method_then_headers() -> None:
    p = policy(methods=["GET"], headers=[])
    assert denied(p, pre(origin="https://evil.net", method="PUT", hdrs="x-a")).code == "cors.origin_denied"
    assert denied(p, pre(method="PUT", hdrs="x-a")).code == "cors.method_denied"
    assert denied(p, pre(method="GET", hdrs="x-a")).code == "cors.headers_denied"


def test_reflect_mode_answers_with_the_requested_headers() -> None:
    p = policy(headers="*")
    got = dict(p.preflight(pre(hdrs="X-Anything, content-type")))
    assert got[b"access-control-allow-headers"] == b"x-anything, content-type"
    assert b"access-control-allow-headers" not in dict(p.preflight(pre()))  # nothing asked, nothing said
    assert denied(p, pre(hdrs="x-ok, bad name")).details == {"headers": ["bad name"]}


def test_credentials_mode_echoes_the_origin_never_a_star() -> None:
    p = policy(origins=["https://a.com", "https://b.com"], credentials=True, max_age=60)
    answer = p.preflight(pre(origin="https://b.com"))
    got = dict(answer)
    assert got[b"access-control-allow-origin"] == b"https://b.com"
    assert got[b"access-control-allow-credentials"] == b"true"
    assert got[b"vary"] == b"origin" and got[b"access-control-max-age"] == b"60"
    assert all(value != b"*" for _, value in answer)


def test_any_origin_answers_star_without_vary_or_credentials() -> None:
    p = policy(origins="*")
    got = dict(p.preflight(pre(origin="https://whoever.net")))
    assert got[b"access-control-allow-origin"] == b"*"
    assert b"vary" not in got and b"access-control-allow-credentials" not in got
    assert denied(p, pre(origin=None)).code == "cors.origin_denied"


# -- response_headers -----------------------------------------------------------------------------


def test_no_headers_without_an_origin_or_for_a_denied_one() -> None:
    p = policy()
    assert p.response_headers(req(origin=None)) == []
    assert p.response_headers(req(origin="https://evil.net")) == []
    assert p.response_headers([]) == []
    assert policy(origins="*").response_headers(req(origin=None)) == []


def test_allowed_origin_is_echoed_with_vary() -> None:
    p = policy(origins=["https://a.com", "https://b.com"])
    assert p.response_headers(req()) == [
        (b"access-control-allow-origin", b"https://a.com"), (b"vary", b"origin"),
        (b"access-control-expose-headers", b"x-request-id"),
    ]
    assert dict(p.response_headers(req("https://b.com")))[b"access-control-allow-origin"] == b"https://b.com"


def test_credentials_and_expose_headers_on_actual_requests() -> None:
    p = policy(credentials=True, expose_headers=["x-request-id", "ETag"])
    assert p.response_headers(req()) == [
        (b"access-control-allow-origin", b"https://a.com"), (b"vary", b"origin"),
        (b"access-control-allow-credentials", b"true"),
        (b"access-control-expose-headers", b"x-request-id, etag"),
    ]
    assert policy(expose_headers=[]).response_headers(req()) == [
        (b"access-control-allow-origin", b"https://a.com"), (b"vary", b"origin")]


def test_any_origin_gives_a_star_and_no_vary() -> None:
    p = policy(origins="*", expose_headers=[])
    assert p.response_headers(req("https://whoever.net")) == [(b"access-control-allow-origin", b"*")]
    assert p.response_headers(req("null")) == [(b"access-control-allow-origin", b"*")]


def test_the_answer_is_prebuilt() -> None:
    p = policy()
    first = p.response_headers(req())
    assert p.response_headers(req()) is first  # built at boot, shared: callers copy, never mutate
    assert type(first) is list and type(p.response_headers(req(origin=None))) is list
